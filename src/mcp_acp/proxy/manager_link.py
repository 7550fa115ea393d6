"""The proxy's side of the manager connection (docs/manager.md#the-proxy-connection).

The proxy registers, then pushes its events fire-and-forget and listens for the manager's
messages: whether a browser is watching, tokens, heartbeats. It never depends on the manager:
without one it works exactly the same, and it reconnects as soon as one appears.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
from collections.abc import Callable

from mcp_acp.config import paths
from mcp_acp.config.private_dir import UnsafeFolder
from mcp_acp.event_names import Event
from mcp_acp.identity.tokens import StoredTokens
from mcp_acp.localhttp import manager_process, protocol
from mcp_acp.proxy.events import ProxyEvents

log = logging.getLogger(__name__)

ACK_TIMEOUT = 5.0
SILENCE_LIMIT = 45.0  # the manager sends a heartbeat every 30 s
RETRY_SECONDS = 1.0  # a reconnect attempt is one failed connect() on a local socket: cheap
REFUSED_RETRY_SECONDS = 10.0
MAX_BUFFERED = 4 * 1024 * 1024  # a manager that stops reading loses events, never the proxy's memory


class ManagerClient:
    def __init__(
        self,
        proxy_name: str,
        proxy_id: str,
        events: ProxyEvents,
        config_summary: dict,
        slot: int = 0,
        on_token: Callable[[StoredTokens], None] | None = None,
        on_token_cleared: Callable[[], None] | None = None,
        on_detached: Callable[[], None] | None = None,
    ) -> None:
        self.proxy_name = proxy_name
        self.proxy_id = proxy_id
        self.instance_id = secrets.token_hex(8)
        self.slot = slot
        self.events = events
        self.config_summary = config_summary
        self.on_token = on_token
        self.on_token_cleared = on_token_cleared
        self.on_detached = on_detached
        self.registered = False
        self.browser_connected = False
        self.subscriber_count = 0
        self.dropped_events = 0
        self._writer: asyncio.StreamWriter | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None

    async def run(self, autostart: bool = True) -> None:
        """Forever: (start the manager once, if asked), connect, register, listen; reconnect."""
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        try:
            if autostart and not await asyncio.to_thread(manager_process.ensure_running):
                log.warning(
                    "the manager did not start; this proxy works on its own and connects when one runs "
                    "('mcp-acp manager start')"
                )
            while True:
                delay = RETRY_SECONDS
                try:
                    if not await self._session():
                        delay = REFUSED_RETRY_SECONDS
                except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError):
                    pass  # no manager, or it went away: try again shortly
                finally:
                    self._detach()
                await asyncio.sleep(delay)
        except UnsafeFolder as exc:  # a socket there could be anyone's: tell nothing to it, ever
            log.error("not connecting to the manager: %s This proxy keeps working on its own.", exc)

    async def _session(self) -> bool:
        """One connection; False when the manager refused the registration."""
        reader, writer = await asyncio.open_unix_connection(str(paths.manager_socket_path()), limit=protocol.MAX_LINE)
        try:
            writer.write(
                protocol.encode(
                    protocol.register(
                        self.proxy_name,
                        self.proxy_id,
                        self.instance_id,
                        self.config_summary,
                        str(paths.proxy_socket_path(self.proxy_name, self.slot)),
                        self.slot,
                    )
                )
            )
            await writer.drain()
            ack = protocol.decode(await asyncio.wait_for(reader.readline(), ACK_TIMEOUT))
            if not ack or ack.get("type") != "registered" or ack.get("ok") is not True:
                log.warning("the manager refused this proxy's registration: %s", (ack or {}).get("error", ack))
                return False
            self._writer = writer
            self.registered = True
            self.events.sinks.append(self._send)
            while line := await asyncio.wait_for(reader.readline(), SILENCE_LIMIT):
                self._handle(protocol.decode(line))
            return True
        finally:
            writer.close()

    def _handle(self, message: dict | None) -> None:
        if not message:
            return
        kind = message["type"]
        if kind == Event.UI_STATUS:
            self.browser_connected = bool(message.get("browser_connected"))
            self.subscriber_count = int(message.get("subscriber_count") or 0)
        elif kind == Event.TOKEN_UPDATE and self.on_token:
            try:
                self.on_token(
                    StoredTokens(
                        message["access_token"],
                        message.get("refresh_token"),
                        message.get("id_token"),
                        float(message["expires_at"]),
                        float(message["issued_at"]),
                    )
                )
            except (KeyError, TypeError, ValueError):
                log.warning("the manager sent a malformed token update; ignored")
        elif kind == Event.TOKEN_CLEARED and self.on_token_cleared:
            self.on_token_cleared()
        # heartbeat, registered, unknown types: nothing to do (docs/manager.md#the-proxy-connection)

    def _detach(self) -> None:
        if self._send in self.events.sinks:
            self.events.sinks.remove(self._send)
        if self.registered and self.on_detached:
            self.on_detached()
        self._writer = None
        self.registered = False
        self.browser_connected = False  # approvals must not wait for a browser we cannot reach

    def _send(self, event_type: str, data: dict) -> None:
        if threading.get_ident() != self._loop_thread:  # a shutdown or monitor thread
            assert self._loop is not None  # set by run(), which registers this sink
            self._loop.call_soon_threadsafe(self._send, event_type, data)
            return
        writer = self._writer
        if writer is None or writer.is_closing():
            return
        if writer.transport.get_write_buffer_size() > MAX_BUFFERED:
            self.dropped_events += 1
            return
        writer.write(protocol.encode(protocol.event(event_type, data)))
