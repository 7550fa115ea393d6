"""Changed tool definitions for the UI (docs/tool-pinning.md): what `mcp-acp tools diff` shows,
and accepting, which re-pins as `mcp-acp tools accept` does. Both work on the proxy's pin file
(admin/tool_pins.py); a running proxy picks an accept up on the next call of that tool."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Body

from mcp_acp.admin.tool_pins import FilePinStore, accept, changed_tools, pin_path
from mcp_acp.identity.local import local_identity
from mcp_acp.localhttp.errors import api_error
from mcp_acp.manager.routes_proxies import find_proxy
from mcp_acp.manager.state import ManagerState


def _changes(name: str) -> list[dict[str, Any]]:
    try:
        return changed_tools(FilePinStore(pin_path(name)).load())
    except ValueError as exc:
        raise api_error(500, "PIN_FILE_UNREADABLE", f"the pin file of {name} cannot be read: {exc}") from None


def _accept(name: str, tools: list[str] | None) -> list[str]:
    store = FilePinStore(pin_path(name))
    state = store.load()
    unknown = [tool for tool in tools or () if tool not in state.changes]
    if unknown:
        raise api_error(404, "NO_SUCH_CHANGE", f"no change is recorded for {', '.join(map(repr, unknown))}")
    accepted = accept(state, tools, f"{local_identity().subject_id} (manager UI)")
    store.save(state)
    return accepted


def router(state: ManagerState) -> APIRouter:  # every router takes the state
    api = APIRouter()
    lock = asyncio.Lock()  # one read-modify-write of a pin file at a time

    async def proxy_name(proxy_id: str) -> str:
        found = await asyncio.to_thread(find_proxy, proxy_id)
        if found is None:
            raise api_error(404, "PROXY_NOT_FOUND", f"no configured proxy has the id {proxy_id!r}")
        return found[0]

    @api.get("/api/manager/proxies/{proxy_id}/tool-changes")
    async def tool_changes(proxy_id: str) -> dict:
        name = await proxy_name(proxy_id)
        return {"proxy": name, "changed": await asyncio.to_thread(_changes, name)}

    @api.post("/api/manager/proxies/{proxy_id}/tool-changes/accept")
    async def accept_changes(proxy_id: str, body: dict = Body(...)) -> dict:
        name = await proxy_name(proxy_id)
        tools, everything = body.get("tools"), body.get("all") is True
        valid = isinstance(tools, list) and tools and all(isinstance(tool, str) for tool in tools)
        if everything == bool(valid):
            raise api_error(400, "INVALID_REQUEST", 'send {"tools": ["NAME", ...]} or {"all": true}')
        async with lock:
            accepted = await asyncio.to_thread(_accept, name, None if everything else tools)
        return {"proxy": name, "accepted": accepted}

    return api
