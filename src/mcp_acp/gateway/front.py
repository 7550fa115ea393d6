"""Streamable HTTP for remote clients, both eras, on top of the one Relay.

- 2026-07-28 (stateless): every POST gets its own Relay on a view of the backend; what the relay
  writes goes to that POST's response (JSON, or SSE when notifications come first).
- 2025 era: `initialize` opens a session (`Mcp-Session-Id`) with one Relay, bound to the principal
  that opened it; another principal presenting that id is refused. Answers go to the POST of
  their request; the server's own requests and notifications go to the oldest open POST of the
  session, else to its GET stream, else wait (a bounded backlog) for one.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from mcp_acp import jsonrpc
from mcp_acp.gateway.endpoint import Endpoint
from mcp_acp.gateway.param_headers import ToolHeaders
from mcp_acp.identity.local import Identity
from mcp_acp.proxy.relay import Relay

log = logging.getLogger(__name__)

MODERN = "2026-07-28"
VERSION_KEY = "io.modelcontextprotocol/protocolVersion"
BACKLOG = 256  # server messages kept for a 2025 session with no stream open
ANSWER_TIMEOUT = 900.0  # seconds a request may wait for its answer (approvals included) before an error
SESSION_IDLE_SECONDS = 3600.0  # a 2025 session without requests for this long is closed
MAX_SESSIONS_PER_PRINCIPAL = 64
# Change notifications belong on a listen stream, not on the response of another request.
REQUEST_SCOPED = ("notifications/progress", "notifications/message")


# The HTTP status of a 2026-07-28 answer sent as JSON (streamable-http.mdx): a request refused as
# malformed is 400, a method the server does not have is 404; every other answer is 200.
ERROR_STATUS = {
    jsonrpc.PARSE_ERROR: 400,
    jsonrpc.INVALID_REQUEST: 400,
    -32602: 400,  # invalid params
    -32020: 400,  # header mismatch
    -32021: 400,  # missing required client capability
    -32022: 400,  # unsupported protocol version
    -32601: 404,  # method not found
}


def answer_status(message: dict) -> int:
    error = message.get("error")
    code = error.get("code") if isinstance(error, dict) else None
    return ERROR_STATUS.get(code, 200) if isinstance(code, int) else 200


def is_modern(message: dict) -> bool:
    params = message.get("params")
    meta = params.get("_meta") if isinstance(params, dict) else None
    return isinstance(meta, dict) and meta.get(VERSION_KEY) is not None


def is_answer(message: dict) -> bool:
    return "method" not in message and ("result" in message or "error" in message)


class Outbox:
    """What one POST's response carries: zero or more messages, then the answer to its request."""

    def __init__(self, request_id: Any) -> None:
        self.request_id = request_id
        self.queue: asyncio.Queue[tuple[dict, bytes]] = asyncio.Queue()

    def put(self, message: dict, data: bytes) -> None:
        self.queue.put_nowait((message, data))

    def is_final(self, message: dict) -> bool:
        return is_answer(message) and message.get("id") == self.request_id

    async def next(self) -> tuple[dict, bytes]:
        try:
            return await asyncio.wait_for(self.queue.get(), ANSWER_TIMEOUT)
        except TimeoutError:
            error = jsonrpc.error_response(
                self.request_id, jsonrpc.INTERNAL_ERROR, f"no answer within {ANSWER_TIMEOUT:g} s; try again"
            )
            return error, jsonrpc.encode(error)


@dataclass
class LegacySession:
    """A 2025-era session: one relay, bound to the principal that opened it."""

    id: str
    caller: Identity
    endpoint: Endpoint
    relay: Relay | None = None
    open: dict[Any, Outbox] = field(default_factory=dict)  # request id -> its POST
    progress: dict[Any, Any] = field(default_factory=dict)  # progress token -> request id
    stream: asyncio.Queue[tuple[dict, bytes] | None] | None = None  # the GET stream
    backlog: deque[tuple[dict, bytes]] = field(default_factory=lambda: deque(maxlen=BACKLOG))
    last_used: float = field(default_factory=time.monotonic)

    async def write(self, data: bytes) -> None:
        message = orjson.loads(data)
        if is_answer(message):
            outbox = self.open.pop(message.get("id"), None)
            if outbox is not None:
                for token in [t for t, request_id in self.progress.items() if request_id == outbox.request_id]:
                    del self.progress[token]  # its request is answered: no more progress for it
                outbox.put(message, data)
            else:
                log.warning(
                    "gateway session %s: an answer with no open request (id %r) dropped", self.id[:8], message.get("id")
                )
            return
        target = None
        if message.get("method") == "notifications/progress":
            token = (message.get("params") or {}).get("progressToken")
            target = self.open.get(self.progress.get(token))
        if target is None and self.open:
            target = next(iter(self.open.values()))
        if target is not None:
            target.put(message, data)
        elif self.stream is not None:
            self.stream.put_nowait((message, data))
        else:
            self.backlog.append((message, data))

    def expect(self, message: dict) -> Outbox:
        outbox = Outbox(message.get("id"))
        self.open[outbox.request_id] = outbox
        meta = (message.get("params") or {}).get("_meta")
        if isinstance(meta, dict) and "progressToken" in meta:
            self.progress[meta["progressToken"]] = outbox.request_id
        return outbox

    def open_stream(self) -> asyncio.Queue[tuple[dict, bytes] | None]:
        if self.stream is not None:  # one GET stream per session: the newer replaces the older
            self.stream.put_nowait(None)
        self.stream = asyncio.Queue()
        while self.backlog:
            self.stream.put_nowait(self.backlog.popleft())
        return self.stream

    async def close(self) -> None:
        if self.stream is not None:
            self.stream.put_nowait(None)
        if self.relay is not None:
            await self.relay.close()


