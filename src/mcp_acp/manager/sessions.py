"""A proxy with several sessions (one process per MCP client, docs/manager.md#sessions): its
approvals are the union of its sessions' approvals, and a decision goes to the session that
holds the request."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

from mcp_acp.localhttp.proxy_client import join_answers as merge
from mcp_acp.manager.registry import ProxyConnection
from mcp_acp.manager.state import ManagerState

ASK_TIMEOUT = 5.0


async def ask_each(state: ManagerState, connections: list[ProxyConnection], path: str, default: Any) -> list[Any]:
    """A GET to every session; `default` for one that is gone, slow or says no."""

    async def one(connection: ProxyConnection) -> Any:
        try:
            response = await state.ask_session(connection, "GET", path, timeout=ASK_TIMEOUT)
            return response.json() if response.status_code == 200 else default
        except Exception:
            return default

    return list(await asyncio.gather(*(one(c) for c in connections)))


async def pending(state: ManagerState, name: str) -> list:
    return merge(await ask_each(state, state.registry.sessions(name), "/api/approvals/pending/list", []))


async def cached(state: ManagerState, name: str) -> dict:
    return merge(await ask_each(state, state.registry.sessions(name), "/api/approvals/cached", {}))


async def views(state: ManagerState, name: str, proxy_id: str) -> list[dict]:
    """Each session with the client it serves (clientInfo.name, once the client said it)."""
    connections = state.registry.sessions(name)
    runtimes = await ask_each(state, connections, f"/api/proxies/{quote(proxy_id, safe='')}", {})
    return [
        {
            "session": connection.slot,
            "instance_id": connection.instance_id,
            "connected_at": connection.connected_at,
            "client_id": runtime.get("client_id") if isinstance(runtime, dict) else None,
            "uptime_seconds": runtime.get("uptime_seconds") if isinstance(runtime, dict) else None,
            "pending": connection.pending,
        }
        for connection, runtime in zip(connections, runtimes, strict=True)
    ]
