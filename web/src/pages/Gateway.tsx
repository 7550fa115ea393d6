// The gateway (`mcp-acp serve`, docs/gateway.md): what it serves, and who is using each endpoint.
// The manager reads the gateway's private status socket (GET /api/gateway); the page polls it.
import { useEffect } from "react";
import { endpoints } from "../api/endpoints";
import type { GatewayBackend, GatewayEndpoint, GatewayStatus } from "../api/types";
import { CopyButton } from "../components/CopyButton";
import { ErrorState } from "../components/ErrorState";
import { TableHead } from "../components/TableHead";
import { relativeTime } from "../lib/format";
import { useAsync } from "../lib/useAsync";

/** How often the page asks again: sessions and counts change with every request. */
export const GATEWAY_POLL_MS = 3000;

export function GatewayPage() {
  const status = useAsync(() => endpoints.gateway(), []);
  const { reload } = status;
  useEffect(() => {
    const timer = setInterval(reload, GATEWAY_POLL_MS);
    return () => clearInterval(timer);
  }, [reload]);

  return (
    <div className="page">
      <div className="page-header">
        <div>
          <h1>Gateway</h1>
          <p className="muted">Remote MCP clients over streamable HTTP: each endpoint, and each principal using it.</p>
        </div>
        {status.loading && <span className="spinner" aria-label="Loading" />}
      </div>
      {status.error && !status.data ? (
        <ErrorState error={status.error} onRetry={reload} title="Could not read the gateway's status" />
      ) : !status.data ? (
        <div className="stack" aria-busy="true">
          {[0, 1].map((i) => <div key={i} className="skeleton skeleton-row" />)}
        </div>
      ) : (
        <GatewayView status={status.data} />
      )}
    </div>
  );
}

/** The status as read: pure, so it renders the same in tests and in the browser. */
export function GatewayView({ status, now = Date.now() }: { status: GatewayStatus; now?: number }) {
  if (!status.running) return <NoGateway />;
  return (
    <div className="stack-lg" data-testid="gateway">
      <section className="panel" aria-labelledby="gateway-title">
        <div className="panel-header">
          <h2 id="gateway-title">Running</h2>
          <span className="badge badge-info">{status.endpoints.length} {status.endpoints.length === 1 ? "endpoint" : "endpoints"}</span>
        </div>
        <dl className="kv">
          <dt>Base URL</dt>
          <dd className="mono" data-testid="gateway-base-url">{status.base_url}</dd>
          <dt>Who may call</dt>
          <dd data-testid="gateway-auth">
            {status.auth ? <>OAuth tokens from <span className="mono">{status.auth.issuer}</span></> : "local user only (no issuer configured)"}
          </dd>
          <dt>TLS</dt>
          <dd>{status.tls ? "yes" : "no"}</dd>
        </dl>
      </section>
      {status.endpoints.length === 0 ? (
        <p className="muted">The gateway serves no proxy. Add one with <code>mcp-acp proxy add</code> and restart it.</p>
      ) : (
        status.endpoints.map((endpoint) => <EndpointPanel key={endpoint.proxy} endpoint={endpoint} now={now} />)
      )}
    </div>
  );
}

function NoGateway() {
  return (
    <div className="empty" data-testid="gateway-not-running">
      <p className="empty-title">No gateway is running</p>
      <p className="muted">
        The gateway serves your proxies to remote MCP clients over HTTP, each request decided for the person who made it. Start it with{" "}
        <code>mcp-acp serve</code> (add <code>--proxy NAME</code> to serve only some); this page then shows its endpoints and who uses them.
      </p>
      <p className="muted">
        Setting it up with an identity provider, TLS and a reverse proxy: <code>docs/gateway.md</code> in the mcp-acp documentation.
      </p>
    </div>
  );
}

function EndpointPanel({ endpoint, now }: { endpoint: GatewayEndpoint; now: number }) {
  const titleId = `endpoint-${endpoint.proxy}`;
  return (
    <section className="panel" aria-labelledby={titleId} data-testid="gateway-endpoint" data-proxy={endpoint.proxy}>
      <div className="panel-header">
        <h2 id={titleId}>{endpoint.proxy}</h2>
        <span className={`badge ${endpoint.pending_approvals ? "badge-warning" : "badge-muted"}`} data-testid="gateway-pending">
          {endpoint.pending_approvals} pending {endpoint.pending_approvals === 1 ? "approval" : "approvals"}
        </span>
      </div>
      <dl className="kv">
        <dt>URL</dt>
        <dd>
          <span className="mono" data-testid="gateway-endpoint-url">{endpoint.url}</span>{" "}
          <CopyButton text={endpoint.url} label="Copy URL" className="button button-small" />
        </dd>
        <dt>Backend mode</dt>
        <dd>{endpoint.backend_mode === "per_principal" ? "one backend process per principal" : endpoint.backend_mode}</dd>
      </dl>

      <h3 className="section-title">Backend processes</h3>
      {endpoint.backends.length === 0 ? (
        <p className="muted panel-empty">None yet: a backend starts on first use.</p>
      ) : (
        <table className="table">
          <TableHead columns={["Serves", "Transport", "Running", "PID", "Restarts"]} />
          <tbody>
            {endpoint.backends.map((backend) => (
              <tr key={backend.principal} data-testid="gateway-backend">
                <td className="mono">{servedBy(backend)}</td>
                <td>{backend.transport}</td>
                <td>{backend.running ? "yes" : "no"}</td>
                <td className="mono">{backend.pid ?? "–"}</td>
                <td>{backend.restarts}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}

      <h3 className="section-title">Principals</h3>
      {endpoint.principals.length === 0 ? (
        <p className="muted panel-empty">Nobody has called this endpoint yet.</p>
      ) : (
        <table className="table">
          <TableHead columns={["Principal", "2025 sessions", "Requests", "Allowed", "Denied", "Asked", "Last seen"]} />
          <tbody>
            {endpoint.principals.map((row) => (
              <tr key={row.principal} data-testid="gateway-principal" data-principal={row.principal}>
                <td className="mono">{row.principal}</td>
                <td data-col="sessions">{row.sessions}</td>
                <td data-col="requests">{row.requests}</td>
                <td data-col="allowed">{row.allowed}</td>
                <td data-col="denied">{row.denied}</td>
                <td data-col="asked">{row.asked}</td>
                <td title={row.last_seen ? new Date(row.last_seen * 1000).toLocaleString() : undefined}>
                  {row.last_seen ? relativeTime(new Date(row.last_seen * 1000).toISOString(), now) : "–"}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

/** "*" is the one process everyone shares. */
export function servedBy(backend: GatewayBackend): string {
  return backend.principal === "*" ? "shared" : backend.principal;
}
