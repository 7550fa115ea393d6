// The link a modern MCP client shows when a rule says "ask" (docs/approvals.md#modern-clients-the-link-in-the-answer):
// /proxy/<proxy_id>?approval=<id>. What the page says about that approval, from the live state alone.
import type { ClosedApproval, LiveState, PendingEntry } from "./live";

export const APPROVAL_PARAM = "approval";

export type LinkTone = "info" | "success" | "warning";

export type LinkStatus =
  | { kind: "waiting"; entry: PendingEntry }
  | { kind: "loading" }
  | { kind: "offline"; tone: LinkTone; title: string; detail: string }
  | { kind: "closed"; closed: ClosedApproval; tone: LinkTone; title: string; detail: string }
  | { kind: "gone"; tone: LinkTone; title: string; detail: string };

export interface LinkProxy {
  name: string;
  running: boolean;
}

const RETRY = "Go back to your MCP client";

/** The approval id a page address asks for, or null (none, or not an id the proxy issues). */
export function approvalParam(search: string | URLSearchParams): string | null {
  const params = typeof search === "string" ? new URLSearchParams(search) : search;
  const id = params.get(APPROVAL_PARAM);
  return id && /^[A-Za-z0-9_-]{1,64}$/.test(id) ? id : null;
}

/** Where approval `id` stands: waiting (decide it here), closed while this page watched, not yet
 * known (the stream or the proxy's snapshot has not arrived), or no longer pending. */
export function approvalLinkStatus(id: string | null, state: Pick<LiveState, "pending" | "closed" | "synced" | "connection">, proxy: LinkProxy): LinkStatus {
  if (id === null) return gone("This link names no approval", "The address has no valid approval id. Open the link your MCP client showed, whole.");
  const entry = state.pending[id];
  if (entry) return { kind: "waiting", entry };
  const closed = state.closed[id];
  if (closed) return { kind: "closed", closed, ...closedMessage(closed) };
  const status = state.connection.status;
  if (status === "disconnected") {
    return {
      kind: "offline",
      tone: "warning",
      title: "Cannot check this approval",
      detail: "The live connection to the manager is down. Retry the connection; the approval shows here once it is back.",
    };
  }
  if (status !== "open" || (proxy.running && !state.synced[proxy.name])) return { kind: "loading" };
  if (!proxy.running) {
    return gone(
      "This approval is no longer pending",
      `The proxy '${proxy.name}' is not running, so nothing waits for a decision there. ${RETRY} and make the call again if it still needs to run.`,
    );
  }
  return gone(
    "This approval is no longer pending",
    `Approval ${id} was already decided, timed out or withdrawn, or this proxy never issued it. ` +
      `${RETRY}: its retry gets the outcome, or a new link if the call needs asking again.`,
  );
}

function gone(title: string, detail: string): LinkStatus {
  return { kind: "gone", tone: "warning", title, detail };
}

const DECIDED: Record<string, { title: string; tone: LinkTone; detail: string }> = {
  allow_once: { title: "Allowed once", tone: "success", detail: `${RETRY}: its retry runs the call.` },
  approve: {
    title: "Allowed",
    tone: "success",
    detail: `${RETRY}: its retry runs the call, and the same call runs without asking for a while.`,
  },
  deny: { title: "Denied", tone: "info", detail: `${RETRY}: its retry is refused.` },
};

/** What to tell the person who opened the link about an approval that closed meanwhile. */
export function closedMessage(closed: ClosedApproval): { tone: LinkTone; title: string; detail: string } {
  const what = closed.tool_name ? ` (${closed.tool_name})` : "";
  if (closed.outcome === "decided") {
    const known = DECIDED[closed.decision ?? ""];
    const by = closed.approver_id ? ` by ${closed.approver_id}` : "";
    if (known) return { tone: known.tone, title: `${known.title}${what}${by}`, detail: known.detail };
    return { tone: "info", title: `Decided${what}${by}`, detail: `${RETRY}: its retry gets the outcome.` };
  }
  if (closed.outcome === "timed_out") {
    return {
      tone: "warning",
      title: `This approval timed out${what}`,
      detail: `Nobody decided in time, so the call is refused. ${RETRY} and make the call again to be asked anew.`,
    };
  }
  return {
    tone: "warning",
    title: `This approval was withdrawn${what}`,
    detail: `${closed.reason ? `Reason: ${closed.reason}. ` : ""}Nothing is waiting for a decision any more.`,
  };
}
