"""Reading one chained log from a sequence number on: its sealed segments first, then the active file.

The audit files are the exporter's spool: nothing is copied anywhere else, so an entry written
before a crash of anything is still there to send. Only complete lines (ending in a newline)
are read: a line being written is picked up at the next poll.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, cast

import orjson

from mcp_acp.audit import segments

log = logging.getLogger(__name__)
READ_BYTES = 4 * 1024 * 1024  # read the active file this much at a time


@dataclass(frozen=True)
class Record:
    proxy: str
    rel: str
    sequence: int
    line: bytes  # the entry exactly as written, without the newline
    entry: dict[str, Any]


class LogReader:
    """One chained log of one proxy. Remembers where it stopped in the active file, so following
    a growing log reads only what is new."""

    def __init__(self, proxy: str, log_dir: Path, rel: str) -> None:
        self.proxy = proxy
        self.rel = rel
        self.path = log_dir / rel
        self._at: tuple[int, int, int] | None = None  # (inode, offset, next sequence) in the active file
        self._segment: tuple[Path, list[bytes]] | None = None  # the last segment read, its lines
        self._seen: tuple[int, int] | None = None  # the active file's (dev, inode) when last checked

    def replaced(self) -> bool:
        """The active file is not the one seen at the last call (true at the first): it was
        rotated, or moved aside by a repair, or this is a new run."""
        try:
            stat = os.stat(self.path)
            now = (stat.st_dev, stat.st_ino)
        except FileNotFoundError:
            now = (0, 0)
        changed, self._seen = now != self._seen, now
        return changed

    def hash_at(self, sequence: int) -> str | None:
        """entry_hash of entry `sequence`: in the active file, else in the segment holding it."""
        try:
            with open(self.path, "rb") as handle:
                for raw in handle:
                    if _sequence(raw) == sequence:
                        found: object = orjson.loads(raw)
                        return str(cast("dict[str, Any]", found).get("entry_hash"))
        except (OSError, orjson.JSONDecodeError):
            pass
        return segments.entry_hash_at(self.path, sequence)

    def head(self) -> int:
        """The newest sequence on disk (for the lag in the status)."""
        try:
            with open(self.path, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                handle.seek(max(0, size - 256 * 1024))
                lines = handle.read().splitlines()
        except OSError:
            lines = []
        for raw in reversed(lines):
            if (sequence := _sequence(raw)) is not None:
                return sequence
        sealed = segments.list_segments(self.path)
        return sealed[-1].last if sealed else 0

    def read_after(self, sequence: int, limit: int) -> list[Record]:
        found = self._locate(sequence, limit)
        if found and found[0].sequence != sequence + 1:
            # A rotation between listing the segments and opening the active file: look again.
            self._at = None
            found = self._locate(sequence, limit)
            if found and found[0].sequence != sequence + 1:
                log.warning(
                    "%s of proxy %s: entries %d to %d are not on disk (an 'audit repair' moved them "
                    "aside); exporting from entry %d",
                    self.rel,
                    self.proxy,
                    sequence + 1,
                    found[0].sequence - 1,
                    found[0].sequence,
                )
        return found

    def _locate(self, sequence: int, limit: int) -> list[Record]:
        if self._at is not None and self._at[2] == sequence + 1:
            try:
                if os.stat(self.path).st_ino == self._at[0]:
                    return self._from_active(self._at[1], sequence, limit)
            except FileNotFoundError:
                return []
        for segment in segments.list_segments(self.path):
            if segment.last > sequence:
                return self._from_segment(segment, sequence, limit)
        return self._from_active(0, sequence, limit)

    def _from_segment(self, segment: segments.Segment, sequence: int, limit: int) -> list[Record]:
        if self._segment is None or self._segment[0] != segment.path:
            self._segment = (segment.path, [line for line in segment.read().split(b"\n") if line])
        lines = self._segment[1]
        start = max(0, sequence + 1 - segment.first)  # a segment holds first..last, one per line
        return self._records(lines[start : start + limit], sequence, limit)

    def _from_active(self, offset: int, sequence: int, limit: int) -> list[Record]:
        try:
            with open(self.path, "rb") as handle:
                inode = os.fstat(handle.fileno()).st_ino
                taken, position = self._scan(handle, offset, sequence, limit)
        except FileNotFoundError:
            return []
        last = taken[-1].sequence if taken else sequence
        self._at = (inode, position, last + 1)
        return taken

    def _scan(self, handle: BinaryIO, position: int, sequence: int, limit: int) -> tuple[list[Record], int]:
        """Complete lines from `position` on, until some entry after `sequence` is found or the
        end is reached; returns them and where the next read starts."""
        taken: list[Record] = []
        size = READ_BYTES
        while not taken:
            handle.seek(position)
            data = handle.read(size)
            complete = data[: data.rfind(b"\n") + 1]
            if not complete:
                if len(data) < size:
                    break  # the end, or a line still being written
                size *= 2  # one line longer than the buffer
                continue
            for raw in complete.split(b"\n")[:-1]:  # newlines only: an entry is one line
                if len(taken) >= limit:
                    break
                position += len(raw) + 1
                taken += self._records([raw], sequence, limit)
            if len(data) < size:
                break
        return taken, position

    def _records(self, lines: list[bytes], after: int, limit: int) -> list[Record]:
        records: list[Record] = []
        for raw in lines:
            try:
                entry: object = orjson.loads(raw)
            except orjson.JSONDecodeError:
                continue
            if not isinstance(entry, dict):
                continue
            fields = cast("dict[str, Any]", entry)
            number = fields.get("sequence")
            if isinstance(number, int) and number > after:
                records.append(Record(self.proxy, self.rel, number, raw, fields))
                if len(records) >= limit:
                    break
        return records


def _sequence(raw: bytes) -> int | None:
    try:
        entry: object = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if isinstance(entry, dict):
        number = cast("dict[str, Any]", entry).get("sequence")
        return number if isinstance(number, int) else None
    return None
