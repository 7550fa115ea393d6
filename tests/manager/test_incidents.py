"""Incidents read from disk (manager/incidents.py): the last shutdown is reported only while it
is recent. The helpers that write shutdown records are shared with the incidents router's tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from mcp_acp.manager.incidents import last_shutdown
from tests.manager.test_routes_proxies import add
from tests.support.config import proxy_log_dir

# --- incidents -------------------------------------------------------------------------------------


def stamp(seconds_ago: float) -> str:
    return (
        (datetime.now(UTC) - timedelta(seconds=seconds_ago)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


def write_lines(path: Path, *lines: dict | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        for line in lines:
            handle.write((line if isinstance(line, str) else json.dumps(line)) + "\n")


def shutdown(seconds_ago: float, reason: str = "audit log deleted") -> dict:
    return {
        "time": stamp(seconds_ago),
        "event": "security_shutdown",
        "failure_type": "audit_failure",
        "reason": reason,
        "exit_code": 10,
        "context": {},
    }


def test_last_shutdown_only_when_recent(home):
    add("files")
    path = proxy_log_dir(home, "files") / "shutdowns.jsonl"
    assert last_shutdown("files") is None  # no file
    write_lines(path, shutdown(5, "fresh"))
    assert last_shutdown("files") == {
        "failure_type": "audit_failure",
        "reason": "fresh",
        "exit_code": 10,
        "time": json.loads(path.read_text())["time"],
    }
    write_lines(path, shutdown(31, "too old"))
    assert last_shutdown("files") is None
    write_lines(path, shutdown(1), '{"time": "truncated')
    assert last_shutdown("files") is None  # the last entry is malformed: no guessing from older ones
    path.write_text(json.dumps(shutdown(1)) + "\n\n")
    assert last_shutdown("files")["reason"] == "audit log deleted"
    assert last_shutdown("../files") is None
