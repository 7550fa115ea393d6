// Shapes of the manager and proxy APIs (docs/manager.md#events-get-apievents, docs/manager.md#a-proxys-own-api), as the Python code sends them.

export type ProxyStatus = "running" | "inactive";

export interface LatencySummary {
  proxy_latency_ms: number | null;
  policy_eval_ms: number | null;
  hitl_wait_ms: number | null;
  proxy_latency_p95_ms?: number | null;
  policy_eval_p95_ms?: number | null;
  hitl_wait_p95_ms?: number | null;
  sample_count?: Record<string, number>;
}

export interface ProxyStats {
  requests_total: number;
  requests_allowed: number;
  requests_denied: number;
  requests_hitl: number;
  latency?: LatencySummary;
  proxy_latency_ms?: number | null;
}

export interface ProxySummary {
  proxy_name: string;
  proxy_id: string;
  status: ProxyStatus;
  instance_id?: string | null;
  server_name: string;
  transport: string;
  command: string | null;
  args: string[];
  url: string | null;
  created_at: string;
  backend_transport: string | null;
  mtls_enabled: boolean;
  stats: ProxyStats | null;
  /** Running processes of this proxy: one per MCP client that started it (absent from older managers). */
  session_count?: number;
}

export interface PendingApproval {
  id: string;
  proxy_name?: string;
  proxy_id?: string;
  tool_name: string;
  path: string | null;
  source_path: string | null;
  dest_path: string | null;
  side_effects?: string[];
  /** The request's arguments, whole, secret-looking values replaced by a redaction marker. */
  arguments?: Record<string, unknown>;
  /** Size in bytes of the arguments as JSON; absent from proxies that send a shortened summary. */
  arguments_size?: number;
  /** What "remember this approval" covers and for how long; absent from older proxies. */
  remember?: RememberOffer;
  args_hash?: string;
  rule_id?: string | null;
  subject_id: string;
  backend_id?: string;
  created_at: string;
  timeout_seconds: number;
  expires_in_seconds?: number;
  request_id?: string;
  policy_version?: string | null;
  can_cache: boolean;
  cache_ttl_seconds: number | null;
}

export interface RememberOffer {
  available: boolean;
  ttl_seconds: number;
  label: string;
}

export interface CachedApproval {
  subject_id: string;
  tool_name: string;
  path: string | null;
  request_id?: string;
  age_seconds: number;
  ttl_seconds: number;
  expires_in_seconds: number;
}

/** One running process of a proxy, serving one MCP client (docs/ui.md#sessions). */
export interface ProxySession {
  /** The slot: 0 for the first client that started the proxy, then 1, 2… */
  session: number;
  instance_id: string;
  /** Unix seconds when this process registered with the manager. */
  connected_at: number;
  /** The client's clientInfo.name; null until the client has said it. */
  client_id: string | null;
  uptime_seconds: number | null;
  /** Approvals this session is waiting on. */
  pending: number;
}

export interface ProxyDetail extends ProxySummary {
  client_id: string | null;
  /** Absent from managers older than sessions (issue 19). */
  sessions?: ProxySession[];
  pending_approvals: PendingApproval[];
  cached_approvals: CachedApproval[];
}

export interface CreateProxyBody {
  name: string;
  server_name?: string;
  transport?: "stdio" | "http" | "auto";
  command?: string;
  args?: string[];
  url?: string;
  timeout?: number;
  api_key?: string;
  mtls_cert?: string;
  mtls_key?: string;
  mtls_ca?: string;
  attestation_slsa_owner?: string;
  attestation_sha256?: string;
  attestation_require_signature?: boolean;
  skip_health_check?: boolean;
  skip_duplicate_check?: boolean;
  env?: Record<string, string>;
  /** Name → value: stored in the secret store, never sent back by the manager. */
  secret_env?: Record<string, string>;
}

export interface CreateProxyResult {
  ok: boolean;
  proxy_name: string;
  proxy_id: string;
  config_path: string;
  policy_path: string;
  claude_desktop_snippet: unknown;
  message: string;
  warnings?: string[];
}

