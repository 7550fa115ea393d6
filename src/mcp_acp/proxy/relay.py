"""The relay: reads each client message, consults the gate, forwards; passes backend messages back.

Everything the proxy does not decide on passes both ways unchanged: server-to-client requests
(sampling, elicitation, roots), notifications, responses, unknown fields, any protocol version.
Requests are never serialised behind each other: forwarding does not wait for an answer, and a
hook that needs time (a human approval) runs in its own task.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from mcp_acp.proxy import jsonrpc
from mcp_acp.proxy.backends import Backend, BackendUnavailable
from mcp_acp.proxy.gate import Decision, Gate

log = logging.getLogger(__name__)

WriteToClient = Callable[[bytes], Awaitable[None]]


@dataclass(slots=True)
class PendingRequest:
    method: str
    started: float = field(default_factory=time.perf_counter)


class Relay:
    def __init__(self, backend: Backend, gate: Gate, write_to_client: WriteToClient) -> None:
        self.backend = backend
        self.gate = gate
        self._write = write_to_client
        self.pending: dict[Any, PendingRequest] = {}
        self._tasks: set[asyncio.Task] = set()
        # Set when the backend is gone for good (a STDIO child that exited): the proxy stops.
        self.fatal_backend_loss: asyncio.Future = asyncio.get_running_loop().create_future()
        self.closing = False

    async def start(self) -> None:
        await self.backend.start(self.from_backend, self.backend_lost)

    # --- client -> backend -------------------------------------------------------------

    async def from_client(self, line: bytes) -> None:
        if not line.strip():
            return
        try:
            message = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            log.warning("client sent a message that is not JSON: %s", exc)
            await self.reply(jsonrpc.error_response(None, jsonrpc.PARSE_ERROR, f"Parse error: the message is not valid JSON ({exc})"))
            return
        if not isinstance(message, dict):
            await self.reply(jsonrpc.error_response(
                None, jsonrpc.INVALID_REQUEST, "Invalid request: expected one JSON-RPC object per line (batches are not supported)"))
            return
        method = message.get("method")
        if method is None or "id" not in message:  # notification, or a response to the server
            await self._forward(message, line)
            return
        if not isinstance(method, str):
            await self.reply(jsonrpc.error_response(message["id"], jsonrpc.INVALID_REQUEST, "Invalid request: 'method' must be a string"))
            return
        decision = self.gate.hook_for(method)(message)
        if inspect.isawaitable(decision):
            task = asyncio.create_task(self._decide_then_forward(message, line, decision))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:
            await self._act(message, line, decision)

    async def _decide_then_forward(self, message: dict, line: bytes, decision: Awaitable[Decision]) -> None:
        try:
            verdict = await decision
        except Exception:  # fail closed: a hook that breaks denies
            log.exception("decision for %s failed; denying", message.get("method"))
            verdict = {"code": jsonrpc.INTERNAL_ERROR, "message": f"Internal error evaluating policy for {message.get('method')}"}
        await self._act(message, line, verdict)

    async def _act(self, message: dict, line: bytes, decision: Decision) -> None:
        if decision is not None:
            await self.reply({"jsonrpc": "2.0", "id": message["id"], "error": decision})
            return
        self.pending[message["id"]] = PendingRequest(message["method"])
        await self._forward(message, line)

    async def _forward(self, message: dict, line: bytes) -> None:
        try:
            await self.backend.send(message, line if line.endswith(b"\n") else line + b"\n")
        except BackendUnavailable as exc:
            await self._fail_request(message, str(exc))
        except ValueError as exc:  # the HTTP transport validates the envelope
            if "id" in message and "method" in message:
                self.pending.pop(message["id"], None)
                await self.reply(jsonrpc.error_response(message["id"], jsonrpc.INVALID_REQUEST, f"Invalid request: {exc}"))

    async def _fail_request(self, message: dict, reason: str) -> None:
        if "id" in message and "method" in message:
            self.pending.pop(message["id"], None)
            await self.reply(self._backend_error(message["id"], reason))

    def _backend_error(self, request_id: Any, reason: str) -> dict:
        return jsonrpc.error_response(
            request_id, jsonrpc.BACKEND_UNAVAILABLE,
            f"Backend '{self.backend.server_name}' is unavailable: {reason}",
            {"backend_id": self.backend.server_name, "transport": self.backend.transport, "reason": reason},
        )

    # --- backend -> client -------------------------------------------------------------

    async def from_backend(self, message: dict[str, Any], raw: bytes | None) -> None:
        if "method" not in message and "id" in message:
            self.pending.pop(message["id"], None)
        await self._write(raw if raw is not None else jsonrpc.encode(message))

    def backend_lost(self, reason: str) -> None:
        if self.closing:
            return
        log.error("backend %s lost: %s", self.backend.server_name, reason)
        task = asyncio.create_task(self._fail_pending(reason))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _fail_pending(self, reason: str) -> None:
        failed = list(self.pending)
        self.pending.clear()
        for request_id in failed:
            await self.reply(self._backend_error(request_id, reason))
        if not self.backend.reconnects and not self.fatal_backend_loss.done():
            self.fatal_backend_loss.set_result(reason)

    async def reply(self, message: dict[str, Any]) -> None:
        await self._write(jsonrpc.encode(message))

    async def close(self) -> None:
        self.closing = True
        for task in list(self._tasks):
            task.cancel()
        await self.backend.close()
