import { useEffect, useState } from "react";
import { Link } from "react-router-dom";
import { endpoints } from "../api/endpoints";
import type { Incident } from "../api/types";
import { ErrorState } from "../components/ErrorState";
import { SelectField } from "../components/Field";
import { LoadMore } from "../components/LoadMore";
import { formatTime, relativeTime } from "../lib/format";
import { useAsync } from "../lib/useAsync";
import { usePages } from "../lib/usePages";
import { INCIDENT_TYPES, incidentQuery, isUnread, nextLastSeen, parseIncidentFilters, readStorage, STORAGE_KEYS, writeStorage, type IncidentFilters } from "../state/filters";
import { useLive } from "../state/LiveProvider";

const TYPE_LABEL: Record<string, string> = { shutdown: "Security shutdown", bootstrap: "Startup failure", emergency: "Emergency audit" };

export function IncidentsPage() {
  const { state, markIncidentsSeen } = useLive();
  const [filters, setFilters] = useState<IncidentFilters>(() => parseIncidentFilters(readStorage(STORAGE_KEYS.incidentFilters)));
  // The mark of the previous visit, read once: what is newer than it stays highlighted while here.
  const [lastSeen] = useState(() => readStorage(STORAGE_KEYS.incidentsLastSeen));
  const proxies = useAsync(() => endpoints.listProxies(), []);
  const incidents = useAsync(() => endpoints.incidents(incidentQuery(filters)), [filters, state.versions.incidents]);

  useEffect(() => writeStorage(STORAGE_KEYS.incidentFilters, JSON.stringify(filters)), [filters]);
  const pages = usePages(incidents.data, (before) => endpoints.incidents(incidentQuery(filters, before)), "Could not load more incidents");
  const entries = pages.entries;

  // Visiting clears the unread badge.
  useEffect(() => {
    if (incidents.data) markIncidentsSeen(nextLastSeen(incidents.data.entries, new Date()));
  }, [incidents.data, markIncidentsSeen]);

  const names = (proxies.data ?? []).map((p) => p.proxy_name).sort();
  if (filters.proxy && !names.includes(filters.proxy)) names.push(filters.proxy);

  return (
    <div className="page">
      <div className="page-header">
        <div>
          <h1>Incidents</h1>
          <p className="muted">Security shutdowns, startup failures and emergency audit entries, across all proxies.</p>
        </div>
      </div>
      <div className="toolbar filters">
        <SelectField label="Type" any="All types" options={INCIDENT_TYPES} value={filters.type} onChange={(type) => setFilters((f) => ({ ...f, type }))} />
        <SelectField label="Proxy" any="All proxies" options={names} value={filters.proxy} onChange={(proxy) => setFilters((f) => ({ ...f, proxy }))} />
      </div>

      {incidents.error && !incidents.data ? (
        <ErrorState error={incidents.error} onRetry={incidents.reload} />
      ) : !incidents.data ? (
        <div className="stack" aria-busy="true">
          {[0, 1, 2].map((i) => <div key={i} className="skeleton skeleton-row" />)}
        </div>
      ) : entries.length === 0 ? (
        <div className="empty">
          <div className="empty-icon success" aria-hidden="true">✓</div>
          <p className="empty-title">No incidents</p>
          <p className="muted">{filters.type || filters.proxy ? "Nothing matches these filters." : "No proxy has shut down for security reasons or failed to start."}</p>
        </div>
      ) : (
        <ol className="timeline">
          {entries.map((incident, index) => (
            <IncidentItem key={`${incident.time}-${incident.incident_type}-${index}`} incident={incident} unread={isUnread(incident, lastSeen)} />
          ))}
        </ol>
      )}
      <LoadMore pages={pages} />
    </div>
  );
}

function IncidentItem({ incident, unread }: { incident: Incident; unread: boolean }) {
  const [open, setOpen] = useState(false);
  const message = String(incident.reason ?? incident.message ?? incident.error_message ?? incident.event ?? incident.event_type ?? "");
  const failure = incident.failure_type ?? incident.error_type ?? incident.event_type;
  return (
    <li className={`incident incident-${incident.incident_type}${unread ? " unread" : ""}`} data-testid="incident" data-type={incident.incident_type}>
      <span className="timeline-dot" aria-hidden="true" />
      <div className="incident-body">
        <div className="incident-head">
          <span className={`chip incident-chip-${incident.incident_type}`}>{TYPE_LABEL[incident.incident_type] ?? incident.incident_type}</span>
          {incident.proxy_name ? (
            incident.proxy_id ? (
              <Link to={`/proxy/${encodeURIComponent(incident.proxy_id)}`} className="incident-proxy">{incident.proxy_name}</Link>
            ) : (
              <span className="incident-proxy">{incident.proxy_name}</span>
            )
          ) : (
            <span className="muted">unknown proxy</span>
          )}
          {unread && <span className="chip chip-info">new</span>}
          <div className="spacer" />
          <time dateTime={incident.time} title={formatTime(incident.time)} className="muted small">
            {relativeTime(incident.time)}
          </time>
        </div>
        <p className="incident-message">
          {typeof failure === "string" && <code>{failure}</code>} {message}
          {typeof incident.exit_code === "number" && <span className="muted small"> (exit code {incident.exit_code})</span>}
        </p>
        <button type="button" className="link-button small" aria-expanded={open} onClick={() => setOpen((v) => !v)}>
          {open ? "Hide details" : "Details"}
        </button>
        {open && <pre className="code-block">{JSON.stringify(incident, null, 2)}</pre>}
      </div>
    </li>
  );
}
