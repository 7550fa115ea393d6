"""Rotated segments of a chained log: `<folder>/segments/<stem>.<first>-<last>.jsonl[.gz]`.

A log's active file is sealed into a segment when it grows too big or too old; the next entry
goes to a fresh active file and chains to the segment's last entry, so sequences and hashes run
unbroken across segments. The names say which entries each segment holds, so a start can check
that no segment is missing by listing the folder (no segment is read); `audit verify` reads them
all and checks the chain end to end.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from mcp_acp.audit.chain import GENESIS, ChainCheck, KeyRule, check_chain

FOLDER = "segments"
_NAME = re.compile(r"^(?P<stem>.+)\.(?P<first>\d{12})-(?P<last>\d{12})\.jsonl(?P<gz>\.gz)?$")


@dataclass(frozen=True)
class Segment:
    first: int
    last: int
    path: Path

    def read(self) -> bytes:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            if self.path.suffix != ".jsonl":
                raise
            # Compressed (and the plain file removed) since the folder was listed: read the twin.
            return gzip.decompress(self.path.with_name(self.path.name + ".gz").read_bytes())
        return gzip.decompress(data) if self.path.suffix == ".gz" else data


def folder(active: Path) -> Path:
    return active.parent / FOLDER


def path_for(active: Path, first: int, last: int) -> Path:
    return folder(active) / f"{active.stem}.{first:012d}-{last:012d}.jsonl"


def list_segments(active: Path) -> list[Segment]:
    """The segments of one log, oldest first. When a compression was cut short both forms exist:
    the plain one is the original and wins."""
    found: dict[tuple[int, int], Segment] = {}
    try:
        names = os.listdir(folder(active))
    except FileNotFoundError:
        return []
    for name in names:
        match = _NAME.match(name)
        if match is None or match["stem"] != active.stem:
            continue
        key = (int(match["first"]), int(match["last"]))
        if key not in found or not match["gz"]:
            found[key] = Segment(*key, folder(active) / name)
    return [found[key] for key in sorted(found)]


def continuity_errors(rel: str, segments: list[Segment], base_sequence: int) -> list[str]:
    """What the names alone show: a segment missing, overlapping, or not ending where the active
    file begins (the state's base). Cheap: nothing is read."""
    errors: list[str] = []
    expected = 1
    for segment in segments:
        if segment.first != expected or segment.last < segment.first:
            errors.append(
                f"{rel}: segment {segment.path.name} should start at entry {expected} "
                "(a segment was deleted, renamed or added)"
            )
        expected = segment.last + 1
    if expected != base_sequence + 1:
        errors.append(
            f"{rel}: the segments end at entry {expected - 1}, but the active file continues "
            f"from entry {base_sequence} (a segment was deleted or the state rolled back)"
        )
    return errors


def check_segments(
    rel: str, segments: list[Segment], rule: KeyRule, progress: Callable[[int], None] | None = None
) -> tuple[ChainCheck, list[str]]:
    """Read every segment and check the chain across them. Returns the last segment's check
    (its last entry is where the active file must continue) and every error found."""
    errors: list[str] = []
    start = (1, GENESIS)
    check = ChainCheck()
    for segment in segments:
        try:
            data = segment.read()
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            errors.append(f"{rel}: cannot read segment {segment.path.name}: {exc}")
            start = (segment.last + 1, "?")
            continue
        check = check_chain(data, rule, start=start)
        errors += [f"{rel}: segment {segment.path.name}: {error}" for error in check.errors]
        if check.torn_tail:
            errors.append(f"{rel}: segment {segment.path.name} ends in an incomplete line")
        if check.last_sequence != segment.last:
            errors.append(
                f"{rel}: segment {segment.path.name} holds entries up to {check.last_sequence}, "
                f"its name says {segment.last}"
            )
        start = (segment.last + 1, check.last_hash or "?")
        if progress:
            progress(check.entries)
    return check, errors


UNREADABLE = (OSError, EOFError, gzip.BadGzipFile, ValueError)  # what reading a damaged segment raises


def last_entry(active: Path) -> bytes | None:
    """The newest segment's last line: where a log that was just rotated left off. Raises one of
    UNREADABLE when that segment is damaged."""
    sealed = list_segments(active)
    if not sealed:
        return None
    lines = sealed[-1].read().splitlines()
    return lines[-1] if lines else None


def entry_hash_at(active: Path, sequence: int) -> str | None:
    """The entry_hash of entry `sequence`, looked up in the segment whose name covers it (None
    when no readable segment holds it)."""
    for segment in list_segments(active):
        if segment.first <= sequence <= segment.last:
            try:
                for raw in segment.read().splitlines():
                    entry: object = json.loads(raw)
                    if isinstance(entry, dict) and (entry := cast("dict[str, Any]", entry)).get("sequence") == sequence:
                        return entry.get("entry_hash")
            except UNREADABLE:
                return None
    return None


def compress_later(segment: Path) -> threading.Thread:
    """gzip a sealed segment off the request path. The plain file is removed only once the
    compressed one is complete on disk, so a crash at any point leaves a readable segment."""
    thread = threading.Thread(target=compress, args=(segment,), name="segment-gzip", daemon=True)
    thread.start()
    return thread


def compress(segment: Path) -> None:
    target = segment.with_name(segment.name + ".gz")
    # Named for this process and thread: two sessions of one proxy may compress the same segment
    # at once (one just rotated it, the other is starting), and must never write into one file.
    partial = segment.with_name(f"{segment.name}.gz.partial.{os.getpid()}.{threading.get_ident()}")
    try:
        with open(segment, "rb") as source, gzip.open(partial, "wb", compresslevel=6) as sink:
            while chunk := source.read(1 << 20):
                sink.write(chunk)
        os.chmod(partial, 0o600)
        with open(partial, "rb") as done:
            os.fsync(done.fileno())
        os.rename(partial, target)
        os.unlink(segment)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(partial)  # the plain segment stays: nothing is lost


def tidy(active: Path) -> None:
    """After a crash: drop half-written compressions, and a plain segment whose compressed copy
    was finished (same content) before the plain one could be removed. Two copies that differ
    are both kept: one of them was planted, and `audit verify` reads the plain one."""
    with contextlib.suppress(FileNotFoundError):
        for name in os.listdir(folder(active)):
            path = folder(active) / name
            if not name.startswith(f"{active.stem}."):
                continue
            with contextlib.suppress(*UNREADABLE):
                if ".gz.partial" in name:
                    path.unlink()
                elif (
                    name.endswith(".jsonl.gz")
                    and (plain := path.with_suffix("")).exists()
                    and gzip.decompress(path.read_bytes()) == plain.read_bytes()
                ):
                    plain.unlink()
