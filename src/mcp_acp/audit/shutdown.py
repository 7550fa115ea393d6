"""Fail-closed: the fallback chain for an entry that could not be written (docs/audit.md#fail-closed), and the
coordinated security shutdown that follows it (docs/audit.md#fail-closed)."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mcp_acp.audit import emergency
from mcp_acp.audit.chain import utc_now
from mcp_acp.audit.files import LAST_CRASH, SHUTDOWNS
from mcp_acp.audit.writer import AuditLog
from mcp_acp.config import paths
from mcp_acp.config.store import write_private_text

EXIT_DELAY_SECONDS = 0.1  # lets the client receive the error that explains the shutdown


def append_fsynced(path: Path, entry: dict[str, Any]) -> None:
    """An unchained append that reaches the disk: for the records of last resort."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    emergency.append_whole(path, (json.dumps(entry, default=str) + "\n").encode())


class ShutdownCoordinator:
    def __init__(self, log_dir: Path, proxy_name: str, proxy_id: str) -> None:
        self.log_dir = log_dir
        self.proxy_name = proxy_name
        self.proxy_id = proxy_id
        self.audit: AuditLog | None = None
        self.on_shutdown: list[Callable[[], object]] = []  # best-effort callbacks, e.g. the auth log's session_ended
        self.is_shutting_down = False
        self.failure_type: str | None = None
        self.reason: str | None = None
        self.exit_code: int | None = None
        self._lock = threading.Lock()

    def record_with_fallback(self, event_type: str, fields: dict[str, Any], failure_reason: str) -> str:
        """Keep an entry that its own file refused: system.jsonl, else the emergency log (which
        tries the places in emergency.py). Returns where it went; never raises."""
        if self.audit is not None and event_type != "system":
            try:
                self.audit.write(
                    "system",
                    {
                        "level": "CRITICAL",
                        "event": "audit_fallback",
                        "message": failure_reason,
                        "component": "audit",
                        "details": {"event_type": event_type, "entry": fields},
                    },
                )
                return "system.jsonl"
            except Exception:
                pass
        return emergency.write(
            {
                "time": utc_now(),
                "event": "emergency_audit",
                "event_type": event_type,
                "failure_reason": failure_reason,
                "source_file": event_type,
                "operation": fields,
                "proxy_id": self.proxy_id,
                "proxy_name": self.proxy_name,
                "config_dir": str(paths.config_dir()),
            }
        )

    def initiate(self, failure_type: str, reason: str, exit_code: int, context: dict[str, Any] | None = None) -> None:
        """Idempotent; each step best-effort; the process exits shortly after."""
        with self._lock:
            if self.is_shutting_down:
                return
            self.is_shutting_down = True
            self.failure_type, self.reason, self.exit_code = failure_type, reason, exit_code
        context = context or {}
        record = {
            "time": utc_now(),
            "event": "security_shutdown",
            "failure_type": failure_type,
            "reason": reason,
            "exit_code": exit_code,
            "context": context,
        }
        unwritten: list[str] = []  # the shutdown record's own files it could not reach (a full disk)

        def to_file(name: str, write: Callable[[], object]) -> None:
            try:
                write()
            except Exception:
                unwritten.append(name)

        steps: list[Callable[[], object]] = [
            lambda: to_file(SHUTDOWNS, lambda: append_fsynced(self.log_dir / SHUTDOWNS, record)),
            lambda: (
                self.audit
                and self.audit.write(
                    "system",
                    {
                        "level": "CRITICAL",
                        "event": "critical_security_failure",
                        "message": reason,
                        "component": "shutdown",
                        "details": {"failure_type": failure_type, "exit_code": exit_code},
                    },
                )
            ),
            lambda: to_file(
                LAST_CRASH,
                lambda: write_private_text(
                    self.log_dir / LAST_CRASH,
                    f"{utc_now()}\nfailure_type: {failure_type}\nexit_code: {exit_code}\n"
                    f"reason: {reason}\ncontext: {json.dumps(context)}\n",
                ),
            ),
            lambda: (
                unwritten
                and emergency.write(
                    {
                        **record,
                        "proxy_id": self.proxy_id,
                        "proxy_name": self.proxy_name,
                        "config_dir": str(paths.config_dir()),
                        "log_dir": str(self.log_dir),
                        "not_written": unwritten,
                    }
                )
            ),
            *self.on_shutdown,
            lambda: print(f"mcp-acp: SECURITY SHUTDOWN ({failure_type}): {reason}", file=sys.stderr, flush=True),
        ]
        for step in steps:
            with contextlib.suppress(Exception):
                step()
        timer = threading.Timer(EXIT_DELAY_SECONDS, os._exit, (exit_code,))
        timer.daemon = True
        timer.start()
