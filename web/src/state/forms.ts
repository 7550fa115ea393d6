// Pure helpers of the forms: argument lists, rule conditions.
import type { CreateProxyBody, PolicyConditions, PolicyRule } from "../api/types";
import { parseEnvLines, secretEnv, type SecretEnvRow } from "./env";

/** "Arguments": one per line when the text has several lines, else split on spaces with
 * "double" or 'single' quotes keeping spaces inside one argument. */
export function parseArgs(text: string): string[] {
  if (text.includes("\n")) {
    return text.split("\n").map((line) => line.trim()).filter(Boolean);
  }
  const args: string[] = [];
  let current = "";
  let quote: string | null = null;
  let started = false;
  for (const char of text) {
    if (quote) {
      if (char === quote) quote = null;
      else current += char;
    } else if (char === '"' || char === "'") {
      quote = char;
      started = true;
    } else if (/\s/.test(char)) {
      if (started) args.push(current);
      current = "";
      started = false;
    } else {
      current += char;
      started = true;
    }
  }
  if (started) args.push(current);
  return args;
}

/** A form's text fields, all "" to start with. */
function blank<K extends string>(keys: readonly K[]): Record<K, string> {
  return Object.fromEntries(keys.map((key) => [key, ""])) as Record<K, string>;
}

/** Copies the trimmed text fields that are not blank. */
function copyTrimmed<K extends string>(to: Partial<Record<K, string>>, from: Record<K, string>, keys: readonly K[]): void {
  for (const key of keys) {
    const value = from[key].trim();
    if (value) to[key] = value;
  }
}

const PROXY_TEXT = ["name", "server_name", "command", "args", "url", "api_key", "timeout", "mtls_cert", "mtls_key", "mtls_ca",
  "attestation_slsa_owner", "attestation_sha256", "env"] as const;

export type ProxyForm = Record<(typeof PROXY_TEXT)[number], string> & {
  transport: "stdio" | "http" | "auto";
  attestation_require_signature: boolean;
  secret_env: SecretEnvRow[];
};

export const emptyProxyForm: ProxyForm = { ...blank(PROXY_TEXT), transport: "stdio", timeout: "30", attestation_require_signature: false, secret_env: [] };

/** The POST /api/manager/proxies body: only the fields that apply to the transport. */
export function proxyBody(form: ProxyForm): CreateProxyBody {
  const body: CreateProxyBody = { name: form.name.trim(), transport: form.transport };
  const server = form.server_name.trim();
  if (server) body.server_name = server;
  const stdio = form.transport !== "http";
  const http = form.transport !== "stdio";
  if (stdio && form.command.trim()) {
    body.command = form.command.trim();
    body.args = parseArgs(form.args);
    copyTrimmed(body, form, ["attestation_slsa_owner", "attestation_sha256"]);
    if (form.attestation_require_signature) body.attestation_require_signature = true;
    const { env } = parseEnvLines(form.env);
    if (Object.keys(env).length) body.env = env;
    const { secrets } = secretEnv(form.secret_env, env);
    if (Object.keys(secrets).length) body.secret_env = secrets;
  }
  if (http && form.url.trim()) {
    body.url = form.url.trim();
    const timeout = Number.parseInt(form.timeout, 10);
    if (Number.isFinite(timeout)) body.timeout = timeout;
    if (form.api_key) body.api_key = form.api_key;
    copyTrimmed(body, form, ["mtls_cert", "mtls_key", "mtls_ca"]);
  }
  return body;
}

/** Client-side checks before sending; the server validates again and has the last word. */
export function proxyFormProblems(form: ProxyForm): string[] {
  const problems: string[] = [];
  if (!form.name.trim()) problems.push("Name is required");
  else if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/.test(form.name.trim())) {
    problems.push("Name: 1-64 letters, digits, '-' or '_', starting with a letter or digit");
  }
  if (form.transport === "stdio" && !form.command.trim()) problems.push("Command is required for stdio");
  if (form.transport === "http" && !form.url.trim()) problems.push("URL is required for http");
  if (form.transport === "auto" && !form.command.trim() && !form.url.trim()) {
    problems.push("Give a command, a URL, or both for auto");
  }
  if (form.url.trim() && !/^https?:\/\//.test(form.url.trim())) problems.push("URL must start with http:// or https://");
  if (form.transport !== "http") {
    const plain = parseEnvLines(form.env);
    problems.push(...plain.problems, ...secretEnv(form.secret_env, plain.env).problems);
  }
  return problems;
}

