"""The manager's HTTP API and UI (docs/manager.md#reaching-one-proxy-through-the-manager, docs/manager.md#the-managers-routes), one app served twice: on 127.0.0.1 for
browsers behind every check of manager/security.py, and on a 0600 Unix socket for the CLI."""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from sse_starlette import EventSourceResponse

from mcp_acp.event_names import Event
from mcp_acp.localhttp.errors import structured_errors
from mcp_acp.manager import (
    routes_audit,
    routes_auth,
    routes_clients,
    routes_config,
    routes_deletion,
    routes_env,
    routes_gateway,
    routes_incidents,
    routes_logs,
    routes_policy,
    routes_policy_replay,
    routes_proxies,
    routes_tool_pins,
    routes_tools,
    routing,
)
from mcp_acp.manager.connections import snapshot_events
from mcp_acp.manager.security import TOKEN_COOKIE
from mcp_acp.manager.state import ManagerState
from mcp_acp.metrics.prometheus import ProxyFigures, metrics_text

STATIC = Path(__file__).resolve().parent.parent / "web" / "static"
NOT_ACTIVITY = ("/api/manager/status", "/api/events", "/api/gateway")  # polling and open streams keep nobody busy
LOGIN_CODE_TTL = 120.0
KEEPALIVE_SECONDS = 30
PLACEHOLDER = """<!doctype html><html><head><meta charset="utf-8"><title>mcp-acp</title></head>
<body><h1>mcp-acp manager</h1><p>The manager is running, but this installation has no built web UI
(src/mcp_acp/web/static). Build it with <code>make web</code> in a source checkout, or reinstall
mcp-acp. The CLI does everything the UI does: <code>mcp-acp status</code>.</p></body></html>"""


class LoginCodes:
    """One-time codes that hand the API token to a browser (`/ui-login?code=`): the token itself
    never appears in a URL, and a code works once, for two minutes."""

    def __init__(self) -> None:
        self._codes: dict[str, float] = {}

    def issue(self) -> str:
        now = time.monotonic()
        self._codes = {code: expiry for code, expiry in self._codes.items() if expiry > now}
        code = secrets.token_urlsafe(24)
        self._codes[code] = now + LOGIN_CODE_TTL
        return code

    def redeem(self, code: str) -> bool:
        expiry = self._codes.pop(code, None)
        return expiry is not None and expiry > time.monotonic()


class Activity:
    """Requests keep the manager from its idle shutdown. Plain ASGI: the decorator kind would
    copy every event-stream chunk through an extra task and stream."""

    def __init__(self, app, state: ManagerState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["path"] not in NOT_ACTIVITY:
            self.state.touch()
        await self.app(scope, receive, send)


def prometheus_text(state: ManagerState) -> bytes:
    """`/metrics`: what the manager knows of each connected proxy, and of its own event stream."""
    proxies = [ProxyFigures(c.proxy_name, c.stats, c.pending, c.slot) for c in state.registry.all()]
    return metrics_text(proxies, len(state.hub.subscribers), state.hub.published)


def build_app(state: ManagerState) -> FastAPI:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    structured_errors(app, "manager API")
    codes = app.state.login_codes = LoginCodes()

    app.add_middleware(Activity, state=state)

    @app.get("/api/manager/status")
    def status() -> dict:
        return {
            "running": True,
            "pid": os.getpid(),
            "proxies_connected": len(state.registry),
            "proxies": state.registry.names(),
            "ui_port": state.config.ui_port,
            "ui_url": f"http://127.0.0.1:{state.config.ui_port}/",
            "subscribers": len(state.hub.subscribers),
            "uptime_seconds": round(time.monotonic() - state.started, 1),
        }

    @app.post("/api/manager/ui-login-code")
    def login_code() -> dict:
        """A link that signs a browser in to the UI (what `mcp-acp manager open` opens)."""
        code = codes.issue()
        return {
            "url": f"http://127.0.0.1:{state.config.ui_port}/ui-login?code={code}",
            "expires_in_seconds": LOGIN_CODE_TTL,
        }

    @app.get("/api/events")
    async def events() -> EventSourceResponse:
        firsts = [c for name in state.registry.names() if (c := state.registry.get(name))]
        first = [event for connection in firsts for event in await snapshot_events(state, connection)]
        if not any(event["type"] == Event.SNAPSHOT for event in first):
            first.insert(0, {"type": Event.SNAPSHOT, "approvals": []})
        return EventSourceResponse(
            state.hub.stream(first),
            ping=KEEPALIVE_SECONDS,
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(prometheus_text(state), media_type="text/plain; version=0.0.4")

    for module in (routes_proxies, routes_deletion, routes_incidents, routes_audit, routes_auth, routes_gateway):
        app.include_router(module.router(state))
    for module in (routes_policy, routes_config, routes_logs, routes_env, routes_tools, routes_clients):
        app.include_router(module.router(state))
    app.include_router(routes_policy_replay.router(state))  # the preview of a policy change
    app.include_router(routes_tool_pins.router(state))  # issue 22: changed tool definitions
    app.include_router(routing.router(state))  # last: it catches every other /api/ path

    @app.get("/ui-login")
    def ui_login(code: str = "") -> Response:
        if not codes.redeem(code):
            return HTMLResponse(
                "<p>This sign-in link has expired or was already used. Run "
                "<code>mcp-acp manager open</code> for a new one.</p>",
                status_code=403,
            )
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(TOKEN_COOKIE, state.api_token, httponly=True, samesite="strict", path="/")
        return response

    @app.get("/{path:path}")
    def ui(path: str) -> Response:
        return _static(path)

    return app


def _static(path: str) -> Response:
    """The built UI; any path that is not a file is the app's own route, so index.html."""
    index = STATIC / "index.html"
    if not index.is_file():
        return HTMLResponse(PLACEHOLDER, headers={"Cache-Control": "no-cache"})
    candidate = (STATIC / path).resolve()
    if path and candidate.is_file() and candidate.is_relative_to(STATIC):  # no way out of the folder
        cache = "public, max-age=31536000, immutable" if path.startswith("assets/") else "public, max-age=3600"
        return FileResponse(candidate, headers={"Cache-Control": cache})
    return FileResponse(index, headers={"Cache-Control": "no-cache"})
