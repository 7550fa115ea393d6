"""The relay: reads each client message, consults the gate, forwards; passes backend messages back.

Everything the proxy does not decide on passes both ways unchanged: server-to-client requests
(sampling, elicitation, roots), notifications, responses, unknown fields, any protocol version.
Requests are never serialised behind each other: forwarding does not wait for an answer, and a
hook that needs time (a human approval) runs in its own task.

Every answer to a client request, the backend's or the proxy's own, goes through `_answer`,
which records it in the audit trail before the client sees it.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from mcp_acp.proxy import jsonrpc
from mcp_acp.proxy.backends import Backend, BackendUnavailable
from mcp_acp.proxy.gate import Decision, ErrorObject, Gate, LogWhileForwarded

log = logging.getLogger(__name__)

WriteToClient = Callable[[bytes], Awaitable[None]]
UNPARSED = {"method": None, "request_id": "unknown"}


class Recorder(Protocol):
    """The audit hook (proxy/operations.py)."""

    def describe(self, message: dict) -> dict: ...
    def admit(self, message: dict) -> dict | None: ...
    def record(self, request: dict, answer: dict, answer_bytes: bytes, duration_ms: float) -> dict | None: ...
    def record_notification(self, message: dict) -> bool: ...
    async def sync(self) -> None: ...


@dataclass(slots=True)
class PendingRequest:
    method: str | None
    record: dict | None = None  # the request's audit fields
    started: float = field(default_factory=time.perf_counter)
    message: dict | None = None  # the request, until its audit fields are computed (Relay._record_of)
    log_decision: Callable[[], ErrorObject | None] | None = None  # LogWhileForwarded.write, until it ran


class Relay:
    def __init__(self, backend: Backend, gate: Gate, write_to_client: WriteToClient,
                 recorder: Recorder | None = None, wire=None) -> None:
        self.backend = backend
        self.gate = gate
        self.recorder = recorder
        self.wire = wire  # debug wire log (proxy/wire_log.py), only at log_level DEBUG
        self._write = write_to_client
        self.pending: dict[Any, PendingRequest] = {}
        self._refused: set[Any] = set()  # answered already: the backend's answer to these is dropped
        self._tasks: set[asyncio.Task] = set()
        # Set when the backend is gone for good (a STDIO child that exited): the proxy stops.
        self.fatal_backend_loss: asyncio.Future = asyncio.get_running_loop().create_future()
        self.closing = False

    async def start(self) -> None:
        await self.backend.start(self.from_backend, self.backend_lost)

    def _pending_for(self, message: dict) -> PendingRequest:
        return PendingRequest(message.get("method"), message=message if self.recorder else None)

    def _record_of(self, pending: PendingRequest) -> dict | None:
        """The request's audit fields, computed once: normally right after the request went to the
        backend (while it works, not before it may start), else when the answer is recorded."""
        if pending.message is not None:
            pending.record, pending.message = self.recorder.describe(pending.message), None
        return pending.record

    # --- client -> backend -------------------------------------------------------------

    async def from_client(self, line: bytes) -> None:
        if not line.strip():
            return
        try:
            message = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            log.warning("client sent a message that is not JSON: %s", exc)
            await self._answer(PendingRequest(None, dict(UNPARSED)), jsonrpc.error_response(
                None, jsonrpc.PARSE_ERROR, f"Parse error: the message is not valid JSON ({exc})"))
            return
        if not isinstance(message, dict):
            await self._answer(PendingRequest(None, dict(UNPARSED)), jsonrpc.error_response(
                None, jsonrpc.INVALID_REQUEST,
                "Invalid request: expected one JSON-RPC object per line (batches are not supported)"))
            return
        if self.wire:
            self.wire.tap("client", "ingress", message)
        method = message.get("method")
        if method is None or "id" not in message:  # a notification, or a response to the server
            if method is not None and self.recorder and not self.recorder.record_notification(message):
                return
            if method is not None and not self.gate.notification(message):
                return
            await self._forward(message, line)
            return
        pending = self._pending_for(message)
        if not isinstance(method, str):
            await self._answer(pending, jsonrpc.error_response(
                message["id"], jsonrpc.INVALID_REQUEST, "Invalid request: 'method' must be a string"))
            return
        if self.recorder and (refusal := self.recorder.admit(message)) is not None:
            await self._answer(pending, {"jsonrpc": "2.0", "id": message["id"], "error": refusal})
            return
        decision = self.gate.request(message)
        if inspect.isawaitable(decision):
            task = asyncio.create_task(self._decide_then_forward(message, line, pending, decision))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:
            await self._act(message, line, pending, decision)

    async def _decide_then_forward(self, message: dict, line: bytes, pending: PendingRequest,
                                   decision: Awaitable[Decision]) -> None:
        try:
            verdict = await decision
        except Exception:  # fail closed: a hook that breaks denies
            log.exception("decision for %s failed; denying", message.get("method"))
            verdict = {"code": jsonrpc.INTERNAL_ERROR, "message": f"Internal error evaluating policy for {message.get('method')}"}
        await self._act(message, line, pending, verdict)

    async def _act(self, message: dict, line: bytes, pending: PendingRequest, decision: Decision) -> None:
        if isinstance(decision, LogWhileForwarded):
            pending.log_decision, decision = decision.write, None
        if decision is not None:
            await self._answer(pending, {"jsonrpc": "2.0", "id": message["id"], "error": decision})
            return
        self.pending[message["id"]] = pending
        await self._forward(message, line)
        self._record_of(pending)
        if pending.log_decision is not None:  # while the backend works
            await self._log_decision(message["id"], pending)

    async def _log_decision(self, request_id: Any, pending: PendingRequest) -> None:
        """Write the decision entry left for while the backend works. If it cannot be written the
        client gets that error now, and the backend's answer will be dropped."""
        write, pending.log_decision = pending.log_decision, None
        if (refusal := write()) is not None:
            if self.pending.pop(request_id, None) is not None:
                self._refused.add(request_id)
            await self._answer(pending, {"jsonrpc": "2.0", "id": request_id, "error": refusal})

    async def _forward(self, message: dict, line: bytes) -> None:
        if self.wire:
            self.wire.tap("proxy", "backend", message)
        try:
            await self.backend.send(message, line if line.endswith(b"\n") else line + b"\n")
        except BackendUnavailable as exc:
            await self._fail_request(message, str(exc))
        except ValueError as exc:  # the HTTP transport validates the envelope
            if "id" in message and "method" in message:
                pending = self.pending.pop(message["id"], None) or self._pending_for(message)
                await self._answer(pending, jsonrpc.error_response(
                    message["id"], jsonrpc.INVALID_REQUEST, f"Invalid request: {exc}"))

    async def _fail_request(self, message: dict, reason: str) -> None:
        if "id" in message and "method" in message:
            pending = self.pending.pop(message["id"], None) or self._pending_for(message)
            await self._answer(pending, self._backend_error(message["id"], reason))

    def _backend_error(self, request_id: Any, reason: str) -> dict:
        return jsonrpc.error_response(
            request_id, jsonrpc.BACKEND_UNAVAILABLE,
            f"Backend '{self.backend.server_name}' is unavailable: {reason}",
            {"backend_id": self.backend.server_name, "transport": self.backend.transport, "reason": reason},
        )

    # --- answers to the client ---------------------------------------------------------

    async def _answer(self, pending: PendingRequest, answer: dict, raw: bytes | None = None) -> None:
        if pending.log_decision is not None:  # the answer came first: its decision entry still precedes it
            write, pending.log_decision = pending.log_decision, None
            if (refusal := write()) is not None:
                answer, raw = {"jsonrpc": "2.0", "id": answer.get("id"), "error": refusal}, None
        data = raw if raw is not None else jsonrpc.encode(answer)
        if self.recorder is not None and (record := self._record_of(pending)) is not None:
            duration_ms = (time.perf_counter() - pending.started) * 1000
            replacement = self.recorder.record(record, answer, data, duration_ms)
            if replacement is not None:
                data = jsonrpc.encode(replacement)
            await self.recorder.sync()
        if self.wire:
            self.wire.tap("proxy", "egress", orjson.loads(data))
        await self._write(data)

    # --- backend -> client -------------------------------------------------------------

    async def from_backend(self, message: dict[str, Any], raw: bytes | None) -> None:
        if self.wire:
            self.wire.tap("backend", "ingress", message)
        if "method" not in message and "id" in message:
            pending = self.pending.pop(message["id"], None)
            if pending is None and message["id"] in self._refused:
                self._refused.discard(message["id"])
                return
            if pending is not None:
                if (rewrite := self.gate.results.get(pending.method)) and "result" in message:
                    rewritten = rewrite(message)
                    if rewritten is not message:  # a hook returns the very answer when it changes nothing
                        message, raw = rewritten, None
                await self._answer(pending, message, raw)
                return
        await self._write(raw if raw is not None else jsonrpc.encode(message))

    def backend_lost(self, reason: str) -> None:
        if self.closing:
            return
        log.error("backend %s lost: %s", self.backend.server_name, reason)
        task = asyncio.create_task(self._fail_pending(reason))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _fail_pending(self, reason: str) -> None:
        failed = list(self.pending.items())
        self.pending.clear()
        for request_id, pending in failed:
            await self._answer(pending, self._backend_error(request_id, reason))
        if not self.backend.reconnects and not self.fatal_backend_loss.done():
            self.fatal_backend_loss.set_result(reason)

    async def notify_client(self, method: str) -> None:
        """A notification of the proxy's own (a list changed because the policy did)."""
        await self._write(jsonrpc.encode({"jsonrpc": "2.0", "method": method}))

    async def close(self) -> None:
        self.closing = True
        for task in list(self._tasks):
            task.cancel()
        await self.backend.close()
