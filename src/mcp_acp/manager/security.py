"""The manager's HTTP API is a local web server that controls a security tool (docs/manager.md#the-local-api-and-its-protection).

`guard_tcp` wraps the app served on 127.0.0.1 with every check, in this order: body size,
Host (DNS rebinding), Origin (CSRF), and the API token. `guard_socket` wraps the same app on the
manager's 0600 Unix socket, where the operating system already decides who may connect: only
the size limit and the response headers apply there.
"""

from __future__ import annotations

import contextlib
import hmac
import os
from http.cookies import SimpleCookie

import orjson

MAX_BODY = 1024 * 1024
ALLOWED_HOSTS = {"localhost", "127.0.0.1", "[::1]"}
MUTATIONS = {"POST", "PUT", "PATCH", "DELETE"}
TOKEN_COOKIE = "api_token"
NO_ORIGIN = (
    "Forbidden: a state-changing request needs an Origin header (a browser on the manager's own page "
    "sends it) or the API token as 'Authorization: Bearer <token>' (for scripts; the token is in the "
    "file manager_token in the config folder)"
)
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self' 'unsafe-inline'; "
        b"style-src 'self' 'unsafe-inline' https://fonts.googleapis.com; font-src 'self' https://fonts.gstatic.com; "
        b"img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'",
    ),
    (b"referrer-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]
# Everything under /api and /metrics needs the token. Only the UI itself (static files, and the
# one-time login link that hands the token over) opens without it.
PROTECTED_PREFIXES = ("/api/", "/metrics")


def allowed_origins(port: int) -> set[str]:
    origins = {f"http://localhost:{port}", f"http://127.0.0.1:{port}"}
    # The UI development server (docs/configuration.md#where-everything-lives).
    extra = os.environ.get("MCP_ACP_CORS_ORIGINS", "")
    return origins | {origin.strip() for origin in extra.split(",") if origin.strip()}


async def _refuse(send, status: int, body: dict) -> None:
    payload = orjson.dumps(body)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                (b"cache-control", b"no-store"),
                *SECURITY_HEADERS,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class _Guard:
    def __init__(self, app, token: str | None, port: int | None) -> None:
        self.app = app
        self.token = token
        self.origins = allowed_origins(port) if port else set()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
        length = headers.get("content-length")
        if length is not None:
            if not length.isdigit():
                return await _refuse(send, 400, {"error": "Invalid Content-Length"})
            if int(length) > MAX_BODY:
                return await _refuse(send, 413, {"error": "Request body too large (limit 1 MiB)"})
        if self.token is not None and (problem := self._check(scope, headers)):
            return await _refuse(send, *problem)
        await self._call_limited(scope, receive, send, chunked=length is None and "transfer-encoding" in headers)

    def _check(self, scope, headers: dict[str, str]) -> tuple[int, dict] | None:
        host = headers.get("host", "")
        hostname = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        if hostname.lower() not in ALLOWED_HOSTS:
            return 403, {"error": "Forbidden: invalid Host header"}
        origin = headers.get("origin")
        if origin is not None and origin not in self.origins:
            return 403, {
                "error": "Forbidden: cross-origin request (only the manager's own page may call its API; "
                "open it with 'mcp-acp manager open')"
            }
        presented = self._presented_token(scope, headers)
        if scope["method"] in MUTATIONS and origin is None:
            # A browser always sends Origin on these; without it, only a script holding the token
            # may change anything. The cookie alone does not count: it rides along on any request.
            bearer = self._bearer(headers)
            if bearer is None:
                return 403, {"error": NO_ORIGIN}
            if not self._valid(bearer):
                return 401, {"error": "Unauthorized"}
        if scope["path"].startswith(PROTECTED_PREFIXES) and not self._valid(presented):
            return 401, {"error": "Unauthorized"}
        return None

    @staticmethod
    def _bearer(headers: dict[str, str]) -> str | None:
        authorization = headers.get("authorization", "")
        return authorization[7:].strip() if authorization.lower().startswith("bearer ") else None

    def _presented_token(self, scope, headers: dict[str, str]) -> str | None:
        if (bearer := self._bearer(headers)) is not None:
            return bearer
        cookie = SimpleCookie()
        with contextlib.suppress(Exception):
            cookie.load(headers.get("cookie", ""))
        if TOKEN_COOKIE in cookie:
            return cookie[TOKEN_COOKIE].value
        if scope["path"] == "/api/events":  # EventSource cannot send headers
            for pair in scope.get("query_string", b"").decode("latin-1").split("&"):
                if pair.startswith("token="):
                    return pair[6:]
        return None

    def _valid(self, presented: str | None) -> bool:
        token = self.token
        return presented is not None and token is not None and hmac.compare_digest(presented.encode(), token.encode())

    async def _call_limited(self, scope, receive, send, chunked: bool) -> None:
        if chunked:  # no Content-Length to check: read the body here, up to the limit
            body = bytearray()
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    return  # the client went away
                body += message.get("body", b"")
                if len(body) > MAX_BODY:
                    return await _refuse(send, 413, {"error": "Request body too large (limit 1 MiB)"})
                if not message.get("more_body"):
                    break
            receive = _replay(bytes(body), receive)

        async def with_headers(message):
            if message["type"] == "http.response.start":
                names = {name for name, _ in message.get("headers", [])}
                extra = [header for header in SECURITY_HEADERS if header[0] not in names]
                if b"cache-control" not in names:
                    extra.append((b"cache-control", b"no-store"))
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, with_headers)


def _replay(body: bytes, receive):
    """A `receive` that first hands over the body already read, then the client's own events."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed():
        return pending.pop() if pending else await receive()

    return replayed


def guard_tcp(app, token: str, port: int):
    return _Guard(app, token, port)


def guard_socket(app):
    return _Guard(app, None, None)
