"""What the gateway serves right now, on its private status socket: each endpoint, its live
principals (2025 sessions and stateless callers), and its backend processes. `mcp-acp status`
and the manager's web UI read it (localhttp/gateway_client.py)."""

from __future__ import annotations

import asyncio
import logging
import time

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from mcp_acp.config import paths
from mcp_acp.config.gateway import GatewayConfig
from mcp_acp.gateway.front import Front
from mcp_acp.localhttp.server import EmbeddedServer, bind_private_socket

log = logging.getLogger(__name__)


def snapshot(config: GatewayConfig, fronts: dict[str, Front], started_at: float) -> dict:
    endpoints = []
    for name, front in sorted(fronts.items()):
        endpoint = front.endpoint
        sessions = {row["principal"]: row["sessions"] for row in front.live()}
        principals = []
        for subject, session in sorted(endpoint.sessions.items()):
            stats = session.enforcer.stats.api_stats()
            principals.append(
                {
                    "principal": subject,
                    "sessions": sessions.get(subject, 0),
                    "last_seen": endpoint.last_seen.get(subject),
                    "requests": stats["requests_total"],
                    "allowed": stats["requests_allowed"],
                    "denied": stats["requests_denied"],
                    "asked": stats["requests_hitl"],
                }
            )
        endpoints.append(
            {
                "proxy": name,
                "url": config.resource_url(name),
                "backend_mode": endpoint.settings.backend,
                "principals": principals,
                "backends": endpoint.pool.status(),
                "pending_approvals": sum(len(s.pending.list()) for s in endpoint.sessions.values()),
            }
        )
    return {
        "base_url": config.base_url,
        "auth": {"issuer": config.auth.issuer} if config.auth else None,
        "tls": config.tls is not None,
        "uptime_seconds": round(time.time() - started_at),
        "endpoints": endpoints,
    }


async def serve_status(config: GatewayConfig, fronts: dict[str, Front]) -> None:
    """Serve the status socket until cancelled; the gateway works without it."""
    started_at = time.time()

    async def status(request: Request) -> JSONResponse:
        return JSONResponse(snapshot(config, fronts, started_at))

    path = paths.gateway_socket_path()
    try:
        sock = bind_private_socket(path)
    except OSError as exc:
        log.warning("the gateway's status socket %s is unavailable (%s): 'mcp-acp status' will not see it", path, exc)
        return
    app = Starlette(routes=[Route("/status", status, methods=["GET"])])
    server = EmbeddedServer(uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False, ws="none"))
    try:
        await server.serve(sockets=[sock])
    except asyncio.CancelledError:
        raise
    finally:
        sock.close()
        path.unlink(missing_ok=True)
