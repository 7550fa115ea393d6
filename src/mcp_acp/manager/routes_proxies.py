"""Configured proxies (docs/manager.md#the-managers-routes): list them with their live state, create one, and the MCP
client snippet that launches them. Configs are read from disk, so inactive proxies show too."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, field_validator

from mcp_acp.admin import proxy_setup
from mcp_acp.admin.client_snippets import CLIENTS, executable_command, snippet
from mcp_acp.backends.tls import mtls_applies
from mcp_acp.config.models import ProxyConfig
from mcp_acp.config.store import ConfigError, list_proxy_names, load_proxy_config
from mcp_acp.localhttp.errors import api_error
from mcp_acp.manager import sessions
from mcp_acp.manager.connections import public_stats
from mcp_acp.manager.registry import ProxyConnection
from mcp_acp.manager.state import ManagerState

log = logging.getLogger("mcp_acp.manager")

STATS_TIMEOUT = 2.0  # a slow proxy shows no stats rather than holding up the whole list
SETUP_ERRORS = [  # most specific first
    (proxy_setup.ProxyExists, 409, "PROXY_EXISTS"),
    (proxy_setup.BackendUnreachable, 400, "BACKEND_UNREACHABLE"),
    (proxy_setup.BackendDuplicate, 400, "BACKEND_DUPLICATE"),
    (proxy_setup.InvalidSettings, 400, "PROXY_INVALID"),
    (proxy_setup.ProxySetupError, 500, "PROXY_CREATION_FAILED"),
]


def configured_proxies() -> list[tuple[str, ProxyConfig]]:
    """(name, config) of every proxy whose config loads. Blocking: run in a thread."""
    found = []
    for name in list_proxy_names():
        try:
            found.append((name, load_proxy_config(name)))
        except ConfigError as exc:
            log.warning("proxy %s is left out of the list: %s", name, exc)
    return found


def find_proxy(proxy_id: str) -> tuple[str, ProxyConfig] | None:
    return next(((name, config) for name, config in configured_proxies() if config.proxy_id == proxy_id), None)


async def _ask(state: ManagerState, name: str, path: str, default):
    """A GET to a registered proxy; `default` when it is gone, slow or says no."""
    try:
        response = await state.ask_proxy(name, "GET", path, timeout=STATS_TIMEOUT)
        return response.json() if response.status_code == 200 else default
    except Exception:
        return default


async def _stats(state: ManagerState, connection: ProxyConnection | None) -> dict | None:
    if connection is None:
        return None
    stats = connection.stats or await _ask(state, connection.proxy_name, "/api/stats", None)
    return public_stats(stats) if isinstance(stats, dict) else None


def _view(
    name: str, config: ProxyConfig, connection: ProxyConnection | None, stats: dict | None, session_count: int = 0
) -> dict:
    backend = config.backend
    return {
        "proxy_name": name,
        "proxy_id": config.proxy_id,
        "status": "running" if connection else "inactive",
        "instance_id": connection.instance_id if connection else None,
        "session_count": session_count,  # running processes: one per MCP client
        "server_name": backend.server_name,
        "transport": backend.transport,
        "command": backend.stdio.command if backend.stdio else None,
        "args": backend.stdio.args if backend.stdio else [],
        # Names and plain values only: a secret's value never leaves the secret store.
        "env": dict(backend.stdio.env) if backend.stdio else {},
        "secret_env": list(backend.stdio.secret_env) if backend.stdio else [],
        "url": backend.http.url if backend.http else None,
        "created_at": config.created_at,
        # What a running proxy actually connected with (`auto` resolves at start).
        "backend_transport": (connection.config_summary.get("transport") if connection else None) or backend.transport,
        "mtls_enabled": mtls_applies(config),
        "stats": stats,
    }


class NewProxy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    server_name: str | None = None
    transport: Literal["stdio", "http", "streamablehttp", "auto"] | None = None
    command: str | None = None
    args: list[str] = []
    url: str | None = None
    timeout: int = 30
    api_key: str | None = None
    mtls_cert: str | None = None
    mtls_key: str | None = None
    mtls_ca: str | None = None
    attestation_sha256: str | None = None
    attestation_slsa_owner: str | None = None
    attestation_require_signature: bool = False
    skip_health_check: bool = False
    skip_duplicate_check: bool = False
    env: dict[str, str] = {}
    secret_env: dict[str, str] = {}  # name -> value, stored in the secret store; never sent back

    @field_validator(
        "server_name",
        "command",
        "url",
        "api_key",
        "mtls_cert",
        "mtls_key",
        "mtls_ca",
        "attestation_sha256",
        "attestation_slsa_owner",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value):
        # A form sends "" for the fields it leaves empty.
        return None if isinstance(value, str) and not value.strip() else value


def _field_names(message: str) -> str:
    """proxy_setup names CLI flags (`--mtls-cert`); API callers know them as body fields."""
    return re.sub(r"--([a-z][a-z0-9-]*)", lambda m: m.group(1).replace("-", "_"), message)


def _create(body: NewProxy) -> dict:
    settings = body.model_dump(exclude={"skip_duplicate_check"})
    settings["server_name"] = body.server_name or body.name  # as the CLI defaults it
    created = proxy_setup.create_proxy(**settings, check_duplicate_backend=not body.skip_duplicate_check)
    warnings = [text for level, text in created.notes if level == "warning"]
    return {
        "ok": True,
        "proxy_name": created.name,
        "proxy_id": created.config.proxy_id,
        "config_path": str(created.config_path),
        "policy_path": str(created.policy_path),
        "claude_desktop_snippet": snippet("claude-desktop", [created.name]),
        "message": f"Proxy {created.name} created with a deny-all policy. Add the snippet to your MCP "
        "client's configuration and restart the client.",
        "warnings": warnings,
    }


def router(state: ManagerState) -> APIRouter:
    api = APIRouter()

    @api.get("/api/manager/proxies")
    async def list_proxies() -> list[dict]:
        proxies = await asyncio.to_thread(configured_proxies)
        connections = [state.registry.get(name) for name, _ in proxies]
        stats = await asyncio.gather(*(_stats(state, connection) for connection in connections))
        return [
            _view(name, config, connection, stat, len(state.registry.sessions(name)))
            for (name, config), connection, stat in zip(proxies, connections, stats, strict=True)
        ]

    @api.get("/api/manager/proxies/{proxy_id}")
    async def get_proxy(proxy_id: str) -> dict:
        found = await asyncio.to_thread(find_proxy, proxy_id)
        if found is None:
            raise api_error(404, "PROXY_NOT_FOUND", f"no configured proxy has the id {proxy_id!r}")
        name, config = found
        connection = state.registry.get(name)
        if connection is None:
            return {
                **_view(name, config, None, None),
                "client_id": None,
                "pending_approvals": [],
                "cached_approvals": [],
                "sessions": [],
            }
        views, pending, cached, stats = await asyncio.gather(
            sessions.views(state, name, proxy_id),
            sessions.pending(state, name),
            sessions.cached(state, name),
            _stats(state, connection),
        )
        return {
            **_view(name, config, connection, stats, len(views)),
            "client_id": views[0]["client_id"] if views else None,
            "pending_approvals": pending,
            "cached_approvals": cached.get("approvals", []),
            "sessions": views,
        }

    @api.post("/api/manager/proxies", status_code=201)
    async def add_proxy(body: NewProxy) -> dict:
        try:
            return await asyncio.to_thread(_create, body)
        except proxy_setup.ProxySetupError as exc:
            status, code = next((s, c) for kind, s, c in SETUP_ERRORS if isinstance(exc, kind))
            extra = {"existing_proxy": exc.existing} if isinstance(exc, proxy_setup.BackendDuplicate) else {}
            raise api_error(status, code, _field_names(str(exc)), **extra) from None
        except Exception as exc:
            log.exception("creating proxy %s failed", body.name)
            raise api_error(500, "PROXY_CREATION_FAILED", f"creating proxy {body.name} failed: {exc}") from None

    @api.get("/api/manager/config-snippet")
    async def config_snippet(proxy: str | None = None, client: str = "claude-desktop") -> dict:
        """The entries in `client`'s own format (VS Code: "servers", with "type": "stdio")."""
        if client not in CLIENTS:
            raise api_error(400, "UNKNOWN_CLIENT", f"client must be one of {', '.join(CLIENTS)}, not {client!r}")
        names = await asyncio.to_thread(list_proxy_names)
        if proxy is not None:
            if proxy not in names:  # compared with the listing: the name never becomes a path
                raise api_error(404, "PROXY_NOT_FOUND", f"no proxy named {proxy!r}")
            names = [proxy]
        return {**snippet(client, names), "executable_path": executable_command()[0]}

    return api
