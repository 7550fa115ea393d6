"""The backend's real tool names for the UI's rule editor (docs/ui.md#adding-a-rule): the same question
`mcp-acp proxy tools` asks (admin/backend_tools.py), with a real MCP client.

A STDIO backend is spawned for the question, so it runs in a worker thread with its own event
loop (the manager's loop never waits on it), under a time limit, once at a time per proxy, and
the answer is kept for a short while: opening the rule editor twice does not start the server twice.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict

from fastapi import APIRouter

from mcp_acp.admin.backend_tools import LIST_TIMEOUT, BackendTool, BackendToolsError, list_backend_tools
from mcp_acp.config.models import ProxyConfig
from mcp_acp.localhttp.errors import api_error
from mcp_acp.manager.routes_proxies import find_proxy
from mcp_acp.manager.state import ManagerState

CACHE_SECONDS = 60.0
ANSWER_TIMEOUT = LIST_TIMEOUT + 10.0  # the listing's own limit, and room to stop the server


def _list(config: ProxyConfig, name: str) -> list[BackendTool]:
    # A loop of its own in this worker thread. Not anyio.run: the thread inherits the manager's
    # context, in which sniffio's context variable says asyncio already runs.
    return asyncio.run(list_backend_tools(config, name))


def router(state: ManagerState) -> APIRouter:  # every router takes the state
    api = APIRouter()
    cache: dict[str, tuple[float, str, list[dict]]] = {}  # name -> (when, config as JSON, tools)
    locks: dict[str, asyncio.Lock] = {}

    @api.get("/api/manager/proxies/{proxy_id}/tools")
    async def backend_tools(proxy_id: str, refresh: bool = False) -> dict:
        found = await asyncio.to_thread(find_proxy, proxy_id)
        if found is None:
            raise api_error(404, "PROXY_NOT_FOUND", f"no configured proxy has the id {proxy_id!r}")
        name, config = found
        key = config.model_dump_json()  # an edited backend is asked again
        async with locks.setdefault(name, asyncio.Lock()):
            kept = cache.get(name)
            if not refresh and kept and kept[1] == key and time.monotonic() - kept[0] < CACHE_SECONDS:
                return {"proxy": name, "tools": kept[2], "cached": True}
            try:
                listed = await asyncio.wait_for(asyncio.to_thread(_list, config, name), ANSWER_TIMEOUT)
            except TimeoutError:
                raise api_error(
                    504, "BACKEND_TOOLS_TIMEOUT", f"the backend of {name} did not list its tools in time"
                ) from None
            except BackendToolsError as exc:
                raise api_error(502, "BACKEND_TOOLS_UNAVAILABLE", str(exc)) from None
            except Exception as exc:  # attestation refusals and the like: say so, do not crash the route
                raise api_error(
                    502, "BACKEND_TOOLS_UNAVAILABLE", f"the backend of {name} was not asked: {exc}"
                ) from None
            tools = [asdict(tool) for tool in listed]
            cache[name] = (time.monotonic(), key, tools)
            return {"proxy": name, "tools": tools, "cached": False}

    return api
