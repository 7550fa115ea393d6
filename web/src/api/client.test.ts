import { describe, expect, it } from "vitest";
import { ApiError, backoffDelay, buildUrl, createClient, DEFAULT_RETRY, isRetryable, parseErrorBody, type FetchLike } from "./client";

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
}

/** A fetch that answers from a script and records what it was asked. */
function scripted(answers: (Response | Error)[]) {
  const calls: { url: string; init?: RequestInit }[] = [];
  const fetch: FetchLike = async (url, init) => {
    calls.push({ url, init });
    const next = answers.shift();
    if (!next) throw new Error("no more answers");
    if (next instanceof Error) throw next;
    return next;
  };
  return { fetch, calls };
}

const noSleep = { sleeps: [] as number[] };
function client(answers: (Response | Error)[], onUnauthorized?: () => void) {
  const s = scripted(answers);
  const sleeps: number[] = [];
  noSleep.sleeps = sleeps;
  const c = createClient({ fetch: s.fetch, sleep: async (ms) => { sleeps.push(ms); }, onUnauthorized });
  return { c, calls: s.calls, sleeps };
}

describe("parseErrorBody", () => {
  it("reads the structured shape with validation errors", () => {
    const error = parseErrorBody(400, { detail: { code: "POLICY_INVALID", message: "policy is invalid", validation_errors: ["rule 0: effect: bad", "rule 1: x"] } });
    expect(error).toBeInstanceOf(ApiError);
    expect(error.status).toBe(400);
    expect(error.code).toBe("POLICY_INVALID");
    expect(error.message).toBe("policy is invalid");
    expect(error.validationErrors).toEqual(["rule 0: effect: bad", "rule 1: x"]);
  });

  it("keeps extra structured fields as details", () => {
    const error = parseErrorBody(400, { detail: { code: "BACKEND_DUPLICATE", message: "dup", existing_proxy: "files" } });
    expect(error.details).toEqual({ existing_proxy: "files" });
  });

  it("reads the security layer's {error} shape with an optional hint", () => {
    const error = parseErrorBody(401, { error: "Unauthorized" });
    expect(error.code).toBe("AUTH_REQUIRED");
    expect(error.message).toBe("Unauthorized");
    const routed = parseErrorBody(404, { error: "Proxy 'x' not found", detail: "Connected proxies: a, b" });
    expect(routed.message).toBe("Proxy 'x' not found");
    expect(routed.hint).toBe("Connected proxies: a, b");
  });

  it("reads plain FastAPI {detail: string} and 422 lists", () => {
    expect(parseErrorBody(404, { detail: "Not Found" }).message).toBe("Not Found");
    const invalid = parseErrorBody(422, { detail: [{ loc: ["body", "name"], msg: "Field required", type: "missing" }] });
    expect(invalid.code).toBe("VALIDATION_ERROR");
    expect(invalid.validationErrors).toEqual(["name: Field required"]);
    expect(invalid.message).toBe("name: Field required");
  });

  it("falls back to the status for bodies it does not know", () => {
    expect(parseErrorBody(502, "<html>bad gateway</html>", "Bad Gateway").message).toBe("502 Bad Gateway");
    expect(parseErrorBody(500, undefined).code).toBe("INTERNAL_ERROR");
  });
});

describe("retry policy", () => {
  it("retries only GETs, and only network errors and 5xx", () => {
    expect(isRetryable("GET", new ApiError(0, "NETWORK_ERROR", "x"))).toBe(true);
    expect(isRetryable("GET", new ApiError(503, "SERVICE_UNAVAILABLE", "x"))).toBe(true);
    expect(isRetryable("GET", new ApiError(404, "NOT_FOUND", "x"))).toBe(false);
    expect(isRetryable("GET", new ApiError(401, "AUTH_REQUIRED", "x"))).toBe(false);
    expect(isRetryable("POST", new ApiError(503, "SERVICE_UNAVAILABLE", "x"))).toBe(false);
    expect(isRetryable("DELETE", new ApiError(0, "NETWORK_ERROR", "x"))).toBe(false);
  });

  it("backs off exponentially up to a cap", () => {
    expect([1, 2, 3, 4].map((n) => backoffDelay(n))).toEqual([300, 600, 1200, 2400]);
    expect(backoffDelay(10)).toBe(DEFAULT_RETRY.maxDelayMs);
  });
});

describe("client", () => {
  it("GET retries a 5xx then succeeds, with growing delays", async () => {
    const { c, calls, sleeps } = client([json(503, { error: "busy" }), new TypeError("network"), json(200, { ok: 1 })]);
    await expect(c.get("/api/x")).resolves.toEqual({ ok: 1 });
    expect(calls).toHaveLength(3);
    expect(sleeps).toEqual([300, 600]);
  });

  it("GET gives up after the retries with the server's message", async () => {
    const { c, calls } = client([500, 500, 500, 500].map((s) => json(s, { detail: { code: "INTERNAL_ERROR", message: "boom" } })));
    await expect(c.get("/api/x")).rejects.toMatchObject({ status: 500, message: "boom" });
    expect(calls).toHaveLength(4);
  });

  it("does not retry a 4xx", async () => {
    const { c, calls } = client([json(404, { detail: { code: "PROXY_NOT_FOUND", message: "no proxy" } })]);
    await expect(c.get("/api/x")).rejects.toMatchObject({ code: "PROXY_NOT_FOUND" });
    expect(calls).toHaveLength(1);
  });

  it("never retries a mutation", async () => {
    const { c, calls } = client([json(503, { error: "No proxies connected" })]);
    await expect(c.post("/api/x", { a: 1 })).rejects.toMatchObject({ status: 503, message: "No proxies connected" });
    expect(calls).toHaveLength(1);
  });

  it("turns network failures into ApiError status 0", async () => {
    const { c } = client([new TypeError("Failed to fetch")]);
    await expect(c.post("/api/x")).rejects.toMatchObject({ status: 0, code: "NETWORK_ERROR" });
  });

  it("sends JSON with same-origin credentials and returns undefined for 204", async () => {
    const { c, calls } = client([new Response(null, { status: 204 })]);
    await expect(c.put("/api/p", { version: "1" })).resolves.toBeUndefined();
    expect(calls[0].init?.method).toBe("PUT");
    expect(calls[0].init?.credentials).toBe("same-origin");
    expect(calls[0].init?.body).toBe('{"version":"1"}');
    expect((calls[0].init?.headers as Record<string, string>)["Content-Type"]).toBe("application/json");
  });

  it("reports 401 to the sign-in handler", async () => {
    let told = 0;
    const { c } = client([json(401, { error: "Unauthorized" })], () => { told += 1; });
    await expect(c.get("/api/x")).rejects.toMatchObject({ status: 401 });
    expect(told).toBe(1);
  });

  it("builds query strings without empty values", () => {
    expect(buildUrl("/a", { x: "1", y: undefined, z: "", w: null, n: 5 })).toBe("/a?x=1&n=5");
    expect(buildUrl("/a", {})).toBe("/a");
    expect(buildUrl("/a", { path: "/tmp/a b" })).toBe("/a?path=%2Ftmp%2Fa+b");
  });
});
