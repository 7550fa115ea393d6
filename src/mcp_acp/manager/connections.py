"""The manager's side of proxy connections (docs/manager.md#the-proxy-connection): registration, the proxy's events, the
disconnect and its cause."""

from __future__ import annotations

import asyncio
import logging
import os

from mcp_acp.config import paths
from mcp_acp.event_names import Event
from mcp_acp.localhttp import protocol
from mcp_acp.manager import sessions
from mcp_acp.manager.registry import ProxyConnection
from mcp_acp.manager.state import ManagerState

log = logging.getLogger("mcp_acp.manager")

REGISTER_TIMEOUT = 10.0
SNAPSHOT_TIMEOUT = 5.0


async def handle_proxy(state: ManagerState, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    connection = None
    try:
        connection = await _register(state, reader, writer)
        if connection is not None:
            await _relay_events(state, connection, reader)
    except (ConnectionError, asyncio.IncompleteReadError, ValueError) as exc:
        log.info("proxy connection ended: %s", exc)  # ValueError: an over-long line
    finally:
        writer.close()
        if connection is not None and state.registry.remove(connection):
            _disconnected(state, connection)


async def _register(state: ManagerState, reader, writer) -> ProxyConnection | None:
    try:
        line = await asyncio.wait_for(reader.readline(), REGISTER_TIMEOUT)
    except TimeoutError:
        log.warning("a proxy connected but did not register within %g s", REGISTER_TIMEOUT)
        return None
    if not line:
        return None  # connected and left: a liveness probe
    registration, problem = protocol.parse_register(protocol.decode(line))
    if registration and os.path.realpath(registration.socket_path) != os.path.realpath(
        expected := paths.proxy_socket_path(registration.proxy_name, registration.slot)
    ):
        # The manager forwards HTTP to this socket: only the proxy's own socket is acceptable.
        registration, problem = None, f"socket_path must be {expected}"
    if registration is None:
        log.warning("registration refused: %s", problem)
        writer.write(protocol.encode(protocol.registered(problem)))
        await writer.drain()
        return None
    connection = ProxyConnection(
        registration.proxy_name,
        registration.proxy_id,
        registration.instance_id,
        registration.socket_path,
        registration.config_summary,
        writer,
        slot=registration.slot,
    )
    replaced = state.registry.add(connection)
    if replaced is not None:
        log.warning("proxy %r registered again; the older connection is closed", connection.proxy_name)
        replaced.close()
    state.touch()
    connection.send(protocol.registered())
    connection.send(ui_status(state))
    if state.tokens is not None:
        connection.send(state.tokens.message())
    state.hub.publish(
        {
            "type": Event.PROXY_REGISTERED,
            "proxy_name": connection.proxy_name,
            "proxy_id": connection.proxy_id,
            "instance_id": connection.instance_id,
            "severity": "success",
            "message": f"Proxy '{connection.proxy_name}' connected",
        }
    )
    asyncio.get_running_loop().create_task(_broadcast_snapshots(state, connection))
    return connection


async def _relay_events(state: ManagerState, connection: ProxyConnection, reader) -> None:
    while line := await reader.readline():
        message = protocol.decode(line)
        if message is None:
            log.warning("proxy %r sent a line that is not a JSON message; ignored", connection.proxy_name)
            continue
        if message["type"] != "event":
            continue  # unknown types are ignored (docs/manager.md#the-proxy-connection)
        event_type, data = message.get("event_type"), message.get("data") or {}
        if not isinstance(event_type, str) or not protocol.EVENT_TYPE.match(event_type) or not isinstance(data, dict):
            log.warning("proxy %r sent a malformed event; ignored", connection.proxy_name)
            continue
        if event_type == Event.STATS_UPDATED and isinstance(data.get("stats"), dict):
            connection.stats = data["stats"]
            if state.registry.get(connection.proxy_name) is not connection:
                continue  # a proxy's card shows its first session's figures; /metrics has every session's
            data = {**data, "stats": public_stats(data["stats"])}
        elif event_type == Event.PENDING_CREATED:
            connection.pending += 1
        elif event_type in (Event.PENDING_RESOLVED, Event.PENDING_TIMEOUT, Event.PENDING_CANCELLED):
            connection.pending = max(0, connection.pending - 1)
        state.hub.publish(
            {**data, "type": event_type, "proxy_name": connection.proxy_name, "proxy_id": connection.proxy_id}
        )


def public_stats(stats: dict) -> dict:
    """What browsers see of a proxy's stats; the per-method breakdown is for /metrics."""
    return {key: value for key, value in stats.items() if key != "by_method"}


def _disconnected(state: ManagerState, connection: ProxyConnection) -> None:
    from mcp_acp.manager.incidents import last_shutdown

    try:
        reason = last_shutdown(connection.proxy_name)
    except Exception:  # a cause we cannot read is reported as unknown, never blocks the event
        reason = None
    state.touch()
    left = len(state.registry.sessions(connection.proxy_name))  # other clients' sessions still running
    message = (
        f"Proxy '{connection.proxy_name}' stopped: {reason['reason']}"
        if reason
        else f"A client of proxy '{connection.proxy_name}' left ({left} still connected)"
        if left
        else f"Proxy '{connection.proxy_name}' disconnected"
    )
    log.warning(message) if reason else log.info(message)
    state.hub.publish(
        {
            "type": Event.PROXY_DISCONNECTED,
            "proxy_name": connection.proxy_name,
            "proxy_id": connection.proxy_id,
            "instance_id": connection.instance_id,
            "session": connection.slot,
            "sessions_left": left,
            "disconnect_reason": reason,
            "severity": "error" if reason else "info",
            "message": message,
        }
    )


def ui_status(state: ManagerState) -> dict:
    return protocol.ui_status(len(state.hub.subscribers))


def broadcast(state: ManagerState, message: dict) -> None:
    for connection in state.registry.all():
        connection.send(message)


async def snapshot_events(state: ManagerState, connection: ProxyConnection) -> list[dict]:
    """What a browser needs to show this proxy as it is now (docs/manager.md#events-get-apievents): pending and cached
    approvals, and stats, asked from the proxy itself."""
    ids = {"proxy_name": connection.proxy_name, "proxy_id": connection.proxy_id}

    async def ask(path: str, default):
        try:
            response = await state.ask_proxy(connection.proxy_name, "GET", path, timeout=SNAPSHOT_TIMEOUT)
            return response.json() if response.status_code == 200 else default
        except Exception:  # ProxyUnavailable, a timeout, a bad answer: show what we know
            return default

    # Approvals are the proxy's across all its sessions (one per MCP client); stats its first session's.
    pending, cached, stats = await asyncio.gather(
        sessions.pending(state, connection.proxy_name),
        sessions.cached(state, connection.proxy_name),
        ask("/api/stats", None),
    )
    events = [
        {"type": Event.SNAPSHOT, "approvals": pending if isinstance(pending, list) else [], **ids},
        {
            "type": Event.CACHED_SNAPSHOT,
            "approvals": cached.get("approvals", []),
            "ttl_seconds": cached.get("ttl_seconds"),
            "count": cached.get("count", 0),
            **ids,
        },
    ]
    if stats := stats or connection.stats:  # the proxy's own answer is newer than the last it pushed
        events.append({"type": Event.STATS_UPDATED, "stats": public_stats(stats), **ids})
    return events


async def _broadcast_snapshots(state: ManagerState, connection: ProxyConnection) -> None:
    for event in await snapshot_events(state, connection):
        state.hub.publish(event)
