"""Limits for the manager's TCP port that uvicorn does not have: deadlines for a request's
headers and body, and a bound on connections that evicts the idle ones first.

uvicorn only times out a keep-alive connection between requests, and forgets even that once a
byte arrives; a client that sends a request one byte at a time, or nothing at all, holds its
connection (and a file descriptor) for ever. uvicorn's own `limit_concurrency` would then answer
503 to everyone, the attacker's goal. Here a client that owes us headers or a body gets a fixed
deadline (bytes trickling in do not extend it), and when too many connections are waiting for a
request the oldest waiting one is closed, so a client that sends a whole request at once (every
real one) is always served. Connections with a response in progress (an event stream, a request
being answered) are never evicted.
"""

from __future__ import annotations

import asyncio
import itertools
import resource

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

_arrivals = itertools.count()  # the order connections came in (the oldest waiting one goes first)

HEADER_TIMEOUT = 10.0  # from the connection (or a new request's first byte) to the end of its headers
BODY_TIMEOUT = 20.0  # from the end of the headers to the end of the body (bodies are at most 1 MiB)
KEEP_ALIVE_TIMEOUT = 5  # idle between requests (uvicorn's own timer)
MAX_HEADER_BYTES = 16 * 1024
MAX_WAITING = 32  # connections with no response in progress; beyond this the oldest is closed


def max_connections() -> int:
    """At most 256, and never more than half the file descriptors the process may open (macOS
    gives 256 by default): the manager must keep descriptors for proxies, files and accept()."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(16, min(256, soft // 2)) if soft != resource.RLIM_INFINITY else 256


class LimitedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with the deadlines and the connection bound above."""

    limit: int = 256
    header_timeout: float = HEADER_TIMEOUT
    body_timeout: float = BODY_TIMEOUT
    max_waiting: int = MAX_WAITING

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.arrival = next(_arrivals)
        self._phase: str | None = None
        self._deadline: asyncio.TimerHandle | None = None
        self._watch()
        _make_room(self)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._watch()

    def connection_lost(self, exc: Exception | None) -> None:
        self._set_deadline(None)
        super().connection_lost(exc)

    def waiting(self) -> bool:
        """No response in progress: a new connection, one between requests, or one whose
        response was sent while it still sends (an early 401 to a request with a body)."""
        return self.cycle is None or self.cycle.response_complete

    def _owed(self) -> str | None:
        """What the client still owes: "headers", "body", or None."""
        state = self.conn.their_state
        if state is h11.SEND_BODY:
            return "body"
        if state is h11.IDLE and (self.cycle is None or self.conn.trailing_data[0]):
            return "headers"  # nothing yet on this connection, or the start of the next request
        return None  # between requests uvicorn's keep-alive timer applies

    def _watch(self) -> None:
        phase = None if self.transport.is_closing() else self._owed()
        if phase != self._phase:
            self._set_deadline(phase)

    def _set_deadline(self, phase: str | None) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self._phase = phase
        if phase is not None:
            timeout = self.header_timeout if phase == "headers" else self.body_timeout
            self._deadline = self.loop.call_later(timeout, self._too_slow)

    def _too_slow(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()


def _make_room(new: LimitedH11Protocol) -> None:
    """Close the oldest waiting connections beyond MAX_WAITING, and any beyond the total limit
    (the new one itself when every other connection has a response in progress)."""
    connections = [c for c in new.connections if isinstance(c, LimitedH11Protocol) and not c.transport.is_closing()]
    waiting = sorted((c for c in connections if c.waiting()), key=lambda c: c.arrival)  # the new one last
    excess = max(len(waiting) - new.max_waiting, len(connections) - new.limit, 0)
    for connection in waiting[:excess]:
        connection.transport.close()


def tcp_settings(
    limit: int | None = None, header_timeout: float = HEADER_TIMEOUT, body_timeout: float = BODY_TIMEOUT
) -> dict:
    """uvicorn.Config settings for a TCP server: the manager's, and the gateway's with its own limits."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    room = soft // 2 if soft != resource.RLIM_INFINITY else limit or 256  # descriptors for files and backends too
    # A gateway's idle keep-alive connections are its clients' pools: half its room is theirs.
    waiting = MAX_WAITING if limit is None else max(MAX_WAITING, min(limit, room) // 2)
    limit = max(16, min(limit, room)) if limit else max_connections()
    attributes = {
        "limit": limit,
        "header_timeout": header_timeout,
        "body_timeout": body_timeout,
        "max_waiting": waiting,
    }
    protocol = type("LimitedTcpProtocol", (LimitedH11Protocol,), attributes)
    return {
        "http": protocol,
        "timeout_keep_alive": KEEP_ALIVE_TIMEOUT,
        "h11_max_incomplete_event_size": MAX_HEADER_BYTES,
    }
