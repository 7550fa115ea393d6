import { useEffect, useState } from "react";
import { Link } from "react-router-dom";
import { endpoints } from "../api/endpoints";
import type { ProxySummary } from "../api/types";
import { ErrorState } from "../components/ErrorState";
import { ClientDialog } from "../components/ClientDialog";
import { formatCount, formatLatency, medianLatency } from "../lib/format";
import { useAsync } from "../lib/useAsync";
import { countByStatus, effectiveStatus, filterProxies, parseProxyFilter, PROXY_FILTERS, readStorage, STORAGE_KEYS, writeStorage, type ProxyFilter } from "../state/filters";
import { useLive } from "../state/LiveProvider";
import { sessionCountLabel } from "../state/sessions";
import { AddProxyDialog } from "./AddProxyDialog";

export function ProxyListPage() {
  const { state } = useLive();
  const proxies = useAsync(() => endpoints.listProxies(), [state.versions.proxies]);
  const [filter, setFilter] = useState<ProxyFilter>(() => parseProxyFilter(readStorage(STORAGE_KEYS.proxyFilter)));
  const [adding, setAdding] = useState(false);
  const [exporting, setExporting] = useState(false);

  useEffect(() => writeStorage(STORAGE_KEYS.proxyFilter, filter), [filter]);

  const all = proxies.data ?? [];
  const shown = filterProxies(all, filter, state.proxies);
  const counts = countByStatus(all, state.proxies);

  return (
    <div className="page">
      <div className="page-header">
        <div>
          <h1>Proxies</h1>
          <p className="muted">Every MCP server behind mcp-acp, with its live traffic.</p>
        </div>
        <div className="row gap">
          <button type="button" className="button" onClick={() => setExporting(true)} disabled={all.length === 0}>
            <svg viewBox="0 0 20 20" width="15" height="15" aria-hidden="true">
              <path d="M10 3v9M6.5 8.5L10 12l3.5-3.5M4 14.5v1A1.5 1.5 0 005.5 17h9a1.5 1.5 0 001.5-1.5v-1" fill="none" stroke="currentColor" strokeWidth="1.7" strokeLinecap="round" strokeLinejoin="round" />
            </svg>
            Export all
          </button>
          <button type="button" className="button button-primary" onClick={() => setAdding(true)}>
            <svg viewBox="0 0 20 20" width="15" height="15" aria-hidden="true">
              <path d="M10 4v12M4 10h12" stroke="currentColor" strokeWidth="2" strokeLinecap="round" />
            </svg>
            Add proxy
          </button>
        </div>
      </div>

      <div className="toolbar" role="toolbar" aria-label="Filter proxies">
        {PROXY_FILTERS.map((chip) => (
          <button
            key={chip.value}
            type="button"
            className="filter-chip"
            aria-pressed={filter === chip.value}
            onClick={() => setFilter(chip.value)}
          >
            {chip.label}
            <span className="filter-count" aria-hidden="true">{counts[chip.value]}</span>
          </button>
        ))}
      </div>

      {proxies.error && !proxies.data ? (
        <ErrorState error={proxies.error} onRetry={proxies.reload} />
      ) : !proxies.data ? (
        <div className="card-grid" aria-busy="true" aria-label="Loading proxies">
          {[0, 1, 2].map((i) => (
            <div key={i} className="card proxy-card skeleton-card">
              <div className="skeleton skeleton-line w60" />
              <div className="skeleton skeleton-line w40" />
              <div className="skeleton skeleton-block" />
            </div>
          ))}
        </div>
      ) : all.length === 0 ? (
        <div className="empty">
          <div className="empty-icon" aria-hidden="true">
            <svg viewBox="0 0 24 24" width="28" height="28"><path d="M12 2.5l8 3v6c0 5-3.4 9.1-8 10.5-4.6-1.4-8-5.5-8-10.5v-6z" fill="none" stroke="currentColor" strokeWidth="1.5" /></svg>
          </div>
          <p className="empty-title">No proxies yet</p>
          <p className="muted">Add one to put an MCP server behind a zero-trust policy. It starts with deny-all.</p>
          <button type="button" className="button button-primary" onClick={() => setAdding(true)}>
            Add proxy
          </button>
        </div>
      ) : shown.length === 0 ? (
        <div className="empty compact">
          <p className="empty-title">No {filter} proxies</p>
          <button type="button" className="button" onClick={() => setFilter("all")}>
            Show all
          </button>
        </div>
      ) : (
        <div className="card-grid">
          {shown.map((proxy) => (
            <ProxyCard key={proxy.proxy_id} proxy={proxy} />
          ))}
        </div>
      )}

      <AddProxyDialog open={adding} onClose={() => setAdding(false)} onCreated={proxies.reload} />
      {exporting && <ClientDialog onClose={() => setExporting(false)} />}
    </div>
  );
}

function ProxyCard({ proxy }: { proxy: ProxySummary }) {
  const { state } = useLive();
  const status = effectiveStatus(proxy, state.proxies);
  const stats = status === "running" ? state.stats[proxy.proxy_name] ?? proxy.stats : null;
  const pending = Object.values(state.pending).filter((entry) => entry.proxy_name === proxy.proxy_name).length;
  const target = proxy.url ?? [proxy.command, ...(proxy.args ?? [])].filter(Boolean).join(" ");
  const sessions = status === "running" ? sessionCountLabel(proxy.session_count) : null;
  return (
    <Link
      to={`/proxy/${encodeURIComponent(proxy.proxy_id)}`}
      className="card proxy-card card-link"
      data-testid="proxy-card"
      data-proxy={proxy.proxy_name}
      data-status={status}
    >
      <div className="proxy-card-head">
        <span className={`status-dot status-${status}`} aria-hidden="true" />
        <span className="proxy-name">{proxy.proxy_name}</span>
        <span className={`status-text status-text-${status}`}>{status}</span>
      </div>
      <div className="proxy-server">
        <span>{proxy.server_name}</span>
        <span className="chip chip-muted">{proxy.backend_transport ?? proxy.transport}</span>
        {proxy.mtls_enabled && <span className="chip chip-info">mTLS</span>}
        {sessions && (
          <span className="chip chip-info" data-testid="proxy-sessions" title="One session per MCP client running this proxy">
            {sessions}
          </span>
        )}
        {pending > 0 && <span className="chip chip-warning">{pending} pending</span>}
      </div>
      <div className="proxy-target mono" title={target}>
        {target || "–"}
      </div>
      <dl className="proxy-stats">
        <div>
          <dt>Requests</dt>
          <dd>{stats ? formatCount(stats.requests_total) : "–"}</dd>
        </div>
        <div>
          <dt>Denied</dt>
          <dd>{stats ? formatCount(stats.requests_denied) : "–"}</dd>
        </div>
        <div>
          <dt>Latency</dt>
          <dd>{formatLatency(medianLatency(stats))}</dd>
        </div>
      </dl>
    </Link>
  );
}
