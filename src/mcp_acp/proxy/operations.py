"""operations.jsonl (docs/audit.md#what-the-main-entries-hold): one chained entry per message, written before it moves on.

Client requests get an entry when answered (its fields computed before it was forwarded); the
server's requests to the client, the client's answers, refused notifications and dropped
answers get one each (`record_exchange`).

Arguments are never logged: only their sha256 and length; nor is a tool result's `content` or
`structuredContent` (the same summary for both: sha256, length, and the shape). A task's final
result gets an entry of its own, as the answer of the tools/call that created it
(proxy/tasks.py). If the entry cannot be written the
request is denied (the client gets an error instead of the result), the entry goes to the
fallback chain, and the proxy shuts down with exit 10.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

import orjson

from mcp_acp import jsonrpc
from mcp_acp.audit.shutdown import ShutdownCoordinator
from mcp_acp.audit.writer import AuditLog, AuditWriteError
from mcp_acp.identity.local import Identity
from mcp_acp.metrics.stats import ProxyStats
from mcp_acp.policy.context import DISCOVERY_METHODS, ParsedRequest, parse_request
from mcp_acp.policy.paths import DEST, MAX_PATHS, OTHER, PATH_MAX, SOURCE
from mcp_acp.proxy import mrtr_audit
from mcp_acp.proxy.listing import encode_deep
from mcp_acp.proxy.output_inspection import scrub
from mcp_acp.proxy.tasks import TaskBinding, final_outcome, is_task_method, requested_task_id

AUDIT_FAILURE_EXIT = 10


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _shown_path(text: str) -> str:
    return text if len(text) <= PATH_MAX else f"{text[:PATH_MAX]}… ({len(text):,} characters)"


def describe_request(message: dict, parsed: ParsedRequest | None = None) -> dict[str, Any]:
    """The audit fields a request carries: computed before it is forwarded, so the proxy never
    executes what it could not record. Every path-like argument is listed (`paths`), not only
    the first; `file_path`, `source_path` and `dest_path` keep their roles. `parsed`: the
    request's arguments as the relay walked them once for this log and the decision."""
    method = message.get("method")
    parsed = parsed if parsed is not None else parse_request(message)
    params = parsed.params
    fields: dict[str, Any] = {
        "method": method,
        "request_id": "unknown" if method == "initialize" else str(message.get("id")),
    }
    if method == "tools/call":
        fields["tool_name"] = params.get("name")
        arguments = a if isinstance(a := params.get("arguments"), dict) else {}
        body = orjson.dumps(arguments, option=orjson.OPT_SORT_KEYS)
        fields["arguments_summary"] = {"redacted": True, "body_hash": _digest(body), "payload_length": len(body)}
    elif is_task_method(method) and (task_id := requested_task_id(params)) is not None:
        fields["task_id"] = _shown_path(task_id)
    elif method == "initialize" and isinstance(params.get("clientInfo"), dict):
        fields["client_id"] = params["clientInfo"].get("name")
    if (mrtr := mrtr_audit.retry_fields(params)) is not None:  # a retry (MRTR): what it carries, by digest
        fields["mrtr"] = mrtr
    if isinstance(method, str) and method not in DISCOVERY_METHODS:
        found = parsed.paths(roots_known=True)
        if found:
            fields["paths"] = [_shown_path(arg.written) for arg in found[:MAX_PATHS]]
            if len(found) > MAX_PATHS:
                fields["paths_count"] = len(found)
            first = next((arg.written for arg in found if arg.role != OTHER), found[0].written)
            fields["file_path"] = os.path.normpath(_shown_path(first)) if first else first
            fields["file_extension"] = os.path.splitext(first)[1] or None if len(first) <= PATH_MAX else None
            fields["source_path"] = next((_shown_path(a.written) for a in found if a.role == SOURCE), None)
            fields["dest_path"] = next((_shown_path(a.written) for a in found if a.role == DEST), None)
    return fields


def _redacted(value: Any) -> dict[str, Any]:
    try:
        body = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:  # deeper than orjson goes (a hostile result): walked with a stack
        body = encode_deep(value)
    return {"redacted": True, "body_hash": _digest(body), "payload_length": len(body)}


def result_summary(result: Any) -> dict[str, Any]:
    """What an entry keeps of a tool result: `content` and `structuredContent` alike as their hash
    and length, never their text; the content's block types, the structured content's field
    names, and the URIs of resource links (what a later resources/read may name)."""
    if not isinstance(result, dict):
        return {}
    summary: dict[str, Any] = {}
    if isinstance(content := result.get("content"), list):
        blocks = [block for block in content if isinstance(block, dict)]
        summary["content"] = {
            **_redacted(content),
            "blocks": len(content),
            "types": [b.get("type") for b in blocks][:100],
        }
        links = [b["uri"] for b in blocks if b.get("type") == "resource_link" and isinstance(b.get("uri"), str)]
        if links:  # a URI may carry a credential (user:password@): never logged
            summary["resource_links"] = scrub([_shown_path(uri) for uri in links[:MAX_PATHS]])
    if "structuredContent" in result:
        structured = result["structuredContent"]
        fields = scrub(sorted(structured)[:100]) if isinstance(structured, dict) else None  # a key may be a secret
        summary["structured_content"] = {**_redacted(structured), "fields": fields}
    if isinstance(result.get("isError"), bool):
        summary["is_error"] = result["isError"]
    return summary


