import { useState } from "react";
import { errorMessage } from "../api/client";
import { endpoints } from "../api/endpoints";
import type { ClientId, ClientWriteResult } from "../api/types";
import { useAsync } from "../lib/useAsync";
import { useBusy } from "../lib/useBusy";
import { toastSuccess } from "../lib/notify";
import { CLIENTS, clientInfo, serverCount, snippetText } from "../state/clients";
import { BusyButton } from "./BusyButton";
import { CopyButton } from "./CopyButton";
import { Dialog } from "./Dialog";
import { TextField } from "./Field";

interface Props {
  /** One proxy, or every configured proxy ("Export all") when undefined. */
  proxy?: string;
  onClose: () => void;
}

/** Connect an MCP client: the snippet in the picked client's own format, and "write it into my
 * client", which shows what would change before it writes (the manager runs `install mcp-json --write`'s code). */
export function ClientDialog({ proxy, onClose }: Props) {
  const [client, setClient] = useState<ClientId>("claude-desktop");
  const info = clientInfo(client);
  const answer = useAsync(() => endpoints.configSnippet(proxy, client), [proxy, client]);
  const text = answer.data ? snippetText(answer.data, client) : "";
  const count = answer.data ? serverCount(answer.data) : 0;

  return (
    <Dialog open title={proxy ? `Connect a client to ${proxy}` : "Export all proxies to a client"} onClose={onClose} size="lg">
      <div className="stack">
        <div className="segmented" role="radiogroup" aria-label="Client">
          {CLIENTS.map((c) => (
            <button key={c.id} type="button" role="radio" aria-checked={c.id === client} aria-pressed={c.id === client} onClick={() => setClient(c.id)}>
              {c.label}
            </button>
          ))}
        </div>
        <p className="muted small">
          {info.label} reads its servers from <span className="mono">{info.file}</span>.
          {proxy ? "" : ` ${count === 1 ? "1 proxy" : `${count} proxies`}.`}
        </p>
        {answer.error ? (
          <p className="callout callout-error" role="alert">{errorMessage(answer.error)}</p>
        ) : (
          <pre className="code-block" data-testid="client-snippet" data-client={answer.data ? client : undefined}>
            {text}
          </pre>
        )}
        <div className="row gap">
          <CopyButton text={text} label="Copy snippet" className="button button-small" />
        </div>
        <WriteSection key={client} client={client} proxy={proxy} />
      </div>
    </Dialog>
  );
}

function WriteSection({ client, proxy }: { client: ClientId; proxy?: string }) {
  const info = clientInfo(client);
  const [projectDir, setProjectDir] = useState("");
  const [force, setForce] = useState(false);
  const [plan, setPlan] = useState<ClientWriteResult | null>(null);
  const [error, setError] = useState<string | null>(null);
  const { busy, run } = useBusy();

  const ask = (write: boolean) =>
    run(async () => {
      setError(null);
      const result = await endpoints.writeClientConfig({
        client,
        proxy,
        project_dir: info.project ? projectDir : undefined,
        force,
        write,
      });
      setPlan(result);
      if (result.written) toastSuccess(`Written to ${result.path}. Restart ${info.label} to pick it up.`);
    }, (reason) => setError(errorMessage(reason)));

  return (
    <section className="panel stack" aria-labelledby={`write-${client}`}>
      <h3 id={`write-${client}`} className="section-title">Write it into my client</h3>
      <p className="muted small">
        The manager merges these entries into {info.label}'s file: it shows the change first, never replaces an entry it did not write unless you
        say so, and keeps a backup when the file changes.
      </p>
      {info.project && (
        <TextField label="Project folder" hint="Absolute path of the project" mono value={projectDir} onChange={(v) => { setProjectDir(v); setPlan(null); }} placeholder="/home/me/project" />
      )}
      <div className="row gap">
        <BusyButton className="button" busy={busy} onClick={() => void ask(false)} disabled={info.project && !projectDir}>
          Show the change
        </BusyButton>
        {plan && !plan.written && plan.changes && !plan.needs_force && (
          <BusyButton className="button button-primary" busy={busy} onClick={() => void ask(true)}>
            Write it
          </BusyButton>
        )}
      </div>
      {error && <p className="callout callout-error" role="alert">{error}</p>}
      {plan && <PlanView plan={plan} force={force} onForce={(next) => { setForce(next); setPlan(null); }} />}
    </section>
  );
}

function PlanView({ plan, force, onForce }: { plan: ClientWriteResult; force: boolean; onForce: (force: boolean) => void }) {
  return (
    <div className="stack" data-testid="client-write-plan">
      {plan.written ? (
        <p className="callout callout-success" role="status">
          Written to <span className="mono">{plan.path}</span>
          {plan.backup ? <> (the previous file is kept as <span className="mono">{plan.backup}</span>)</> : " (a new file)"}.
        </p>
      ) : !plan.changes && plan.conflicts.length === 0 ? (
        <p className="callout callout-info" role="status">
          <span className="mono">{plan.path}</span> already has these entries; nothing to change.
        </p>
      ) : null}
      {plan.conflicts.length > 0 && (
        <div className="callout callout-warning" role="alert">
          <strong>Not written by mcp-acp:</strong> {plan.conflicts.map((c) => c.name).join(", ")} in <span className="mono">{plan.path}</span>.
          {plan.conflicts.map((c) => (
            <pre key={c.name} className="code-block diff">{c.diff}</pre>
          ))}
          <label className="checkbox">
            <input type="checkbox" checked={force} onChange={(e) => onForce(e.target.checked)} />
            Replace {plan.conflicts.length === 1 ? "it" : "them"} (the file is backed up first)
          </label>
        </div>
      )}
      {plan.diff && !plan.written && (
        <>
          <p className="small">
            What changes in <span className="mono">{plan.path}</span>:
          </p>
          <pre className="code-block diff" data-testid="client-diff">{plan.diff}</pre>
        </>
      )}
    </div>
  );
}
