"""The relay: reads each client message, consults the gate, forwards; passes backend messages back.

Every message has a decision or a record, in both directions (issue 15):
- a client message is validated first (proxy/envelope.py); a request is recorded, then decided,
  then forwarded; a request whose id is already in flight is refused;
- client notifications pass only when they are on envelope.CLIENT_NOTIFICATIONS; any other id-less
  message is refused and recorded;
- the server's requests to the client (sampling, elicitation, roots) and the client's answers
  are recorded and passed on unchanged; an answer to nothing is dropped and recorded;
- a backend answer with no request in flight (unsolicited, duplicate, bad id) is dropped and
  recorded.
Everything else passes both ways unchanged: notifications, unknown fields, any protocol
version. Requests are never serialised behind each other: forwarding does not wait for an
answer, and a hook that needs time (a human approval) runs in its own task.

Every answer to a client request, the backend's or the proxy's own, goes through `_answer`,
which records it in the audit trail before the client sees it.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import orjson

from mcp_acp import jsonrpc
from mcp_acp.backends import UNREADABLE, Backend, BackendUnavailable
from mcp_acp.policy.context import ParsedRequest, parse_request
from mcp_acp.proxy import envelope
from mcp_acp.proxy.gate import AnswerWith, Decision, ErrorObject, ForwardInstead, Gate, LogWhileForwarded
from mcp_acp.proxy.relay_audit import PendingRequest, Recorder, recorded_answer
from mcp_acp.proxy.tasks import TASK_NOTIFICATION

log = logging.getLogger(__name__)

WriteToClient = Callable[[bytes], Awaitable[None]]

BACKEND_FAILURE_EXIT = 14  # the backend's messages could not be read: the session ends loudly


def _broken_decision(message: dict) -> ErrorObject:
    """The denial that stands in for a decision hook that raised (logged with its traceback)."""
    log.exception("decision for %s failed; denying", message.get("method"))
    return {"code": jsonrpc.INTERNAL_ERROR, "message": f"Internal error evaluating policy for {message.get('method')}"}


class Relay:
    def __init__(
        self, backend: Backend, gate: Gate, write_to_client: WriteToClient, recorder: Recorder | None = None, wire=None
    ) -> None:
        self.backend = backend
        self.gate = gate
        self.recorder = recorder
        self.wire = wire  # debug wire log (proxy/wire_log.py), only at log_level DEBUG
        self._write = write_to_client
        self.pending: dict[Any, PendingRequest] = {}  # forwarded, waiting for the backend's answer
        self._deciding: set[Any] = set()  # arrived, not yet forwarded or answered
        self._refused: set[Any] = set()  # answered already: the backend's answer to these is dropped
        self._server_requests: dict[Any, str] = {}  # the backend's requests to the client, by id
        self._tasks: set[asyncio.Task] = set()
        # Set when the backend is gone for good (a STDIO child that exited): the proxy stops.
        self.fatal_backend_loss: asyncio.Future = asyncio.get_running_loop().create_future()
        self.fatal_exit_code = 1
        self.closing = False

    async def start(self) -> None:
        await self.backend.start(self.from_backend, self.backend_lost)

    def _pending_for(self, message: dict, parsed: ParsedRequest | None = None) -> PendingRequest:
        return PendingRequest(message.get("method"), self.recorder.describe(message, parsed) if self.recorder else None)

    # --- client -> backend -------------------------------------------------------------

    async def from_client(self, line: bytes) -> None:
        """Never raises: a failure of the proxy's own answers the message with an internal error
        (when it has an id) and the session goes on; nothing was forwarded."""
        try:
            await self._from_client(line)
        except Exception:
            log.exception("handling a client message failed; it was refused")
            request_id = envelope.id_in_raw(line)
            if request_id in self.pending:  # it was forwarded: its own answer will come
                return
            self._deciding.discard(request_id)
            await self._write(
                jsonrpc.encode(
                    jsonrpc.error_response(
                        request_id if envelope.valid_id(request_id) else None,
                        jsonrpc.INTERNAL_ERROR,
                        "Internal error: the proxy could not handle this message, so it was refused",
                    )
                )
            )

    async def _from_client(self, line: bytes) -> None:
        if not line.strip():
            return
        try:
            message = envelope.parse_client_message(line)
        except envelope.Refusal as refusal:
            log.warning("client message refused, not forwarded (not JSON, or not valid JSON-RPC): %s", refusal.message)
            record = {
                "method": refusal.method,
                "request_id": str(refusal.request_id) if refusal.request_id is not None else "unknown",
                "payload_length": len(line),
            }
            await self._answer(PendingRequest(refusal.method, record if self.recorder else None), refusal.answer())
            return
        if self.wire:
            self.wire.tap("client", "ingress", message)
        method = message.get("method")
        if method is None:  # the client's answer to a request of the server's
            await self._client_answer(message, line)
        elif "id" not in message:
            await self._client_notification(message, line)
        else:
            await self._client_request(message, line)

    async def _client_notification(self, message: dict, line: bytes) -> None:
        method = message["method"]
        if method not in envelope.CLIENT_NOTIFICATIONS:
            reason = f"'{method}' is not a notification a client may send; a request needs an id (it was not forwarded)"
            log.warning("client notification refused: %s", reason)
            self.gate.refused(message, reason)
            self._record("client_to_server", "notification", method, message, line, "Refused", reason)
            return
        if self.recorder and not self.recorder.record_notification(message):
            return
        if not self.gate.notification(message):
            return
        await self._forward(message, line)

    async def _client_answer(self, message: dict, line: bytes) -> None:
        method = self._server_requests.pop(message["id"], None)
        if method is None:
            self._record(
                "client_to_server",
                "response",
                None,
                message,
                line,
                "Dropped",
                "an answer to no request of the server's",
            )
            return
        if not self._record("client_to_server", "response", method, message, line):
            return
        self.gate.client_answered(method, message)
        await self._forward(message, line)

    async def _client_request(self, message: dict, line: bytes) -> None:
        request_id = message["id"]
        if request_id in self.pending or request_id in self._deciding:
            await self._answer(
                self._pending_for(message),
                jsonrpc.error_response(
                    request_id,
                    jsonrpc.INVALID_REQUEST,
                    f"Invalid request: id {request_id!r} is already in flight; use a new id for each request",
                ),
            )
            return
        try:  # the record comes first: the proxy never forwards what it could not record
            parsed = parse_request(message)  # its arguments, walked once for the record and the decision
            pending = self._pending_for(message, parsed)
        except Exception:
            log.exception("the request %r could not be described for the audit trail; refused", request_id)
            await self._answer(
                PendingRequest(
                    message["method"],
                    {"method": message["method"], "request_id": str(request_id)} if self.recorder else None,
                ),
                jsonrpc.error_response(
                    request_id,
                    jsonrpc.INTERNAL_ERROR,
                    "Internal error: the request could not be recorded, so it was refused",
                ),
            )
            return
        if self.recorder and (refusal := self.recorder.admit(message)) is not None:
            await self._answer(pending, {"jsonrpc": "2.0", "id": request_id, "error": refusal})
            return
        self._deciding.add(request_id)
        try:
            decision = self.gate.request(message, parsed)
        except Exception:  # fail closed: a hook that breaks denies
            decision = _broken_decision(message)
        if inspect.isawaitable(decision):
            self._spawn(self._decide_then_forward(message, line, pending, decision))
        else:
            await self._act(message, line, pending, decision)

    async def _decide_then_forward(
        self, message: dict, line: bytes, pending: PendingRequest, decision: Awaitable[Decision]
    ) -> None:
        try:
            verdict = await decision
        except Exception:  # fail closed: a hook that breaks denies
            verdict = _broken_decision(message)
        await self._act(message, line, pending, verdict)

    async def _act(self, message: dict, line: bytes, pending: PendingRequest, decision: Decision) -> None:
        request_id = message["id"]
        self._deciding.discard(request_id)
        if isinstance(decision, LogWhileForwarded):
            pending.log_decision, decision = decision.write, None
        elif isinstance(decision, AnswerWith):  # the proxy's own result (input_required: ask a human)
            await self._answer(pending, {"jsonrpc": "2.0", "id": request_id, "result": decision.result})
            return
        elif isinstance(decision, ForwardInstead):  # decided as received, forwarded without the proxy's own fields
            message, line, decision = decision.message, jsonrpc.encode(decision.message), None
        if decision is not None:
            await self._answer(pending, {"jsonrpc": "2.0", "id": request_id, "error": decision})
            return
        self.pending[request_id] = pending
        await self._forward(message, line)
        if pending.log_decision is not None:  # while the backend works
            await self._log_decision(request_id, pending)

    async def _log_decision(self, request_id: Any, pending: PendingRequest) -> None:
        """Write the decision entry left for while the backend works. If it cannot be written the
        client gets that error now, and the backend's answer will be dropped."""
        write, pending.log_decision = pending.log_decision, None
        assert write is not None  # the caller saw it set
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
                await self._answer(
                    pending, jsonrpc.error_response(message["id"], jsonrpc.INVALID_REQUEST, f"Invalid request: {exc}")
                )

    async def _fail_request(self, message: dict, reason: str) -> None:
        if "id" in message and "method" in message:
            pending = self.pending.pop(message["id"], None) or self._pending_for(message)
            await self._answer(pending, self._backend_error(message["id"], reason))

    def _backend_error(self, request_id: Any, reason: str) -> dict:
        return jsonrpc.error_response(
            request_id,
            jsonrpc.BACKEND_UNAVAILABLE,
            f"Backend '{self.backend.server_name}' is unavailable: {reason}",
            {"backend_id": self.backend.server_name, "transport": self.backend.transport, "reason": reason},
        )

    # --- answers to the client ---------------------------------------------------------

    async def _answer(self, pending: PendingRequest, answer: dict, raw: bytes | None = None) -> None:
        if pending.log_decision is not None:  # the answer came first: its decision entry still precedes it
            write, pending.log_decision = pending.log_decision, None
            assert write is not None  # the caller saw it set
            if (refusal := write()) is not None:
                answer, raw = {"jsonrpc": "2.0", "id": answer.get("id"), "error": refusal}, None
        data = raw if raw is not None else jsonrpc.encode(answer)
        if self.recorder is not None and (record := pending.record) is not None:
            data = await recorded_answer(self.recorder, record, answer, data, pending.started)
        if self.wire:
            self.wire.tap("proxy", "egress", orjson.loads(data))
        await self._write(data)

    # --- backend -> client -------------------------------------------------------------

    async def from_backend(self, message: dict[str, Any], raw: bytes | None) -> None:
        """Never raises: a message it cannot handle is dropped and recorded; a failure of the
        proxy's own ends the session loudly (BACKEND_FAILURE_EXIT) rather than leave requests hanging."""
        try:
            await self._from_backend(message, raw)
        except Exception as exc:
            log.critical(
                "reading the backend's messages failed (%s: %s); ending the session",
                type(exc).__name__,
                exc,
                exc_info=True,
            )
            self.backend_failed(f"the proxy could not handle a message from the backend ({type(exc).__name__})")

    async def _from_backend(self, message: dict[str, Any], raw: bytes | None) -> None:
        if self.wire:
            self.wire.tap("backend", "ingress", message)
        if UNREADABLE in message:
            await self._unreadable(raw or b"", message[UNREADABLE])
            return
        data = raw if raw is not None else jsonrpc.encode(message)
        has_id, method = "id" in message, message.get("method")
        if has_id and not envelope.valid_id(message["id"]):
            self._drop(message, data, "its id is not a string or a safe integer")
            return
        if method is None and has_id:
            await self._backend_answer(message, raw, data)
        elif isinstance(method, str) and has_id:  # a request of the server's (sampling, elicitation, roots)
            if self.gate.inspector is not None:
                message, data, refused = await self._inspect_server_request(method, message, data)
                if refused:
                    return
            if not self._record("server_to_client", "request", method, message, data):
                return
            self._server_requests[message["id"]] = method
            await self._write(data)
        elif isinstance(method, str):  # a notification (progress, logging, list_changed)
            tasks = self.gate.tasks if method == TASK_NOTIFICATION else None
            if tasks is not None and (dropped := tasks.notified(message, self.recorder)) is not None:
                self._drop(message, data, dropped)  # another session's task, or a result not recorded
                return
            await self._write(data)
        else:
            self._drop(message, data, "it is neither a request, a notification nor an answer")

    async def _inspect_server_request(self, method: str, message: dict, data: bytes) -> tuple[dict, bytes, bool]:
        """A server request's params inspected (proxy/output_inspection.py). When a finding is
        denied, the backend gets an error in the client's stead and the request is recorded as refused."""
        assert self.gate.inspector is not None  # the caller checked
        try:
            inspected, found, refused = await self.gate.inspector.server_request(method, message)
        except Exception:
            log.exception("inspecting the server's %s request failed; it is refused", method)
            inspected, found, refused = message, None, True
        if refused:
            reason = "output inspection: " + ", ".join((found or {}).get("kinds", ["inspection failed"]))
            self._record("server_to_client", "request", method, {"id": message["id"]}, b"", "Refused", reason)
            refusal = jsonrpc.error_response(message["id"], jsonrpc.POLICY_DENIED, f"Refused by the proxy: {reason}")
            await self._forward(refusal, jsonrpc.encode(refusal))
            return message, data, True
        if inspected is not message:
            return inspected, jsonrpc.encode(inspected), False
        return message, data, False

    async def _backend_answer(self, message: dict, raw: bytes | None, data: bytes) -> None:
        pending = self.pending.pop(message["id"], None)
        if pending is None:
            answered = message["id"] in self._refused
            self._refused.discard(message["id"])
            self._drop(
                message,
                data,
                "an answer to a request the proxy already answered"
                if answered
                else "an answer to no request in flight (unsolicited or duplicate)",
            )
            return
        if (rewrite := self.gate.results.get(pending.method or "")) and "result" in message:
            try:
                rewritten = rewrite(message)
            except Exception:  # fail closed for this request: its answer cannot be checked
                log.exception("checking the backend's answer to %s failed; the client gets an error", pending.method)
                rewritten = jsonrpc.error_response(
                    message["id"],
                    jsonrpc.INTERNAL_ERROR,
                    f"Internal error: the proxy could not check the server's answer "
                    f"to {pending.method}, so it was withheld",
                )
            if rewritten is not message:  # a hook returns the very answer when it changes nothing
                message, raw = rewritten, None
        if self.gate.inspector is not None:  # secrets and injected instructions (proxy/output_inspection.py)
            inspected, found = await self.gate.inspector.result(pending.method, message, len(data))
            if found is not None and pending.record is not None:
                pending.record["output_inspection"] = found
            if inspected is not message:
                message, raw = inspected, None
        if self.gate.tasks is not None:  # a task created, a task's final result (proxy/tasks.py)
            followed = self._follow_tasks(pending, message)
            if followed is not message:
                message, raw = followed, None
        await self._answer(pending, message, raw)

    def _follow_tasks(self, pending: PendingRequest, message: dict) -> dict:
        """Bind a task the answer created, record a task's final result; fail closed for this
        request if that breaks (a task it does not know is refused later, never let through)."""
        assert self.gate.tasks is not None  # the caller checked
        try:
            return self.gate.tasks.answered(pending.method, pending.record, pending.started, message, self.recorder)
        except Exception:
            log.exception("following the task in the answer to %s failed; the client gets an error", pending.method)
            return jsonrpc.error_response(
                message["id"],
                jsonrpc.INTERNAL_ERROR,
                f"Internal error: the proxy could not follow the task in the answer to {pending.method}, "
                "so it was withheld",
            )

    async def _unreadable(self, raw: bytes, reason: str) -> None:
        """A backend line the proxy cannot read: dropped and recorded; the request whose id it
        seems to carry gets an error rather than wait for ever."""
        self._drop({}, raw, reason)
        request_id = envelope.id_in_raw(raw)
        if envelope.valid_id(request_id) and (pending := self.pending.pop(request_id, None)) is not None:
            await self._answer(
                pending,
                jsonrpc.error_response(
                    request_id,
                    jsonrpc.INTERNAL_ERROR,
                    f"Internal error: the server's answer could not be read ({reason}), so it was withheld",
                ),
            )

    def _drop(self, message: dict, data: bytes, reason: str) -> None:
        log.warning("dropped a message from backend %s: %s", self.backend.server_name, reason)
        kind = "response" if "method" not in message else "message"
        self._record("server_to_client", kind, None, message, data, "Dropped", reason)

    def _record(self, direction: str, kind: str, method: str | None, message: dict, raw: bytes, *outcome: str) -> bool:
        """Recorder.record_exchange when there is a recorder; False: the message must not be passed on."""
        return self.recorder is None or self.recorder.record_exchange(direction, kind, method, message, raw, *outcome)

    def backend_failed(self, reason: str) -> None:
        """The proxy cannot go on reading the backend: every waiting request gets an error, and
        the proxy stops with BACKEND_FAILURE_EXIT."""
        self.fatal_exit_code = BACKEND_FAILURE_EXIT
        self._spawn(self._fail_pending(reason, fatal=True))

    def backend_lost(self, reason: str) -> None:
        if self.closing:
            return
        log.error("backend %s lost: %s", self.backend.server_name, reason)
        self._spawn(self._fail_pending(reason))

    async def _fail_pending(self, reason: str, fatal: bool = False) -> None:
        failed = list(self.pending.items())
        self.pending.clear()
        for request_id, pending in failed:
            await self._answer(pending, self._backend_error(request_id, reason))
        if (fatal or not self.backend.reconnects) and not self.fatal_backend_loss.done():
            self.fatal_backend_loss.set_result(reason)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` in a task of the relay's own, cancelled when the relay closes."""
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def notify_client(self, method: str) -> None:
        """A notification of the proxy's own (a list changed because the policy did)."""
        await self._write(jsonrpc.encode({"jsonrpc": "2.0", "method": method}))

    async def close(self) -> None:
        self.closing = True
        for task in list(self._tasks):
            task.cancel()
        await self.backend.close()
