"""Backends: how the proxy reaches an MCP server (a STDIO child process, or one streamable-HTTP
session, with its TLS, API key and binary attestation). Below the proxy, because creating a proxy
(admin/proxy_setup.py) checks a new backend with the same code."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

# A backend hands each message it receives to the relay: the parsed message and, when it
# has them, the original bytes (so STDIO-to-STDIO traffic is forwarded byte for byte).
Deliver = Callable[[dict[str, Any], bytes | None], Awaitable[None]]
OnLost = Callable[[str], None]
# A backend line that could not be read is delivered as {UNREADABLE: why} with its bytes.
UNREADABLE = "_mcp_acp_unreadable"


class BackendError(Exception):
    """The backend cannot be started or reached. The message says why and what to do."""


class BackendUnavailable(Exception):
    """A message could not be delivered because the backend is gone."""


class Backend(Protocol):
    server_name: str
    transport: str
    # True when a lost backend is re-established on the next request (HTTP); a STDIO
    # child that dies takes the proxy down with it, as its client expects.
    reconnects: bool

    async def start(self, deliver: Deliver, on_lost: OnLost) -> None: ...

    async def send(self, message: dict[str, Any], raw: bytes) -> None: ...

    async def close(self) -> None: ...
