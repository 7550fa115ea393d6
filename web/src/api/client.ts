// The one way the UI talks to the manager: same-origin fetch with the HttpOnly api_token
// cookie (no token ever handled in JS), server messages surfaced through ApiError, and
// exponential-backoff retries for idempotent reads only.

export interface ValidationErrorsCarrier {
  validationErrors: string[];
}

/** An API call that failed: HTTP status (0 = network), the server's code and message. */
export class ApiError extends Error implements ValidationErrorsCarrier {
  readonly status: number;
  readonly code: string;
  readonly validationErrors: string[];
  readonly details: unknown;
  readonly hint: string | null;

  constructor(status: number, code: string, message: string, options: {
    validationErrors?: string[];
    details?: unknown;
    hint?: string | null;
  } = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.validationErrors = options.validationErrors ?? [];
    this.details = options.details;
    this.hint = options.hint ?? null;
  }

  get isNetwork(): boolean {
    return this.status === 0;
  }
}

const STATUS_CODES: Record<number, string> = {
  400: "BAD_REQUEST",
  401: "AUTH_REQUIRED",
  403: "AUTH_FORBIDDEN",
  404: "NOT_FOUND",
  409: "CONFLICT",
  413: "PAYLOAD_TOO_LARGE",
  422: "VALIDATION_ERROR",
  500: "INTERNAL_ERROR",
  502: "UPSTREAM_ERROR",
  503: "SERVICE_UNAVAILABLE",
  504: "GATEWAY_TIMEOUT",
};

function statusCode(status: number): string {
  return STATUS_CODES[status] ?? `HTTP_${status}`;
}

function asStrings(value: unknown): string[] {
  if (!Array.isArray(value)) return [];
  return value.map((item) => {
    if (typeof item === "string") return item;
    if (item && typeof item === "object") {
      // FastAPI's own 422 items: {loc, msg, type}
      const record = item as Record<string, unknown>;
      if (typeof record.msg === "string") {
        const loc = Array.isArray(record.loc) ? record.loc.filter((p) => p !== "body").join(".") : "";
        return loc ? `${loc}: ${record.msg}` : record.msg;
      }
    }
    return JSON.stringify(item);
  });
}

/**
 * Turn any error body the server sends into an ApiError. Three shapes exist:
 *  - structured: {"detail": {"code", "message", "validation_errors"?, ...}}
 *  - the security layer and routing: {"error": "...", "detail"?: "hint"}
 *  - plain FastAPI: {"detail": "..."} (or a list of validation items)
 */
export function parseErrorBody(status: number, body: unknown, statusText = ""): ApiError {
  const fallback = statusText ? `${status} ${statusText}` : `Request failed (HTTP ${status})`;
  if (body && typeof body === "object") {
    const record = body as Record<string, unknown>;
    const detail = record.detail;
    if (detail && typeof detail === "object" && !Array.isArray(detail)) {
      const d = detail as Record<string, unknown>;
      const message = typeof d.message === "string" && d.message ? d.message : fallback;
      const code = typeof d.code === "string" && d.code ? d.code : statusCode(status);
      const { code: _c, message: _m, validation_errors: errors, ...rest } = d;
      return new ApiError(status, code, message, {
        validationErrors: asStrings(errors),
        details: Object.keys(rest).length ? rest : undefined,
      });
    }
    if (typeof record.error === "string") {
      return new ApiError(status, statusCode(status), record.error, {
        hint: typeof detail === "string" ? detail : null,
      });
    }
    if (typeof detail === "string") {
      return new ApiError(status, statusCode(status), detail);
    }
    if (Array.isArray(detail)) {
      const errors = asStrings(detail);
      return new ApiError(status, statusCode(status), errors[0] ?? fallback, { validationErrors: errors });
    }
  }
  if (typeof body === "string" && body.trim() && body.length < 300 && !body.trimStart().startsWith("<")) {
    return new ApiError(status, statusCode(status), body.trim());
  }
  return new ApiError(status, statusCode(status), fallback);
}

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

