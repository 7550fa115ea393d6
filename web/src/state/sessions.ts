// A proxy's sessions: one process per MCP client that started it (docs/ui.md#sessions).
import type { ProxyDetail, ProxySession, ProxySummary } from "../api/types";
import { relativeTime } from "../lib/format";

export const UNIDENTIFIED_CLIENT = "client not identified yet";

/** The running sessions, first slot first. */
export function sessionsOf(proxy: Pick<ProxyDetail, "sessions">): ProxySession[] {
  return [...(proxy.sessions ?? [])].sort((a, b) => a.session - b.session);
}

/** The client's own name (clientInfo.name), or a plain word that it has not said it yet. */
export function sessionClient(session: ProxySession): string {
  const name = typeof session.client_id === "string" ? session.client_id.trim() : "";
  return name || UNIDENTIFIED_CLIENT;
}

/** "3m ago" from the manager's unix seconds; "–" when unknown. */
export function connectedSince(session: ProxySession, now = Date.now()): string {
  const seconds = session.connected_at;
  if (typeof seconds !== "number" || !Number.isFinite(seconds) || seconds <= 0) return "–";
  return relativeTime(new Date(seconds * 1000).toISOString(), now);
}

/** What the proxy card says about its sessions: only worth saying when there is more than one. */
export function sessionCountLabel(count: number | null | undefined): string | null {
  return typeof count === "number" && count > 1 ? `${count} sessions` : null;
}

/**
 * Whether a fetched proxy still has a running session other than `left` (the instance whose
 * disconnect the live state saw last). A proxy with several clients loses one session without
 * stopping; the fetched view knows which sessions remain.
 */
export function otherSessionRunning(proxy: ProxySummary & Partial<Pick<ProxyDetail, "sessions">>, left: string | undefined): boolean {
  if (!left) return false;
  if (proxy.sessions) return proxy.sessions.some((session) => session.instance_id !== left);
  return (proxy.session_count ?? 0) > 0 && !!proxy.instance_id && proxy.instance_id !== left;
}

/** How long after a session connects the page keeps asking for its client's name. */
export const IDENTIFY_WINDOW_SECONDS = 60;
export const IDENTIFY_POLL_MS = 2000;

/**
 * A session connected recently whose client has not said its name yet: the client sends
 * clientInfo only after the proxy registered, and no event says when it did.
 */
export function awaitingClient(proxy: Pick<ProxyDetail, "sessions">, now = Date.now()): boolean {
  const since = now / 1000 - IDENTIFY_WINDOW_SECONDS;
  return sessionsOf(proxy).some((session) => !session.client_id && session.connected_at > since);
}
