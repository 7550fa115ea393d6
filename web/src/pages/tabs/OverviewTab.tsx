import { useState } from "react";
import { endpoints } from "../../api/endpoints";
import type { CachedApproval, LogEntry, ProxyDetail, ProxySession } from "../../api/types";
import { ApprovalItem } from "../../components/ApprovalItem";
import { ConfirmDialog } from "../../components/Dialog";
import { TableHead } from "../../components/TableHead";
import { formatClock, formatCount, formatLatency, medianLatency, p95Latency, plural } from "../../lib/format";
import { toastError, toastSuccess } from "../../lib/notify";
import { useAsync } from "../../lib/useAsync";
import { useLive, useNow } from "../../state/LiveProvider";
import { cachedRemaining, formatCountdown, pendingList } from "../../state/pending";
import { connectedSince, sessionClient, sessionsOf, UNIDENTIFIED_CLIENT } from "../../state/sessions";
import { DecisionBadge } from "../audit/DecisionBadge";
import { ToolChangesSection } from "./ToolChangesSection";

interface Props {
  proxy: ProxyDetail;
  status: "running" | "inactive";
}

export function OverviewTab({ proxy, status }: Props) {
  const { state } = useLive();
  const now = useNow(1000);
  const running = status === "running";
  const stats = running ? state.stats[proxy.proxy_name] ?? proxy.stats : null;
  const pending = pendingList(state.pending, now, proxy.proxy_name);

  return (
    <div className="stack-lg">
      <FlowDiagram proxy={proxy} running={running} />
      <SessionsSection proxy={proxy} now={now} />

      <section aria-labelledby="stats-title">
        <h2 id="stats-title" className="section-title">
          Traffic{" "}
          {!running ? <span className="muted small">(proxy not running)</span>
            : sessionsOf(proxy).length > 1 ? <span className="muted small">(session #{sessionsOf(proxy)[0].session}; each session counts its own)</span> : ""}
        </h2>
        <div className="stat-grid">
          <Stat label="Total" value={formatCount(stats?.requests_total)} />
          <Stat label="Allowed" value={formatCount(stats?.requests_allowed)} tone="success" />
          <Stat label="Denied" value={formatCount(stats?.requests_denied)} tone="danger" />
          <Stat label="HITL" value={formatCount(stats?.requests_hitl)} tone="warning" />
          <Stat label="Latency median" value={formatLatency(medianLatency(stats))} sub={`p95 ${formatLatency(p95Latency(stats))}`} />
          <Stat
            label="Policy eval"
            value={formatLatency(stats?.latency?.policy_eval_ms)}
            sub={`p95 ${formatLatency(stats?.latency?.policy_eval_p95_ms)}`}
          />
        </div>
      </section>

      <section aria-labelledby="pending-title" className="panel">
        <div className="panel-header">
          <h2 id="pending-title">Pending approvals</h2>
          <span className={`badge ${pending.length ? "badge-warning" : "badge-muted"}`}>{pending.length}</span>
        </div>
        {pending.length === 0 ? (
          <p className="muted panel-empty">No request is waiting for a decision.</p>
        ) : (
          <div className="stack">
            {pending.map((entry) => (
              <ApprovalItem key={entry.id} entry={entry} now={now} showProxy={false} />
            ))}
          </div>
        )}
      </section>

      <ToolChangesSection proxy={proxy} />
      <CachedSection proxy={proxy} running={running} now={now} />
      <RecentActivity proxy={proxy} />
    </div>
  );
}

function Stat({ label, value, sub, tone }: { label: string; value: string; sub?: string; tone?: "success" | "danger" | "warning" }) {
  return (
    <div className={`stat${tone ? ` stat-${tone}` : ""}`}>
      <div className="stat-label">{label}</div>
      <div className="stat-value">{value}</div>
      {sub && <div className="stat-sub">{sub}</div>}
    </div>
  );
}

function FlowDiagram({ proxy, running }: { proxy: ProxyDetail; running: boolean }) {
  const transport = proxy.backend_transport ?? proxy.transport;
  const tone = running ? "ok" : "off";
  const target = proxy.url ?? [proxy.command, ...(proxy.args ?? [])].filter(Boolean).join(" ");
  const clients = running ? sessionsOf(proxy).length : 0;
  return (
    <section className="flow panel" aria-label="Connection flow">
      <div className={`flow-node flow-${tone}`}>
        <div className="flow-kind">Client</div>
        <div className="flow-name">{clients > 1 ? `${clients} clients` : proxy.client_id ?? "MCP client"}</div>
        <div className="flow-sub">stdio</div>
      </div>
      <div className={`flow-link flow-link-${tone}`} aria-hidden="true">
        <span />
      </div>
      <div className={`flow-node flow-proxy flow-${tone}`}>
        <div className="flow-kind">Proxy</div>
        <div className="flow-name">{proxy.proxy_name}</div>
        <div className="flow-sub">{running ? "enforcing policy" : "not running"}</div>
      </div>
      <div className={`flow-link flow-link-${tone}`} aria-hidden="true">
        <span />
        {proxy.mtls_enabled && <em className="flow-badge">mTLS</em>}
      </div>
      <div className={`flow-node flow-${tone}`}>
        <div className="flow-kind">Backend · {transport}</div>
        <div className="flow-name">{proxy.server_name}</div>
        <div className="flow-sub mono" title={target}>{target || "–"}</div>
      </div>
    </section>
  );
}

/** One row per running process of this proxy, each serving one MCP client (docs/ui.md#sessions). */
function SessionsSection({ proxy, now }: { proxy: ProxyDetail; now: number }) {
  const sessions = sessionsOf(proxy);
  return (
    <section aria-labelledby="sessions-title" className="panel" data-testid="proxy-sessions-panel">
      <div className="panel-header">
        <h2 id="sessions-title">Sessions</h2>
        <span className={`badge ${sessions.length ? "badge-info" : "badge-muted"}`} data-testid="proxy-session-count">{sessions.length}</span>
      </div>
      {sessions.length === 0 ? (
        <p className="muted panel-empty">No MCP client is running this proxy. Each client that starts it gets its own session.</p>
      ) : (
        <table className="table">
          <TableHead columns={["Session", "Client", "Connected", "Pending approvals"]} />
          <tbody>
            {sessions.map((session: ProxySession) => {
              const client = sessionClient(session);
              return (
                <tr key={session.instance_id} data-testid="proxy-session" data-session={session.session} data-client={session.client_id ?? ""} data-pending={session.pending}>
                  <td className="mono">#{session.session}</td>
                  <td className={client === UNIDENTIFIED_CLIENT ? "muted" : undefined}>{client}</td>
                  <td title={new Date(session.connected_at * 1000).toLocaleString()}>{connectedSince(session, now)}</td>
                  <td>
                    <span className={`badge ${session.pending ? "badge-warning" : "badge-muted"}`}>{session.pending}</span>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </section>
  );
}

function CachedSection({ proxy, running, now }: { proxy: ProxyDetail; running: boolean; now: number }) {
  const { state } = useLive();
  const [confirmClear, setConfirmClear] = useState(false);
  const snapshot = state.cached[proxy.proxy_name];
  const approvals = running ? snapshot?.approvals ?? [] : [];
  const receivedAt = snapshot?.received_at ?? now;
  const live = approvals.filter((entry) => cachedRemaining(entry, { received_at: receivedAt }, now) > 0);

  const remove = async (entry: CachedApproval) => {
    try {
      await endpoints.deleteCached(proxy.proxy_name, entry);
      toastSuccess(`Cached approval of ${entry.tool_name} deleted`);
    } catch (error) {
      toastError(error, "Could not delete the cached approval");
    }
  };
  const clear = async () => {
    try {
      const result = await endpoints.clearCached(proxy.proxy_name);
      toastSuccess(`${plural(result.cleared, "cached approval")} cleared`);
    } catch (error) {
      toastError(error, "Could not clear cached approvals");
    }
    setConfirmClear(false);
  };

  return (
    <section aria-labelledby="cached-title" className="panel">
      <div className="panel-header">
        <h2 id="cached-title">Cached decisions</h2>
        <span className="badge badge-muted">{live.length}</span>
        <div className="spacer" />
        {live.length > 0 && (
          <button type="button" className="button button-small" onClick={() => setConfirmClear(true)}>
            Clear all
          </button>
        )}
      </div>
      {live.length === 0 ? (
        <p className="muted panel-empty">
          {running ? "No approvals are remembered. \"Allow\" on a cacheable request remembers it for the TTL." : "Cached approvals live in a running proxy's memory."}
        </p>
      ) : (
        <table className="table">
          <TableHead columns={["Tool", "Path", "Subject", "Expires in", { hidden: "Actions" }]} />
          <tbody>
            {live.map((entry) => (
              <tr key={`${entry.subject_id}|${entry.tool_name}|${entry.path}`}>
                <td className="mono">{entry.tool_name}</td>
                <td className="mono truncate" title={entry.path ?? ""}>{entry.path ?? "–"}</td>
                <td>{entry.subject_id}</td>
                <td className="mono">{formatCountdown(cachedRemaining(entry, { received_at: receivedAt }, now))}</td>
                <td className="align-right">
                  <button type="button" className="button button-small button-ghost" onClick={() => remove(entry)} aria-label={`Delete cached approval of ${entry.tool_name}`}>
                    Delete
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <ConfirmDialog open={confirmClear} title="Clear cached approvals" confirmLabel="Clear all" danger onConfirm={clear} onClose={() => setConfirmClear(false)}>
        <p>Every remembered approval of '{proxy.proxy_name}' is forgotten; the next matching request asks again.</p>
      </ConfirmDialog>
    </section>
  );
}

function RecentActivity({ proxy }: { proxy: ProxyDetail }) {
  const { state } = useLive();
  const version = state.versions.logs[proxy.proxy_name] ?? 0;
  const logs = useAsync(() => endpoints.logs(proxy.proxy_id, "decisions", { time_range: "all", limit: 10 }), [proxy.proxy_id, version]);
  const entries = logs.data?.entries ?? [];
  return (
    <section aria-labelledby="recent-title" className="panel">
      <div className="panel-header">
        <h2 id="recent-title">Recent activity</h2>
        {logs.loading && <span className="spinner" aria-label="Loading" />}
      </div>
      {logs.error && !logs.data ? (
        <p className="muted panel-empty">{logs.error instanceof Error ? logs.error.message : "Could not load the decision log"}</p>
      ) : entries.length === 0 ? (
        <p className="muted panel-empty">{logs.data ? "No decisions logged yet." : "Loading…"}</p>
      ) : (
        <table className="table">
          <TableHead columns={["Time", "Decision", "Method / tool", "Path", "Rule"]} />
          <tbody>
            {entries.map((entry: LogEntry, index) => (
              <tr key={`${entry.time}-${entry.sequence ?? index}`}>
                <td className="mono nowrap">{formatClock(entry.time)}</td>
                <td><DecisionBadge entry={entry} /></td>
                <td className="mono">{String(entry.tool_name ?? entry.mcp_method ?? "–")}</td>
                <td className="mono truncate" title={String(entry.path ?? "")}>{String(entry.path ?? "–")}</td>
                <td className="mono small">{String(entry.final_rule ?? "–")}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
