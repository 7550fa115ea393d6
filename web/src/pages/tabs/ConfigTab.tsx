import { useEffect, useMemo, useState, type FormEvent, type ReactNode } from "react";
import { ApiError, errorMessage } from "../../api/client";
import { configKeyEndpoints, endpoints } from "../../api/endpoints";
import type { ProxyConfigDoc, ProxyDetail } from "../../api/types";
import { ErrorState } from "../../components/ErrorState";
import { toastError, toastSuccess } from "../../lib/notify";
import { useAsync } from "../../lib/useAsync";
import { diffPaths, getPath, setPath } from "../../state/config";
import { parseArgs } from "../../state/forms";
import { useLive } from "../../state/LiveProvider";
import { Field } from "../AddProxyDialog";

interface Props {
  proxy: ProxyDetail;
  status: "running" | "inactive";
}

/** GET …/config may answer the config itself or {config, …}. */
function unwrap(response: ProxyConfigDoc): ProxyConfigDoc {
  const inner = response.config;
  return inner && typeof inner === "object" && !Array.isArray(inner) ? (inner as ProxyConfigDoc) : response;
}

export function ConfigTab({ proxy, status }: Props) {
  const { state } = useLive();
  const running = status === "running";
  const config = useAsync(() => endpoints.getConfig(proxy.proxy_id).then(unwrap), [proxy.proxy_id]);
  const compare = useAsync(
    () => (running ? endpoints.compareConfig(proxy.proxy_id) : Promise.resolve(null)),
    [proxy.proxy_id, running, state.versions.proxies],
  );
  const [draft, setDraft] = useState<ProxyConfigDoc | null>(null);
  const [problems, setProblems] = useState<string[]>([]);
  const [busy, setBusy] = useState(false);
  const [saved, setSaved] = useState(false);

  useEffect(() => {
    if (config.data) setDraft(config.data);
  }, [config.data]);

  const changes = useMemo(() => (config.data && draft ? diffPaths(config.data, draft) : []), [config.data, draft]);
  const dirty = changes.length > 0;

  if (config.error && !config.data) return <ErrorState error={config.error} onRetry={config.reload} title="Could not load the config" />;
  if (!config.data || !draft) return <div className="skeleton skeleton-block" aria-busy="true" />;

  const value = (path: string) => getPath(draft, path);
  const text = (path: string) => {
    const v = value(path);
    return v === undefined || v === null ? "" : String(v);
  };
  const update = (path: string, next: unknown) => setDraft((d) => (d ? setPath(d, path, next) : d));
  const setText = (path: string, next: string) => update(path, next === "" ? undefined : next);
  const setNumber = (path: string, next: string) => update(path, next === "" ? undefined : Number(next));

  const save = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setProblems([]);
    try {
      await endpoints.putConfig(proxy.proxy_id, draft);
      toastSuccess(running ? "Config saved. Restart the proxy to apply it" : "Config saved");
      setSaved(true);
      config.reload();
      compare.reload();
    } catch (error) {
      setProblems(error instanceof ApiError && error.validationErrors.length ? error.validationErrors : [errorMessage(error)]);
    } finally {
      setBusy(false);
    }
  };

  const hasStdio = Boolean(value("backend.stdio"));
  const hasHttp = Boolean(value("backend.http"));
  const args = value("backend.stdio.args");

  return (
    <div className="stack-lg">
      {running && (saved || compare.data?.differs) && (
        <div className="callout callout-warning" role="status">
          <strong>Restart required.</strong> The running proxy still uses the config it started with. Restart it (restart its MCP client) to apply the saved config.
        </div>
      )}
      <form className={`panel config-form${dirty ? " dirty" : ""}`} onSubmit={save} noValidate>
        <div className="panel-header">
          <h2>Configuration</h2>
          {dirty && <span className="chip chip-warning">Unsaved changes ({changes.length})</span>}
          <div className="spacer" />
          <button type="button" className="button" disabled={!dirty || busy} onClick={() => { setDraft(config.data ?? null); setProblems([]); }}>
            Discard
          </button>
          <button type="submit" className="button button-primary" disabled={!dirty || busy}>
            {busy && <span className="spinner" aria-hidden="true" />}
            Save
          </button>
        </div>

        <ConfigSection title="Backend">
          <div className="form-grid">
            <Field label="Server name">{(id) => <input id={id} value={text("backend.server_name")} onChange={(e) => setText("backend.server_name", e.target.value)} />}</Field>
            <Field label="Transport">
              {(id) => (
                <select id={id} value={text("backend.transport") || "auto"} onChange={(e) => update("backend.transport", e.target.value)}>
                  <option value="stdio">stdio</option>
                  <option value="streamablehttp">streamablehttp</option>
                  <option value="auto">auto</option>
                </select>
              )}
            </Field>
          </div>
          {hasStdio && (
            <div className="form-grid">
              <Field label="Command">{(id) => <input id={id} className="mono" value={text("backend.stdio.command")} onChange={(e) => update("backend.stdio.command", e.target.value)} />}</Field>
              <Field label="Arguments" hint="One per line">
                {(id) => <ArgsInput id={id} value={Array.isArray(args) ? (args as string[]) : []} onChange={(next) => update("backend.stdio.args", next)} />}
              </Field>
            </div>
          )}
          {hasHttp && (
            <div className="form-grid">
              <Field label="URL">{(id) => <input id={id} className="mono" value={text("backend.http.url")} onChange={(e) => update("backend.http.url", e.target.value)} />}</Field>
              <Field label="Timeout (seconds)">{(id) => <input id={id} type="number" min={1} max={300} value={text("backend.http.timeout")} onChange={(e) => setNumber("backend.http.timeout", e.target.value)} />}</Field>
            </div>
          )}
        </ConfigSection>

        <ConfigSection title="Logging">
          <div className="form-grid">
            <Field label="Log level" hint="DEBUG also writes the wire logs">
              {(id) => (
                <select id={id} value={text("log_level") || "INFO"} onChange={(e) => update("log_level", e.target.value)}>
                  <option value="INFO">INFO</option>
                  <option value="DEBUG">DEBUG</option>
                </select>
              )}
            </Field>
            <div className="field checkbox-field">
              <label className="checkbox">
                <input type="checkbox" checked={Boolean(value("include_payloads"))} onChange={(e) => update("include_payloads", e.target.checked)} />
                Include payloads in debug logs
              </label>
              <label className="checkbox">
                <input type="checkbox" checked={Boolean(value("audit_durable"))} onChange={(e) => update("audit_durable", e.target.checked)} />
                Durable audit writes (fsync)
              </label>
            </div>
          </div>
        </ConfigSection>

        <ConfigSection title="Human approval (HITL)">
          <div className="form-grid">
            <Field label="Approval timeout (seconds)" hint="5 to 300">
              {(id) => <input id={id} type="number" min={5} max={300} value={text("hitl.timeout_seconds")} onChange={(e) => setNumber("hitl.timeout_seconds", e.target.value)} />}
            </Field>
            <Field label="Cached approval TTL (seconds)" hint="300 to 900">
              {(id) => <input id={id} type="number" min={300} max={900} value={text("hitl.approval_ttl_seconds")} onChange={(e) => setNumber("hitl.approval_ttl_seconds", e.target.value)} />}
            </Field>
          </div>
        </ConfigSection>

        <ConfigSection title="Security">
          {hasStdio && (
            <div className="form-grid">
              <Field label="Attestation: SLSA owner">
                {(id) => <input id={id} value={text("backend.stdio.attestation.slsa_owner")} onChange={(e) => setText("backend.stdio.attestation.slsa_owner", e.target.value)} />}
              </Field>
              <Field label="Attestation: expected SHA-256">
                {(id) => <input id={id} className="mono" value={text("backend.stdio.attestation.expected_sha256")} onChange={(e) => setText("backend.stdio.attestation.expected_sha256", e.target.value)} />}
              </Field>
            </div>
          )}
          {hasHttp && (
            <div className="form-grid three">
              <Field label="mTLS client certificate">{(id) => <input id={id} className="mono" value={text("mtls.client_cert_path")} onChange={(e) => setText("mtls.client_cert_path", e.target.value)} />}</Field>
              <Field label="mTLS client key">{(id) => <input id={id} className="mono" value={text("mtls.client_key_path")} onChange={(e) => setText("mtls.client_key_path", e.target.value)} />}</Field>
              <Field label="mTLS CA bundle">{(id) => <input id={id} className="mono" value={text("mtls.ca_bundle_path")} onChange={(e) => setText("mtls.ca_bundle_path", e.target.value)} />}</Field>
            </div>
          )}
          <p className="muted small">Sign-in (OIDC) is configured for all proxies in the manager; see the Auth page.</p>
        </ConfigSection>

        {problems.length > 0 && (
          <div className="callout callout-error" role="alert">
            <strong>The config was not saved:</strong>
            <ul className="plain-list">
              {problems.map((problem) => (
                <li key={problem}>{problem}</li>
              ))}
            </ul>
          </div>
        )}
      </form>

      {hasHttp && <ApiKeySection proxy={proxy} credential={text("backend.http.credential_key")} onChanged={config.reload} />}

      {running && compare.data && (
        <section className="panel" aria-labelledby="compare-title">
          <div className="panel-header">
            <h2 id="compare-title">Running vs saved</h2>
            <span className={`chip ${compare.data.differs ? "chip-warning" : "chip-success"}`}>{compare.data.differs ? "differs" : "identical"}</span>
          </div>
          {compare.data.differs ? (
            <table className="table">
              <thead>
                <tr>
                  <th scope="col">Setting</th>
                  <th scope="col">Running</th>
                  <th scope="col">Saved</th>
                </tr>
              </thead>
              <tbody>
                {diffPaths(unwrap(compare.data.running ?? {}), unwrap(compare.data.saved ?? {})).map((d) => (
                  <tr key={d.path}>
                    <td className="mono">{d.path}</td>
                    <td className="mono">{JSON.stringify(d.left) ?? "–"}</td>
                    <td className="mono">{JSON.stringify(d.right) ?? "–"}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : (
            <p className="muted panel-empty">The running proxy uses the saved config.</p>
          )}
        </section>
      )}
    </div>
  );
}

/** Keeps the text as typed (blank lines included) and reports the argument list. */
function ArgsInput({ id, value, onChange }: { id: string; value: string[]; onChange: (args: string[]) => void }) {
  const [text, setText] = useState(value.join("\n"));
  const joined = value.join("\n");
  useEffect(() => {
    setText((current) => (parseArgs(current + "\n").join("\n") === joined ? current : joined));
  }, [joined]);
  return (
    <textarea
      id={id}
      className="mono"
      rows={Math.max(2, value.length + 1)}
      value={text}
      onChange={(e) => {
        setText(e.target.value);
        onChange(parseArgs(e.target.value + "\n"));
      }}
    />
  );
}

function ConfigSection({ title, children }: { title: string; children: ReactNode }) {
  return (
    <fieldset className="config-section">
      <legend>{title}</legend>
      <div className="stack">{children}</div>
    </fieldset>
  );
}

function ApiKeySection({ proxy, credential, onChanged }: { proxy: ProxyDetail; credential: string; onChanged: () => void }) {
  const [key, setKey] = useState("");
  const [busy, setBusy] = useState(false);
  const act = async (remove: boolean) => {
    setBusy(true);
    try {
      if (remove) await configKeyEndpoints.removeApiKey(proxy.proxy_id);
      else await configKeyEndpoints.setApiKey(proxy.proxy_id, key);
      toastSuccess(remove ? "API key removed" : "API key saved in the keychain");
      setKey("");
      onChanged();
    } catch (error) {
      toastError(error, "API key");
    } finally {
      setBusy(false);
    }
  };
  return (
    <section className="panel" aria-labelledby="apikey-title">
      <div className="panel-header">
        <h2 id="apikey-title">Backend API key</h2>
        <span className={`chip ${credential ? "chip-success" : "chip-muted"}`}>{credential ? "set" : "not set"}</span>
      </div>
      <p className="muted small">Kept in the OS keychain{credential ? ` as ${credential}` : ""}; never written to the config or shown here.</p>
      <div className="row gap align-end">
        <Field label={credential ? "New API key" : "API key"}>
          {(id) => <input id={id} type="password" value={key} onChange={(e) => setKey(e.target.value)} autoComplete="off" />}
        </Field>
        <button type="button" className="button" disabled={!key || busy} onClick={() => act(false)}>
          {credential ? "Update key" : "Set key"}
        </button>
        {credential && (
          <button type="button" className="button button-danger-outline" disabled={busy} onClick={() => act(true)}>
            Remove key
          </button>
        )}
      </div>
    </section>
  );
}
