import { useEffect, useMemo, useState, type FormEvent, type ReactNode } from "react";
import { errorList } from "../../api/client";
import { configKeyEndpoints, endpoints } from "../../api/endpoints";
import type { ProxyConfigDoc, ProxyDetail } from "../../api/types";
import { BusyButton } from "../../components/BusyButton";
import { ErrorState } from "../../components/ErrorState";
import { Field, SelectField, TextField } from "../../components/Field";
import { ProblemList } from "../../components/ProblemList";
import { TableHead } from "../../components/TableHead";
import { toastError, toastSuccess } from "../../lib/notify";
import { useAsync } from "../../lib/useAsync";
import { useBusy } from "../../lib/useBusy";
import { diffPaths, getPath, savePatch, setPath } from "../../state/config";
import { limitsProblems, rowsFromPerTool } from "../../state/limits";
import { parseArgs } from "../../state/forms";
import { useLive } from "../../state/LiveProvider";
import { EnvSection } from "./EnvSection";
import { LimitsSection, useToolLimitRows } from "./LimitsSection";

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
  const { busy, run } = useBusy();
  const [saved, setSaved] = useState(false);

  useEffect(() => {
    if (config.data) setDraft(config.data);
  }, [config.data]);

  const changes = useMemo(() => (config.data && draft ? diffPaths(config.data, draft) : []), [config.data, draft]);
  const dirty = changes.length > 0;
  const [toolRows, setToolRows] = useToolLimitRows(draft ? getPath(draft, "limits.per_tool") : undefined);
  const limits = draft ? getPath(draft, "limits") : undefined;
  const limitIssues = useMemo(
    () => limitsProblems(limits && typeof limits === "object" ? (limits as Record<string, unknown>) : undefined, toolRows),
    [limits, toolRows],
  );
  const invalid = limitIssues.all.length > 0;

  if (config.error && !config.data) return <ErrorState error={config.error} onRetry={config.reload} title="Could not load the config" />;
  if (!config.data || !draft) return <div className="skeleton skeleton-block" aria-busy="true" />;

  const value = (path: string) => getPath(draft, path);
  const text = (path: string) => {
    const v = value(path);
    return v === undefined || v === null ? "" : String(v);
  };
  const update = (path: string, next: unknown) => setDraft((d) => (d ? setPath(d, path, next) : d));
  // An emptied field removes the setting, so the proxy's default applies.
  const textInput = (path: string) => ({ value: text(path), onChange: (next: string) => update(path, next === "" ? undefined : next) });
  const numberInput = (path: string) => ({ value: text(path), onChange: (next: string) => update(path, next === "" ? undefined : Number(next)) });

  const save = (event: FormEvent) => {
    event.preventDefault();
    if (invalid) return;
    setProblems([]);
    void run(async () => {
      // Keys removed in the form are sent as null: the manager merges the body into the file.
      await endpoints.putConfig(proxy.proxy_id, savePatch(config.data, draft));
      toastSuccess(running ? "Config saved. Restart the proxy to apply it" : "Config saved");
      setSaved(true);
      config.reload();
      compare.reload();
    }, (error) => setProblems(errorList(error)));
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
          {invalid && <span className="chip chip-danger">{limitIssues.all.length === 1 ? "1 problem to fix" : `${limitIssues.all.length} problems to fix`}</span>}
          <div className="spacer" />
          <button
            type="button"
            className="button"
            disabled={(!dirty && !invalid) || busy}
            onClick={() => {
              setDraft(config.data ?? null);
              setToolRows(rowsFromPerTool(getPath(config.data, "limits.per_tool")));
              setProblems([]);
            }}
          >
            Discard
          </button>
          <BusyButton type="submit" className="button button-primary" busy={busy} disabled={!dirty || invalid}>
            Save
          </BusyButton>
        </div>

        <ConfigSection title="Backend">
          <div className="form-grid">
            <TextField label="Server name" {...textInput("backend.server_name")} />
            <SelectField label="Transport" value={text("backend.transport") || "auto"} onChange={(v) => update("backend.transport", v)} options={["stdio", "streamablehttp", "auto"]} />
          </div>
          {hasStdio && (
            <div className="form-grid">
              <TextField label="Command" mono value={text("backend.stdio.command")} onChange={(v) => update("backend.stdio.command", v)} />
              <Field label="Arguments" hint="One per line">
                {(id) => <ArgsInput id={id} value={Array.isArray(args) ? (args as string[]) : []} onChange={(next) => update("backend.stdio.args", next)} />}
              </Field>
            </div>
          )}
          {hasHttp && (
            <div className="form-grid">
              <TextField label="URL" mono value={text("backend.http.url")} onChange={(v) => update("backend.http.url", v)} />
              <TextField label="Timeout (seconds)" type="number" min={1} max={300} {...numberInput("backend.http.timeout")} />
            </div>
          )}
        </ConfigSection>

        <ConfigSection title="Logging">
          <div className="form-grid">
            <SelectField label="Log level" hint="DEBUG also writes the wire logs" value={text("log_level") || "INFO"} onChange={(v) => update("log_level", v)} options={["INFO", "DEBUG"]} />
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
            <TextField label="Approval timeout (seconds)" hint="5 to 300" type="number" min={5} max={300} {...numberInput("hitl.timeout_seconds")} />
            <TextField label="Cached approval TTL (seconds)" hint="300 to 900" type="number" min={300} max={900} {...numberInput("hitl.approval_ttl_seconds")} />
          </div>
        </ConfigSection>

        <ConfigSection title="Tool lists">
          <SelectField
            label="Discovery"
            hint="filter: the lists the model sees leave out what the policy denies outright; every call is still decided"
            value={text("discovery") || "all"}
            onChange={(v) => update("discovery", v)}
            options={[
              { value: "all", label: "all: lists pass unchanged" },
              { value: "filter", label: "filter: hide what the policy denies" },
            ]}
          />
        </ConfigSection>

        <LimitsSection
          limits={limits && typeof limits === "object" ? (limits as Record<string, unknown>) : undefined}
          onField={(field, next) => update(`limits.${field}`, next)}
          onPerTool={(perTool) => update("limits.per_tool", perTool)}
          rows={toolRows}
          onRows={setToolRows}
          problems={limitIssues}
        />

        <ConfigSection title="Security">
          {hasStdio && (
            <div className="form-grid">
              <TextField label="Attestation: SLSA owner" {...textInput("backend.stdio.attestation.slsa_owner")} />
              <TextField label="Attestation: expected SHA-256" mono {...textInput("backend.stdio.attestation.expected_sha256")} />
            </div>
          )}
          {hasHttp && (
            <div className="form-grid three">
              <TextField label="mTLS client certificate" mono {...textInput("mtls.client_cert_path")} />
              <TextField label="mTLS client key" mono {...textInput("mtls.client_key_path")} />
              <TextField label="mTLS CA bundle" mono {...textInput("mtls.ca_bundle_path")} />
            </div>
          )}
          <p className="muted small">Sign-in (OIDC) is configured for all proxies in the manager; see the Auth page.</p>
        </ConfigSection>

        <ProblemList problems={problems} title="The config was not saved:" />
      </form>

      {hasStdio && <EnvSection proxy={proxy} running={running} />}
      {hasHttp && <ApiKeySection proxy={proxy} credential={text("backend.http.credential_key")} onChanged={config.reload} />}

      {running && compare.data && (
        <section className="panel" aria-labelledby="compare-title">
          <div className="panel-header">
            <h2 id="compare-title">Running vs saved</h2>
            <span className={`chip ${compare.data.differs ? "chip-warning" : "chip-success"}`}>{compare.data.differs ? "differs" : "identical"}</span>
          </div>
          {compare.data.differs ? (
            <table className="table">
              <TableHead columns={["Setting", "Running", "Saved"]} />
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
  const { busy, run } = useBusy();
  const act = (remove: boolean) =>
    run(async () => {
      if (remove) await configKeyEndpoints.removeApiKey(proxy.proxy_id);
      else await configKeyEndpoints.setApiKey(proxy.proxy_id, key);
      toastSuccess(remove ? "API key removed" : "API key saved in the keychain");
      setKey("");
      onChanged();
    }, (error) => toastError(error, "API key"));
  return (
    <section className="panel" aria-labelledby="apikey-title">
      <div className="panel-header">
        <h2 id="apikey-title">Backend API key</h2>
        <span className={`chip ${credential ? "chip-success" : "chip-muted"}`}>{credential ? "set" : "not set"}</span>
      </div>
      <p className="muted small">Kept in the OS keychain{credential ? ` as ${credential}` : ""}; never written to the config or shown here.</p>
      <div className="row gap align-end">
        <TextField label={credential ? "New API key" : "API key"} type="password" value={key} onChange={setKey} autoComplete="off" />
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
