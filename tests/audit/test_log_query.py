"""Reading logs for the API (audit/log_query.py) over real files written here: newest first,
filters, the `before` cursor, has_more, time ranges, lines that are not entries, large files."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from mcp_acp.audit import log_query
from mcp_acp.audit.log_query import LogNotAvailable, UnknownLog, log_path, logs_metadata, query_log

NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)


def stamp(seconds_ago: float) -> str:
    return (NOW - timedelta(seconds=seconds_ago)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def write(path: Path, entries: list[dict | str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((e if isinstance(e, str) else json.dumps(e)) + "\n" for e in entries), encoding="utf-8")
    return path


def decision(seconds_ago: float, n: int, **fields) -> dict:
    return {
        "time": stamp(seconds_ago),
        "sequence": n,
        "event": "policy_decision",
        "decision": "allow",
        "request_id": str(n),
        "session_id": "s1",
        "policy_version": "v1",
        **fields,
    }


@pytest.fixture
def decisions(tmp_path: Path) -> Path:
    # Oldest first, as the proxy appends: 2 h ago, 30 min ago, then one every 10 s in the last minute.
    entries = [decision(7200, 1, policy_version="v0"), decision(1800, 2, decision="deny")]
    entries += [
        decision(60 - 10 * i, 3 + i, decision="deny" if i % 2 else "allow", session_id="s2" if i == 5 else "s1")
        for i in range(6)
    ]
    return write(tmp_path / "audit" / "decisions.jsonl", entries)


def seqs(result: dict) -> list[int]:
    return [e["sequence"] for e in result["entries"]]


def test_newest_first_within_the_time_range(decisions):
    result = query_log(decisions, now=NOW)  # default 5m
    assert seqs(result) == [8, 7, 6, 5, 4, 3]
    assert result["total_returned"] == 6 and not result["has_more"]
    assert result["total_scanned"] == 7  # stopped at the first entry older than 5 minutes
    assert result["log_file"] == str(decisions) and result["filters_applied"] == {"time_range": "5m"}
    assert seqs(query_log(decisions, time_range="1h", now=NOW)) == [8, 7, 6, 5, 4, 3, 2]
    assert seqs(query_log(decisions, time_range="24h", now=NOW)) == [8, 7, 6, 5, 4, 3, 2, 1]
    assert seqs(query_log(decisions, time_range="all", now=NOW)) == [8, 7, 6, 5, 4, 3, 2, 1]


def test_filters(decisions):
    denied = query_log(decisions, time_range="all", filters={"decision": "deny", "session_id": None}, now=NOW)
    assert seqs(denied) == [8, 6, 4, 2]
    assert denied["filters_applied"] == {"time_range": "all", "decision": "deny"}
    assert seqs(query_log(decisions, time_range="all", filters={"session_id": "s2"}, now=NOW)) == [8]
    assert seqs(query_log(decisions, time_range="all", filters={"request_id": "3"}, now=NOW)) == [3]
    assert seqs(query_log(decisions, time_range="all", filters={"policy_version": "v0"}, now=NOW)) == [1]
    both = query_log(decisions, time_range="all", filters={"decision": "deny", "session_id": "s1"}, now=NOW)
    assert seqs(both) == [6, 4, 2]
    assert seqs(query_log(decisions, time_range="all", filters={"hitl_outcome": "timeout"}, now=NOW)) == []
    with pytest.raises(ValueError, match="unknown filters: path"):
        query_log(decisions, filters={"path": "/etc"}, now=NOW)


def test_event_type_and_level(tmp_path):
    auth = write(
        tmp_path / "auth.jsonl",
        [{"time": stamp(5), "event_type": "session_started"}, {"time": stamp(4), "event_type": "session_ended"}],
    )
    assert [
        e["event_type"] for e in query_log(auth, filters={"event_type": "session_started"}, now=NOW)["entries"]
    ] == ["session_started"]
    system = write(
        tmp_path / "system.jsonl",
        [{"time": stamp(5), "level": "WARNING", "event": "a"}, {"time": stamp(4), "level": "ERROR", "event": "b"}],
    )
    assert [e["event"] for e in query_log(system, filters={"level": "error"}, now=NOW)["entries"]] == ["b"]
    assert [e["event"] for e in query_log(system, filters={"event_type": "a"}, now=NOW)["entries"]] == ["a"]


def test_limit_has_more_and_before_cursor(decisions):
    page = query_log(decisions, time_range="all", limit=3, now=NOW)
    assert seqs(page) == [8, 7, 6] and page["has_more"]
    cursor = page["entries"][-1]["time"]
    page = query_log(decisions, time_range="all", limit=3, before=cursor, now=NOW)
    assert seqs(page) == [5, 4, 3] and page["has_more"] and page["filters_applied"]["before"] == cursor
    page = query_log(decisions, time_range="all", limit=3, before=page["entries"][-1]["time"], now=NOW)
    assert seqs(page) == [2, 1] and not page["has_more"]
    assert query_log(decisions, time_range="all", limit=8, now=NOW)["has_more"] is False  # exactly all of them
    # A cursor in another ISO form (with an offset, or none = UTC) means the same instant.
    offset = (NOW - timedelta(seconds=25)).astimezone(timezone(timedelta(hours=2))).isoformat()
    assert seqs(query_log(decisions, time_range="all", before=offset, now=NOW)) == [6, 5, 4, 3, 2, 1]
    naive = (NOW - timedelta(seconds=25)).replace(tzinfo=None).isoformat()
    assert seqs(query_log(decisions, time_range="all", before=naive, now=NOW)) == [6, 5, 4, 3, 2, 1]


def test_bad_arguments(decisions):
    with pytest.raises(ValueError, match="time_range"):
        query_log(decisions, time_range="2d")
    with pytest.raises(ValueError, match="limit"):
        query_log(decisions, limit=0)
    with pytest.raises(ValueError, match="limit"):
        query_log(decisions, limit=1001)
    with pytest.raises(ValueError):
        query_log(decisions, before="yesterday")


def test_invalid_lines_are_skipped(tmp_path):
    path = write(
        tmp_path / "d.jsonl",
        [decision(30, 1), "not json", "[1, 2]", "42", json.dumps({"no": "time"}), decision(20, 2), "", "   "],
    )
    with path.open("ab") as handle:  # a torn last line: the crash happened mid-write
        handle.write(b'{"time": "' + stamp(10).encode() + b'", "sequ')
    result = query_log(path, now=NOW)
    assert seqs(result) == [2, 1]
    assert result["total_scanned"] == 7  # blank lines are not scanned; the torn one is
    # Without a time bound the time is not needed: an entry without one is still shown.
    assert [e.get("sequence", "no time") for e in query_log(path, time_range="all", now=NOW)["entries"]] == [
        2,
        "no time",
        1,
    ]


def test_missing_file(tmp_path):
    result = query_log(tmp_path / "nothing.jsonl", now=NOW)
    assert result["entries"] == [] and result["total_scanned"] == 0 and not result["has_more"]


def test_large_file_is_read_from_the_end(tmp_path, monkeypatch):
    """Lines cut by chunk boundaries come out whole, and a recent page reads only the end."""
    monkeypatch.setattr(log_query, "CHUNK", 100)  # many boundaries, inside lines
    entries = [decision(2000 - i, i, padding="x" * (i % 37)) for i in range(1, 2001)]
    path = write(tmp_path / "big.jsonl", entries)
    assert seqs(query_log(path, time_range="all", limit=1000, now=NOW)) == list(range(2000, 1000, -1))
    everything = []
    before = None
    while True:
        page = query_log(path, time_range="all", limit=1000, before=before, now=NOW)
        everything += seqs(page)
        if not page["has_more"]:
            break
        before = page["entries"][-1]["time"]
    assert everything == list(range(2000, 0, -1))
    recent = query_log(path, time_range="5m", now=NOW)  # entries of the last 300 s: 1701..2000
    assert seqs(recent) == list(range(2000, 1900, -1)) and recent["has_more"]
    assert recent["total_scanned"] == 101


def test_log_types_come_from_a_fixed_table(tmp_path):
    assert log_path(tmp_path, "decisions", False) == tmp_path / "audit" / "decisions.jsonl"
    assert log_path(tmp_path, "config_history", False) == tmp_path / "system" / "config_history.jsonl"
    assert log_path(tmp_path, "client_wire", True) == tmp_path / "debug" / "client_wire.jsonl"
    with pytest.raises(LogNotAvailable):
        log_path(tmp_path, "backend_wire", False)
    for hostile in ("../../etc/passwd", "audit/decisions.jsonl", "decisions.jsonl", "config-history", ""):
        with pytest.raises(UnknownLog):
            log_path(tmp_path, hostile, True)


def test_metadata(tmp_path):
    write(tmp_path / "audit" / "decisions.jsonl", [decision(1, 1)])
    (tmp_path / "audit" / "decisions.broken.2025-01-01_000000.jsonl").write_text("{}\n")
    write(
        tmp_path / "system" / "policy_history.jsonl",
        [{"event": "policy_loaded", "policy_version": v} for v in ("v1", "v2", "v10", "v2")] + ["torn"],
    )
    write(tmp_path / "system" / "config_history.jsonl", [{"event": "config_loaded", "config_version": "v1"}])
    meta = logs_metadata(tmp_path, debug_enabled=False)
    assert [f["name"] for f in meta["folders"]] == ["audit", "system"]
    audit = {f["name"]: f for f in meta["folders"][0]["files"]}
    assert list(audit) == ["operations", "decisions", "auth"]
    assert audit["decisions"]["exists"] and audit["decisions"]["size_bytes"] > 0
    assert audit["decisions"]["backups"] == ["decisions.broken.2025-01-01_000000.jsonl"]
    assert audit["decisions"]["path"] == str(tmp_path / "audit" / "decisions.jsonl")
    assert audit["operations"] == {
        "name": "operations",
        "path": str(tmp_path / "audit" / "operations.jsonl"),
        "exists": False,
        "size_bytes": 0,
        "backups": [],
    }
    assert meta["available_policy_versions"] == ["v1", "v2", "v10"]
    assert meta["available_config_versions"] == ["v1"] and meta["debug_enabled"] is False
    debug = logs_metadata(tmp_path, debug_enabled=True)
    assert [f["name"] for f in debug["folders"]] == ["audit", "system", "debug"]
    assert [f["name"] for f in debug["folders"][2]["files"]] == ["client_wire", "backend_wire"]
