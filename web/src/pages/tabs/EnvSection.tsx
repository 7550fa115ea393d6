import { useState, type FormEvent } from "react";
import { envEndpoints } from "../../api/endpoints";
import type { ProxyDetail } from "../../api/types";
import { ErrorState } from "../../components/ErrorState";
import { TableHead } from "../../components/TableHead";
import { TextField } from "../../components/Field";
import { toastError, toastSuccess } from "../../lib/notify";
import { useAsync } from "../../lib/useAsync";
import { useBusy } from "../../lib/useBusy";
import { envNameProblem } from "../../state/env";

/** The STDIO backend's own environment (docs/configuration.md#a-backends-environment), saved at
 * once through its own API, apart from the config form. Secret values are write-only: the manager
 * never sends them back, so a secret shows only whether it is stored. */
export function EnvSection({ proxy, running }: { proxy: ProxyDetail; running: boolean }) {
  const listing = useAsync(() => envEndpoints.get(proxy.proxy_id), [proxy.proxy_id]);
  const [name, setName] = useState("");
  const [value, setValue] = useState("");
  const [secret, setSecret] = useState(false);
  const { busy, run } = useBusy();
  const problem = name ? envNameProblem(name.trim()) : null;
  const later = running ? " Restart the proxy to give it to the server" : "";

  const save = (event: FormEvent) => {
    event.preventDefault();
    if (!name.trim() || problem) return;
    void run(async () => {
      await envEndpoints.set(proxy.proxy_id, name.trim(), value, secret);
      toastSuccess(`${name.trim()} saved${secret ? " in the keychain" : ""}.${later}`);
      setName("");
      setValue("");
      setSecret(false);
      listing.reload();
    }, (error) => toastError(error, "Environment"));
  };
  const remove = (variable: string) =>
    run(async () => {
      await envEndpoints.remove(proxy.proxy_id, variable);
      toastSuccess(`${variable} removed.${later}`);
      listing.reload();
    }, (error) => toastError(error, "Environment"));

  const data = listing.data;
  const names = data ? [...Object.keys(data.env), ...data.secret_env.map((s) => s.name)] : [];
  return (
    <section className="panel" aria-labelledby="env-title" data-testid="env-section">
      <div className="panel-header">
        <h2 id="env-title">Backend environment</h2>
      </div>
      {listing.error && !data ? (
        <ErrorState error={listing.error} onRetry={listing.reload} title="Could not load the environment" />
      ) : (
        <>
          <p className="muted small">
            The server gets only these values, plus {data ? data.base_variables.join(", ") : "PATH, HOME and the locale"} from the proxy's own environment: not its MCP client's. Secret values are kept in {data?.secret_store ?? "the OS keychain"}, never in the config, and are never shown again.
          </p>
          {names.length > 0 && (
            <table className="table">
              <TableHead columns={["Variable", "Value", ""]} />
              <tbody>
                {Object.entries(data?.env ?? {}).map(([variable, plain]) => (
                  <tr key={variable}>
                    <td className="mono">{variable}</td>
                    <td className="mono">{plain}</td>
                    <td><button type="button" className="button button-small" disabled={busy} onClick={() => void remove(variable)}>Remove</button></td>
                  </tr>
                ))}
                {data?.secret_env.map((item) => (
                  <tr key={item.name}>
                    <td className="mono">{item.name}</td>
                    <td>
                      {item.stored ? <span className="chip chip-success">secret, stored</span> : <span className="chip chip-danger">secret, missing: set it below</span>}
                    </td>
                    <td><button type="button" className="button button-small" disabled={busy} onClick={() => void remove(item.name)}>Remove</button></td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <form className="row gap align-end" onSubmit={save} noValidate>
            <TextField label="Variable" mono value={name} onChange={setName} error={problem} autoComplete="off" placeholder="GITHUB_TOKEN" />
            <TextField label={secret ? "Secret value" : "Value"} type={secret ? "password" : "text"} value={value} onChange={setValue} autoComplete={secret ? "new-password" : "off"} />
            <label className="checkbox">
              <input type="checkbox" checked={secret} onChange={(e) => setSecret(e.target.checked)} />
              Secret
            </label>
            <button type="submit" className="button" disabled={!name.trim() || Boolean(problem) || (secret && !value) || busy}>
              Set
            </button>
          </form>
        </>
      )}
    </section>
  );
}