class Front:
    """The MCP endpoint of one proxy: sessions of the 2025 era, and stateless requests."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.sessions: dict[str, LegacySession] = {}
        self.tool_headers = ToolHeaders()  # the Mcp-Param-* each tool mirrors, from the tools/list answers sent

    # --- 2026-07-28: one relay per request ------------------------------------------------

    async def stateless(self, caller: Identity, message: dict, body: bytes) -> tuple[Outbox | None, Relay]:
        """Hand one modern message to a relay of its own; the outbox of its answer (None for a
        notification: nothing comes back)."""
        outbox = Outbox(message.get("id")) if "id" in message and "method" in message else None
        listen = message.get("method") == "subscriptions/listen"
        listing = message.get("method") == "tools/list"

        async def write(data: bytes) -> None:
            if outbox is None:
                return
            answer = orjson.loads(data)
            if answer.get("method") in REQUEST_SCOPED or listen or outbox.is_final(answer):
                if listing and outbox.is_final(answer):
                    self.tool_headers.learn(caller.subject_id, answer)
                outbox.put(answer, data)

        relay = self.endpoint.relay(caller, write, modern=True)
        await relay.start()
        await relay.from_client(body)
        return outbox, relay

    # --- 2025 era: sessions ---------------------------------------------------------------

    async def open_session(self, caller: Identity) -> LegacySession:
        mine = [s for s in self.sessions.values() if s.caller.subject_id == caller.subject_id]
        if len(mine) >= MAX_SESSIONS_PER_PRINCIPAL:  # the oldest goes: a client that leaks sessions hurts only itself
            oldest = min(mine, key=lambda s: s.last_used)
            await self.end_session(oldest.id)
        session = LegacySession(secrets.token_urlsafe(32), caller, self.endpoint)
        session.relay = self.endpoint.relay(caller, session.write)
        await session.relay.start()
        self.sessions[session.id] = session
        return session

    def session(self, session_id: str) -> LegacySession | None:
        session = self.sessions.get(session_id)
        if session is not None:
            session.last_used = time.monotonic()
        return session

    async def end_session(self, session_id: str) -> bool:
        session = self.sessions.pop(session_id, None)
        if session is None:
            return False
        await session.close()
        return True

    async def expire_sessions(self) -> None:
        while True:
            await asyncio.sleep(60)
            cutoff = time.monotonic() - SESSION_IDLE_SECONDS
            for session_id in [s.id for s in self.sessions.values() if s.last_used < cutoff and not s.open]:
                await self.end_session(session_id)
            busy = {session.caller.subject_id for session in self.sessions.values()}
            self.endpoint.forget_idle(SESSION_IDLE_SECONDS, busy)

    def live(self) -> list[dict]:
        """The live 2025 sessions by principal, for status and the UI."""
        by_subject: dict[str, int] = {}
        for session in self.sessions.values():
            by_subject[session.caller.subject_id] = by_subject.get(session.caller.subject_id, 0) + 1
        return [{"principal": subject, "sessions": count} for subject, count in sorted(by_subject.items())]

    async def close(self) -> None:
        for session_id in list(self.sessions):
            await self.end_session(session_id)


async def stream_events(first: tuple[dict, bytes], outbox: Outbox) -> AsyncIterator[dict]:
    """The SSE events of one POST: what came before the answer, then the answer."""
    item = first
    while True:
        message, data = item
        yield {"event": "message", "data": data.decode().rstrip("\n")}
        if outbox.is_final(message):
            return
        item = await outbox.next()
