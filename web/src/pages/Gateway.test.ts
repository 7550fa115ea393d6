import { createElement } from "react";
import { renderToStaticMarkup } from "react-dom/server";
import { MemoryRouter } from "react-router-dom";
import { describe, expect, it } from "vitest";
import type { GatewayStatus } from "../api/types";
import { GatewayView, servedBy } from "./Gateway";

function render(status: GatewayStatus, now = 1_800_000_000_000): { html: string; text: string } {
  const html = renderToStaticMarkup(createElement(MemoryRouter, null, createElement(GatewayView, { status, now })));
  return { html, text: html.replace(/<[^>]+>/g, " ").replace(/\s+/g, " ") };
}

const RUNNING: GatewayStatus = {
  running: true,
  base_url: "http://127.0.0.1:8770",
  auth: null,
  tls: false,
  uptime_seconds: 42,
  endpoints: [
    {
      proxy: "files",
      url: "http://127.0.0.1:8770/mcp/files",
      backend_mode: "per_principal",
      pending_approvals: 2,
      backends: [
        { principal: "alice", transport: "stdio", running: true, pid: 4242, views: 1, restarts: 3, last_used: 1_799_999_990 },
        { principal: "*", transport: "stdio", running: false, pid: null, views: 0, restarts: 0, last_used: null },
      ],
      principals: [
        { principal: "alice", sessions: 2, last_seen: 1_799_999_990, requests: 17, allowed: 11, denied: 5, asked: 1 },
        { principal: "<bob>", sessions: 0, last_seen: null, requests: 0, allowed: 0, denied: 0, asked: 0 },
      ],
    },
    { proxy: "web", url: "http://127.0.0.1:8770/mcp/web", backend_mode: "shared", pending_approvals: 0, backends: [], principals: [] },
  ],
};

function cells(html: string, principal: string): Record<string, string> {
  const row = html.match(new RegExp(`<tr[^>]*data-principal="${principal}"[^>]*>(.*?)</tr>`))?.[1] ?? "";
  return Object.fromEntries([...row.matchAll(/<td data-col="(\w+)">([^<]*)<\/td>/g)].map((m) => [m[1], m[2]]));
}

describe("GatewayView", () => {
  it("explains how to start a gateway when none runs", () => {
    const page = render({ running: false });
    expect(page.text).toContain("No gateway is running");
    expect(page.html).toContain("<code>mcp-acp serve</code>");
    expect(page.text).toContain("docs/gateway.md");
    expect(page.html).not.toContain('data-testid="gateway-endpoint"');
  });

  it("shows the base URL, and 'local user only' without an issuer", () => {
    const page = render(RUNNING);
    expect(page.html).toMatch(/data-testid="gateway-base-url">http:\/\/127\.0\.0\.1:8770</);
    expect(page.text).toContain("local user only");
  });

  it("names the issuer when tokens are required", () => {
    const page = render({ ...RUNNING, auth: { issuer: "https://idp.example/realms/team" } });
    expect(page.text).toContain("OAuth tokens from https://idp.example/realms/team");
    expect(page.text).not.toContain("local user only");
  });

  it("shows each endpoint's URL with a copy button, its mode and its pending approvals", () => {
    const page = render(RUNNING);
    expect(page.html.match(/data-testid="gateway-endpoint"/g)).toHaveLength(2);
    expect(page.html).toContain(">http://127.0.0.1:8770/mcp/files</span>");
    expect(page.text).toContain("Copy URL");
    expect(page.text).toContain("one backend process per principal");
    expect(page.text).toContain("2 pending approvals");
    expect(page.text).toContain("0 pending approvals");
    expect(page.text).toContain("Nobody has called this endpoint yet.");
  });

  it("lists the backend processes, the shared one as 'shared'", () => {
    const page = render(RUNNING);
    const rows = [...page.html.matchAll(/<tr data-testid="gateway-backend">(.*?)<\/tr>/g)].map((m) => m[1].replace(/<[^>]+>/g, "|"));
    expect(rows[0]).toContain("|alice||stdio||yes||4242||3|");
    expect(rows[1]).toContain("|shared||stdio||no||–||0|");
  });

  it("tabulates each principal's sessions and decisions, escaping what it shows", () => {
    const page = render(RUNNING);
    expect(cells(page.html, "alice")).toEqual({ sessions: "2", requests: "17", allowed: "11", denied: "5", asked: "1" });
    expect(page.text).toContain("10s ago");
    expect(page.html).not.toContain("<bob>");
    expect(page.html).toContain("&lt;bob&gt;");
  });
});

describe("servedBy", () => {
  it("is the principal, or 'shared' for the process everyone uses", () => {
    expect(servedBy({ principal: "*", transport: "stdio", running: true, pid: 1, views: 2, restarts: 0, last_used: null })).toBe("shared");
    expect(servedBy({ principal: "carol", transport: "http", running: true, pid: null, views: 1, restarts: 0, last_used: null })).toBe("carol");
  });
});
