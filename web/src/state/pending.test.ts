import { describe, expect, it } from "vitest";
import type { PendingEntry } from "./live";
import { approvalActions, cachedRemaining, rememberAction, documentTitle, formatCountdown, isUrgent, pendingList, remainingSeconds, sortPending, targetOf } from "./pending";

const NOW = Date.parse("2024-05-01T12:00:00Z");

function entry(id: string, overrides: Partial<PendingEntry> = {}): PendingEntry {
  return {
    id, proxy_name: "files", proxy_id: "px_1:files", tool_name: "write_file", path: "/a", source_path: null,
    dest_path: null, subject_id: "alice", created_at: "2024-05-01T12:00:00Z", timeout_seconds: 60,
    can_cache: true, cache_ttl_seconds: 600, received_at: NOW, ...overrides,
  };
}

describe("countdown", () => {
  it("counts expires_in_seconds down from arrival", () => {
    const e = entry("a", { expires_in_seconds: 30 });
    expect(remainingSeconds(e, NOW)).toBe(30);
    expect(remainingSeconds(e, NOW + 12_500)).toBeCloseTo(17.5);
    expect(remainingSeconds(e, NOW + 60_000)).toBe(0);
  });

  it("falls back to created_at + timeout_seconds", () => {
    const e = entry("a", { created_at: "2024-05-01T11:59:30Z", timeout_seconds: 60 });
    expect(remainingSeconds(e, NOW)).toBe(30);
    expect(remainingSeconds(entry("b", { created_at: "garbage" }), NOW)).toBe(0);
  });

  it("turns urgent under 10 seconds", () => {
    const e = entry("a", { expires_in_seconds: 20 });
    expect(isUrgent(e, NOW + 10_000)).toBe(false);
    expect(isUrgent(e, NOW + 10_500)).toBe(true);
  });

  it("formats m:ss, rounding up", () => {
    expect(formatCountdown(65)).toBe("1:05");
    expect(formatCountdown(9.2)).toBe("0:10");
    expect(formatCountdown(-3)).toBe("0:00");
  });
});

describe("ordering", () => {
  it("puts the most urgent first and is stable for ties", () => {
    const list = sortPending([
      entry("late", { expires_in_seconds: 50 }),
      entry("soon", { expires_in_seconds: 5 }),
      entry("b", { expires_in_seconds: 30, created_at: "2024-05-01T12:00:01Z" }),
      entry("a", { expires_in_seconds: 30, created_at: "2024-05-01T12:00:01Z" }),
    ], NOW);
    expect(list.map((e) => e.id)).toEqual(["soon", "a", "b", "late"]);
  });

  it("filters by proxy", () => {
    const pending = { a: entry("a"), b: entry("b", { proxy_name: "db" }) };
    expect(pendingList(pending, NOW, "db").map((e) => e.id)).toEqual(["b"]);
    expect(pendingList(pending, NOW)).toHaveLength(2);
  });
});

describe("decisions offered", () => {
  const complete = { arguments: { path: "/a", content: "x" }, arguments_size: 27, path: "/a", source_path: null, dest_path: null };
  const verbs = (actions: ReturnType<typeof approvalActions>) => actions.map((a) => [a.verb, a.label, a.kind]);

  it("Allow once is the primary decision; the remembering one is secondary and names its duration", () => {
    const actions = approvalActions({ ...complete, remember: { available: true, ttl_seconds: 600, label: "" } });
    expect(verbs(actions)).toEqual([
      ["allow-once", "Allow once", "primary"],
      ["approve", "Allow for 10 min (this tool, these paths)", "secondary"],
      ["deny", "Deny", "danger"],
    ]);
    expect(actions[1].description).toContain("10 min");
  });

  it("uses the proxy's label for what is remembered", () => {
    const offer = (label: string) => rememberAction({ ...complete, remember: { available: true, ttl_seconds: 300, label } })?.label;
    expect(offer("this tool, any path under /a")).toBe("Allow for 5 min (this tool, any path under /a)");
    expect(offer("Allow write_file on /a for 5 minutes")).toBe("Allow write_file on /a for 5 minutes");
    expect(offer("Allow write_file on /a")).toBe("Allow write_file on /a (5 min)"); // the duration is always named
    expect(rememberAction({ ...complete, path: null, remember: { available: true, ttl_seconds: 90, label: "" } })?.label)
      .toBe("Allow for 1 min 30 s (this tool)");
  });

  it("offers only Allow once and Deny when the request may not be remembered", () => {
    const onceOnly = [["allow-once", "Allow once", "primary"], ["deny", "Deny", "danger"]];
    expect(verbs(approvalActions({ ...complete, remember: { available: false, ttl_seconds: 600, label: "x" } }))).toEqual(onceOnly);
    expect(verbs(approvalActions({ ...complete, remember: { available: true, ttl_seconds: 0, label: "x" } }))).toEqual(onceOnly);
  });

  it("offers only Allow once and Deny when the proxy sends no remember offer or no whole arguments", () => {
    const onceOnly = [["allow-once", "Allow once", "primary"], ["deny", "Deny", "danger"]];
    expect(verbs(approvalActions(complete))).toEqual(onceOnly); // an older proxy: no remember field
    expect(verbs(approvalActions({ ...complete, arguments_size: undefined, remember: { available: true, ttl_seconds: 600, label: "" } })))
      .toEqual(onceOnly); // the arguments cannot be shown: nothing is remembered unseen
  });
});

describe("helpers", () => {
  it("describes copies as from → to", () => {
    expect(targetOf({ path: null, source_path: "/a", dest_path: "/b" })).toBe("/a → /b");
    expect(targetOf({ path: "/x", source_path: null, dest_path: null })).toBe("/x");
    expect(targetOf({ path: null, source_path: null, dest_path: null })).toBeNull();
  });

  it("puts the pending count in the title", () => {
    expect(documentTitle(0)).toBe("mcp-acp");
    expect(documentTitle(3)).toBe("🔴 (3) mcp-acp");
  });

  it("counts cached approvals down from the snapshot", () => {
    const cached = { subject_id: "a", tool_name: "t", path: null, age_seconds: 0, ttl_seconds: 600, expires_in_seconds: 100 };
    expect(cachedRemaining(cached, { received_at: NOW }, NOW + 40_000)).toBe(60);
    expect(cachedRemaining(cached, { received_at: NOW }, NOW + 400_000)).toBe(0);
  });
});