// --- policy rules -------------------------------------------------------------------------

// operations, side_effects and cache_side_effects are comma separated lists.
const RULE_TEXT = ["id", "description", "tool_name", "path_pattern", "operations", "source_path", "dest_path", "extension",
  "side_effects", "mcp_method", "subject_id", "cache_side_effects"] as const;

export type RuleForm = Record<(typeof RULE_TEXT)[number], string> & {
  effect: "allow" | "deny" | "hitl";
  /** Conditions this form has no field for, kept as they were. */
  extra: Record<string, unknown>;
};

export const emptyRuleForm: RuleForm = { ...blank(RULE_TEXT), effect: "allow", extra: {} };

const TEXT_FIELDS = ["tool_name", "path_pattern", "source_path", "dest_path", "extension", "mcp_method", "subject_id"] as const;

/** "a, b" → ["a", "b"]; one value stays a string. */
export function splitList(text: string): string | string[] | undefined {
  const items = text.split(",").map((item) => item.trim()).filter(Boolean);
  if (items.length === 0) return undefined;
  return items.length === 1 ? items[0] : items;
}

function joinList(value: unknown): string {
  if (Array.isArray(value)) return value.join(", ");
  return typeof value === "string" ? value : "";
}

export function ruleToForm(rule: PolicyRule): RuleForm {
  const conditions = { ...rule.conditions };
  const form: RuleForm = {
    ...emptyRuleForm,
    id: rule.id ?? "",
    description: rule.description ?? "",
    effect: rule.effect,
    operations: Array.isArray(conditions.operations) ? conditions.operations.join(", ") : "",
    side_effects: Array.isArray(conditions.side_effects) ? conditions.side_effects.join(", ") : "",
    cache_side_effects: rule.cache_side_effects ? rule.cache_side_effects.join(", ") : "",
  };
  for (const field of TEXT_FIELDS) form[field] = joinList(conditions[field]);
  const extra: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(conditions)) {
    if (!(TEXT_FIELDS as readonly string[]).includes(key) && key !== "operations" && key !== "side_effects") extra[key] = value;
  }
  form.extra = extra;
  return form;
}

export function formToRule(form: RuleForm): PolicyRule {
  const conditions: PolicyConditions = { ...form.extra };
  for (const field of TEXT_FIELDS) {
    const value = splitList(form[field]);
    if (value !== undefined) conditions[field] = value;
  }
  const operations = listOf(form.operations);
  if (operations.length) conditions.operations = operations;
  const sideEffects = listOf(form.side_effects);
  if (sideEffects.length) conditions.side_effects = sideEffects;
  const rule: PolicyRule = { effect: form.effect, conditions };
  if (form.id.trim()) rule.id = form.id.trim();
  if (form.description.trim()) rule.description = form.description.trim();
  const cacheable = listOf(form.cache_side_effects);
  if (form.effect === "hitl" && cacheable.length) rule.cache_side_effects = cacheable;
  return rule;
}

export function listOf(text: string): string[] {
  return text.split(/[,\s]+/).map((item) => item.trim().toLowerCase()).filter(Boolean);
}

export function ruleFormProblems(form: RuleForm): string[] {
  const problems: string[] = [];
  const unknown = listOf(form.operations).filter((op) => !OPERATIONS.includes(op));
  if (unknown.length) problems.push(`Operations: unknown ${unknown.join(", ")} (use read, write, delete)`);
  for (const [label, text] of [["Tool capabilities", form.side_effects], ["Cacheable capabilities", form.cache_side_effects]] as const) {
    const bad = listOf(text).filter((effect) => !SIDE_EFFECTS.includes(effect));
    if (bad.length) problems.push(`${label}: unknown ${bad.join(", ")}`);
  }
  const rule = formToRule(form);
  if (Object.keys(rule.conditions).length === 0) {
    problems.push('A rule needs at least one condition; to match every tool use Tool name "*"');
  }
  return problems;
}

export const OPERATIONS = ["read", "write", "delete"];
export const SIDE_EFFECTS = [
  "fs_read", "fs_write", "db_read", "db_write", "network_egress", "network_ingress", "code_exec", "process_spawn",
  "sudo_elevate", "secrets_read", "env_read", "keychain_read", "clipboard_read", "clipboard_write", "browser_open",
  "screen_capture", "audio_capture", "camera_capture", "cloud_api", "container_exec", "email_send",
];