export interface RetryPolicy {
  retries: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { retries: 3, baseDelayMs: 300, maxDelayMs: 4000 };

/** Delay before retry number `attempt` (1-based): base · 2^(attempt-1), capped. */
export function backoffDelay(attempt: number, policy: RetryPolicy = DEFAULT_RETRY): number {
  return Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempt - 1));
}

/** Only reads are retried, and only when the failure may be passing: network or 5xx. */
export function isRetryable(method: string, error: ApiError): boolean {
  if (method.toUpperCase() !== "GET") return false;
  return error.status === 0 || error.status >= 500;
}

export interface RequestOptions {
  query?: Record<string, string | number | boolean | null | undefined>;
  body?: unknown;
  signal?: AbortSignal;
  /** Override the retry policy for this call (GET only). */
  retry?: Partial<RetryPolicy>;
}

export interface ClientOptions {
  fetch?: FetchLike;
  sleep?: (ms: number) => Promise<void>;
  retry?: Partial<RetryPolicy>;
  onUnauthorized?: () => void;
}

export function buildUrl(path: string, query?: RequestOptions["query"]): string {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === "") continue;
    params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `${path}${path.includes("?") ? "&" : "?"}${text}` : path;
}

async function readBody(response: Response): Promise<unknown> {
  if (response.status === 204) return undefined;
  const text = await response.text();
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export interface ApiClient {
  request<T>(method: string, path: string, options?: RequestOptions): Promise<T>;
  get<T>(path: string, options?: RequestOptions): Promise<T>;
  post<T>(path: string, body?: unknown, options?: RequestOptions): Promise<T>;
  put<T>(path: string, body?: unknown, options?: RequestOptions): Promise<T>;
  del<T>(path: string, options?: RequestOptions): Promise<T>;
}

export function createClient(options: ClientOptions = {}): ApiClient {
  const doFetch: FetchLike = options.fetch ?? ((input, init) => fetch(input, init));
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));

  async function once<T>(method: string, path: string, request: RequestOptions): Promise<T> {
    const init: RequestInit = {
      method,
      credentials: "same-origin",
      headers: { Accept: "application/json" },
      signal: request.signal,
    };
    if (request.body !== undefined) {
      init.body = JSON.stringify(request.body);
      init.headers = { ...init.headers, "Content-Type": "application/json" };
    }
    let response: Response;
    try {
      response = await doFetch(buildUrl(path, request.query), init);
    } catch (error) {
      if (error instanceof DOMException && error.name === "AbortError") throw error;
      throw new ApiError(0, "NETWORK_ERROR", "Cannot reach the mcp-acp manager. Is it running?");
    }
    const body = await readBody(response);
    if (!response.ok) {
      const error = parseErrorBody(response.status, body, response.statusText);
      if (response.status === 401) options.onUnauthorized?.();
      throw error;
    }
    return body as T;
  }

  async function request<T>(method: string, path: string, request: RequestOptions = {}): Promise<T> {
    const policy: RetryPolicy = { ...DEFAULT_RETRY, ...options.retry, ...request.retry };
    for (let attempt = 0; ; attempt += 1) {
      try {
        return await once<T>(method, path, request);
      } catch (error) {
        if (!(error instanceof ApiError) || !isRetryable(method, error) || attempt >= policy.retries) throw error;
        if (request.signal?.aborted) throw error;
        await sleep(backoffDelay(attempt + 1, policy));
      }
    }
  }

  return {
    request,
    get: (path, o) => request("GET", path, o),
    post: (path, body, o) => request("POST", path, { ...o, body }),
    put: (path, body, o) => request("PUT", path, { ...o, body }),
    del: (path, o) => request("DELETE", path, o),
  };
}

/** A human sentence for any thrown value. */
export function errorMessage(error: unknown): string {
  if (error instanceof ApiError) return error.hint ? `${error.message} (${error.hint})` : error.message;
  if (error instanceof Error) return error.message;
  return String(error);
}

/** The server's validation errors when it sent some, else the one message. */
export function errorList(error: unknown): string[] {
  return error instanceof ApiError && error.validationErrors.length ? error.validationErrors : [errorMessage(error)];
}
