"""A STDIO backend's own environment from the UI (docs/manager.md#the-managers-routes), through
admin/backend_env.py as `mcp-acp proxy env` does.

Secret values are write-only: they go in with a PUT and never come back in any answer (the list
says only whether the secret store holds one). A running proxy keeps the environment it started
its backend with until it restarts.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Body

from mcp_acp.admin.api_key import store_name
from mcp_acp.admin.backend_env import BackendEnvError, list_env, set_env, set_secret_env, unset_env
from mcp_acp.backends.child_env import BASE_PREFIXES, BASE_VARIABLES
from mcp_acp.config.store import ConfigError
from mcp_acp.localhttp.errors import api_error
from mcp_acp.manager.routes_proxies import find_proxy
from mcp_acp.manager.state import ManagerState


async def _name_of(proxy_id: str) -> str:
    found = await asyncio.to_thread(find_proxy, proxy_id)
    if found is None:
        raise api_error(404, "PROXY_NOT_FOUND", f"no configured proxy has the id {proxy_id!r}")
    return found[0]


def _listing(name: str) -> dict:
    listing = list_env(name)
    return {
        "env": listing.env,
        "secret_env": [{"name": variable, "stored": stored} for variable, stored in listing.secret_env.items()],
        "base_variables": [*BASE_VARIABLES, *(f"{prefix}*" for prefix in BASE_PREFIXES)],
        "secret_store": store_name(),
    }


def router(state: ManagerState) -> APIRouter:
    api = APIRouter()

    def done(name: str, message: str) -> dict:
        running = state.registry.get(name) is not None
        suffix = (
            f" Proxy {name} gives it to its backend from its next start (restart its MCP client)." if running else ""
        )
        return {"ok": True, "restart_required": running, "message": message + suffix}

    @api.get("/api/manager/proxies/{proxy_id}/env")
    async def get_env(proxy_id: str) -> dict:
        name = await _name_of(proxy_id)
        try:
            return await asyncio.to_thread(_listing, name)
        except (BackendEnvError, ConfigError) as exc:
            raise api_error(400, "CONFIG_INVALID", str(exc)) from None

    @api.put("/api/manager/proxies/{proxy_id}/env/{variable}")
    async def put_env(proxy_id: str, variable: str, body: dict[str, Any] = Body(...)) -> dict:
        name = await _name_of(proxy_id)
        value, secret = body.get("value"), body.get("secret", False)
        if not isinstance(value, str) or not isinstance(secret, bool):
            raise api_error(
                422,
                "VALIDATION_ERROR",
                'send {"value": "...", "secret": true|false}',
                validation_errors=["value: required, a string", "secret: a boolean"],
            )
        try:
            await asyncio.to_thread(set_secret_env if secret else set_env, name, variable, value)
        except (BackendEnvError, ConfigError) as exc:
            raise api_error(400, "CONFIG_INVALID", str(exc)) from None
        where = f"the secret store ({await asyncio.to_thread(store_name)})" if secret else "config.json"
        return done(name, f"{variable} saved in {where}.")

    @api.delete("/api/manager/proxies/{proxy_id}/env/{variable}")
    async def delete_env(proxy_id: str, variable: str) -> dict:
        name = await _name_of(proxy_id)
        try:
            kind = await asyncio.to_thread(unset_env, name, variable)
        except BackendEnvError as exc:
            status, code = (404, "NOT_FOUND") if "sets no environment variable" in str(exc) else (400, "CONFIG_INVALID")
            raise api_error(status, code, str(exc)) from None
        except ConfigError as exc:
            raise api_error(400, "CONFIG_INVALID", str(exc)) from None
        return done(name, f"{'Secret ' if kind == 'secret_env' else ''}{variable} removed.")

    return api
