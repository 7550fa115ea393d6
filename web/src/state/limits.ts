// The `limits` block of a proxy's config.json (docs/policies.md#limits): its defaults, and the
// checks the proxy makes (config/models.py LimitsConfig), so a bad value is named before saving.
import { formatCount } from "../lib/format";

export const LIMIT_DEFAULTS = {
  requests_per_second: 10,
  burst: 50,
  tool_calls_per_window: 120,
  window_seconds: 60,
} as const;

export type LimitField = keyof typeof LIMIT_DEFAULTS;

interface Rule {
  label: string;
  /** Smallest allowed value; `exclusive` means the value must be above it. */
  min: number;
  exclusive?: boolean;
  max: number;
  integer: boolean;
}

export const LIMIT_RULES: Record<LimitField, Rule> = {
  requests_per_second: { label: "Requests per second", min: 0, exclusive: true, max: 100_000, integer: false },
  burst: { label: "Burst", min: 1, max: 1_000_000, integer: true },
  tool_calls_per_window: { label: "Calls per tool per window", min: 1, max: 1_000_000, integer: true },
  window_seconds: { label: "Window (seconds)", min: 1, max: 3600, integer: false },
};

/** Limit of one tool in `per_tool`: same bounds as tool_calls_per_window. */
export const PER_TOOL_RULE: Rule = { label: "Calls per window", min: 1, max: 1_000_000, integer: true };

/** What is wrong with one value ("must be at least 1"), or null. Missing means the default. */
export function limitProblem(value: unknown, rule: Rule): string | null {
  if (value === undefined || value === null) return null;
  const number = typeof value === "number" ? value : typeof value === "string" && value.trim() !== "" ? Number(value) : Number.NaN;
  if (!Number.isFinite(number)) return "must be a number";
  if (rule.integer && !Number.isInteger(number)) return "must be a whole number";
  if (rule.exclusive ? number <= rule.min : number < rule.min) {
    return rule.exclusive ? `must be more than ${formatCount(rule.min)}` : `must be at least ${formatCount(rule.min)}`;
  }
  if (number > rule.max) return `must be at most ${formatCount(rule.max)}`;
  return null;
}

/** A typed number as the config stores it: a number when it reads as one, the text otherwise
 * (so the problem can be named), undefined when blank (the default applies). */
export function parseLimit(text: string): number | string | undefined {
  const trimmed = text.trim();
  if (trimmed === "") return undefined;
  const number = Number(trimmed);
  return Number.isFinite(number) ? number : trimmed;
}

export interface ToolLimitRow {
  tool: string;
  limit: string;
}

export function rowsFromPerTool(perTool: unknown): ToolLimitRow[] {
  if (!perTool || typeof perTool !== "object" || Array.isArray(perTool)) return [];
  return Object.entries(perTool as Record<string, unknown>).map(([tool, limit]) => ({
    tool,
    limit: limit === undefined || limit === null ? "" : String(limit),
  }));
}

/** The `per_tool` object of the rows that name a tool (a later duplicate wins, as in JSON). */
export function perToolFromRows(rows: ToolLimitRow[]): Record<string, number | string> {
  const result: Record<string, number | string> = {};
  for (const row of rows) {
    const tool = row.tool.trim();
    if (!tool) continue;
    const value = parseLimit(row.limit);
    result[tool] = value === undefined ? "" : value;
  }
  return result;
}

export interface LimitProblems {
  /** By field name of the limits block. */
  fields: Partial<Record<LimitField, string>>;
  /** By row index of the per-tool table. */
  rows: Record<number, { tool?: string; limit?: string }>;
  /** Everything, as sentences for a list. */
  all: string[];
}

/** Every problem of a limits block and its per-tool rows. */
export function limitsProblems(limits: Record<string, unknown> | undefined, rows: ToolLimitRow[]): LimitProblems {
  const result: LimitProblems = { fields: {}, rows: {}, all: [] };
  for (const field of Object.keys(LIMIT_RULES) as LimitField[]) {
    const problem = limitProblem(limits?.[field], LIMIT_RULES[field]);
    if (problem) {
      result.fields[field] = problem;
      result.all.push(`${LIMIT_RULES[field].label}: ${problem}`);
    }
  }
  const seen = new Set<string>();
  rows.forEach((row, index) => {
    const tool = row.tool.trim();
    const problems: { tool?: string; limit?: string } = {};
    if (!tool) {
      if (row.limit.trim() !== "") problems.tool = "name the tool";
    } else if (seen.has(tool)) {
      problems.tool = "this tool already has a limit";
    }
    seen.add(tool);
    if (tool) {
      problems.limit = row.limit.trim() === "" ? "give a limit" : (limitProblem(row.limit, PER_TOOL_RULE) ?? undefined);
    }
    if (problems.tool || problems.limit) {
      result.rows[index] = problems;
      const name = tool ? `'${tool}'` : `row ${index + 1}`;
      if (problems.tool) result.all.push(`Tool limit ${name}: ${problems.tool}`);
      if (problems.limit) result.all.push(`Tool limit ${name}: ${problems.limit}`);
    }
  });
  return result;
}
