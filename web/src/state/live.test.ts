import { describe, expect, it } from "vitest";
import type { PendingApproval } from "../api/types";
import { applyEvent, initialLiveState, liveReducer, MAX_SSE_ERRORS, notificationsFor, pendingSnapshot, resyncPendingAfter, type LiveState, type SseEvent } from "./live";

const NOW = 1_700_000_000_000;

function approval(id: string, overrides: Partial<PendingApproval> = {}): PendingApproval {
  return {
    id, tool_name: "write_file", path: "/tmp/a", source_path: null, dest_path: null, subject_id: "alice",
    created_at: "2024-01-01T00:00:00Z", timeout_seconds: 60, expires_in_seconds: 60, can_cache: true,
    cache_ttl_seconds: 600, proxy_name: "files", proxy_id: "px_1:files", ...overrides,
  };
}

function run(events: SseEvent[], state: LiveState = initialLiveState): LiveState {
  return events.reduce((s, event) => liveReducer(s, { kind: "event", event, now: NOW }), state);
}

describe("live reducer", () => {
  it("snapshot replaces the approvals of that proxy only", () => {
    const state = run([
      { type: "snapshot", proxy_name: "files", proxy_id: "px_1:files", approvals: [approval("a"), approval("b")] },
      { type: "snapshot", proxy_name: "db", proxy_id: "px_2:db", approvals: [approval("c", { proxy_name: "db" })] },
      { type: "snapshot", proxy_name: "files", proxy_id: "px_1:files", approvals: [approval("d")] },
    ]);
    expect(Object.keys(state.pending).sort()).toEqual(["c", "d"]);
    expect(state.pending.d.received_at).toBe(NOW);
    expect(state.proxies.files).toEqual({ proxy_id: "px_1:files", status: "running" });
  });

  it("a snapshot without a proxy (none registered) clears everything pending", () => {
    const state = run([
      { type: "snapshot", proxy_name: "files", approvals: [approval("a")] },
      { type: "snapshot", approvals: [] },
    ]);
    expect(state.pending).toEqual({});
  });

  it("pending_created adds, resolved/timeout/cancelled remove", () => {
    let state = run([
      { type: "pending_created", proxy_name: "files", proxy_id: "px_1:files", approval: approval("a") },
      { type: "pending_created", proxy_name: "files", proxy_id: "px_1:files", approval: approval("b") },
      { type: "pending_created", proxy_name: "files", proxy_id: "px_1:files", approval: approval("c") },
    ]);
    expect(Object.keys(state.pending)).toHaveLength(3);
    state = run([{ type: "pending_resolved", proxy_name: "files", approval_id: "a", decision: "allow" }], state);
    expect(state.pending.a).toBeUndefined();
    state = run([{ type: "pending_timeout", proxy_name: "files", approval_id: "b" }], state);
    state = run([{ type: "pending_cancelled", proxy_name: "files", approval_id: "c", reason: "client" }], state);
    expect(state.pending).toEqual({});
  });

  it("fills proxy_name from the event when the approval lacks it", () => {
    const { proxy_name: _n, proxy_id: _i, ...bare } = approval("a");
    const state = run([{ type: "pending_created", proxy_name: "db", proxy_id: "px_2:db", approval: bare }]);
    expect(state.pending.a.proxy_name).toBe("db");
    expect(state.pending.a.proxy_id).toBe("px_2:db");
  });

  it("ignores a pending_created without a usable approval", () => {
    const state = run([{ type: "pending_created", proxy_name: "files", approval: null }]);
    expect(state).toBe(initialLiveState);
  });

  it("stats_updated stores stats and marks the proxy running", () => {
    const stats = { requests_total: 5, requests_allowed: 3, requests_denied: 1, requests_hitl: 1, proxy_latency_ms: 1.5 };
    const state = run([{ type: "stats_updated", proxy_name: "files", proxy_id: "px_1:files", stats }]);
    expect(state.stats.files).toEqual(stats);
    expect(state.proxies.files.status).toBe("running");
  });

  it("proxy_registered marks running and asks lists to refetch", () => {
    const state = run([{ type: "proxy_registered", proxy_name: "files", proxy_id: "px_1:files", instance_id: "i" }]);
    expect(state.proxies.files).toEqual({ proxy_id: "px_1:files", status: "running", instance_id: "i" });
    expect(state.versions.proxies).toBe(1);
  });

  it("remembers which session (instance) last changed a proxy's status", () => {
    const state = run([
      { type: "proxy_registered", proxy_name: "files", proxy_id: "px_1:files", instance_id: "one" },
      { type: "proxy_registered", proxy_name: "files", proxy_id: "px_1:files", instance_id: "two" },
      { type: "proxy_disconnected", proxy_name: "files", proxy_id: "px_1:files", instance_id: "one", disconnect_reason: null },
    ]);
    expect(state.proxies.files).toEqual({ proxy_id: "px_1:files", status: "inactive", instance_id: "one" });
    expect(state.versions.proxies).toBe(3);
  });

  it("asks again for a proxy's approvals after one of its sessions left", () => {
    expect(resyncPendingAfter({ type: "proxy_disconnected", proxy_name: "files" })).toBe("files");
    expect(resyncPendingAfter({ type: "proxy_registered", proxy_name: "files" })).toBeNull();
    expect(resyncPendingAfter({ type: "proxy_disconnected" })).toBeNull();
    expect(pendingSnapshot("files", "px_1:files", [])).toBeNull();
    expect(pendingSnapshot("files", "px_1:files", { detail: "gone" })).toBeNull();
    const after = run([
      { type: "snapshot", proxy_name: "files", proxy_id: "px_1:files", approvals: [approval("a"), approval("b")] },
      { type: "proxy_disconnected", proxy_name: "files", proxy_id: "px_1:files", instance_id: "one", disconnect_reason: null },
      pendingSnapshot("files", "px_1:files", [approval("b")]) as SseEvent,
    ]);
    expect(Object.keys(after.pending)).toEqual(["b"]);
    expect(after.proxies.files.status).toBe("running");
  });

  it("proxy_disconnected drops its approvals, cache and stats and marks it inactive", () => {
    const state = run([
      { type: "snapshot", proxy_name: "files", proxy_id: "px_1:files", approvals: [approval("a")] },
      { type: "snapshot", proxy_name: "db", proxy_id: "px_2:db", approvals: [approval("b", { proxy_name: "db" })] },
      { type: "cached_snapshot", proxy_name: "files", approvals: [], ttl_seconds: 600, count: 0 },
      { type: "stats_updated", proxy_name: "files", stats: { requests_total: 1, requests_allowed: 1, requests_denied: 0, requests_hitl: 0 } },
      { type: "proxy_disconnected", proxy_name: "files", proxy_id: "px_1:files", disconnect_reason: null },
    ]);
    expect(Object.keys(state.pending)).toEqual(["b"]);
    expect(state.cached.files).toBeUndefined();
    expect(state.stats.files).toBeUndefined();
    expect(state.proxies.files.status).toBe("inactive");
    expect(state.versions.incidents).toBe(0);
  });

  it("a disconnect with a reason means a new incident", () => {
    const state = run([{ type: "proxy_disconnected", proxy_name: "files", disconnect_reason: { reason: "audit tampering" } }]);
    expect(state.versions.incidents).toBe(1);
  });

  it("proxy_deleted marks the proxy deleted", () => {
    const state = run([
      { type: "pending_created", proxy_name: "files", approval: approval("a") },
      { type: "proxy_deleted", proxy_name: "files", proxy_id: "px_1:files", archive_name: "files-2024" },
    ]);
    expect(state.proxies.files.status).toBe("deleted");
    expect(state.pending).toEqual({});
  });

  it("cached_snapshot and cache_cleared keep the cache per proxy", () => {
    let state = run([{
      type: "cached_snapshot", proxy_name: "files", ttl_seconds: 600, count: 1,
      approvals: [{ subject_id: "alice", tool_name: "read", path: "/a", age_seconds: 1, ttl_seconds: 600, expires_in_seconds: 599 }],
    }]);
    expect(state.cached.files.approvals).toHaveLength(1);
    expect(state.cached.files.ttl_seconds).toBe(600);
    state = run([{ type: "cache_cleared", proxy_name: "files", count: 1 }], state);
    expect(state.cached.files.approvals).toEqual([]);
    expect(state.cached.files.ttl_seconds).toBe(600);
  });

  it("new_log_entries, policy and incident events bump the right counters", () => {
    const state = run([
      { type: "new_log_entries", proxy_name: "files", count: 2 },
      { type: "new_log_entries", proxy_name: "files", count: 1 },
      { type: "policy_reloaded", proxy_name: "files" },
      { type: "incidents_updated", proxy_name: "files", trigger_event: "audit_tampering" },
      { type: "auth_login", message: "hi" },
    ]);
    expect(state.versions.logs.files).toBe(2);
    expect(state.versions.policy.files).toBe(1);
    expect(state.versions.incidents).toBe(1);
    expect(state.versions.auth).toBe(1);
  });

  it("unknown events change nothing", () => {
    expect(applyEvent(initialLiveState, { type: "heartbeat" }, NOW)).toBe(initialLiveState);
    expect(applyEvent(initialLiveState, { type: "something_new", proxy_name: "x" }, NOW)).toBe(initialLiveState);
  });

  it("counts stream errors: reconnecting, then disconnected; open and retry reset", () => {
    let state = initialLiveState;
    state = liveReducer(state, { kind: "sse_error" });
    expect(state.connection).toEqual({ status: "reconnecting", errors: 1 });
    for (let i = 1; i < MAX_SSE_ERRORS; i += 1) state = liveReducer(state, { kind: "sse_error" });
    expect(state.connection).toEqual({ status: "disconnected", errors: MAX_SSE_ERRORS });
    state = liveReducer(state, { kind: "sse_retry" });
    expect(state.connection.status).toBe("connecting");
    state = liveReducer(run([{ type: "pending_created", proxy_name: "f", approval: approval("a") }], state), { kind: "sse_open" });
    expect(state.connection).toEqual({ status: "open", errors: 0 });
    expect(state.pending).toEqual({});
  });

  it("remove_pending drops one approval", () => {
    const state = liveReducer(run([{ type: "pending_created", proxy_name: "f", approval: approval("a") }]), { kind: "remove_pending", id: "a" });
    expect(state.pending).toEqual({});
  });
});

