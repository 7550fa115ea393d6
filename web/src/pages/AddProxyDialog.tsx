import { useState, type FormEvent, type ReactNode } from "react";
import { ApiError, errorMessage } from "../api/client";
import { endpoints } from "../api/endpoints";
import type { CreateProxyResult } from "../api/types";
import { CopyButton } from "../components/CopyButton";
import { Dialog } from "../components/Dialog";
import { toastSuccess } from "../lib/notify";
import { emptyProxyForm, proxyBody, proxyFormProblems, type ProxyForm } from "../state/forms";

interface Props {
  open: boolean;
  onClose: () => void;
  onCreated: () => void;
}

type Confirm = { kind: "unreachable" | "duplicate"; message: string } | null;

export function AddProxyDialog({ open, onClose, onCreated }: Props) {
  const [form, setForm] = useState<ProxyForm>(emptyProxyForm);
  const [busy, setBusy] = useState(false);
  const [problems, setProblems] = useState<string[]>([]);
  const [confirm, setConfirm] = useState<Confirm>(null);
  const [skips, setSkips] = useState({ skip_health_check: false, skip_duplicate_check: false });
  const [created, setCreated] = useState<CreateProxyResult | null>(null);

  const set = <K extends keyof ProxyForm>(key: K, value: ProxyForm[K]) => setForm((f) => ({ ...f, [key]: value }));

  const reset = () => {
    setForm(emptyProxyForm);
    setProblems([]);
    setConfirm(null);
    setSkips({ skip_health_check: false, skip_duplicate_check: false });
    setCreated(null);
  };
  const close = () => {
    if (created) {
      toastSuccess(`Proxy '${created.proxy_name}' created`);
      onCreated();
    }
    reset();
    onClose();
  };

  const submit = async (override = skips) => {
    const local = proxyFormProblems(form);
    setProblems(local);
    if (local.length) return;
    setBusy(true);
    try {
      const result = await endpoints.createProxy({ ...proxyBody(form), ...override });
      setCreated(result);
      setConfirm(null);
    } catch (error) {
      if (error instanceof ApiError && error.code === "BACKEND_UNREACHABLE") {
        setConfirm({ kind: "unreachable", message: error.message });
      } else if (error instanceof ApiError && error.code === "BACKEND_DUPLICATE") {
        setConfirm({ kind: "duplicate", message: error.message });
      } else {
        setProblems(error instanceof ApiError && error.validationErrors.length ? error.validationErrors : [errorMessage(error)]);
      }
    } finally {
      setBusy(false);
    }
  };

  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    void submit();
  };

  const proceedAnyway = () => {
    const next = confirm?.kind === "unreachable"
      ? { ...skips, skip_health_check: true }
      : { ...skips, skip_duplicate_check: true };
    setSkips(next);
    void submit(next);
  };

  const stdio = form.transport !== "http";
  const http = form.transport !== "stdio";
  const snippetText = created ? JSON.stringify(created.claude_desktop_snippet, null, 2) : "";

  return (
    <Dialog open={open} onClose={close} title="Add proxy" size="lg">
      {created ? (
        <div className="stack">
          <div className="callout callout-success">
            <strong>Proxy '{created.proxy_name}' created.</strong> {created.message}
          </div>
          {created.warnings?.map((warning) => (
            <div key={warning} className="callout callout-warning">{warning}</div>
          ))}
          <div>
            <div className="label-row">
              <span className="label">Claude Desktop configuration</span>
              <CopyButton text={snippetText} label="Copy snippet" className="button button-small" />
            </div>
            <pre className="code-block" data-testid="snippet">{snippetText}</pre>
          </div>
          <dl className="kv small">
            <dt>Config</dt>
            <dd className="mono">{created.config_path}</dd>
            <dt>Policy</dt>
            <dd className="mono">{created.policy_path}</dd>
          </dl>
          <div className="dialog-actions">
            <button type="button" className="button button-primary" onClick={close}>
              Done
            </button>
          </div>
        </div>
      ) : (
        <form className="form" onSubmit={onSubmit} noValidate>
          <div className="form-grid">
            <Field label="Name" hint="How the CLI and the UI call it: letters, digits, - and _">
              {(id) => <input id={id} value={form.name} onChange={(e) => set("name", e.target.value)} required autoComplete="off" placeholder="filesystem" />}
            </Field>
            <Field label="Server name" hint="The backend's name; defaults to the proxy name">
              {(id) => <input id={id} value={form.server_name} onChange={(e) => set("server_name", e.target.value)} autoComplete="off" />}
            </Field>
          </div>
          <Field label="Transport">
            {(id) => (
              <select id={id} value={form.transport} onChange={(e) => set("transport", e.target.value as ProxyForm["transport"])}>
                <option value="stdio">stdio</option>
                <option value="http">http</option>
                <option value="auto">auto</option>
              </select>
            )}
          </Field>
          {stdio && (
            <>
              <Field label="Command" hint="The program that runs the MCP server">
                {(id) => <input id={id} className="mono" value={form.command} onChange={(e) => set("command", e.target.value)} autoComplete="off" placeholder="npx" />}
              </Field>
              <Field label="Arguments" hint="Space separated, or one per line">
                {(id) => (
                  <textarea id={id} className="mono" rows={2} value={form.args} onChange={(e) => set("args", e.target.value)} placeholder="-y @modelcontextprotocol/server-filesystem /tmp" />
                )}
              </Field>
            </>
          )}
          {http && (
            <div className="form-grid">
              <Field label="URL">
                {(id) => <input id={id} className="mono" value={form.url} onChange={(e) => set("url", e.target.value)} autoComplete="off" placeholder="https://example.com/mcp" />}
              </Field>
              <Field label="API key" hint="Stored in the OS keychain, never in the config">
                {(id) => <input id={id} type="password" value={form.api_key} onChange={(e) => set("api_key", e.target.value)} autoComplete="off" />}
              </Field>
            </div>
          )}
          <details className="advanced">
            <summary>Advanced: timeout, mTLS, attestation</summary>
            <div className="stack">
              {http && (
                <>
                  <Field label="HTTP timeout (seconds)">
                    {(id) => <input id={id} type="number" min={1} max={300} value={form.timeout} onChange={(e) => set("timeout", e.target.value)} />}
                  </Field>
                  <div className="form-grid three">
                    <Field label="mTLS client certificate">
                      {(id) => <input id={id} className="mono" value={form.mtls_cert} onChange={(e) => set("mtls_cert", e.target.value)} placeholder="~/certs/client.pem" />}
                    </Field>
                    <Field label="mTLS client key">
                      {(id) => <input id={id} className="mono" value={form.mtls_key} onChange={(e) => set("mtls_key", e.target.value)} placeholder="~/certs/client.key" />}
                    </Field>
                    <Field label="mTLS CA bundle">
                      {(id) => <input id={id} className="mono" value={form.mtls_ca} onChange={(e) => set("mtls_ca", e.target.value)} placeholder="~/certs/ca.pem" />}
                    </Field>
                  </div>
                </>
              )}
              {stdio && (
                <>
                  <div className="form-grid">
                    <Field label="SLSA owner" hint="GitHub user or organisation that built the binary">
                      {(id) => <input id={id} value={form.attestation_slsa_owner} onChange={(e) => set("attestation_slsa_owner", e.target.value)} />}
                    </Field>
                    <Field label="Expected SHA-256">
                      {(id) => <input id={id} className="mono" value={form.attestation_sha256} onChange={(e) => set("attestation_sha256", e.target.value)} />}
                    </Field>
                  </div>
                  <label className="checkbox">
                    <input type="checkbox" checked={form.attestation_require_signature} onChange={(e) => set("attestation_require_signature", e.target.checked)} />
                    Require a code signature (macOS)
                  </label>
                </>
              )}
            </div>
          </details>

          {problems.length > 0 && (
            <div className="callout callout-error" role="alert">
              <ul className="plain-list">
                {problems.map((problem) => (
                  <li key={problem}>{problem}</li>
                ))}
              </ul>
            </div>
          )}
          {confirm && (
            <div className="callout callout-warning" role="alert">
              <p>
                <strong>{confirm.kind === "unreachable" ? "The backend did not answer." : "Another proxy already uses this backend."}</strong>{" "}
                {confirm.message}
              </p>
              <div className="row gap">
                <button type="button" className="button button-small button-primary" onClick={proceedAnyway} disabled={busy}>
                  {confirm.kind === "unreachable" ? "Create without checking" : "Create anyway"}
                </button>
                <button type="button" className="button button-small" onClick={() => setConfirm(null)}>
                  Change settings
                </button>
              </div>
            </div>
          )}
          <div className="dialog-actions">
            <button type="button" className="button" onClick={close}>
              Cancel
            </button>
            <button type="submit" className="button button-primary" disabled={busy}>
              {busy && <span className="spinner" aria-hidden="true" />}
              Create proxy
            </button>
          </div>
        </form>
      )}
    </Dialog>
  );
}

let fieldCounter = 0;

export function Field({ label, hint, children }: { label: string; hint?: string; children: (id: string) => ReactNode }) {
  const [id] = useState(() => `field-${++fieldCounter}`);
  return (
    <div className="field">
      <label htmlFor={id} className="label">
        {label}
      </label>
      {children(id)}
      {hint && <span className="hint">{hint}</span>}
    </div>
  );
}
