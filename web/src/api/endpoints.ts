// Every endpoint the UI uses, in one place (docs/manager.md#the-managers-routes, docs/manager.md#a-proxys-own-api).
import { createClient } from "./client";
import type {
  AuthStatus,
  BackendEnv,
  BackendTool,
  ClientId,
  ClientWriteRequest,
  ClientWriteResult,
  CachedApproval,
  ConfigCompare,
  CreateProxyBody,
  CreateProxyResult,
  DeleteProxyResult,
  DeviceFlowStart,
  EvaluateResult,
  GatewayStatus,
  IncidentsResponse,
  IncidentsSummary,
  LogsMetadata,
  LogsResponse,
  PendingApproval,
  PolicyDocument,
  PolicyResponse,
  PolicyRule,
  ProxyConfigDoc,
  ProxyDetail,
  ProxyStats,
  ProxySummary,
  RawPolicy,
  RepairResult,
  ReplayReport,
  TextProblem,
  ToolChange,
  VerifyResult,
} from "./types";

type Listener = () => void;
const unauthorizedListeners = new Set<Listener>();

/** Called whenever any API call answers 401: the browser has no valid api_token cookie. */
export function onUnauthorized(listener: Listener): () => void {
  unauthorizedListeners.add(listener);
  return () => unauthorizedListeners.delete(listener);
}

export const api = createClient({
  onUnauthorized: () => unauthorizedListeners.forEach((listener) => listener()),
});

const enc = encodeURIComponent;
const manager = (id: string) => `/api/manager/proxies/${enc(id)}`;
// `/api/proxy/{name}/{path}` reaches that proxy's own API as `/api/{path}` (docs/manager.md#reaching-one-proxy-through-the-manager).
const viaProxy = (name: string) => `/api/proxy/${enc(name)}`;

export type DecisionVerb = "approve" | "allow-once" | "deny";

