"""Requests for one proxy's own API, forwarded over its Unix socket (docs/manager.md#reaching-one-proxy-through-the-manager).

`/api/proxy/{name}/{path}` goes to proxy `name` as `/api/{path}`. Any other `/api/...` path the
manager does not serve goes to the only connected proxy; with none that is 503, with several
400 and a hint naming them.
"""

from __future__ import annotations

import contextlib
import logging

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.background import BackgroundTask

from mcp_acp.config.models import proxy_name_problem
from mcp_acp.manager import sessions
from mcp_acp.manager.state import ManagerState

log = logging.getLogger("mcp_acp.manager")

FORWARD_TIMEOUT = 30.0
# Never forwarded: hop-by-hop headers, and the browser's credentials for the manager.
DROPPED_HEADERS = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "authorization",
    "cookie",
    "host",
    "content-length",
}
MANAGER_PREFIXES = ("manager", "manager/", "events", "proxy", "proxy/", "gateway/")


def _error(status: int, message: str, hint: str | None = None) -> JSONResponse:
    return JSONResponse({"error": message, "detail": hint}, status_code=status)


def _safe_path(path: str) -> bool:
    """No way out of the proxy's /api/ tree: no dot segments, backslashes, NULs or empty segments."""
    segments = path.split("/")
    return (
        all(segment not in ("", ".", "..") and "\\" not in segment and "\x00" not in segment for segment in segments)
        and len(path) <= 2048
    )


def router(state: ManagerState) -> APIRouter:
    api = APIRouter()

    async def forward(request: Request, name: str, path: str):
        if not _safe_path(path):
            return _error(400, "Invalid path", "Paths may not contain '.', '..', '\\' or empty segments")
        connection = state.registry.get(name)
        if connection is None:
            return _error(
                404, f"Proxy '{name}' not found", f"Connected proxies: {', '.join(state.registry.names()) or 'none'}"
            )
        headers = {key: value for key, value in request.headers.items() if key.lower() not in DROPPED_HEADERS}
        if path.startswith("approvals/pending/") and "x-approver-token" not in headers:
            stored = getattr(state.tokens, "tokens", None)
            if stored is not None:  # the browser acts for the user signed in to the manager (OIDC mode)
                headers["x-approver-token"] = stored.access_token
        body = await request.body() if request.method in ("POST", "PUT", "PATCH", "DELETE") else None
        url = httpx.URL(f"http://proxy/api/{path}", query=request.url.query.encode())
        if path.startswith("approvals/") and len(several := state.registry.sessions(name)) > 1:
            return await to_sessions(several, request.method, url, headers, body, path)
        client = state.proxy_client(connection.socket_path)
        try:
            upstream = await client.send(
                client.build_request(request.method, url, headers=headers, content=body, timeout=FORWARD_TIMEOUT),
                stream=True,
            )
        except httpx.TimeoutException:
            return _error(504, f"Proxy '{name}' did not answer within {FORWARD_TIMEOUT:g} s")
        except (httpx.ConnectError, FileNotFoundError, ConnectionRefusedError):
            return _error(
                503, f"Proxy '{name}' is not reachable", f"Its socket {connection.socket_path} does not answer"
            )
        except OSError as exc:
            return _error(500, f"Cannot reach proxy '{name}': {exc}")
        if upstream.status_code >= 400:
            log.warning("proxy %r answered %d to %s /api/%s", name, upstream.status_code, request.method, path)
        kept = {
            key: value
            for key, value in upstream.headers.items()
            if key.lower() not in DROPPED_HEADERS and key.lower() != "content-encoding"
        }
        return StreamingResponse(
            upstream.aiter_raw(),
            status_code=upstream.status_code,
            headers=kept,
            background=BackgroundTask(upstream.aclose),
        )

    async def to_sessions(connections, method: str, url: httpx.URL, headers: dict, body: bytes | None, path: str):
        """A proxy's approvals live in the session (process) that holds the request: a decision
        goes to the one that knows its id, and lists and clears cover them all."""
        answers = []
        for connection in connections:
            client = state.proxy_client(connection.socket_path)
            try:
                upstream = await client.request(method, url, headers=headers, content=body, timeout=FORWARD_TIMEOUT)
            except (httpx.HTTPError, OSError):
                continue  # a session that just ended holds nothing any more
            if path.startswith("approvals/pending/") and method != "GET" and upstream.status_code != 404:
                return Response(upstream.content, upstream.status_code, media_type="application/json")
            if upstream.status_code == 200:
                with contextlib.suppress(ValueError):
                    answers.append(upstream.json())
        if not answers:
            return _error(404, "Not found", f"no session of proxy '{connections[0].proxy_name}' knows it")
        return JSONResponse(sessions.merge(answers))

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]

    @api.api_route("/api/proxy/{name}/{path:path}", methods=methods)
    async def to_named(request: Request, name: str, path: str):
        if proxy_name_problem(name):
            return _error(404, f"Proxy '{name[:64]}' not found")
        return await forward(request, name, path)

    @api.api_route("/api/{path:path}", methods=methods)
    async def to_default(request: Request, path: str):
        if path.startswith(MANAGER_PREFIXES) or path in ("manager", "events", "proxy", "gateway"):
            return _error(404, "Not found")
        names = state.registry.names()
        if not names:
            return _error(503, "No proxies connected", "Start a proxy from your MCP client first")
        if len(names) > 1:
            return _error(
                400, "Multiple proxies available", f"Use /api/proxy/{{name}}/{path} with one of: {', '.join(names)}"
            )
        return await forward(request, names[0], path)

    return api
