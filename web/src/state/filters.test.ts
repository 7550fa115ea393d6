import { describe, expect, it } from "vitest";
import type { ProxySummary } from "../api/types";
import { countByStatus, effectiveStatus, filterProxies, incidentQuery, isUnread, nextLastSeen, parseIncidentFilters, parseProxyFilter } from "./filters";

function proxy(name: string, status: "running" | "inactive"): ProxySummary {
  return {
    proxy_name: name, proxy_id: `px_0:${name}`, status, server_name: name, transport: "stdio", command: "x", args: [],
    url: null, created_at: "", backend_transport: "stdio", mtls_enabled: false, stats: null,
  };
}

const PROXIES = [proxy("zeta", "running"), proxy("alpha", "inactive"), proxy("mid", "running")];

describe("proxy list chips", () => {
  it("filters by status and sorts by name", () => {
    expect(filterProxies(PROXIES, "all").map((p) => p.proxy_name)).toEqual(["alpha", "mid", "zeta"]);
    expect(filterProxies(PROXIES, "running").map((p) => p.proxy_name)).toEqual(["mid", "zeta"]);
    expect(filterProxies(PROXIES, "inactive").map((p) => p.proxy_name)).toEqual(["alpha"]);
  });

  it("uses the live status over the fetched one and hides deleted proxies", () => {
    const live = { alpha: { proxy_id: "px_0:alpha", status: "running" as const }, zeta: { proxy_id: "px_0:zeta", status: "deleted" as const } };
    expect(effectiveStatus(PROXIES[1], live)).toBe("running");
    expect(filterProxies(PROXIES, "running", live).map((p) => p.proxy_name)).toEqual(["alpha", "mid"]);
    expect(filterProxies(PROXIES, "all", live).map((p) => p.proxy_name)).toEqual(["alpha", "mid"]);
    expect(countByStatus(PROXIES, live)).toEqual({ all: 2, running: 2, inactive: 0 });
  });

  it("reads the stored chip defensively", () => {
    expect(parseProxyFilter("running")).toBe("running");
    expect(parseProxyFilter("bogus")).toBe("all");
    expect(parseProxyFilter(null)).toBe("all");
  });
});

describe("incident filters", () => {
  it("parses stored filters, dropping unknown values", () => {
    expect(parseIncidentFilters('{"type":"shutdown","proxy":"files"}')).toEqual({ type: "shutdown", proxy: "files" });
    expect(parseIncidentFilters('{"type":"nope","proxy":3}')).toEqual({ type: "", proxy: "" });
    expect(parseIncidentFilters("not json")).toEqual({ type: "", proxy: "" });
    expect(parseIncidentFilters(null)).toEqual({ type: "", proxy: "" });
  });

  it("builds the query, omitting empty filters", () => {
    expect(incidentQuery({ type: "", proxy: "" })).toEqual({ incident_type: undefined, proxy: undefined, time_range: "all", limit: 50, before: undefined });
    expect(incidentQuery({ type: "emergency", proxy: "db" }, "2024-01-01T00:00:00Z", 20)).toEqual({
      incident_type: "emergency", proxy: "db", time_range: "all", limit: 20, before: "2024-01-01T00:00:00Z",
    });
  });
});

describe("unread incidents", () => {
  it("everything is new before the first visit", () => {
    expect(isUnread({ time: "2024-01-01T00:00:00Z" }, null)).toBe(true);
  });

  it("only entries after the last visit are new", () => {
    const seen = "2024-01-02T00:00:00.000Z";
    expect(isUnread({ time: "2024-01-02T00:00:01Z" }, seen)).toBe(true);
    expect(isUnread({ time: "2024-01-02T00:00:00Z" }, seen)).toBe(false);
    expect(isUnread({ time: "2024-01-01T00:00:00Z" }, seen)).toBe(false);
    expect(isUnread({ time: "garbage" }, seen)).toBe(false);
  });

  it("the new mark is the newest incident or now, whichever is later", () => {
    const now = new Date("2024-01-05T00:00:00Z");
    expect(nextLastSeen([{ time: "2024-01-01T00:00:00Z" }], now)).toBe("2024-01-05T00:00:00.000Z");
    // An incident stamped ahead of this browser's clock must not come back as unread.
    expect(nextLastSeen([{ time: "2024-01-06T00:00:00Z" }, { time: "bad" }], now)).toBe("2024-01-06T00:00:00.000Z");
  });
});
