// Live state driven by the manager's SSE stream (docs/manager.md#events-get-apievents). A pure reducer, so every
// transition is unit-tested; side effects (toasts, sounds) are derived by notificationsFor.
import type { CachedApproval, PendingApproval, ProxyStats } from "../api/types";

export type SseEvent = { type: string; proxy_name?: string; proxy_id?: string } & Record<string, unknown>;

export type ConnectionStatus = "connecting" | "open" | "reconnecting" | "disconnected";

/** After this many consecutive stream errors the banner says "Disconnected" and offers Retry. */
export const MAX_SSE_ERRORS = 5;

export interface PendingEntry extends PendingApproval {
  proxy_name: string;
  proxy_id: string;
  /** Browser clock (ms) when this approval arrived: countdowns use it with expires_in_seconds. */
  received_at: number;
}

export interface CachedState {
  approvals: CachedApproval[];
  ttl_seconds: number | null;
  received_at: number;
}

export interface ProxyLive {
  proxy_id: string;
  status: "running" | "inactive" | "deleted";
  /** The session (process) whose event set this status: a proxy runs one per MCP client. */
  instance_id?: string;
}

/** How an approval stopped waiting, as this browser saw it happen (SSE or its own decision). */
export interface ClosedApproval {
  outcome: "decided" | "timed_out" | "withdrawn";
  /** approve, allow_once or deny, when decided. */
  decision?: string;
  approver_id?: string;
  reason?: string;
  tool_name?: string;
  proxy_name?: string;
  /** Browser clock (ms) when it closed. */
  at: number;
}

/** Closed approvals remembered for a link opened later in the same page: the newest this many. */
export const MAX_CLOSED = 100;

export interface LiveState {
  connection: { status: ConnectionStatus; errors: number };
  pending: Record<string, PendingEntry>;
  /** Approvals that closed while this page was open, by id (for `?approval=` links). */
  closed: Record<string, ClosedApproval>;
  /** Proxies whose snapshot arrived since the stream (re)opened: their pending list is known. */
  synced: Record<string, true>;
  cached: Record<string, CachedState>;
  stats: Record<string, ProxyStats>;
  proxies: Record<string, ProxyLive>;
  /** Counters that views watch to refetch: bumped by the events that change what they show. */
  versions: {
    proxies: number;
    incidents: number;
    auth: number;
    logs: Record<string, number>;
    policy: Record<string, number>;
  };
}

export const initialLiveState: LiveState = {
  connection: { status: "connecting", errors: 0 },
  pending: {},
  closed: {},
  synced: {},
  cached: {},
  stats: {},
  proxies: {},
  versions: { proxies: 0, incidents: 0, auth: 0, logs: {}, policy: {} },
};

export type LiveAction =
  | { kind: "sse_open" }
  | { kind: "sse_error" }
  | { kind: "sse_retry" }
  | { kind: "event"; event: SseEvent; now: number }
  | { kind: "remove_pending"; id: string; closed?: Omit<ClosedApproval, "at" | "tool_name" | "proxy_name">; now?: number };

function without<T>(record: Record<string, T>, predicate: (value: T, key: string) => boolean): Record<string, T> {
  const result: Record<string, T> = {};
  for (const [key, value] of Object.entries(record)) if (!predicate(value, key)) result[key] = value;
  return result;
}

function omitKey<T>(record: Record<string, T>, key: string): Record<string, T> {
  if (!(key in record)) return record;
  const { [key]: _removed, ...rest } = record;
  return rest;
}

function bump(record: Record<string, number>, key: string | undefined): Record<string, number> {
  if (!key) return record;
  return { ...record, [key]: (record[key] ?? 0) + 1 };
}

function toEntry(approval: PendingApproval, event: SseEvent, now: number): PendingEntry | null {
  if (!approval || typeof approval !== "object" || typeof approval.id !== "string") return null;
  return {
    ...approval,
    proxy_name: approval.proxy_name ?? event.proxy_name ?? "",
    proxy_id: approval.proxy_id ?? event.proxy_id ?? "",
    received_at: now,
  };
}

