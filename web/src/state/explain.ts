// The decision explorer (issue 8): why a logged decision came out as it did, and the request
// to send to the proxy's dry-run endpoint to ask the current policy the same question.
import type { EvaluateResult, LogEntry, MatchedRule } from "../api/types";

/** Context attributes a decision entry carries, in the order a policy author reads them. */
export const CONTEXT_FIELDS: { key: string; label: string }[] = [
  { key: "mcp_method", label: "MCP method" },
  { key: "tool_name", label: "Tool" },
  { key: "path", label: "Path" },
  { key: "source_path", label: "Source path" },
  { key: "dest_path", label: "Destination path" },
  { key: "uri", label: "URI" },
  { key: "scheme", label: "Scheme" },
  { key: "side_effects", label: "Side effects" },
  { key: "operations", label: "Operations" },
  { key: "subject_id", label: "Subject" },
  { key: "backend_id", label: "Backend" },
  { key: "policy_version", label: "Policy version" },
  { key: "policy_eval_ms", label: "Evaluation time (ms)" },
  { key: "hitl_outcome", label: "HITL outcome" },
  { key: "hitl_cache_hit", label: "Approval from cache" },
  { key: "hitl_approver_id", label: "Approver" },
  { key: "request_id", label: "Request id" },
  { key: "session_id", label: "Session id" },
];

export interface Explanation {
  decision: string;
  finalRule: string;
  reason: string | null;
  matched: (MatchedRule & { final: boolean })[];
  context: { key: string; label: string; value: string }[];
  /** Why no rule matched, or what a built-in rule means, in words. */
  note: string | null;
  /** The earlier requests of the session that set the labels a session_labels rule named (issue 22). */
  labelSources: LabelSource[];
}

export interface LabelSource {
  label: string;
  requestId: string | null;
  toolName: string;
  target: string | null;
  at: string | null;
}

function labelSources(value: unknown): LabelSource[] {
  if (!Array.isArray(value)) return [];
  return value.flatMap((item): LabelSource[] => {
    const source = asRecord(item);
    if (typeof source.label !== "string" || typeof source.tool_name !== "string") return [];
    const text = (v: unknown) => (typeof v === "string" ? v : null);
    return [{ label: source.label, requestId: text(source.request_id), toolName: source.tool_name, target: text(source.target), at: text(source.at) }];
  });
}

