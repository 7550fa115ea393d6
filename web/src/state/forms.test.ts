import { describe, expect, it } from "vitest";
import { emptyProxyForm, emptyRuleForm, formToRule, parseArgs, proxyBody, proxyFormProblems, ruleFormProblems, ruleToForm } from "./forms";
import { explainDecision, recheckBody, testRequestBody } from "./explain";
import { diffPaths, setPath } from "./config";

describe("arguments", () => {
  it("splits on spaces, honouring quotes, or one per line", () => {
    expect(parseArgs("-y @mcp/server  /tmp")).toEqual(["-y", "@mcp/server", "/tmp"]);
    expect(parseArgs('--name "my dir" \'x y\' ""')).toEqual(["--name", "my dir", "x y", ""]);
    expect(parseArgs("-y\n/tmp/my dir\n\n")).toEqual(["-y", "/tmp/my dir"]);
    expect(parseArgs("   ")).toEqual([]);
  });
});

describe("add proxy form", () => {
  it("sends only what the transport uses", () => {
    const body = proxyBody({ ...emptyProxyForm, name: "files", transport: "stdio", command: "npx", args: "-y srv", url: "http://x", api_key: "k" });
    expect(body).toEqual({ name: "files", transport: "stdio", command: "npx", args: ["-y", "srv"] });
    const http = proxyBody({ ...emptyProxyForm, name: "web", transport: "http", url: "https://h/mcp", api_key: "k", command: "ignored" });
    expect(http).toEqual({ name: "web", transport: "http", url: "https://h/mcp", timeout: 30, api_key: "k" });
  });

  it("sends the environment of a stdio backend, secrets by name and value", () => {
    const form = { ...emptyProxyForm, name: "gh", command: "npx", env: "LEVEL=info\n", secret_env: [{ name: "TOKEN", value: "s" }, { name: "", value: "" }] };
    expect(proxyBody(form)).toEqual({ name: "gh", transport: "stdio", command: "npx", args: [], env: { LEVEL: "info" }, secret_env: { TOKEN: "s" } });
    expect(proxyBody({ ...form, transport: "http", url: "https://h/mcp" })).not.toHaveProperty("secret_env");
    expect(proxyFormProblems({ ...form, env: "BAD LINE" })).toEqual(["Environment line 1: write it as KEY=VALUE"]);
  });

  it("checks the obvious before sending", () => {
    expect(proxyFormProblems({ ...emptyProxyForm })).toContain("Name is required");
    expect(proxyFormProblems({ ...emptyProxyForm, name: "ok", transport: "stdio" })).toContain("Command is required for stdio");
    expect(proxyFormProblems({ ...emptyProxyForm, name: "-bad", command: "x" })[0]).toMatch(/^Name:/);
    expect(proxyFormProblems({ ...emptyProxyForm, name: "ok", transport: "http", url: "ftp://x" })).toEqual(["URL must start with http:// or https://"]);
  });
});

describe("rule form", () => {
  it("round-trips a rule, keeping conditions it has no field for", () => {
    const rule = {
      id: "r1", description: "Read project", effect: "hitl" as const,
      conditions: { tool_name: ["read_*", "list_*"], path_pattern: "/p/**", operations: ["read"], resource_type: "tool" },
      cache_side_effects: ["fs_read"],
    };
    expect(formToRule(ruleToForm(rule))).toEqual(rule);
  });

  it("builds conditions from comma lists and drops empty ones", () => {
    const rule = formToRule({ ...emptyRuleForm, effect: "allow", tool_name: "read_file", operations: "read, write", cache_side_effects: "fs_read" });
    expect(rule).toEqual({ effect: "allow", conditions: { tool_name: "read_file", operations: ["read", "write"] } });
  });

  it("refuses a rule without conditions or with unknown operations", () => {
    expect(ruleFormProblems(emptyRuleForm)).toHaveLength(1);
    expect(ruleFormProblems({ ...emptyRuleForm, tool_name: "*", operations: "read, exec" })[0]).toMatch(/exec/);
  });
});