function markProxy(state: LiveState, event: SseEvent, status: ProxyLive["status"]): Record<string, ProxyLive> {
  const name = event.proxy_name;
  if (!name) return state.proxies;
  const known = state.proxies[name];
  const proxyId = event.proxy_id ?? known?.proxy_id ?? "";
  const instance = typeof event.instance_id === "string" ? event.instance_id : known?.instance_id;
  if (known && known.status === status && known.proxy_id === proxyId && known.instance_id === instance) return state.proxies;
  const next: ProxyLive = { proxy_id: proxyId, status };
  if (instance) next.instance_id = instance;
  return { ...state.proxies, [name]: next };
}

const APPROVAL_CLOSED = new Set(["pending_resolved", "pending_timeout", "pending_cancelled", "pending_not_found"]);
const AUTH_EVENTS = new Set(["auth_login", "auth_login_failed", "auth_logout", "token_update", "token_cleared"]);

function closedBy(event: SseEvent, now: number): ClosedApproval | null {
  const outcome = event.type === "pending_resolved" ? "decided" : event.type === "pending_timeout" ? "timed_out"
    : event.type === "pending_cancelled" ? "withdrawn" : null;
  if (!outcome) return null;
  const closed: ClosedApproval = { outcome, at: now };
  if (typeof event.decision === "string") closed.decision = event.decision;
  if (typeof event.approver_id === "string") closed.approver_id = event.approver_id;
  if (typeof event.reason === "string") closed.reason = event.reason;
  if (event.proxy_name) closed.proxy_name = event.proxy_name;
  return closed;
}

/** `closed` with one more, the tool and proxy taken from the pending entry; the oldest dropped past MAX_CLOSED. */
function remember(state: LiveState, id: string, closed: ClosedApproval): Record<string, ClosedApproval> {
  const entry = state.pending[id];
  const full: ClosedApproval = {
    ...closed,
    tool_name: closed.tool_name ?? entry?.tool_name,
    proxy_name: closed.proxy_name ?? entry?.proxy_name,
  };
  const kept = Object.entries(omitKey(state.closed, id)).slice(-(MAX_CLOSED - 1));
  return { ...Object.fromEntries(kept), [id]: full };
}

export function liveReducer(state: LiveState, action: LiveAction): LiveState {
  switch (action.kind) {
    case "sse_open":
      // The stream starts over with fresh snapshots of every registered proxy: drop what
      // might have been decided while we were away.
      return { ...state, connection: { status: "open", errors: 0 }, pending: {}, cached: {}, synced: {} };
    case "sse_error": {
      const errors = state.connection.errors + 1;
      return {
        ...state,
        connection: { status: errors >= MAX_SSE_ERRORS ? "disconnected" : "reconnecting", errors },
      };
    }
    case "sse_retry":
      return { ...state, connection: { status: "connecting", errors: 0 } };
    case "remove_pending": {
      const removed = { ...state, pending: omitKey(state.pending, action.id) };
      // The proxy's own event may have come first: it knows more (the approver), keep it.
      if (!action.closed || state.closed[action.id]) return removed;
      return { ...removed, closed: remember(state, action.id, { ...action.closed, at: action.now ?? Date.now() }) };
    }
    case "event":
      return applyEvent(state, action.event, action.now);
  }
}

