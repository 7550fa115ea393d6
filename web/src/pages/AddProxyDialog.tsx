import { useState, type FormEvent } from "react";
import { ApiError, errorList } from "../api/client";
import { endpoints } from "../api/endpoints";
import type { CreateProxyResult } from "../api/types";
import { CopyButton } from "../components/CopyButton";
import { Dialog, SubmitActions } from "../components/Dialog";
import { Field, SelectField, TextField } from "../components/Field";
import { ProblemList } from "../components/ProblemList";
import { SecretEnvRows } from "../components/SecretEnvRows";
import { toastSuccess } from "../lib/notify";
import { useBusy } from "../lib/useBusy";
import { emptyProxyForm, proxyBody, proxyFormProblems, type ProxyForm } from "../state/forms";

interface Props {
  open: boolean;
  onClose: () => void;
  onCreated: () => void;
}

const TRANSPORTS = ["stdio", "http", "auto"] as const;

type Confirm = { kind: "unreachable" | "duplicate"; message: string } | null;

export function AddProxyDialog({ open, onClose, onCreated }: Props) {
  const [form, setForm] = useState<ProxyForm>(emptyProxyForm);
  const { busy, run } = useBusy();
  const [problems, setProblems] = useState<string[]>([]);
  const [confirm, setConfirm] = useState<Confirm>(null);
  const [skips, setSkips] = useState({ skip_health_check: false, skip_duplicate_check: false });
  const [created, setCreated] = useState<CreateProxyResult | null>(null);

  const set = <K extends keyof ProxyForm>(key: K, value: ProxyForm[K]) => setForm((f) => ({ ...f, [key]: value }));
  /** The value and setter of a text field of the form. */
  const bind = (key: Exclude<keyof ProxyForm, "transport" | "attestation_require_signature" | "secret_env">) => ({ value: form[key], onChange: (value: string) => set(key, value) });

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

  const submit = (override = skips) => {
    const local = proxyFormProblems(form);
    setProblems(local);
    if (local.length) return;
    void run(async () => {
      setCreated(await endpoints.createProxy({ ...proxyBody(form), ...override }));
      setConfirm(null);
    }, (error) => {
      if (error instanceof ApiError && error.code === "BACKEND_UNREACHABLE") {
        setConfirm({ kind: "unreachable", message: error.message });
      } else if (error instanceof ApiError && error.code === "BACKEND_DUPLICATE") {
        setConfirm({ kind: "duplicate", message: error.message });
      } else {
        setProblems(errorList(error));
      }
    });
  };

  const onSubmit = (event: FormEvent) => {
    event.preventDefault();
    submit();
  };

  const proceedAnyway = () => {
    const next = confirm?.kind === "unreachable"
      ? { ...skips, skip_health_check: true }
      : { ...skips, skip_duplicate_check: true };
    setSkips(next);
    submit(next);
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
            <TextField label="Name" hint="How the CLI and the UI call it: letters, digits, - and _" {...bind("name")} required autoComplete="off" placeholder="filesystem" />
            <TextField label="Server name" hint="The backend's name; defaults to the proxy name" {...bind("server_name")} autoComplete="off" />
          </div>
          <SelectField label="Transport" value={form.transport} onChange={(v) => set("transport", v)} options={TRANSPORTS} />
          {stdio && (
            <>
              <TextField label="Command" hint="The program that runs the MCP server" mono {...bind("command")} autoComplete="off" placeholder="npx" />
              <Field label="Arguments" hint="Space separated, or one per line">
                {(id) => (
                  <textarea id={id} className="mono" rows={2} value={form.args} onChange={(e) => set("args", e.target.value)} placeholder="-y @modelcontextprotocol/server-filesystem /tmp" />
                )}
              </Field>
              <Field label="Environment" hint="KEY=VALUE, one per line. The server gets only these, plus PATH, HOME and the locale: not your client's environment">
                {(id) => (
                  <textarea id={id} className="mono" rows={2} value={form.env} onChange={(e) => set("env", e.target.value)} placeholder="LOG_LEVEL=info" />
                )}
              </Field>
              <SecretEnvRows rows={form.secret_env} onChange={(rows) => set("secret_env", rows)} />
            </>
          )}
          {http && (
            <div className="form-grid">
              <TextField label="URL" mono {...bind("url")} autoComplete="off" placeholder="https://example.com/mcp" />
              <TextField label="API key" hint="Stored in the OS keychain, never in the config" type="password" {...bind("api_key")} autoComplete="off" />
            </div>
          )}
          <details className="advanced">
            <summary>Advanced: timeout, mTLS, attestation</summary>
            <div className="stack">
              {http && (
                <>
                  <TextField label="HTTP timeout (seconds)" type="number" min={1} max={300} {...bind("timeout")} />
                  <div className="form-grid three">
                    <TextField label="mTLS client certificate" mono {...bind("mtls_cert")} placeholder="~/certs/client.pem" />
                    <TextField label="mTLS client key" mono {...bind("mtls_key")} placeholder="~/certs/client.key" />
                    <TextField label="mTLS CA bundle" mono {...bind("mtls_ca")} placeholder="~/certs/ca.pem" />
                  </div>
                </>
              )}
              {stdio && (
                <>
                  <div className="form-grid">
                    <TextField label="SLSA owner" hint="GitHub user or organisation that built the binary" {...bind("attestation_slsa_owner")} />
                    <TextField label="Expected SHA-256" mono {...bind("attestation_sha256")} />
                  </div>
                  <label className="checkbox">
                    <input type="checkbox" checked={form.attestation_require_signature} onChange={(e) => set("attestation_require_signature", e.target.checked)} />
                    Require a code signature (macOS)
                  </label>
                </>
              )}
            </div>
          </details>

          <ProblemList problems={problems} />
          {confirm && (
            <div className="callout callout-warning" role="alert">
              <p>
                <strong>{confirm.kind === "unreachable" ? "The backend check failed." : "Another proxy already uses this backend."}</strong>{" "}
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
          <SubmitActions label="Create proxy" busy={busy} onCancel={close} />
        </form>
      )}
    </Dialog>
  );
}