export interface DeleteProxyResult {
  archived?: boolean | string[];
  deleted?: boolean | string[];
  archive_name?: string | null;
  archived_size?: number;
  deleted_size?: number;
}

export interface LogsResponse {
  entries: LogEntry[];
  total_returned: number;
  total_scanned?: number;
  log_file?: string;
  has_more: boolean;
  filters_applied?: Record<string, unknown>;
}

export type LogEntry = Record<string, unknown> & { time?: string };

export interface MatchedRule {
  id: string;
  effect: string;
  description?: string;
  conditions?: Record<string, unknown>;
}

export interface LogsMetadata {
  folders: { name: string; files: { name: string; path: string; exists: boolean; size_bytes: number; backups: string[] }[] }[];
  debug_enabled: boolean;
  available_policy_versions: string[];
  available_config_versions: string[];
}

export type IntegrityStatus =
  | "protected"
  | "unprotected"
  | "broken"
  | "missing"
  | "empty"
  | "not_created"
  | "error";

export interface IntegrityFile {
  name: string;
  description: string;
  status: IntegrityStatus;
  entry_count: number;
  last_sequence: number | null;
  errors: string[];
  warnings?: string[];
  backups: string[];
}

export interface IntegrityRepair {
  time?: string;
  file?: string | null;
  action?: string;
  detail?: string;
  entries_lost?: number | null;
}

export interface VerifyResult {
  proxy_name: string;
  proxy_id: string;
  state_file_present: boolean;
  state_error?: string | null;
  /** The log folder against the record of the trail kept outside it (wiped, rolled back). */
  trail_errors?: string[];
  /** Every `audit repair` on record, oldest first. */
  repairs?: IntegrityRepair[];
  files: IntegrityFile[];
  totals: Record<string, number>;
  overall_status: "passed" | "failed" | "no_files" | string;
}

export interface RepairResult {
  results: { name: string; description: string; action: string; message: string }[];
  success: boolean;
  message: string;
}

export interface Incident extends Record<string, unknown> {
  time: string;
  incident_type: "shutdown" | "bootstrap" | "emergency";
  proxy_name: string | null;
  proxy_id: string | null;
}

export interface IncidentsResponse {
  entries: Incident[];
  total_returned: number;
  has_more: boolean;
}

export interface IncidentsSummary {
  shutdowns_count: number;
  emergency_count: number;
  bootstrap_count: number;
  latest_critical_timestamp: string | null;
  since: string | null;
  new_count: number;
}

export interface AuthStatus {
  configured: boolean;
  authenticated: boolean;
  subject_id: string | null;
  email: string | null;
  name: string | null;
  provider: string | null;
  client_id: string | null;
  audience: string | null;
  scopes: string[];
  token_expires_in_hours: number | null;
  has_refresh_token: boolean;
  storage_backend: string;
  mode?: string;
  message?: string;
}

export interface DeviceFlowStart {
  user_code: string;
  verification_uri: string;
  verification_uri_complete?: string;
  expires_in: number;
  interval: number;
}

export type Effect = "allow" | "deny" | "hitl";

export interface PolicyConditions {
  tool_name?: string | string[];
  path_pattern?: string | string[];
  source_path?: string | string[];
  dest_path?: string | string[];
  operations?: string[];
  extension?: string | string[];
  scheme?: string | string[];
  backend_id?: string | string[];
  resource_type?: string;
  mcp_method?: string | string[];
  subject_id?: string | string[];
  side_effects?: string[];
  [key: string]: unknown;
}

export interface PolicyRule {
  id?: string;
  description?: string | null;
  effect: Effect;
  conditions: PolicyConditions;
  cache_side_effects?: string[] | null;
}

export interface PolicyDocument {
  version: string;
  default_action: string;
  rules: PolicyRule[];
}

export interface PolicyResponse extends PolicyDocument {
  rules_count: number;
  policy_path?: string;
  policy_version?: string | null;
  running?: boolean;
}

export interface EvaluateResult {
  decision: Effect | string;
  final_rule: string;
  reason?: string;
  matched_rules: MatchedRule[];
  context?: Record<string, unknown>;
  policy_version?: string | null;
}