describe("decision explorer", () => {
  const entry = {
    time: "2024-01-01T00:00:00Z", event: "policy_decision", decision: "deny", final_rule: "no-secrets",
    matched_rules: [{ id: "read-home", effect: "allow" }, { id: "no-secrets", effect: "deny", description: "Never read secrets" }],
    tool_name: "read_file", path: "/home/a/.env", subject_id: "alice", mcp_method: "tools/call", side_effects: ["fs_read"],
    policy_version: "v3", policy_eval_ms: 0.2,
  };

  it("shows every matched rule, marks the final one, and lists context attributes", () => {
    const e = explainDecision(entry);
    expect(e.decision).toBe("deny");
    expect(e.matched.map((r) => [r.id, r.final])).toEqual([["read-home", false], ["no-secrets", true]]);
    expect(e.context.find((c) => c.key === "side_effects")?.value).toBe("fs_read");
    expect(e.context.map((c) => c.key)).toContain("policy_version");
    expect(e.note).toMatch(/Several rules matched/);
  });

  it("lists the earlier requests that set a session's labels", () => {
    const e = explainDecision({
      decision: "hitl", final_rule: "trifecta", matched_rules: [{ id: "trifecta", effect: "hitl" }],
      reason: "asked because this session read private data (read_file ~/notes, request 2, at 10:02:03) and …",
      label_sources: [
        { label: "private_data", request_id: "2", tool_name: "read_file", target: "~/notes", at: "2026-12-08T10:02:03+00:00" },
        { label: "untrusted_content", request_id: "3", tool_name: "fetch", target: null, at: "2026-12-08T10:02:04+00:00" },
        { bogus: true },
      ],
    });
    expect(e.reason).toMatch(/^asked because this session read private data/);
    expect(e.labelSources).toEqual([
      { label: "private_data", requestId: "2", toolName: "read_file", target: "~/notes", at: "2026-12-08T10:02:03+00:00" },
      { label: "untrusted_content", requestId: "3", toolName: "fetch", target: null, at: "2026-12-08T10:02:04+00:00" },
    ]);
    expect(explainDecision({ decision: "allow", final_rule: "r" }).labelSources).toEqual([]);
  });

  it("explains the default deny", () => {
    const e = explainDecision({ decision: "deny", final_rule: "default", matched_rules: [] });
    expect(e.matched).toEqual([]);
    expect(e.note).toMatch(/default action/);
  });

  it("flattens the dry-run's nested context", () => {
    const e = explainDecision({
      decision: "allow", final_rule: "r", matched_rules: [{ id: "r", effect: "allow", conditions: { tool_name: "read_*" } }],
      context: { subject: { id: "bob" }, action: { mcp_method: "tools/call", operations: ["read"] }, resource: { tool_name: "read_file", path: "/x", server_id: "fs" }, environment: { request_id: "dry-run" } },
    });
    const byKey = Object.fromEntries(e.context.map((c) => [c.key, c.value]));
    expect(byKey).toMatchObject({ subject_id: "bob", mcp_method: "tools/call", tool_name: "read_file", path: "/x", backend_id: "fs", operations: "read" });
    expect(e.matched[0]).toMatchObject({ id: "r", final: true, conditions: { tool_name: "read_*" } });
  });

  it("re-checks with tool and path only", () => {
    expect(recheckBody(entry)).toEqual({ tool_name: "read_file", arguments: { path: "/home/a/.env" }, method: "tools/call", subject_id: "alice" });
    expect(recheckBody({ decision: "allow", final_rule: "discovery_bypass", mcp_method: "tools/list" })).toBeNull();
  });

  it("validates the test form's JSON arguments", () => {
    expect(testRequestBody("", "", "")).toEqual({ problem: "Tool name is required" });
    expect(testRequestBody("t", "", "[1]").problem).toMatch(/JSON object/);
    expect(testRequestBody("t", "", "{bad").problem).toMatch(/not valid JSON/);
    expect(testRequestBody("read_file", "/a", '{"n": 1}').body).toEqual({ tool_name: "read_file", arguments: { n: 1, path: "/a" }, method: "tools/call" });
  });
});

describe("config diff", () => {
  it("lists changed leaf paths", () => {
    const saved = { backend: { server_name: "a", stdio: { command: "x", args: ["1"] } }, hitl: { timeout_seconds: 60 } };
    const draft = setPath(setPath(saved, "hitl.timeout_seconds", 90), "backend.stdio.args", ["1", "2"]);
    expect(diffPaths(saved, draft).map((d) => d.path)).toEqual(["backend.stdio.args", "hitl.timeout_seconds"]);
    expect(saved.hitl.timeout_seconds).toBe(60);
    expect(diffPaths(saved, saved)).toEqual([]);
    expect(diffPaths({ mtls: null }, { mtls: { client_cert_path: "c" } }).map((d) => d.path)).toEqual(["mtls.client_cert_path"]);
  });
});
