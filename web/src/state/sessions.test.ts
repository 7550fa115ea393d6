import { describe, expect, it } from "vitest";
import type { ProxySession, ProxySummary } from "../api/types";
import { effectiveStatus } from "./filters";
import { awaitingClient, connectedSince, otherSessionRunning, sessionClient, sessionCountLabel, sessionsOf, UNIDENTIFIED_CLIENT } from "./sessions";

const NOW = Date.parse("2026-12-07T12:00:00Z");

function session(slot: number, client: string | null, agoSeconds = 30): ProxySession {
  return { session: slot, instance_id: `inst-${slot}`, connected_at: NOW / 1000 - agoSeconds, client_id: client, uptime_seconds: agoSeconds, pending: 0 };
}

function proxy(extra: Partial<ProxySummary> & { sessions?: ProxySession[] } = {}): ProxySummary & { sessions?: ProxySession[] } {
  return {
    proxy_name: "ap", proxy_id: "px_0:ap", status: "running", server_name: "ap", transport: "stdio", command: "x", args: [],
    url: null, created_at: "", backend_transport: "stdio", mtls_enabled: false, stats: null, ...extra,
  };
}

describe("a proxy's sessions", () => {
  it("lists them by slot and tolerates a manager without sessions", () => {
    expect(sessionsOf({ sessions: [session(2, "c"), session(0, "a"), session(1, "b")] }).map((s) => s.session)).toEqual([0, 1, 2]);
    expect(sessionsOf({})).toEqual([]);
  });

  it("names the client, or says it has not named itself yet", () => {
    expect(sessionClient(session(0, "claude-code"))).toBe("claude-code");
    expect(sessionClient(session(0, null))).toBe(UNIDENTIFIED_CLIENT);
    expect(sessionClient(session(0, "  "))).toBe(UNIDENTIFIED_CLIENT);
  });

  it("says since when it is connected, from unix seconds", () => {
    expect(connectedSince(session(0, "a", 2), NOW)).toBe("just now");
    expect(connectedSince(session(0, "a", 90), NOW)).toBe("1m ago");
    expect(connectedSince(session(0, "a", 7200), NOW)).toBe("2h ago");
    expect(connectedSince({ ...session(0, "a"), connected_at: 0 }, NOW)).toBe("–");
  });

  it("labels the card only when there is more than one", () => {
    expect(sessionCountLabel(3)).toBe("3 sessions");
    expect(sessionCountLabel(2)).toBe("2 sessions");
    expect(sessionCountLabel(1)).toBeNull();
    expect(sessionCountLabel(0)).toBeNull();
    expect(sessionCountLabel(undefined)).toBeNull();
  });

  it("keeps asking for a new session's client, not for an old silent one", () => {
    expect(awaitingClient({ sessions: [session(0, "a"), session(1, null, 5)] }, NOW)).toBe(true);
    expect(awaitingClient({ sessions: [session(0, "a"), session(1, null, 600)] }, NOW)).toBe(false);
    expect(awaitingClient({ sessions: [session(0, "a")] }, NOW)).toBe(false);
    expect(awaitingClient({}, NOW)).toBe(false);
  });
});

describe("one session leaving a proxy with several", () => {
  const left = { ap: { proxy_id: "px_0:ap", status: "inactive" as const, instance_id: "inst-0" } };

  it("keeps the proxy running while the fetched view shows another session", () => {
    expect(otherSessionRunning(proxy({ sessions: [session(0, "a"), session(1, "b")] }), "inst-0")).toBe(true);
    expect(effectiveStatus(proxy({ sessions: [session(1, "b")] }), left)).toBe("running");
  });

  it("is inactive when the one that left was the last", () => {
    expect(effectiveStatus(proxy({ status: "running", sessions: [session(0, "a")] }), left)).toBe("inactive");
    expect(effectiveStatus(proxy({ status: "inactive", sessions: [] }), left)).toBe("inactive");
  });

  it("uses the list's first session and count when there is no session list", () => {
    expect(effectiveStatus(proxy({ instance_id: "inst-1", session_count: 1 }), left)).toBe("running");
    expect(effectiveStatus(proxy({ instance_id: "inst-0", session_count: 2 }), left)).toBe("inactive");
    expect(effectiveStatus(proxy({ instance_id: "inst-1", session_count: 0 }), left)).toBe("inactive");
    expect(otherSessionRunning(proxy({ instance_id: "inst-1", session_count: 1 }), undefined)).toBe(false);
  });
});