export interface ConfigCompare {
  running: Record<string, unknown> | null;
  saved: Record<string, unknown> | null;
  differs: boolean;
  differences?: unknown;
}

export type ProxyConfigDoc = Record<string, unknown>;

/** GET /api/manager/proxies/{id}/env: plain values, and secret names only (values are write-only). */
export interface BackendEnv {
  env: Record<string, string>;
  secret_env: { name: string; stored: boolean }[];
  base_variables: string[];
  secret_store: string;
}

/** One problem of a policy text, at its line (GET …/policy/raw, POST …/policy/check). */
export interface TextProblem {
  line: number;
  column?: number;
  message: string;
}

export interface RawPolicy {
  text: string;
  problems: TextProblem[];
  policy_path: string;
  running: boolean;
  /** The version the running proxy keeps while the file is broken. */
  running_policy_version: string | null;
}

export interface BackendTool {
  name: string;
  title?: string | null;
  description?: string | null;
  annotations?: Record<string, unknown>;
}

export type ClientId = "claude-desktop" | "claude-code" | "cursor" | "vscode";

export interface ClientWriteRequest {
  client: ClientId;
  proxy?: string;
  project_dir?: string;
  force?: boolean;
  write?: boolean;
}

export interface ClientWriteResult {
  path: string;
  added: string[];
  replaced: string[];
  unchanged: string[];
  conflicts: { name: string; diff: string }[];
  needs_force: boolean;
  diff: string;
  changes: boolean;
  written: boolean;
  backup: string | null;
}

/** `GET /api/gateway`: the running `mcp-acp serve`, or `{running: false}` (docs/gateway.md). */
export interface GatewayPrincipal {
  principal: string;
  /** Open 2025-era sessions (Mcp-Session-Id); 2026-07-28 callers are stateless and count 0. */
  sessions: number;
  /** Epoch seconds of the last request, or null. */
  last_seen: number | null;
  requests: number;
  allowed: number;
  denied: number;
  asked: number;
}

export interface GatewayBackend {
  /** The principal this process serves, or "*" when one process is shared by everyone. */
  principal: string;
  transport: string;
  running: boolean;
  pid: number | null;
  views: number;
  restarts: number;
  last_used: number | null;
}

export interface GatewayEndpoint {
  proxy: string;
  url: string;
  backend_mode: string;
  principals: GatewayPrincipal[];
  backends: GatewayBackend[];
  pending_approvals: number;
}

export type GatewayStatus =
  | { running: false }
  | {
      running: true;
      base_url: string;
      auth: { issuer: string } | null;
      tls: boolean;
      uptime_seconds: number;
      endpoints: GatewayEndpoint[];
    };

/** One recorded request whose decision a candidate policy changes, linked to its audit entry. */
export interface ReplayExample {
  file: string;
  sequence: number | null;
  time: string | null;
  request_id: string | null;
  session_id: string | null;
  mcp_method: string | null;
  tool_name: string | null;
  paths: string[] | null;
  uri: string | null;
  subject_id: string | null;
  old: { decision: string; rule: string | null; hitl_outcome: string | null };
  new: { decision: string; rule: string; reason: string | null };
}

/** POST /api/manager/proxies/{id}/policy/replay: what a candidate policy would change (as `mcp-acp policy replay --json`). */
export interface ReplayReport {
  proxy: string;
  entries: number;
  redecided: number;
  changed: number;
  unchanged: number;
  same_outcome_other_rule: number;
  not_decided_by_policy: number;
  not_redecidable: number;
  not_redecidable_reasons: Record<string, number>;
  transitions: { from: string; to: string; count: number }[];
  changes: { from: string; to: string; count: number; examples: ReplayExample[] }[];
}

/** A tool whose definition changed since it was pinned (manager/routes_tool_pins.py, docs/tool-pinning.md). */
export interface ToolChange {
  tool: string;
  kind: "changed" | "renamed";
  renamed_from: string | null;
  seen_at: string | null;
  old_hash: string | null;
  new_hash: string;
  old: Record<string, unknown> | null;
  new: Record<string, unknown>;
  diff: string;
}