describe("notifications", () => {
  it("a new approval chimes", () => {
    expect(notificationsFor({ type: "pending_created", proxy_name: "files", approval: approval("a") })).toEqual([
      { level: "info", message: "Approval needed: write_file on 'files'", sound: "chime" },
    ]);
  });

  it("a disconnect with a reason is an error with sound; without, info", () => {
    expect(notificationsFor({ type: "proxy_disconnected", proxy_name: "x", disconnect_reason: { reason: "audit log deleted" } })).toEqual([
      { level: "error", message: "Proxy 'x' stopped: audit log deleted", sound: "error" },
    ]);
    expect(notificationsFor({ type: "proxy_disconnected", proxy_name: "x", disconnect_reason: null })[0].level).toBe("info");
  });

  it("timeouts warn, critical events are critical, routine events are silent", () => {
    expect(notificationsFor({ type: "pending_timeout", message: "Approval timed out: w" })[0]).toEqual({ level: "warning", message: "Approval timed out: w" });
    expect(notificationsFor({ type: "critical_shutdown", severity: "critical", message: "stopping" })[0]).toMatchObject({ level: "critical", sound: "error" });
    expect(notificationsFor({ type: "stats_updated", proxy_name: "x", stats: {} })).toEqual([]);
    expect(notificationsFor({ type: "snapshot", approvals: [] })).toEqual([]);
    expect(notificationsFor({ type: "ui_status", severity: "info" })).toEqual([]);
  });
});
