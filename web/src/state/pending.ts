// Pending HITL approvals: countdowns, order and the decisions each one offers (docs/approvals.md).
import type { CachedApproval } from "../api/types";
import { argumentsView } from "./arguments";
import type { CachedState, PendingEntry } from "./live";

/** Seconds left (never negative). The proxy's own expires_in_seconds, counted down from when
 * it arrived, is immune to clock skew; otherwise created_at + timeout_seconds. */
export function remainingSeconds(entry: PendingEntry, now: number): number {
  if (typeof entry.expires_in_seconds === "number") {
    return Math.max(0, entry.expires_in_seconds - (now - entry.received_at) / 1000);
  }
  const created = Date.parse(entry.created_at);
  if (Number.isNaN(created)) return 0;
  return Math.max(0, (created + entry.timeout_seconds * 1000 - now) / 1000);
}

/** Under this many seconds the countdown turns red. */
export const URGENT_SECONDS = 10;

export function isUrgent(entry: PendingEntry, now: number): boolean {
  return remainingSeconds(entry, now) < URGENT_SECONDS;
}

/** "1:05", "0:09" */
export function formatCountdown(seconds: number): string {
  const whole = Math.max(0, Math.ceil(seconds));
  const minutes = Math.floor(whole / 60);
  return `${minutes}:${String(whole % 60).padStart(2, "0")}`;
}

/** Most urgent first; ties by arrival order then id, so the list never jumps around. */
export function sortPending(entries: PendingEntry[], now: number): PendingEntry[] {
  return [...entries].sort((a, b) => {
    const left = remainingSeconds(a, now) - remainingSeconds(b, now);
    if (Math.abs(left) >= 0.5) return left;
    const created = a.created_at.localeCompare(b.created_at);
    return created !== 0 ? created : a.id.localeCompare(b.id);
  });
}

export function pendingList(pending: Record<string, PendingEntry>, now: number, proxyName?: string): PendingEntry[] {
  const entries = Object.values(pending).filter((entry) => !proxyName || entry.proxy_name === proxyName);
  return sortPending(entries, now);
}

export type ApprovalAction = {
  verb: "approve" | "allow-once" | "deny";
  label: string;
  description: string;
  kind: "primary" | "secondary" | "danger";
};

type ActionSource = Pick<PendingEntry, "remember" | "arguments" | "arguments_size" | "path" | "source_path" | "dest_path">;

/** The remembering action, when the proxy offers one and says for how long; else null. Its
 * label says what it remembers and for how long: the proxy's own label, or one built from the
 * TTL ("Allow for 10 min (this tool, these paths)"). Never offered while the arguments cannot
 * be shown: nobody should remember what they could not see. */
export function rememberAction(entry: ActionSource): ApprovalAction | null {
  const remember = entry.remember;
  if (!remember || typeof remember !== "object" || remember.available !== true) return null;
  if (argumentsView(entry).kind !== "complete") return null;
  const ttl = remember.ttl_seconds;
  if (typeof ttl !== "number" || !Number.isFinite(ttl) || ttl <= 0) return null;
  const duration = formatDuration(ttl);
  const scope = typeof remember.label === "string" ? remember.label.trim() : "";
  let label: string;
  if (/^allow\b/i.test(scope)) label = /\d/.test(scope) ? scope : `${scope} (${duration})`;
  else if (scope) label = `Allow for ${duration} (${scope})`;
  else label = `Allow for ${duration} (${targetOf(entry) ? "this tool, these paths" : "this tool"})`;
  return {
    verb: "approve",
    label,
    description: `Allow this request, and allow the same again without asking for ${duration}`,
    kind: "secondary",
  };
}

/** The buttons of one approval, in order: Allow once (the primary one), the remembering one
 * when it is offered, Deny. */
export function approvalActions(entry: ActionSource): ApprovalAction[] {
  const actions: ApprovalAction[] = [
    { verb: "allow-once", label: "Allow once", description: "Allow this request only", kind: "primary" },
  ];
  const remember = rememberAction(entry);
  if (remember) actions.push(remember);
  actions.push({ verb: "deny", label: "Deny", description: "Refuse this request", kind: "danger" });
  return actions;
}

export function formatDuration(seconds: number): string {
  if (seconds >= 3600 && seconds % 3600 === 0) return `${seconds / 3600} h`;
  if (seconds >= 60 && seconds % 60 === 0) return `${seconds / 60} min`;
  if (seconds >= 60) return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
  return `${Math.round(seconds)} s`;
}

/** What the request touches: "a → b" for copies/moves, else the path. */
export function targetOf(entry: Pick<PendingEntry, "path" | "source_path" | "dest_path">): string | null {
  if (entry.source_path && entry.dest_path) return `${entry.source_path} → ${entry.dest_path}`;
  return entry.path ?? entry.source_path ?? entry.dest_path ?? null;
}

export function documentTitle(pendingCount: number, base = "mcp-acp"): string {
  return pendingCount > 0 ? `🔴 (${pendingCount}) ${base}` : base;
}

/** Seconds until a cached approval expires, counted from when the snapshot arrived. */
export function cachedRemaining(entry: CachedApproval, snapshot: Pick<CachedState, "received_at">, now: number): number {
  return Math.max(0, entry.expires_in_seconds - (now - snapshot.received_at) / 1000);
}
