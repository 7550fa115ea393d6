"""What every part of the manager shares: config, connected proxies, the event hub, the API token."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx

from mcp_acp.config.models import ManagerConfig
from mcp_acp.localhttp.proxy_client import UNREACHABLE, async_proxy_client
from mcp_acp.localhttp.sse import EventHub
from mcp_acp.manager.registry import ProxyConnection, Registry

if TYPE_CHECKING:  # imported when OIDC mode needs it (manager/daemon.py)
    from mcp_acp.manager.tokens import TokenService


class ProxyUnavailable(Exception):
    """The proxy is not registered, or its socket does not answer."""


@dataclass
class ManagerState:
    config: ManagerConfig
    registry: Registry = field(default_factory=Registry)
    hub: EventHub = field(default_factory=EventHub)
    # docs/manager.md#the-local-api-and-its-protection: 32 random bytes, new at every start; browsers get it in an HttpOnly cookie.
    api_token: str = field(default_factory=lambda: secrets.token_hex(32))
    started: float = field(default_factory=time.monotonic)
    last_activity: float = field(default_factory=time.monotonic)
    tokens: TokenService | None = None  # in OIDC mode
    _clients: dict[str, httpx.AsyncClient] = field(default_factory=dict)

    def touch(self) -> None:
        self.last_activity = time.monotonic()

    async def ask_proxy(
        self, name: str, method: str, path: str, json: object = None, timeout: float = 5.0
    ) -> httpx.Response:
        """Call a registered proxy's own API (`path` starts with /api/) over its Unix socket: its
        first session's, or the one of `connection` (a session of the proxy)."""
        connection = self.registry.get(name)
        if connection is None:
            raise ProxyUnavailable(f"proxy {name!r} is not connected")
        return await self.ask_session(connection, method, path, json, timeout)

    async def ask_session(
        self, connection: ProxyConnection, method: str, path: str, json: object = None, timeout: float = 5.0
    ) -> httpx.Response:
        name = connection.proxy_name
        try:
            return await self.proxy_client(connection.socket_path).request(method, path, json=json, timeout=timeout)
        except UNREACHABLE as exc:
            raise ProxyUnavailable(f"proxy {name!r} does not answer on {connection.socket_path}: {exc}") from None

    def proxy_client(self, socket_path: str) -> httpx.AsyncClient:
        """One pooled client per proxy socket: a new connection per request would cost more
        than the request."""
        if socket_path not in self._clients:
            self._clients[socket_path] = async_proxy_client(socket_path, timeout=30.0)
        return self._clients[socket_path]

    async def close_clients(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()
