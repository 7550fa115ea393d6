"""system.jsonl: WARNING and above from Python logging, through the chained writer."""

from __future__ import annotations

import contextlib
import logging
import traceback

from mcp_acp.audit.shutdown import ShutdownCoordinator
from mcp_acp.audit.writer import AuditLog, AuditWriteError


class SystemLogHandler(logging.Handler):
    def __init__(self, audit: AuditLog, shutdown: ShutdownCoordinator, session_id: str) -> None:
        super().__init__(level=logging.WARNING)
        self.audit = audit
        self.shutdown = shutdown
        self.session_id = session_id

    def emit(self, record: logging.LogRecord) -> None:
        # Never raises: a log call in an error path (a full disk) must not become a second error.
        with contextlib.suppress(Exception):
            self._emit(record)

    def _emit(self, record: logging.LogRecord) -> None:
        fields = {
            "level": record.levelname,
            "event": getattr(record, "event", record.funcName),
            "message": record.getMessage(),
            "component": record.name,
            "session_id": self.session_id,
            "stacktrace": "".join(traceback.format_exception(*record.exc_info)) if record.exc_info else None,
        }
        try:
            self.audit.write("system", fields)
        except Exception as exc:  # AuditWriteError, or any other failure to write: the same
            reason = str(exc) if isinstance(exc, AuditWriteError) else f"cannot write system.jsonl: {exc!r}"
            self.shutdown.record_with_fallback("system", fields, reason)
            self.shutdown.initiate("audit_failure", reason, 10, {"source": "system_log"})
