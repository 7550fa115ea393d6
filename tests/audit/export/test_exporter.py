"""The pump's bookkeeping: cursor after each accepted batch, one rewind per outage, the status.
The receivers themselves are real in tests/integration/test_audit_export.py; here a scripted
destination fails on cue."""

from __future__ import annotations

import threading
from pathlib import Path

from mcp_acp.audit.export.cursor import Cursor
from mcp_acp.audit.export.exporter import Exporter, Pump, status
from mcp_acp.audit.export.reader import Record
from mcp_acp.audit.export.syslog import SendError
from mcp_acp.audit.state import IntegrityState
from mcp_acp.audit.writer import AuditLog
from mcp_acp.config.export import ExportSettings
from tests.support.siem import Writer

SETTINGS = ExportSettings.model_validate(
    {"syslog": {"host": "127.0.0.1", "port": 1}, "batch_size": 10, "poll_seconds": 0.01, "max_backoff_seconds": 0.01}
)


class Scripted:
    name = "scripted"
    resend_on_reconnect = 5

    def __init__(self, fail_at: set[int]) -> None:
        self.fail_at = fail_at
        self.calls = 0
        self.got: list[tuple[str, int]] = []

    def describe(self) -> str:
        return "scripted receiver"

    def send(self, batch: list[Record]) -> None:
        self.calls += 1
        if self.calls in self.fail_at:
            raise SendError("scripted failure")
        self.got += [(r.rel, r.sequence) for r in batch]

    def close(self) -> None:
        pass


def test_a_failure_resends_from_a_little_before_the_cursor_once(tmp_path: Path) -> None:
    writer = Writer(tmp_path / "logs")
    writer.write(90)  # 30 per log
    writer.close()
    sender = Scripted(fail_at={3, 4, 5})  # three failed attempts in a row: one outage
    pump = Pump(sender, {"p": tmp_path / "logs"}, tmp_path / "cursor.json", SETTINGS)
    stop = threading.Event()
    thread = threading.Thread(target=pump.run, args=(True, stop))
    thread.start()
    try:
        while len(sender.got) < 95:  # 35 of operations (20, then 16..30), 30 of decisions, 30 of auth
            stop.wait(0.01)
    finally:
        stop.set()
        thread.join(10)
    ops = [s for rel, s in sender.got if rel == "audit/operations.jsonl"]
    # batches 1-2 sent 1..20; the outage rewinds 5 once: 16..30 again, never further back
    assert ops == [*range(1, 21), *range(16, 31)]
    assert Cursor.load(tmp_path / "cursor.json").get("p", "audit/operations.jsonl") == 30


def test_without_follow_a_failure_stops_with_the_error_saved(tmp_path: Path) -> None:
    writer = Writer(tmp_path / "logs")
    writer.write(3)
    writer.close()
    pump = Pump(Scripted(fail_at={1}), {"p": tmp_path / "logs"}, tmp_path / "cursor.json", SETTINGS)
    assert pump.run(False, threading.Event()) is False
    assert Cursor.load(tmp_path / "cursor.json").last_error == "scripted failure"


def test_status_shows_the_lag(tmp_path: Path) -> None:
    writer = Writer(tmp_path / "logs")
    writer.write(6)
    writer.close()
    exporter = Exporter(SETTINGS, {"p": tmp_path / "logs"}, "r", tmp_path / "cursors")
    (report,) = status(exporter)
    assert report["lag"] == 6 and report["last_error"] is None
    assert {f["file"]: f["head"] for f in report["files"]}["audit/operations.jsonl"] == 2


def test_a_second_exporter_of_the_same_logs_and_destination_refuses(tmp_path: Path) -> None:
    writer = Writer(tmp_path / "logs")
    writer.write(3)
    writer.close()
    sending = Scripted(fail_at=set())
    first = Pump(sending, {"p": tmp_path / "logs"}, tmp_path / "cursor.json", SETTINGS)
    stop = threading.Event()
    thread = threading.Thread(target=first.run, args=(True, stop))
    thread.start()
    try:
        while len(sending.got) < 3:  # the first one runs (and holds the lock)
            stop.wait(0.01)
        second = Scripted(fail_at=set())
        assert Pump(second, {"p": tmp_path / "logs"}, tmp_path / "cursor.json", SETTINGS).run(False, stop) is False
        assert second.got == []
    finally:
        stop.set()
        thread.join(10)


def test_a_log_started_again_is_exported_from_its_first_entry(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    writer = Writer(logs)
    writer.write(30)  # 10 per log
    writer.close()
    sender = Scripted(fail_at=set())
    assert Pump(sender, {"p": logs}, tmp_path / "cursor.json", SETTINGS).run(False, threading.Event())
    # What `audit repair` does to a broken log: moved aside, and a new chain begins.
    (logs / "audit/operations.jsonl").rename(logs / "audit/operations.broken.jsonl")
    state = IntegrityState.load(logs)
    del state.files["audit/operations.jsonl"]
    again = AuditLog(logs, state, None)
    for name in ("operations", "decisions") * 4:  # operations restarts at 1, decisions goes on to 14
        again.write(name, {"event": "after the repair"})
    again.close()
    sender = Scripted(fail_at=set())
    assert Pump(sender, {"p": logs}, tmp_path / "cursor.json", SETTINGS).run(False, threading.Event())
    assert [s for rel, s in sender.got if rel == "audit/operations.jsonl"] == [1, 2, 3, 4]
    assert [s for rel, s in sender.got if rel == "audit/decisions.jsonl"] == [11, 12, 13, 14]