export function applyEvent(state: LiveState, event: SseEvent, now: number): LiveState {
  const name = event.proxy_name;
  const type = event.type;

  if (type === "snapshot") {
    const approvals = Array.isArray(event.approvals) ? (event.approvals as PendingApproval[]) : [];
    // With a proxy name it replaces that proxy's approvals; without one (no proxy is
    // registered) there is nothing pending anywhere.
    const pending = name ? without(state.pending, (entry) => entry.proxy_name === name) : {};
    for (const approval of approvals) {
      const entry = toEntry(approval, event, now);
      if (entry) pending[entry.id] = entry;
    }
    const synced = name && !state.synced[name] ? { ...state.synced, [name]: true as const } : state.synced;
    return { ...state, pending, synced, proxies: name ? markProxy(state, event, "running") : state.proxies };
  }

  if (type === "pending_created") {
    const entry = toEntry(event.approval as PendingApproval, event, now);
    if (!entry) return state;
    return { ...state, pending: { ...state.pending, [entry.id]: entry } };
  }

  if (APPROVAL_CLOSED.has(type)) {
    const id = event.approval_id;
    if (typeof id !== "string") return state;
    const pending = omitKey(state.pending, id);
    const closed = closedBy(event, now);
    // pending_not_found says only that it is gone; what closed it (if seen) stays on record.
    if (!closed || state.closed[id]) return { ...state, pending };
    return { ...state, pending, closed: remember(state, id, closed) };
  }

  if (type === "cached_snapshot" && name) {
    const approvals = Array.isArray(event.approvals) ? (event.approvals as CachedApproval[]) : [];
    const ttl = typeof event.ttl_seconds === "number" ? event.ttl_seconds : null;
    return { ...state, cached: { ...state.cached, [name]: { approvals, ttl_seconds: ttl, received_at: now } } };
  }

  if (type === "cache_cleared" && name) {
    const previous = state.cached[name];
    return {
      ...state,
      cached: { ...state.cached, [name]: { approvals: [], ttl_seconds: previous?.ttl_seconds ?? null, received_at: now } },
    };
  }

  if (type === "stats_updated" && name) {
    const stats = event.stats as ProxyStats | undefined;
    if (!stats || typeof stats !== "object") return state;
    return { ...state, stats: { ...state.stats, [name]: stats }, proxies: markProxy(state, event, "running") };
  }

  if (type === "new_log_entries" && name) {
    return { ...state, versions: { ...state.versions, logs: bump(state.versions.logs, name) } };
  }

  if ((type === "policy_reloaded" || type === "policy_reload_failed" || type === "policy_rollback") && name) {
    return { ...state, versions: { ...state.versions, policy: bump(state.versions.policy, name) } };
  }

  if (type === "proxy_registered" && name) {
    return {
      ...state,
      proxies: markProxy(state, event, "running"),
      versions: { ...state.versions, proxies: state.versions.proxies + 1, logs: bump(state.versions.logs, name) },
    };
  }

  if ((type === "proxy_disconnected" || type === "proxy_deleted") && name) {
    return {
      ...state,
      pending: without(state.pending, (entry) => entry.proxy_name === name),
      cached: omitKey(state.cached, name),
      stats: omitKey(state.stats, name),
      proxies: markProxy(state, event, type === "proxy_deleted" ? "deleted" : "inactive"),
      versions: {
        ...state.versions,
        proxies: state.versions.proxies + 1,
        logs: bump(state.versions.logs, name),
        incidents: type === "proxy_disconnected" && event.disconnect_reason ? state.versions.incidents + 1
          : state.versions.incidents,
      },
    };
  }

  if (type === "incidents_updated") {
    return { ...state, versions: { ...state.versions, incidents: state.versions.incidents + 1 } };
  }

  if (AUTH_EVENTS.has(type)) {
    return { ...state, versions: { ...state.versions, auth: state.versions.auth + 1 } };
  }

  return state;
}

// --- notifications ---------------------------------------------------------------------

export type NoticeLevel = "success" | "info" | "warning" | "error" | "critical";

export interface Notice {
  level: NoticeLevel;
  message: string;
  sound?: "chime" | "error";
}

/** Toast durations (ms) per level (docs/ui.md). */
export const TOAST_DURATION: Record<NoticeLevel, number> = {
  success: 3000,
  info: 4000,
  warning: 6000,
  error: 8000,
  critical: 15000,
};