def exchange_summary(method: str | None, kind: str, message: dict) -> dict[str, Any] | None:
    """What an audit entry keeps of a message between the server and the client, beyond its size
    and hash: its shape, never content that may be sensitive (a sampled text, an elicited value)."""
    body = message.get("params") if kind == "request" else message.get("result")
    if "error" in message and isinstance(message["error"], dict):
        return {"error_code": message["error"].get("code")}
    if not isinstance(body, dict):
        return None
    if method == "roots/list" and kind == "response":
        roots = r if isinstance(r := body.get("roots"), list) else []
        return {"roots": [r.get("uri") for r in roots[:MAX_PATHS] if isinstance(r, dict)]}
    if method == "elicitation/create":
        if kind == "request":
            schema = s if isinstance(s := body.get("requestedSchema"), dict) else {}
            properties = p if isinstance(p := schema.get("properties"), dict) else {}
            return {"mode": body.get("mode"), "requested_fields": sorted(properties)[:100]}
        content = c if isinstance(c := body.get("content"), dict) else {}
        return {"action": body.get("action"), "content_fields": sorted(content)[:100], "content": "redacted"}
    if method == "sampling/createMessage":
        if kind == "request":
            messages = m if isinstance(m := body.get("messages"), list) else []
            return {"messages": len(messages), "max_tokens": body.get("maxTokens"), "content": "redacted"}
        return {"model": body.get("model"), "stop_reason": body.get("stopReason"), "content": "redacted"}
    return {"fields": sorted(body)[:100]}


def write_failure(exc: Exception, name: str) -> str:
    """Why a write failed. Any exception counts (an OSError the writer did not wrap, a bug): the
    entry is not on disk either way."""
    return str(exc) if isinstance(exc, AuditWriteError) else f"cannot write the {name} log: {exc!r}"


def fail_closed(audit: AuditLog, shutdown: ShutdownCoordinator, name: str, fields: dict, reason: str) -> dict:
    """An audit entry could not be written: keep it in the fallback chain, start the security
    shutdown (exit 10), and return the error the client gets instead of its answer. Never
    raises (every step is best effort): the client must get that error."""
    where = shutdown.record_with_fallback(name, fields, reason)
    shutdown.initiate(
        "audit_failure", reason, AUDIT_FAILURE_EXIT, {"source": "audit_write", "paths": [str(audit.log_dir)]}
    )
    return {
        "code": jsonrpc.INTERNAL_ERROR,
        "message": f"Audit log failure: {reason}. The request was denied and logged to {where}; "
        "the proxy is shutting down",
    }


