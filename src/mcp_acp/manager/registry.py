"""The proxies connected to the manager right now (docs/manager.md#the-proxy-connection)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from mcp_acp.localhttp import protocol


@dataclass(eq=False)
class ProxyConnection:
    proxy_name: str
    proxy_id: str
    instance_id: str
    socket_path: str
    config_summary: dict
    writer: asyncio.StreamWriter | None = None
    connected_at: float = field(default_factory=time.time)
    stats: dict | None = None  # the latest `stats_updated` the proxy sent
    pending: int = 0  # approvals waiting, counted from the proxy's pending_* events
    slot: int = 0  # which of the proxy's processes (one per MCP client) this is

    def send(self, message: dict) -> None:
        """One NDJSON line to the proxy; fire-and-forget (a dead connection is noticed by its reader)."""
        if self.writer is not None and not self.writer.is_closing():
            self.writer.write(protocol.encode(message))

    def close(self) -> None:
        if self.writer is not None and not self.writer.is_closing():
            self.writer.close()


class Registry:
    """Keyed by proxy name and slot: every MCP client that starts a proxy runs its own process
    of it, and each is a session of that proxy here."""

    def __init__(self) -> None:
        self._by_key: dict[tuple[str, int], ProxyConnection] = {}

    def add(self, connection: ProxyConnection) -> ProxyConnection | None:
        """Register; a process in the same slot replaces the old connection, which is returned."""
        key = (connection.proxy_name, connection.slot)
        old = self._by_key.get(key)
        self._by_key[key] = connection
        return old

    def remove(self, connection: ProxyConnection) -> bool:
        """Forget `connection` unless a newer one in the same slot has replaced it."""
        key = (connection.proxy_name, connection.slot)
        if self._by_key.get(key) is connection:
            del self._by_key[key]
            return True
        return False

    def sessions(self, name: str) -> list[ProxyConnection]:
        """Every running process of proxy `name`, lowest slot first."""
        return sorted((c for (n, _), c in self._by_key.items() if n == name), key=lambda c: c.slot)

    def get(self, name: str) -> ProxyConnection | None:
        """The proxy's first session: the one its plain API socket leads to."""
        return next(iter(self.sessions(name)), None)

    def by_id(self, proxy_id: str) -> ProxyConnection | None:
        return next((c for c in self._by_key.values() if c.proxy_id == proxy_id), None)

    def all(self) -> list[ProxyConnection]:
        return [self._by_key[key] for key in sorted(self._by_key)]

    def names(self) -> list[str]:
        return sorted({name for name, _ in self._by_key})

    def __len__(self) -> int:
        return len(self.names())