function show(value: unknown): string | null {
  if (value === null || value === undefined || value === "") return null;
  if (Array.isArray(value)) return value.length ? value.join(", ") : "none";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

const BUILT_IN: Record<string, string> = {
  default: "No rule matched, so the default action applied: deny (zero trust).",
  discovery_bypass: "Discovery methods (listing tools, resources, prompts) bypass the policy.",
  built_in_protected_path: "The path is protected by mcp-acp itself (its config, policies and logs); no rule can allow it.",
  rate_limit_breach: "The request exceeded the rate limit for this tool.",
};

export function isDecisionEntry(entry: LogEntry): boolean {
  return entry.event === "policy_decision" || (typeof entry.decision === "string" && "final_rule" in entry);
}

function matchedRules(value: unknown): MatchedRule[] {
  if (!Array.isArray(value)) return [];
  return value.flatMap((item): MatchedRule[] => {
    if (typeof item === "string") return [{ id: item, effect: "?" }];
    if (item && typeof item === "object" && typeof (item as MatchedRule).id === "string") return [item as MatchedRule];
    return [];
  });
}

function asRecord(value: unknown): Record<string, unknown> {
  return value && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

/** The dry-run endpoint answers the decision context as {subject, action, resource, environment};
 * decision log entries carry the same attributes flat. */
export function flattenContext(context: unknown): Record<string, unknown> {
  const ctx = asRecord(context);
  if (!Object.keys(ctx).length) return {};
  const subject = asRecord(ctx.subject);
  const resource = asRecord(ctx.resource);
  const action = asRecord(ctx.action);
  const environment = asRecord(ctx.environment);
  const flat: Record<string, unknown> = { ...environment, ...action, ...resource };
  if (subject.id !== undefined) flat.subject_id = subject.id;
  if (resource.server_id !== undefined && flat.backend_id === undefined) flat.backend_id = resource.server_id;
  return flat;
}

export function explainDecision(entry: LogEntry | EvaluateResult): Explanation {
  const record = entry as Record<string, unknown>;
  const finalRule = String(record.final_rule ?? "default");
  const matched = matchedRules(record.matched_rules).map((rule) => ({ ...rule, final: rule.id === finalRule }));
  const source = { ...record, ...flattenContext(record.context) };
  const context = CONTEXT_FIELDS.flatMap(({ key, label }) => {
    const value = show(source[key]);
    return value === null ? [] : [{ key, label, value }];
  });
  let note = BUILT_IN[finalRule] ?? null;
  if (!note && matched.length > 1) {
    note = "Several rules matched: HITL beats deny, deny beats allow. The final rule is the one that decided.";
  }
  return {
    decision: String(record.decision ?? "unknown"),
    finalRule,
    reason: typeof record.reason === "string" ? record.reason : null,
    matched,
    context,
    note,
    labelSources: labelSources(record.label_sources),
  };
}

export interface EvaluateBody {
  tool_name: string;
  arguments: Record<string, unknown>;
  method?: string;
  subject_id?: string;
}

/** The dry-run request that asks the current policy about a logged decision. Arguments are
 * never logged, so only the path is sent (as {path}; copies send source and destination). */
export function recheckBody(entry: LogEntry): EvaluateBody | null {
  const tool = typeof entry.tool_name === "string" ? entry.tool_name : null;
  if (!tool) return null;
  const args: Record<string, unknown> = {};
  if (typeof entry.path === "string" && entry.path) args.path = entry.path;
  if (typeof entry.source_path === "string" && entry.source_path) args.source = entry.source_path;
  if (typeof entry.dest_path === "string" && entry.dest_path) args.destination = entry.dest_path;
  const body: EvaluateBody = { tool_name: tool, arguments: args };
  if (typeof entry.mcp_method === "string") body.method = entry.mcp_method;
  if (typeof entry.subject_id === "string") body.subject_id = entry.subject_id;
  return body;
}

/** The "Test a request" form: tool name, optional path, optional JSON arguments. */
export function testRequestBody(tool: string, path: string, argumentsText: string): { body?: EvaluateBody; problem?: string } {
  if (!tool.trim()) return { problem: "Tool name is required" };
  let args: Record<string, unknown> = {};
  if (argumentsText.trim()) {
    try {
      const parsed: unknown = JSON.parse(argumentsText);
      if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) return { problem: "Arguments must be a JSON object" };
      args = parsed as Record<string, unknown>;
    } catch (error) {
      return { problem: `Arguments are not valid JSON: ${(error as Error).message}` };
    }
  }
  if (path.trim()) args = { ...args, path: path.trim() };
  return { body: { tool_name: tool.trim(), arguments: args, method: "tools/call" } };
}

/** One line summary of a log entry of any type, for the collapsed row. */
/** Who made the request an entry records: decisions carry `subject_id`, operations
 * `subject.subject_id`. Through the gateway many principals share one proxy, so every row shows it. */
export function subjectOf(entry: LogEntry): string | null {
  if (typeof entry.subject_id === "string" && entry.subject_id) return entry.subject_id;
  const subject = entry.subject;
  if (subject && typeof subject === "object" && !Array.isArray(subject)) {
    const id = (subject as Record<string, unknown>).subject_id;
    if (typeof id === "string" && id) return id;
  }
  return null;
}

export function summarizeEntry(type: string, entry: LogEntry): string {
  const pick = (...keys: string[]) => keys.map((key) => show(entry[key])).filter(Boolean).join(" · ");
  switch (type) {
    case "decisions":
      return pick("tool_name", "mcp_method", "path") || pick("final_rule");
    case "operations":
      return pick("method", "tool_name", "file_path", "status");
    case "auth":
      return pick("event_type", "status", "message");
    case "system":
      return pick("event", "message");
    case "config_history":
    case "policy_history":
      return pick("event", "config_version", "policy_version", "change_type");
    default:
      return pick("event", "method", "message") || JSON.stringify(entry).slice(0, 120);
  }
}
