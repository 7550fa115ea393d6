"""The proxy's control API (SPEC §8.2), served on its Unix socket `proxy_<name>.sock`.

The socket is 0600 in a 0700 folder, so the operating system decides who may talk to it: only
the user who runs the proxy. The CLI and (later) the manager use it.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from mcp_acp.config.store import ensure_private_dir
from mcp_acp.proxy.control import ControlState


def build_app(control: ControlState) -> FastAPI:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    reloader = control.reloader

    @app.get("/api/control/status")
    def status() -> dict:
        return {"running": True, "uptime_seconds": round(time.monotonic() - control.started, 1),
                "policy_version": reloader.version, "policy_rules_count": reloader.rules_count,
                "last_reload_at": reloader.last_reload_at, "reload_count": reloader.reload_count}

    @app.post("/api/control/reload-policy")
    async def reload_policy() -> dict:
        return await reloader.reload("api")

    @app.get("/api/policy")
    def policy() -> dict:
        current = reloader.engine.policy
        return {"version": current.version, "default_action": current.default_action,
                "rules_count": len(current.rules), "rules": current.model_dump(exclude_none=True)["rules"],
                "policy_version": reloader.version, "policy_path": str(reloader.path)}

    @app.get("/api/auth-sessions")
    def auth_sessions() -> list[dict]:
        return control.sessions()

    @app.post("/api/auth/notify-login")
    @app.post("/api/auth/notify-logout")
    def auth_changed() -> dict:
        return {"status": "ok", "approvals_cleared": control.auth_changed()}

    return app


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self):
        # The proxy owns SIGINT/SIGTERM/SIGHUP; uvicorn must not replace its handlers.
        yield


async def serve_api(app: FastAPI, socket_path: Path) -> None:
    """Serve until cancelled. A socket file left by a crashed run is removed first (the audit
    lock already guarantees no other instance of this proxy is running)."""
    ensure_private_dir(socket_path.parent)
    socket_path.unlink(missing_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(socket_path))
    os.chmod(socket_path, 0o600)  # bound and tightened by us, so uvicorn never loosens it
    server = _Server(uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False))
    try:
        await server.serve(sockets=[sock])
    finally:
        sock.close()
        socket_path.unlink(missing_ok=True)
