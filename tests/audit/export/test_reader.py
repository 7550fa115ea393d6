"""Reading a chained log from a sequence on, across sealed (and compressed) segments."""

from __future__ import annotations

from pathlib import Path

from mcp_acp.audit.export.reader import LogReader
from mcp_acp.audit.segments import list_segments
from tests.support.siem import Writer

REL = "audit/operations.jsonl"


def written(tmp_path: Path, count: int) -> Writer:
    writer = Writer(tmp_path, max_bytes=4096)
    writer.write(count * 3)  # operations gets every third entry
    return writer


def test_reads_everything_in_order_across_segments(tmp_path: Path) -> None:
    writer = written(tmp_path, 300)
    try:
        assert len(list_segments(tmp_path / REL)) > 5
        reader, got, at = LogReader("p", tmp_path, REL), [], 0
        while batch := reader.read_after(at, 37):
            got += batch
            at = batch[-1].sequence
        assert [r.entry for r in got] == writer.written[REL]
        assert reader.head() == 300
    finally:
        writer.close()


def test_reads_from_the_middle_and_follows_new_entries(tmp_path: Path) -> None:
    writer = written(tmp_path, 100)
    try:
        reader = LogReader("p", tmp_path, REL)
        assert [r.sequence for r in reader.read_after(50, 5)] == [51, 52, 53, 54, 55]
        assert reader.read_after(100, 10) == []
        writer.write(30)  # may seal a segment on the way: a read returns one segment's part at most
        got, at = [], 100
        while batch := reader.read_after(at, 100):
            got += [r.sequence for r in batch]
            at = got[-1]
        assert got == list(range(101, 111))
    finally:
        writer.close()


def test_an_incomplete_last_line_waits(tmp_path: Path) -> None:
    writer = written(tmp_path, 3)
    writer.close()
    with open(tmp_path / REL, "ab") as handle:
        handle.write(b'{"sequence": 4, "half')
    assert [r.sequence for r in LogReader("p", tmp_path, REL).read_after(0, 10)] == [1, 2, 3]


def test_a_log_never_written_reads_empty(tmp_path: Path) -> None:
    assert LogReader("p", tmp_path, REL).read_after(0, 10) == []
    assert LogReader("p", tmp_path, REL).head() == 0


def test_an_active_file_larger_than_one_read_and_a_line_longer_than_one(tmp_path: Path, monkeypatch) -> None:
    from mcp_acp.audit.export import reader as module

    monkeypatch.setattr(module, "READ_BYTES", 256)
    writer = Writer(tmp_path, max_bytes=1 << 30)
    try:
        writer.write(30)
        writer.log.write("operations", {"event": "big", "note": "x" * 2000})  # longer than one read
        writer.write(3)
        reader, got, at = LogReader("p", tmp_path, REL), [], 5
        while batch := reader.read_after(at, 4):
            got += [r.sequence for r in batch]
            at = got[-1]
        assert got == list(range(6, 13))
    finally:
        writer.close()
