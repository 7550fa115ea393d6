"""The relay's audit contract: the Recorder hook it calls (proxy/operations.py implements it), the
audit fields a request carries while it is in flight, and recording an answer before the client
sees it.

Kept apart from the relay so that what the relay promises the audit trail reads in one place.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from mcp_acp import jsonrpc
from mcp_acp.policy.context import ParsedRequest
from mcp_acp.proxy.gate import ErrorObject
from mcp_acp.proxy.tasks import TaskBinding

log = logging.getLogger("mcp_acp.proxy.relay")  # the relay's own logger, as before the split


class Recorder(Protocol):
    """The audit hook (proxy/operations.py)."""

    def describe(self, message: dict, parsed: ParsedRequest | None = None) -> dict: ...
    def admit(self, message: dict) -> dict | None: ...
    def record(self, request: dict, answer: dict, answer_bytes: bytes, duration_ms: float) -> dict | None: ...
    def record_notification(self, message: dict) -> bool: ...
    def record_exchange(
        self,
        direction: str,
        kind: str,
        method: str | None,
        message: dict,
        raw: bytes,
        status: str = "Success",
        reason: str | None = None,
    ) -> bool: ...
    async def sync(self, request: dict) -> dict | None: ...
    def record_task_result(self, binding: TaskBinding, via: str, answer: dict, duration_ms: float) -> dict | None: ...


@dataclass(slots=True)
class PendingRequest:
    method: str | None
    record: dict | None = None  # the request's audit fields, computed before it is forwarded
    started: float = field(default_factory=time.perf_counter)
    log_decision: Callable[[], ErrorObject | None] | None = None  # LogWhileForwarded.write, until it ran


async def recorded_answer(recorder: Recorder, record: dict, answer: dict, data: bytes, started: float) -> bytes:
    """The bytes the client may see once the answer is recorded: the answer, or the error that
    replaces it. The recorder fails closed on its own; should it raise all the same, the
    client still gets an error, never silence (a request handler that dies leaves it waiting)."""
    try:
        replacement = recorder.record(record, answer, data, (time.perf_counter() - started) * 1000)
        if replacement is None and (refusal := await recorder.sync(record)) is not None:
            replacement = {"jsonrpc": "2.0", "id": answer.get("id"), "error": refusal}
    except Exception as exc:
        log.error("recording the answer to %s failed (%s); the client gets an error", record.get("method"), exc)
        replacement = jsonrpc.error_response(
            answer.get("id"),
            jsonrpc.INTERNAL_ERROR,
            "Internal error: the answer could not be recorded, so it was withheld",
        )
    return data if replacement is None else jsonrpc.encode(replacement)
