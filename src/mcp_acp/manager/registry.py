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

    def send(self, message: dict) -> None:
        """One NDJSON line to the proxy; fire-and-forget (a dead connection is noticed by its reader)."""
        if self.writer is not None and not self.writer.is_closing():
            self.writer.write(protocol.encode(message))

    def close(self) -> None:
        if self.writer is not None and not self.writer.is_closing():
            self.writer.close()


class Registry:
    def __init__(self) -> None:
        self._by_name: dict[str, ProxyConnection] = {}

    def add(self, connection: ProxyConnection) -> ProxyConnection | None:
        """Register; a proxy of the same name replaces the old connection, which is returned."""
        old = self._by_name.get(connection.proxy_name)
        self._by_name[connection.proxy_name] = connection
        return old

    def remove(self, connection: ProxyConnection) -> bool:
        """Forget `connection` unless a newer one of the same name has replaced it."""
        if self._by_name.get(connection.proxy_name) is connection:
            del self._by_name[connection.proxy_name]
            return True
        return False

    def get(self, name: str) -> ProxyConnection | None:
        return self._by_name.get(name)

    def by_id(self, proxy_id: str) -> ProxyConnection | None:
        return next((c for c in self._by_name.values() if c.proxy_id == proxy_id), None)

    def all(self) -> list[ProxyConnection]:
        return [self._by_name[name] for name in sorted(self._by_name)]

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def __len__(self) -> int:
        return len(self._by_name)
