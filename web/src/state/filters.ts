// Filters and "unread" bookkeeping of the proxy list and the incidents page (docs/ui.md).
import type { Incident, ProxyStatus, ProxySummary } from "../api/types";
import type { ProxyLive } from "./live";
import { otherSessionRunning } from "./sessions";

export type ProxyFilter = "all" | "running" | "inactive";
export const PROXY_FILTERS: { value: ProxyFilter; label: string }[] = [
  { value: "all", label: "All" },
  { value: "running", label: "Running" },
  { value: "inactive", label: "Inactive" },
];

/** A proxy's status as the list shows it: the live SSE state wins over the fetched list. */
export function effectiveStatus(proxy: ProxySummary, live: Record<string, ProxyLive>): ProxyStatus {
  const known = live[proxy.proxy_name];
  if (!known || known.status === "deleted") return proxy.status;
  // One client's session ended; the proxy runs on for the others (docs/ui.md#sessions).
  if (known.status === "inactive" && otherSessionRunning(proxy, known.instance_id)) return "running";
  return known.status;
}

export function filterProxies(
  proxies: ProxySummary[],
  filter: ProxyFilter,
  live: Record<string, ProxyLive> = {},
): ProxySummary[] {
  const visible = proxies.filter((proxy) => live[proxy.proxy_name]?.status !== "deleted");
  const shown = filter === "all" ? visible : visible.filter((proxy) => effectiveStatus(proxy, live) === filter);
  return [...shown].sort((a, b) => a.proxy_name.localeCompare(b.proxy_name));
}

export function countByStatus(proxies: ProxySummary[], live: Record<string, ProxyLive> = {}): Record<ProxyFilter, number> {
  const visible = proxies.filter((proxy) => live[proxy.proxy_name]?.status !== "deleted");
  const running = visible.filter((proxy) => effectiveStatus(proxy, live) === "running").length;
  return { all: visible.length, running, inactive: visible.length - running };
}

export function parseProxyFilter(value: string | null): ProxyFilter {
  return value === "running" || value === "inactive" ? value : "all";
}

export type IncidentType = Incident["incident_type"];
export interface IncidentFilters {
  type: IncidentType | "";
  proxy: string;
}

export const INCIDENT_TYPES: { value: IncidentType; label: string }[] = [
  { value: "shutdown", label: "Security shutdown" },
  { value: "bootstrap", label: "Startup failure" },
  { value: "emergency", label: "Emergency audit" },
];

export function parseIncidentFilters(raw: string | null): IncidentFilters {
  try {
    const value = raw ? (JSON.parse(raw) as Partial<IncidentFilters>) : {};
    const type = INCIDENT_TYPES.some((t) => t.value === value.type) ? (value.type as IncidentType) : "";
    return { type, proxy: typeof value.proxy === "string" ? value.proxy : "" };
  } catch {
    return { type: "", proxy: "" };
  }
}

/** Query parameters of GET /api/manager/incidents for these filters. */
export function incidentQuery(filters: IncidentFilters, before?: string, limit = 50): Record<string, string | number | undefined> {
  return {
    incident_type: filters.type || undefined,
    proxy: filters.proxy || undefined,
    time_range: "all",
    limit,
    before,
  };
}

/** Entries newer than the last visit are highlighted; with no visit yet, all of them are new. */
export function isUnread(incident: Pick<Incident, "time">, lastSeen: string | null): boolean {
  if (!lastSeen) return true;
  const when = Date.parse(incident.time);
  const seen = Date.parse(lastSeen);
  if (Number.isNaN(when) || Number.isNaN(seen)) return false;
  return when > seen;
}

/** The last-seen mark after a visit: the newest incident shown or now, whichever is later. */
export function nextLastSeen(incidents: Pick<Incident, "time">[], now: Date): string {
  const newest = incidents.reduce((max, incident) => {
    const when = Date.parse(incident.time);
    return Number.isNaN(when) ? max : Math.max(max, when);
  }, 0);
  return new Date(Math.max(newest, now.getTime())).toISOString();
}

export const STORAGE_KEYS = {
  proxyFilter: "mcp-acp.proxyFilter",
  incidentFilters: "mcp-acp.incidentFilters",
  incidentsLastSeen: "mcp-acp.incidentsLastSeen",
} as const;

export function readStorage(key: string): string | null {
  try {
    return window.localStorage.getItem(key);
  } catch {
    return null;
  }
}

export function writeStorage(key: string, value: string): void {
  try {
    window.localStorage.setItem(key, value);
  } catch {
    // private mode or storage disabled: the preference just is not remembered
  }
}
