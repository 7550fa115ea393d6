"""The proxy's control API (docs/manager.md#a-proxys-own-api), served on its Unix socket `proxy_<name>.sock`.

The socket is 0600 in a 0700 folder, so the operating system decides who may talk to it: only
the user who runs the proxy. The CLI and the manager use it.

Endpoints that touch live state (counters, approvals, events) are `async`: they run on the
proxy's event loop, never beside it in a worker thread. Log reads are plain functions, so
FastAPI runs them in its thread pool and a large log never stalls traffic.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

import uvicorn
from fastapi import FastAPI, Query, Request

from mcp_acp.audit.log_api import log_answer
from mcp_acp.audit.log_query import logs_metadata
from mcp_acp.localhttp.errors import api_error, structured_errors
from mcp_acp.localhttp.server import EmbeddedServer, bind_private_socket
from mcp_acp.proxy.api_approvals import add_approval_routes
from mcp_acp.proxy.api_policy import add_policy_routes
from mcp_acp.proxy.control import ControlState

log = logging.getLogger(__name__)


def build_app(control: ControlState) -> FastAPI:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    structured_errors(app, "control API")
    reloader = control.reloader

    @app.get("/api/control/status")
    def status() -> dict:
        return {
            "running": True,
            "uptime_seconds": control.uptime_seconds,
            "policy_version": reloader.version,
            "policy_rules_count": reloader.rules_count,
            "last_reload_at": reloader.last_reload_at,
            "reload_count": reloader.reload_count,
        }

    @app.post("/api/control/reload-policy")
    async def reload_policy() -> dict:
        return await reloader.reload("api")

    @app.get("/api/policy")
    def policy() -> dict:
        current = reloader.engine.policy
        return {
            "version": current.version,
            "default_action": current.default_action,
            "rules_count": len(current.rules),
            "rules": current.model_dump(exclude_none=True)["rules"],
            "policy_version": reloader.version,
            "policy_path": str(reloader.path),
        }

    @app.get("/api/auth-sessions")
    def auth_sessions() -> list[dict]:
        return control.sessions()

    @app.post("/api/auth/notify-login")
    @app.post("/api/auth/notify-logout")
    async def auth_changed() -> dict:
        return {"status": "ok", "approvals_cleared": await control.auth_changed()}

    # --- runtime info and counters ---------------------------------------------------------

    def proxy_view() -> dict:
        return {
            "id": control.info.get("proxy_id"),
            **control.info,
            "status": "running",
            "api_port": None,
            "uptime_seconds": control.uptime_seconds,
            "client_id": control.client_name(),
            "stats": control.stats.snapshot(),
        }

    @app.get("/api/proxies")
    async def proxies() -> list[dict]:
        return [proxy_view()]

    @app.get("/api/proxies/{proxy_id}")
    async def proxy(proxy_id: str) -> dict:
        if proxy_id != control.info.get("proxy_id"):
            raise api_error(404, "PROXY_NOT_FOUND", f"this proxy is {control.info.get('proxy_id')}, not {proxy_id}")
        return proxy_view()

    @app.get("/api/stats")
    async def stats() -> dict:
        return control.stats.api_stats()

    # --- approvals ---------------------------------------------------------------------------

    @app.get("/api/approvals/cached")
    async def cached_approvals() -> dict:
        return control.approvals.snapshot()

    @app.delete("/api/approvals/cached")
    async def clear_cached_approvals() -> dict:
        return {"cleared": control.clear_approvals("api"), "status": "ok"}

    @app.delete("/api/approvals/cached/entry")
    async def delete_cached_approval(subject_id: str, tool_name: str, path: str | None = None) -> dict:
        if not control.approvals.forget(subject_id, tool_name, path or None):
            raise api_error(
                404,
                "CACHED_APPROVAL_NOT_FOUND",
                f"no cached approval of {tool_name} on {path or '(no path)'} for {subject_id}",
            )
        return {"deleted": True, "status": "ok"}

    add_approval_routes(app, control)
    add_policy_routes(app, control)

    # --- logs ----------------------------------------------------------------------------------

    def log_dir() -> Path:
        if control.log_dir is None:
            raise api_error(503, "SERVICE_UNAVAILABLE", "this proxy does not know its log folder")
        return control.log_dir

    @app.get("/api/logs/metadata")
    def logs_info() -> dict:
        return logs_metadata(log_dir(), control.debug_logs)

    @app.get("/api/logs/{log_type}")
    def logs(
        request: Request,
        log_type: str,
        time_range: Literal["5m", "1h", "24h", "all"] = "5m",
        limit: int = Query(100, ge=1, le=1000),
        before: str | None = None,
    ) -> dict:
        return log_answer(
            request, log_dir(), log_type, control.debug_logs, time_range=time_range, limit=limit, before=before
        )

    return app


async def serve_api(app: FastAPI, socket_path: Path) -> None:
    """Serve until cancelled. A socket file left by a crashed run is removed first (the audit
    lock already guarantees no other instance of this proxy is running)."""
    sock = bind_private_socket(socket_path)
    server = EmbeddedServer(uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False, ws="none"))
    try:
        await server.serve(sockets=[sock])
    finally:
        sock.close()
        socket_path.unlink(missing_ok=True)
