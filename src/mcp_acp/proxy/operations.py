"""operations.jsonl (SPEC §5.2): one chained entry per client message, written before its answer.

Arguments are never logged: only their sha256 and length. If the entry cannot be written the
request is denied (the client gets an error instead of the result), the entry goes to the
fallback chain, and the proxy shuts down with exit 10.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

import orjson

from mcp_acp.audit.shutdown import ShutdownCoordinator
from mcp_acp.audit.writer import AuditLog, AuditWriteError
from mcp_acp.identity.local import Identity
from mcp_acp.metrics.stats import ProxyStats
from mcp_acp.policy.context import DEST_KEYS, GENERIC_KEYS, SOURCE_KEYS, first_string
from mcp_acp.proxy import jsonrpc

AUDIT_FAILURE_EXIT = 10


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def describe_request(message: dict) -> dict[str, Any]:
    """The audit fields a request carries, computed once when it arrives."""
    method = message.get("method")
    params = message.get("params") if isinstance(message.get("params"), dict) else {}
    fields: dict[str, Any] = {
        "method": method,
        "request_id": "unknown" if method == "initialize" else str(message.get("id")),
    }
    if method == "tools/call":
        fields["tool_name"] = params.get("name")
        arguments = params.get("arguments") if isinstance(params.get("arguments"), dict) else {}
        body = orjson.dumps(arguments, option=orjson.OPT_SORT_KEYS)
        fields["arguments_summary"] = {"redacted": True, "body_hash": _digest(body), "payload_length": len(body)}
        source, dest = first_string(arguments, SOURCE_KEYS), first_string(arguments, DEST_KEYS)
        path = first_string(arguments, GENERIC_KEYS) or source or dest
        if path:
            fields["file_path"] = os.path.normpath(path)
            fields["file_extension"] = os.path.splitext(path)[1] or None
        fields["source_path"], fields["dest_path"] = source, dest
    elif method == "initialize" and isinstance(params.get("clientInfo"), dict):
        fields["client_id"] = params["clientInfo"].get("name")
    elif method and method.startswith("resources/") and isinstance(params.get("uri"), str):
        fields["file_path"] = params["uri"]
    return fields


def fail_closed(audit: AuditLog, shutdown: ShutdownCoordinator, name: str, fields: dict, reason: str) -> dict:
    """An audit entry could not be written: keep it in the fallback chain, start the security
    shutdown (exit 10), and return the error the client gets instead of its answer."""
    where = shutdown.record_with_fallback(name, fields, reason)
    shutdown.initiate("audit_failure", reason, AUDIT_FAILURE_EXIT, {"source": "audit_write", "paths": [str(audit.log_dir)]})
    return {"code": jsonrpc.INTERNAL_ERROR,
            "message": f"Audit log failure: {reason}. The request was denied and logged to {where}; "
                       "the proxy is shutting down"}


class OperationsRecorder:
    def __init__(self, audit: AuditLog, shutdown: ShutdownCoordinator, session_id: str, identity: Identity,
                 backend_id: str, transport: str, config_version: str, stats: ProxyStats | None = None) -> None:
        self.audit = audit
        self.shutdown = shutdown
        self.stats = stats  # the enforcer's: proxy latency is recorded from the answers (SPEC §13.1)
        self.client_id: str | None = None
        self._common = {
            "session_id": session_id,
            "subject": {"subject_id": identity.subject_id, "subject_claims": {"provenance": identity.provenance}},
            "backend_id": backend_id, "transport": transport, "config_version": config_version,
        }

    describe = staticmethod(describe_request)

    def admit(self, message: dict) -> dict | None:
        """Before a request is forwarded: refuse it if the audit trail is not intact."""
        if self.shutdown.is_shutting_down:
            return {"code": jsonrpc.INTERNAL_ERROR, "message": "Proxy is shutting down after a security failure"}
        try:
            self.audit.check_files("operations", "decisions")
        except AuditWriteError as exc:
            return self._fail_closed(describe_request(message), str(exc))
        return None

    def record(self, request: dict[str, Any], answer: dict, answer_bytes: bytes, duration_ms: float) -> dict | None:
        """Write the entry for an answered request. Returns a replacement answer if that failed."""
        if request.get("method") == "initialize":
            self.client_id = request.get("client_id")
        error = answer.get("error") if isinstance(answer.get("error"), dict) else None
        fields = {
            **self._common, **request,
            "status": "Failure" if error else "Success",
            "error_code": error.get("code") if error else None,
            "message": error.get("message") if error else None,
            "client_id": self.client_id,
            "response_summary": {"size_bytes": len(answer_bytes), "body_hash": _digest(answer_bytes)},
            "duration": {"duration_ms": round(duration_ms, 3)},
        }
        try:
            self.audit.write("operations", fields)
        except AuditWriteError as exc:
            return jsonrpc.error_response(answer.get("id"), **self._fail_closed(fields, str(exc)))
        if self.stats is not None:
            self.stats.record_answer(request.get("request_id"), request.get("method"), "result" in answer, duration_ms)
        return None

    def record_notification(self, message: dict) -> bool:
        """A client notification; False means it must not be forwarded (audit failure)."""
        if self.shutdown.is_shutting_down:
            return False
        fields = {**self._common, "method": message.get("method"), "status": "Success", "client_id": self.client_id}
        try:
            self.audit.write("operations", fields)
            return True
        except AuditWriteError as exc:
            self._fail_closed(fields, str(exc))
            return False

    def _fail_closed(self, fields: dict, reason: str) -> dict:
        return fail_closed(self.audit, self.shutdown, "operations", fields, reason)

    async def sync(self) -> None:
        await self.audit.sync()
