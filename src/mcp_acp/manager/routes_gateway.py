"""The running gateway, as the web UI shows it (docs/gateway.md, docs/ui.md#gateway): its endpoints,
each principal's sessions and decisions, its backend processes. Read from the gateway's private
status socket (localhttp/gateway_client.py), the same snapshot `mcp-acp status` prints."""

from __future__ import annotations

import httpx
from fastapi import APIRouter

from mcp_acp.localhttp.errors import api_error
from mcp_acp.localhttp.gateway_client import gateway_status_async
from mcp_acp.manager.state import ManagerState

STATUS_TIMEOUT = 5.0


def router(state: ManagerState) -> APIRouter:
    api = APIRouter()

    @api.get("/api/gateway")
    async def gateway() -> dict:
        try:
            snapshot = await gateway_status_async(STATUS_TIMEOUT)
        except (httpx.HTTPError, ValueError) as exc:  # a socket that answers, but not with a status
            raise api_error(
                502, "GATEWAY_UNREADABLE", f"the gateway's status socket did not answer a status: {exc}"
            ) from exc
        if snapshot is None:
            return {"running": False}
        return {"running": True, **snapshot}

    return api