class OperationsRecorder:
    def __init__(
        self,
        audit: AuditLog,
        shutdown: ShutdownCoordinator,
        session_id: str,
        identity: Identity,
        backend_id: str,
        transport: str,
        config_version: str,
        stats: ProxyStats | None = None,
    ) -> None:
        self.audit = audit
        self.shutdown = shutdown
        # The enforcer's: proxy latency is recorded from the answers (docs/manager.md#a-proxys-own-api).
        self.stats = stats
        self.client_id: str | None = None
        self._common = {
            "session_id": session_id,
            "subject": {"subject_id": identity.subject_id, "subject_claims": {"provenance": identity.provenance}},
            "backend_id": backend_id,
            "transport": transport,
            "config_version": config_version,
        }

    describe = staticmethod(describe_request)

    def admit(self, message: dict) -> dict | None:
        """Before a request is forwarded: refuse it if the audit trail is not intact."""
        if self.shutdown.is_shutting_down:
            return {"code": jsonrpc.INTERNAL_ERROR, "message": "Proxy is shutting down after a security failure"}
        try:
            self.audit.check_files("operations", "decisions")
        except Exception as exc:
            return self._fail_closed(describe_request(message), write_failure(exc, "operations"))
        # A retry's input responses are the client's answers to the server's input requests:
        # recorded one by one before the retry moves on, as the 2025 answers are.
        for key, method, answer, raw in mrtr_audit.input_responses(message):
            if not self.record_exchange("client_to_server", "response", method, answer, raw, input_key=key):
                return {"code": jsonrpc.INTERNAL_ERROR, "message": "Audit log failure: the proxy is shutting down"}
        return None

    def record(self, request: dict[str, Any], answer: dict, answer_bytes: bytes, duration_ms: float) -> dict | None:
        """Write the entry for an answered request. Returns a replacement answer if that failed."""
        if request.get("method") == "initialize":
            self.client_id = request.get("client_id")
        error = answer.get("error") if isinstance(answer.get("error"), dict) else None
        # An input_required result carries the server's requests to the client (MRTR): one record
        # each, as a 2025 server-to-client request gets, before the client sees them.
        for key, method, asked, raw in mrtr_audit.input_requests(answer) if error is None else ():
            if not self.record_exchange("server_to_client", "request", method, asked, raw, input_key=key):
                return jsonrpc.error_response(
                    answer.get("id"), jsonrpc.INTERNAL_ERROR, "Audit log failure: the proxy is shutting down"
                )
        fields = {
            **self._common,
            **request,
            "status": "Failure" if error else "Success",
            "error_code": error.get("code") if error else None,
            "message": scrub(error.get("message")) if error else None,  # a backend's own error text
            "client_id": self.client_id,
            "response_summary": {
                "size_bytes": len(answer_bytes),
                "body_hash": _digest(answer_bytes),
                **(result_summary(answer.get("result")) if request.get("method") == "tools/call" else {}),
            },
            "duration": {"duration_ms": round(duration_ms, 3)},
        }
        try:
            self.audit.write("operations", fields)
        except Exception as exc:
            refusal = self._fail_closed(fields, write_failure(exc, "operations"))
            return jsonrpc.error_response(answer.get("id"), **refusal)
        if self.stats is not None:
            self.stats.record_answer(request.get("request_id"), request.get("method"), "result" in answer, duration_ms)
        return None

    def record_task_result(self, binding: TaskBinding, via: str, answer: dict, duration_ms: float) -> dict | None:
        """A task's final result, recorded as the answer of the tools/call that created it (its
        tool, arguments record and request id), `duration` counted from that call. Returns the
        error the client gets instead of `answer` when the entry could not be written."""
        result, error, task_status = final_outcome(via, answer)
        failed = error is not None or task_status != "completed"
        body = orjson.dumps(result if result is not None else error)
        fields = {
            **self._common,
            **(binding.record or {"method": "tools/call"}),
            "kind": "task_result",
            "task_id": _shown_path(binding.task_id),
            "task_status": task_status,
            "via": via,
            "via_request_id": str(answer.get("id"))[:200],
            "status": "Failure" if failed else "Success",
            "error_code": error.get("code") if error else None,
            "message": scrub(error.get("message")) if error else None,  # a backend's own error text
            "client_id": self.client_id,
            "response_summary": {"size_bytes": len(body), "body_hash": _digest(body), **result_summary(result)},
            "duration": {"duration_ms": round(duration_ms, 3)},
        }
        if self._write(fields):
            return None
        return jsonrpc.error_response(
            answer.get("id"),
            jsonrpc.INTERNAL_ERROR,
            "Audit log failure: the task's result could not be recorded, so it was withheld; "
            "the proxy is shutting down",
        )

    def record_notification(self, message: dict) -> bool:
        """A client notification; False means it must not be forwarded (audit failure)."""
        if self.shutdown.is_shutting_down:
            return False
        return self._write(
            {**self._common, "method": message.get("method"), "status": "Success", "client_id": self.client_id}
        )

    def record_exchange(
        self,
        direction: str,
        kind: str,
        method: str | None,
        message: dict,
        raw: bytes,
        status: str = "Success",
        reason: str | None = None,
        input_key: str | None = None,
    ) -> bool:
        """A message that is not a client request: the server's requests to the client and the
        client's answers, refused notifications, dropped answers. False means it must not be
        passed on (audit failure: the proxy is shutting down)."""
        if self.shutdown.is_shutting_down:
            return False
        request_id = message.get("id")
        fields = {
            **self._common,
            "direction": direction,
            "kind": kind,
            "method": method
            if method is not None
            else message.get("method")
            if isinstance(message.get("method"), str)
            else None,
            "request_id": None if request_id is None else str(request_id)[:200],
            "status": status,
            "reason": reason,
            "client_id": self.client_id,
            "size_bytes": len(raw),
            "body_hash": _digest(raw),
            "summary": exchange_summary(method, kind, message) if status != "Dropped" else None,
        }
        if input_key is not None:  # carried inside a request or a result (MRTR), under this key
            fields["input_key"] = input_key[:200]
        return self._write(fields)

    def _write(self, fields: dict) -> bool:
        """False when the entry could not be written (it went to the fallback; shutdown started)."""
        try:
            self.audit.write("operations", fields)
            return True
        except Exception as exc:
            self._fail_closed(fields, write_failure(exc, "operations"))
            return False

    def _fail_closed(self, fields: dict, reason: str) -> dict:
        return fail_closed(self.audit, self.shutdown, "operations", fields, reason)

    async def sync(self, request: dict[str, Any]) -> dict | None:
        """Durable mode: wait for the fsync. An error object if it failed (the answer is then not
        on disk for sure: the client gets the error, the proxy shuts down)."""
        try:
            await self.audit.sync()
        except Exception as exc:
            return self._fail_closed(request, f"cannot fsync the audit logs: {exc!r}")
        return None
