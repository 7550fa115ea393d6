import { describe, expect, it } from "vitest";
import { applyEvent, initialLiveState, liveReducer, MAX_CLOSED, type LiveState, type PendingEntry } from "./live";
import { approvalLinkStatus, approvalParam, closedMessage } from "./approvalLink";

const NOW = Date.parse("2026-08-01T12:00:00Z");
const PROXY = { name: "files", running: true };

function approval(id: string): PendingEntry {
  return {
    id, proxy_name: "files", proxy_id: "px_1:files", tool_name: "write_file", path: "/a", source_path: null, dest_path: null,
    subject_id: "alice", created_at: "2026-08-01T12:00:00Z", timeout_seconds: 60, can_cache: true, cache_ttl_seconds: 600,
    received_at: NOW,
  };
}

/** The stream open and the proxy's snapshot in, with these approvals waiting. */
function synced(...waiting: string[]): LiveState {
  const open = liveReducer(initialLiveState, { kind: "sse_open" });
  return applyEvent(open, { type: "snapshot", proxy_name: "files", proxy_id: "px_1:files", approvals: waiting.map(approval) }, NOW);
}

describe("the approval in the address", () => {
  it("reads ?approval= and refuses what is not an approval id", () => {
    expect(approvalParam("?approval=abc_123-X")).toBe("abc_123-X");
    expect(approvalParam(new URLSearchParams({ tab: "audit", approval: "k1" }))).toBe("k1");
    expect(approvalParam("?tab=audit")).toBeNull();
    expect(approvalParam("?approval=")).toBeNull();
    expect(approvalParam("?approval=a%2Fb")).toBeNull();
    expect(approvalParam(`?approval=${"x".repeat(65)}`)).toBeNull();
  });
});

describe("where a linked approval stands", () => {
  it("is waiting when the proxy's snapshot lists it", () => {
    const status = approvalLinkStatus("k1", synced("k0", "k1"), PROXY);
    expect(status.kind).toBe("waiting");
    expect(status.kind === "waiting" && status.entry.id).toBe("k1");
  });

  it("is not judged before the stream is open and the proxy's snapshot has arrived", () => {
    expect(approvalLinkStatus("k1", initialLiveState, PROXY).kind).toBe("loading");
    const open = liveReducer(initialLiveState, { kind: "sse_open" });
    expect(approvalLinkStatus("k1", open, PROXY).kind).toBe("loading");
    const otherProxy = applyEvent(open, { type: "snapshot", proxy_name: "db", approvals: [] }, NOW);
    expect(approvalLinkStatus("k1", otherProxy, PROXY).kind).toBe("loading");
    // A reconnect starts over: the proxy must send its snapshot again.
    const reopened = liveReducer(synced(), { kind: "sse_open" });
    expect(approvalLinkStatus("k1", reopened, PROXY).kind).toBe("loading");
  });

  it("is no longer pending when the synced proxy does not list it (decided before, timed out, or unknown)", () => {
    const status = approvalLinkStatus("k9", synced("k1"), PROXY);
    expect(status.kind).toBe("gone");
    if (status.kind !== "gone") return;
    expect(status.title).toBe("This approval is no longer pending");
    expect(status.detail).toContain("already decided, timed out or withdrawn");
  });

  it("is no longer pending when its proxy is not running, without waiting for a snapshot", () => {
    const open = liveReducer(initialLiveState, { kind: "sse_open" });
    const status = approvalLinkStatus("k1", open, { name: "files", running: false });
    expect(status.kind).toBe("gone");
    expect(status.kind === "gone" && status.detail).toContain("'files' is not running");
  });

  it("says the stream is down instead of guessing", () => {
    let state = synced();
    for (let i = 0; i < 5; i++) state = liveReducer(state, { kind: "sse_error" });
    expect(approvalLinkStatus("k1", state, PROXY).kind).toBe("offline");
  });

  it("says how it closed when this page saw it close", () => {
    const decided = applyEvent(synced("k1"), { type: "pending_resolved", proxy_name: "files", approval_id: "k1", decision: "allow_once", approver_id: "bob" }, NOW);
    const status = approvalLinkStatus("k1", decided, PROXY);
    expect(status.kind).toBe("closed");
    if (status.kind !== "closed") return;
    expect(status.title).toBe("Allowed once (write_file) by bob");
    expect(status.tone).toBe("success");
    expect(status.detail).toContain("its retry runs the call");

    const timedOut = applyEvent(synced("k1"), { type: "pending_timeout", proxy_name: "files", approval_id: "k1" }, NOW);
    const late = approvalLinkStatus("k1", timedOut, PROXY);
    expect(late.kind === "closed" && late.title).toBe("This approval timed out (write_file)");

    const withdrawn = applyEvent(synced("k1"), { type: "pending_cancelled", proxy_name: "files", approval_id: "k1", reason: "declined by the client" }, NOW);
    const off = approvalLinkStatus("k1", withdrawn, PROXY);
    expect(off.kind === "closed" && off.detail).toContain("declined by the client");
  });

  it("keeps this browser's own decision when the proxy's event follows, and ignores a bare not-found", () => {
    let state = liveReducer(synced("k1"), { kind: "remove_pending", id: "k1", closed: { outcome: "decided", decision: "deny" }, now: NOW });
    state = applyEvent(state, { type: "pending_resolved", proxy_name: "files", approval_id: "k1", decision: "deny", approver_id: "bob" }, NOW);
    state = applyEvent(state, { type: "pending_not_found", proxy_name: "files", approval_id: "k1" }, NOW);
    const status = approvalLinkStatus("k1", state, PROXY);
    expect(status.kind === "closed" && [status.title, status.tone]).toEqual(["Denied (write_file)", "info"]);
    expect(applyEvent(synced(), { type: "pending_not_found", proxy_name: "files", approval_id: "zz" }, NOW).closed).toEqual({});
  });

  it("keeps the proxy's event when it arrives before this browser's own decision returns", () => {
    let state = applyEvent(synced("k1"), { type: "pending_resolved", proxy_name: "files", approval_id: "k1", decision: "allow_once", approver_id: "bob" }, NOW);
    state = liveReducer(state, { kind: "remove_pending", id: "k1", closed: { outcome: "decided", decision: "allow_once" }, now: NOW });
    const status = approvalLinkStatus("k1", state, PROXY);
    expect(status.kind === "closed" && status.title).toBe("Allowed once (write_file) by bob");
  });

  it("remembers a bounded number of closed approvals, the newest kept, across reconnects", () => {
    let state = synced();
    for (let i = 0; i < MAX_CLOSED + 5; i++) state = applyEvent(state, { type: "pending_timeout", proxy_name: "files", approval_id: `k${i}` }, NOW);
    expect(Object.keys(state.closed)).toHaveLength(MAX_CLOSED);
    expect(state.closed.k0).toBeUndefined();
    expect(liveReducer(state, { kind: "sse_open" }).closed[`k${MAX_CLOSED + 4}`]?.outcome).toBe("timed_out");
  });

  it("names a link without an id as such", () => {
    expect(approvalLinkStatus(null, synced(), PROXY)).toMatchObject({ kind: "gone", title: "This link names no approval" });
  });
});

describe("closed messages", () => {
  it("covers the remembering approval and an unknown decision", () => {
    expect(closedMessage({ outcome: "decided", decision: "approve", at: NOW }).detail).toContain("without asking for a while");
    expect(closedMessage({ outcome: "decided", decision: "later", at: NOW }).title).toBe("Decided");
  });
});
