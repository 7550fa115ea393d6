import { toolChangeEndpoints } from "../../api/endpoints";
import type { ProxyDetail, ToolChange } from "../../api/types";
import { ErrorState } from "../../components/ErrorState";
import { toastError, toastSuccess } from "../../lib/notify";
import { useAsync } from "../../lib/useAsync";
import { useBusy } from "../../lib/useBusy";

/** Tools whose definition changed since they were pinned (a "rug pull", docs/tool-pinning.md):
 * the unified diff of each, and Accept, which re-pins it as it is now. What a server wrote is
 * shown as text, never interpreted. */
export function ToolChangesSection({ proxy }: { proxy: ProxyDetail }) {
  const listing = useAsync(() => toolChangeEndpoints.get(proxy.proxy_id), [proxy.proxy_id]);
  const { busy, run } = useBusy();
  const changed = listing.data?.changed ?? [];

  const accept = (tools: string[] | "all") =>
    run(async () => {
      const answer = await toolChangeEndpoints.accept(proxy.proxy_id, tools);
      toastSuccess(`Accepted and re-pinned: ${answer.accepted.join(", ")}`);
      listing.reload();
    }, (error) => toastError(error, "Tool changes"));

  return (
    <section className="panel" aria-labelledby="tool-changes-title" data-testid="tool-changes-section">
      <div className="panel-header">
        <h2 id="tool-changes-title">Changed tools</h2>
        <span className={`badge ${changed.length ? "badge-warning" : "badge-muted"}`}>{changed.length}</span>
        {changed.length > 1 && (
          <button type="button" className="button button-small" disabled={busy} onClick={() => void accept("all")}>
            Accept all
          </button>
        )}
      </div>
      {listing.error && !listing.data ? (
        <ErrorState error={listing.error} onRetry={listing.reload} title="Could not load the tool changes" />
      ) : changed.length === 0 ? (
        <p className="muted panel-empty">No tool changed since it was first seen.</p>
      ) : (
        <div className="stack">
          {changed.map((change) => (
            <ToolChangeItem key={change.tool} change={change} busy={busy} onAccept={() => void accept([change.tool])} />
          ))}
        </div>
      )}
    </section>
  );
}

function ToolChangeItem({ change, busy, onAccept }: { change: ToolChange; busy: boolean; onAccept: () => void }) {
  return (
    <article className="tool-change" data-testid="tool-change" aria-label={`Changed tool ${change.tool}`}>
      <div className="row gap">
        <strong className="mono">{change.tool}</strong>
        {change.kind === "renamed" ? (
          <span className="chip chip-danger">renamed from {change.renamed_from} (same definition)</span>
        ) : (
          <span className="chip chip-warning">definition changed</span>
        )}
        <button type="button" className="button button-small" disabled={busy} onClick={onAccept}>
          Accept
        </button>
      </div>
      <pre className="tool-diff mono" data-testid="tool-diff">
        {change.diff.split("\n").map((line, index) => (
          <span key={index} className={diffClass(line)}>
            {line}
            {"\n"}
          </span>
        ))}
      </pre>
    </article>
  );
}

function diffClass(line: string): string | undefined {
  if (line.startsWith("+++") || line.startsWith("---")) return "diff-file";
  if (line.startsWith("+")) return "diff-add";
  if (line.startsWith("-")) return "diff-del";
  if (line.startsWith("@@")) return "diff-hunk";
  return undefined;
}
