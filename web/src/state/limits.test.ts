import { describe, expect, it } from "vitest";
import { savePatch } from "./config";
import { LIMIT_RULES, limitProblem, limitsProblems, parseLimit, perToolFromRows, rowsFromPerTool } from "./limits";

describe("limit values", () => {
  it("accepts what the proxy accepts, and a missing value (the default)", () => {
    expect(limitProblem(0.5, LIMIT_RULES.requests_per_second)).toBeNull();
    expect(limitProblem(120, LIMIT_RULES.tool_calls_per_window)).toBeNull();
    expect(limitProblem(3600, LIMIT_RULES.window_seconds)).toBeNull();
    expect(limitProblem(undefined, LIMIT_RULES.burst)).toBeNull();
    expect(limitProblem("25", LIMIT_RULES.burst)).toBeNull();
  });

  it("names what is wrong", () => {
    expect(limitProblem(0, LIMIT_RULES.tool_calls_per_window)).toBe("must be at least 1");
    expect(limitProblem(0, LIMIT_RULES.requests_per_second)).toBe("must be more than 0");
    expect(limitProblem(1.5, LIMIT_RULES.burst)).toBe("must be a whole number");
    expect(limitProblem(3601, LIMIT_RULES.window_seconds)).toBe("must be at most 3,600");
    expect(limitProblem(2_000_000, LIMIT_RULES.tool_calls_per_window)).toBe("must be at most 1,000,000");
    expect(limitProblem("abc", LIMIT_RULES.burst)).toBe("must be a number");
    expect(limitProblem("", LIMIT_RULES.burst)).toBe("must be a number");
  });

  it("reads typed text: blank is the default, a number is a number, anything else stays text", () => {
    expect(parseLimit("")).toBeUndefined();
    expect(parseLimit(" 120 ")).toBe(120);
    expect(parseLimit("1e2")).toBe(100);
    expect(parseLimit("ten")).toBe("ten");
  });
});

describe("per-tool limits", () => {
  it("turns rows into per_tool and back", () => {
    const rows = rowsFromPerTool({ bash: 5, "fs.read": 500 });
    expect(rows).toEqual([{ tool: "bash", limit: "5" }, { tool: "fs.read", limit: "500" }]);
    expect(perToolFromRows(rows)).toEqual({ bash: 5, "fs.read": 500 });
    expect(perToolFromRows([...rows, { tool: "  ", limit: "" }])).toEqual({ bash: 5, "fs.read": 500 }); // a new, blank row
    expect(rowsFromPerTool(null)).toEqual([]);
  });

  it("lists every problem by field and by row", () => {
    const problems = limitsProblems({ tool_calls_per_window: 0, window_seconds: 60 }, [
      { tool: "bash", limit: "5" },
      { tool: "bash", limit: "0" },
      { tool: "", limit: "3" },
      { tool: "read_file", limit: "" },
      { tool: "", limit: "" },
    ]);
    expect(problems.fields).toEqual({ tool_calls_per_window: "must be at least 1" });
    expect(problems.rows).toEqual({
      1: { tool: "this tool already has a limit", limit: "must be at least 1" },
      2: { tool: "name the tool" },
      3: { limit: "give a limit" },
    });
    expect(problems.all).toEqual([
      "Calls per tool per window: must be at least 1",
      "Tool limit 'bash': this tool already has a limit",
      "Tool limit 'bash': must be at least 1",
      "Tool limit row 3: name the tool",
      "Tool limit 'read_file': give a limit",
    ]);
  });

  it("finds nothing wrong with the defaults", () => {
    expect(limitsProblems(undefined, []).all).toEqual([]);
    expect(limitsProblems({ requests_per_second: 10, burst: 50, tool_calls_per_window: 120, window_seconds: 60, per_tool: {} }, []).all).toEqual([]);
  });
});

describe("saving a config", () => {
  it("sends removed keys as null so the manager's merge removes them", () => {
    const original = { log_level: "INFO", hitl: { timeout_seconds: 60 }, limits: { burst: 50, per_tool: { bash: 5, "fs.read": 9 } }, mtls: null };
    const draft = { log_level: "INFO", hitl: {}, limits: { burst: 50, per_tool: { "fs.read": 9, grep: 3 } }, mtls: null };
    expect(savePatch(original, draft)).toEqual({
      log_level: "INFO",
      hitl: { timeout_seconds: null },
      limits: { burst: 50, per_tool: { bash: null, "fs.read": 9, grep: 3 } },
      mtls: null,
    });
  });

  it("leaves an unchanged draft as it is", () => {
    const doc = { a: 1, b: { c: [1, 2] } };
    expect(savePatch(doc, structuredClone(doc))).toEqual(doc);
  });
});