const QUIET = new Set([
  "snapshot", "cached_snapshot", "stats_updated", "new_log_entries", "ui_status", "heartbeat", "token_update",
  "token_cleared", "pending_resolved", "pending_cancelled", "pending_not_found", "incidents_updated",
  "cache_entry_deleted", "backend_connected", "proxy_deleted", "config_change_detected",
]);

function text(value: unknown): string | null {
  return typeof value === "string" && value.trim() ? value : null;
}

function levelOf(value: unknown, fallback: NoticeLevel): NoticeLevel {
  return value === "success" || value === "info" || value === "warning" || value === "error" || value === "critical"
    ? value
    : fallback;
}

/**
 * A proxy whose pending approvals must be asked for again after `event`: a proxy_disconnected
 * drops them all, yet with several sessions (one per MCP client) only one session left and the
 * others' approvals still wait (docs/ui.md#sessions).
 */
export function resyncPendingAfter(event: SseEvent): string | null {
  return event.type === "proxy_disconnected" && typeof event.proxy_name === "string" && event.proxy_name ? event.proxy_name : null;
}

/** The approvals the manager still holds for `name`, as a snapshot event; none when nothing waits
 * (a snapshot marks the proxy running, which an empty answer does not show). */
export function pendingSnapshot(name: string, proxyId: string | undefined, approvals: unknown): SseEvent | null {
  if (!Array.isArray(approvals) || approvals.length === 0) return null;
  return { type: "snapshot", proxy_name: name, proxy_id: proxyId, approvals };
}

/** What the user should be told about an event: toasts and sounds (docs/ui.md#what-you-see). */
export function notificationsFor(event: SseEvent): Notice[] {
  const proxy = event.proxy_name ? `'${event.proxy_name}'` : "";
  switch (event.type) {
    case "pending_created": {
      const approval = (event.approval ?? {}) as Partial<PendingApproval>;
      const tool = approval.tool_name ?? "a tool";
      return [{ level: "info", message: `Approval needed: ${tool}${proxy ? ` on ${proxy}` : ""}`, sound: "chime" }];
    }
    case "pending_timeout":
      return [{ level: "warning", message: text(event.message) ?? "An approval request timed out" }];
    case "proxy_registered":
      return [{ level: "success", message: `Proxy ${proxy} connected` }];
    case "proxy_disconnected": {
      const reason = event.disconnect_reason as { reason?: string } | null | undefined;
      if (reason && reason.reason) {
        return [{ level: "error", message: `Proxy ${proxy} stopped: ${reason.reason}`, sound: "error" }];
      }
      return [{ level: "info", message: `Proxy ${proxy} disconnected` }];
    }
    case "policy_reloaded":
      return [{ level: "success", message: text(event.message) ?? `Policy of ${proxy} reloaded` }];
    case "policy_reload_failed":
      return [{ level: "error", message: text(event.message) ?? `Policy reload of ${proxy} failed`, sound: "error" }];
    case "auth_login":
      return [{ level: "success", message: text(event.message) ?? "Signed in" }];
    case "auth_login_failed":
      return [{ level: "error", message: text(event.message) ?? `Sign-in failed: ${text(event.reason) ?? "unknown reason"}` }];
    case "auth_logout":
      return [{ level: "info", message: text(event.message) ?? "Signed out" }];
    case "cache_cleared":
      return [{ level: "info", message: text(event.message) ?? "Cached approvals cleared" }];
  }
  if (QUIET.has(event.type)) return [];
  const severity = levelOf(event.severity, "info");
  const message = text(event.message);
  if (severity === "critical") {
    return [{ level: "critical", message: message ?? `${event.type.replace(/_/g, " ")} ${proxy}`.trim(), sound: "error" }];
  }
  if (message && (severity === "error" || severity === "warning" || severity === "success")) {
    return [{ level: severity, message: proxy ? `${proxy}: ${message}` : message }];
  }
  return [];
}