export const endpoints = {
  managerStatus: () => api.get<{ running: boolean; proxies_connected: number }>("/api/manager/status"),
  /** The gateway (`mcp-acp serve`): its endpoints and each principal's sessions and decisions. */
  gateway: () => api.get<GatewayStatus>("/api/gateway"),

  listProxies: () => api.get<ProxySummary[]>("/api/manager/proxies"),
  getProxy: (id: string) => api.get<ProxyDetail>(manager(id), { retry: { retries: 1 } }),
  createProxy: (body: CreateProxyBody) => api.post<CreateProxyResult>("/api/manager/proxies", body),
  deleteProxy: (id: string, purge: boolean) =>
    api.del<DeleteProxyResult>(manager(id), { query: { purge: purge ? "true" : undefined } }),
  /** The entries in `client`'s own format: `servers` for VS Code, `mcpServers` for the others. */
  configSnippet: (proxy?: string, client: ClientId = "claude-desktop") =>
    api.get<{ mcpServers?: Record<string, unknown>; servers?: Record<string, unknown>; executable_path?: string }>(
      "/api/manager/config-snippet",
      { query: { proxy, client } },
    ),
  writeClientConfig: (body: ClientWriteRequest) => api.post<ClientWriteResult>("/api/manager/client-config", body),

  // HITL and the live state of a running proxy, through the manager.
  pendingList: (name: string) => api.get<PendingApproval[]>(`${viaProxy(name)}/approvals/pending/list`),
  decide: (name: string, approval: PendingApproval, verb: DecisionVerb) =>
    api.post<{ status: string; approval_id: string }>(
      `${viaProxy(name)}/approvals/pending/${enc(approval.id)}/${verb}`,
      // Bind the decision to what the user saw: the proxy refuses it if the request changed.
      { args_hash: approval.args_hash ?? null, policy_version: approval.policy_version ?? null },
    ),
  cachedList: (name: string) =>
    api.get<{ count: number; ttl_seconds: number; approvals: CachedApproval[] }>(`${viaProxy(name)}/approvals/cached`),
  clearCached: (name: string) => api.del<{ cleared: number }>(`${viaProxy(name)}/approvals/cached`),
  deleteCached: (name: string, entry: CachedApproval) =>
    api.del<{ deleted: boolean }>(`${viaProxy(name)}/approvals/cached/entry`, {
      query: { subject_id: entry.subject_id, tool_name: entry.tool_name, path: entry.path ?? undefined },
    }),
  proxyStats: (name: string) => api.get<ProxyStats>(`${viaProxy(name)}/stats`),
  evaluate: (name: string, body: { tool_name: string; arguments: Record<string, unknown>; method?: string; subject_id?: string }) =>
    api.post<EvaluateResult>(`${viaProxy(name)}/policy/evaluate`, body),

  // Logs and audit, read from disk by the manager (works for inactive proxies too).
  logsMetadata: (id: string) => api.get<LogsMetadata>(`${manager(id)}/logs/metadata`),
  logs: (id: string, type: string, query: Record<string, string | number | undefined>) =>
    api.get<LogsResponse>(`${manager(id)}/logs/${enc(type)}`, { query }),
  verifyAudit: (id: string) => api.get<VerifyResult>(`${manager(id)}/audit/verify`),
  repairAudit: (id: string) => api.post<RepairResult>(`${manager(id)}/audit/repair`),

  // Policy and config, on disk through the manager (which reloads a running proxy).
  getPolicy: (id: string) => api.get<PolicyResponse>(`${manager(id)}/policy`),
  putPolicy: (id: string, policy: PolicyDocument) => api.put<PolicyResponse>(`${manager(id)}/policy`, policy),
  rawPolicy: (id: string) => api.get<RawPolicy>(`${manager(id)}/policy/raw`),
  checkPolicyText: (id: string, text: string) => api.post<{ problems: TextProblem[] }>(`${manager(id)}/policy/check`, { text }),
  previewPolicy: (id: string, policy: PolicyDocument) => api.post<ReplayReport>(`${manager(id)}/policy/replay`, policy),
  // Spawns a STDIO backend: asked once (a 5xx is the backend's own answer, not a passing failure).
  backendTools: (id: string) => api.get<{ proxy: string; tools: BackendTool[] }>(`${manager(id)}/tools`, { retry: { retries: 0 } }),
  addRule: (id: string, rule: PolicyRule) => api.post<{ rule: PolicyRule }>(`${manager(id)}/policy/rules`, rule),
  updateRule: (id: string, ruleId: string, rule: PolicyRule) =>
    api.put<{ rule: PolicyRule }>(`${manager(id)}/policy/rules/${enc(ruleId)}`, rule),
  deleteRule: (id: string, ruleId: string) => api.del<void>(`${manager(id)}/policy/rules/${enc(ruleId)}`),
  getConfig: (id: string) => api.get<ProxyConfigDoc>(`${manager(id)}/config`),
  putConfig: (id: string, config: ProxyConfigDoc) => api.put<ProxyConfigDoc>(`${manager(id)}/config`, config),
  compareConfig: (id: string) => api.get<ConfigCompare>(`${manager(id)}/config/compare`),

  incidents: (query: Record<string, string | number | undefined>) =>
    api.get<IncidentsResponse>("/api/manager/incidents", { query }),
  incidentsSummary: (since?: string) =>
    api.get<IncidentsSummary>("/api/manager/incidents/summary", { query: { since } }),

  authStatus: () => api.get<AuthStatus>("/api/manager/auth/status"),
  login: () => api.post<DeviceFlowStart>("/api/manager/auth/login"),
  logout: () => api.post<{ ok: boolean; message: string }>("/api/manager/auth/logout"),
  logoutFederated: () =>
    api.post<{ ok: boolean; message: string; logout_url?: string }>("/api/manager/auth/logout-federated"),
};

export const configKeyEndpoints = {
  setApiKey: (id: string, apiKey: string) =>
    api.put<{ ok?: boolean; message?: string }>(`/api/manager/proxies/${enc(id)}/config/api-key`, { api_key: apiKey }),
  removeApiKey: (id: string) => api.del<{ ok?: boolean; message?: string }>(`/api/manager/proxies/${enc(id)}/config/api-key`),
};

/** A STDIO backend's environment (manager/routes_env.py); a secret's value goes in and never comes back. */
export const envEndpoints = {
  get: (id: string) => api.get<BackendEnv>(`/api/manager/proxies/${enc(id)}/env`),
  set: (id: string, name: string, value: string, secret: boolean) =>
    api.put<{ ok?: boolean; message?: string; restart_required?: boolean }>(`/api/manager/proxies/${enc(id)}/env/${enc(name)}`, { value, secret }),
  remove: (id: string, name: string) =>
    api.del<{ ok?: boolean; message?: string; restart_required?: boolean }>(`/api/manager/proxies/${enc(id)}/env/${enc(name)}`),
};

/** Changed tool definitions (manager/routes_tool_pins.py): shown with their diff, accepted to re-pin. */
export const toolChangeEndpoints = {
  get: (id: string) => api.get<{ proxy: string; changed: ToolChange[] }>(`/api/manager/proxies/${enc(id)}/tool-changes`),
  accept: (id: string, tools: string[] | "all") =>
    api.post<{ proxy: string; accepted: string[] }>(
      `/api/manager/proxies/${enc(id)}/tool-changes/accept`,
      tools === "all" ? { all: true } : { tools },
    ),
};
