"""Log rotation of the chained audit files (issue 16), in-process on real files in a temp folder.

ChainedFile seals a log's active file into `segments/<stem>.<first>-<last>.jsonl` (gzip-compressed
in a background thread) when it would grow past `max_bytes` or `max_age`; the next entry continues
the sequence and chains to the segment's last hash, and the integrity state records where the
active file begins (base_sequence/base_hash). A start (verify_on_startup) checks the segments'
names only and reads only the active files; a full verification (verify_proxy) reads everything.

Crash windows are real process deaths: a child Python process runs the writer and calls
os._exit() (as abrupt as kill -9: no flush, no finally, no atexit) at one step of
ChainedFile.rotate or of the background compression, reached by wrapping that step in the child.
The files it leaves are the files a crash there leaves.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import os
import secrets
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from mcp_acp.audit import segments, trail
from mcp_acp.audit.chain import entry_hash
from mcp_acp.audit.files import PROTECTED
from mcp_acp.audit.keys import AuditKey
from mcp_acp.audit.state import IntegrityState
from mcp_acp.audit.verify import AuditFailure, FileReport, ProxyReport, verify_on_startup, verify_proxy
from mcp_acp.audit.writer import AuditLog, Rotation

OPS = PROTECTED["operations"]
PROXY = "rot"
SMALL = Rotation(max_bytes=4096, max_age_seconds=24 * 3600.0, compress=True)
KEYED = pytest.mark.parametrize("keyed", [False, True], ids=["unkeyed", "keyed"])


@pytest.fixture(autouse=True)
def private_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The trail record (trail.py) and the secret store live under MCP_ACP_HOME: a temp folder."""
    monkeypatch.setenv("MCP_ACP_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MCP_ACP_SECRET_BACKEND", "file")


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    return tmp_path / "logs"


# --------------------------------------------------------------------------- helpers


def new_key(keyed: bool = True) -> AuditKey | None:
    return AuditKey(secrets.token_bytes(32), {}) if keyed else None


def open_log(
    log_dir: Path, key: AuditKey | None, rotation: Rotation = SMALL, state: IntegrityState | None = None
) -> AuditLog:
    if state is None:
        state = IntegrityState.load(log_dir, key.key if key else None)
    return AuditLog(log_dir, state, key, rotation=rotation)


def settle() -> None:
    """Wait for the background compressions (segments.compress_later threads)."""
    for thread in threading.enumerate():
        if thread.name == "segment-gzip":
            thread.join(60)
            assert not thread.is_alive(), "a segment compression did not finish in 60 s"


def fill(log: AuditLog, count: int, name: str = "operations") -> list[dict]:
    return [
        log.write(
            name,
            {"event": "tools/call", "tool_name": "echo", "request_id": str(i), "arguments_summary": {"text": "x" * 40}},
        )
        for i in range(count)
    ]


def sealed(log_dir: Path, rel: str = OPS) -> list[segments.Segment]:
    return segments.list_segments(log_dir / rel)


def lines(segment: segments.Segment) -> list[bytes]:
    return segment.read().splitlines(keepends=True)


def entries(segment: segments.Segment) -> list[dict]:
    return [json.loads(raw) for raw in lines(segment)]


def active_entries(log_dir: Path, rel: str = OPS) -> list[dict]:
    return [json.loads(raw) for raw in (log_dir / rel).read_bytes().splitlines()]


def start(log_dir: Path, key: AuditKey | None) -> tuple[IntegrityState, list[str]]:
    return verify_on_startup(log_dir, PROXY, key)


def refused(log_dir: Path, key: AuditKey | None) -> str:
    with pytest.raises(AuditFailure) as caught:
        start(log_dir, key)
    return str(caught.value)


def ops(report: ProxyReport) -> FileReport:
    return next(f for f in report.files if f.name == "operations")


def describe(report: ProxyReport) -> str:
    return f"state: {report.state_error}; trail: {report.trail_errors}; " + "; ".join(
        f"{f.name}={f.status} {f.errors}" for f in report.files if f.errors or f.status != "not_created"
    )


def assert_full_passes(log_dir: Path, key: AuditKey | None, expected_entries: int) -> None:
    report = verify_proxy(log_dir, key, PROXY)
    assert report.overall == "passed", describe(report)
    assert ops(report).entries == expected_entries, describe(report)


def full_errors(log_dir: Path, key: AuditKey | None) -> str:
    report = verify_proxy(log_dir, key, PROXY)
    assert report.overall == "failed", describe(report)
    return describe(report)


def assert_contiguous(found: list[segments.Segment], base_sequence: int) -> None:
    expected = 1
    for segment in found:
        assert segment.first == expected, [s.path.name for s in found]
        assert segment.last >= segment.first
        expected = segment.last + 1
    assert expected == base_sequence + 1, ([s.path.name for s in found], base_sequence)


def rotated_trail(log_dir: Path, key: AuditKey | None, count: int = 200) -> list[segments.Segment]:
    """A closed trail: `count` operations entries over ~15 compressed segments, a few decisions
    entries, and the record outside the log folder that opening.py keeps (trail.save)."""
    log = open_log(log_dir, key)
    fill(log, count)
    fill(log, 5, "decisions")
    trail.save(PROXY, key, log.state)
    log.close()
    settle()
    found = sealed(log_dir)
    assert len(found) >= 5 and all(s.path.suffix == ".gz" for s in found), [s.path.name for s in found]
    start(log_dir, key)
    assert_full_passes(log_dir, key, count)
    return found


def rewrite(segment: segments.Segment, data: list[bytes]) -> None:
    raw = b"".join(data)
    segment.path.write_bytes(gzip.compress(raw) if segment.path.suffix == ".gz" else raw)


def rewrite_in_place(path: Path, data: bytes) -> None:
    with open(path, "r+b") as handle:  # the same inode: only the chain and the state can tell
        handle.truncate(0)
        handle.write(data)


def rechain(found: list[dict], start_sequence: int, prev_hash: str, key: bytes | None) -> tuple[list[bytes], str]:
    """Entries re-sealed as a forger would: new sequences and hashes, chained from prev_hash."""
    out = []
    for offset, original in enumerate(found):
        entry = {k: v for k, v in original.items() if k != "entry_hash"}
        entry["sequence"], entry["prev_hash"] = start_sequence + offset, prev_hash
        entry["entry_hash"] = prev_hash = entry_hash(entry, key)
        out.append(json.dumps(entry, separators=(",", ":")).encode() + b"\n")
    return out, prev_hash


# --------------------------------------------------------------------------- rotation itself


@KEYED
@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_rotation_by_size_seals_contiguous_segments_on_one_chain(log_dir, keyed, compress):
    key = new_key(keyed)
    rotation = dataclasses.replace(SMALL, compress=compress)
    log = open_log(log_dir, key, rotation)
    fill(log, 300)
    log.close()
    settle()

    found = sealed(log_dir)
    state = IntegrityState.load(log_dir, key.key if key else None).files[OPS]
    assert len(found) >= 10, [s.path.name for s in found]
    assert_contiguous(found, state.base_sequence)
    assert {s.path.suffix for s in found} == {".gz" if compress else ".jsonl"}
    assert all(len(segment.read()) <= rotation.max_bytes for segment in found)
    # One chain: each segment's first entry points at the last entry of the one before it, and
    # the active file's first entry at the newest segment's last (the state's base).
    previous = "GENESIS"
    sequences = []
    for segment in found:
        held = entries(segment)
        assert held[0]["prev_hash"] == previous
        assert (held[0]["sequence"], held[-1]["sequence"]) == (segment.first, segment.last)
        previous = held[-1]["entry_hash"]
        sequences += [e["sequence"] for e in held]
    active = active_entries(log_dir)
    assert state.base_hash == previous and active[0]["prev_hash"] == previous
    assert sequences + [e["sequence"] for e in active] == list(range(1, 301))

    assert_full_passes(log_dir, key, 300)
    state_after, warnings = start(log_dir, key)
    assert warnings == []
    # The next run continues the same chain.
    log = open_log(log_dir, key, rotation, state_after)
    assert fill(log, 50)[0]["sequence"] == 301
    log.close()
    settle()
    assert_full_passes(log_dir, key, 350)
    start(log_dir, key)


def test_rotation_by_age_and_across_a_restart(log_dir):
    """A tiny max_age: the first write after the active file got too old opens a new one. The age
    is the active file's first entry's time, so it also holds across a restart."""
    rotation = Rotation(max_bytes=1 << 30, max_age_seconds=0.3, compress=True)
    log = open_log(log_dir, None, rotation)
    chained = log.files["operations"]
    fill(log, 3)
    fresh_starts = []
    for _ in range(3):
        time.sleep(0.4)
        entry = fill(log, 1)[0]
        # The entry after the pause is the first of a fresh active file (a stalled machine may
        # rotate more often, never less).
        fresh_starts.append((entry["sequence"], chained.base[0] + 1))
        fill(log, 2)
    log.close()
    time.sleep(0.4)
    state, _ = start(log_dir, None)
    log = open_log(log_dir, None, rotation, state)
    entry = fill(log, 1)[0]
    fresh_starts.append((entry["sequence"], log.files["operations"].base[0] + 1))
    log.close()
    settle()

    assert all(sequence == first for sequence, first in fresh_starts), fresh_starts
    found = sealed(log_dir)
    assert len(found) >= 4 and all(s.path.suffix == ".gz" for s in found), [s.path.name for s in found]
    assert_contiguous(found, IntegrityState.load(log_dir).files[OPS].base_sequence)
    assert_full_passes(log_dir, None, 13)
    start(log_dir, None)


@pytest.mark.timeout(600)
def test_a_million_entries_across_segments_verify(log_dir):
    """The issue's 'a trail of a million entries across segments verifies'. Written through the
    writer's ChainedFile (the code that rotates), with the state saved every 1,000 entries
    rather than after each (a per-entry save is what AuditLog.write adds, and is not under test
    here); about 30 s of writing and 15 s of full verification on one core."""
    total = 1_000_000
    log = open_log(log_dir, None, Rotation(max_bytes=4 * 1024 * 1024, compress=True))
    chained = log.files["operations"]
    for i in range(total):
        chained.append({"event": "tools/call", "request_id": i, "tool_name": "echo"})
        if i % 1000 == 999:
            log.state.save()
    log.state.save()
    log.close()
    settle()

    found = sealed(log_dir)
    state = IntegrityState.load(log_dir).files[OPS]
    assert len(found) >= 30, len(found)
    assert_contiguous(found, state.base_sequence)
    assert state.last_sequence == total
    start(log_dir, None)  # names only
    assert_full_passes(log_dir, None, total)


# --------------------------------------------------------------------------- crash windows

CHILD = r"""
import os, sys, threading
from pathlib import Path
from mcp_acp.audit.keys import AuditKey
from mcp_acp.audit.state import IntegrityState
from mcp_acp.audit.writer import AuditLog, ChainedFile, Rotation

log_dir, window, key_hex = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
CRASH_AT = 3  # the third rotation of operations.jsonl: two sealed segments before it
key = AuditKey(bytes.fromhex(key_hex), {}) if key_hex else None
rotations = saves = 0
armed = False


def die():
    os._exit(137)  # as abrupt as kill -9: no flush, no finally, no atexit


def earlier_compressions_done():
    for thread in threading.enumerate():
        if thread.name == "segment-gzip" and thread is not threading.current_thread():
            thread.join()


real_rotate = ChainedFile.rotate
def rotate(self):
    global rotations, armed
    if self.rel == "audit/operations.jsonl":
        rotations += 1
        earlier_compressions_done()  # so the crash lands in this rotation, not an older one
        armed = rotations == CRASH_AT
    real_rotate(self)
ChainedFile.rotate = rotate

real_open_active = ChainedFile._open_active
def open_active(self):
    if armed and window == "renamed":
        die()  # the active file is now the newest segment; no new active file yet
    real_open_active(self)
    if armed and window == "created":
        die()  # a fresh, empty active file; the state still names the sealed one
ChainedFile._open_active = open_active

real_save = IntegrityState.save
def save(self):
    global saves
    if armed and window == "written" and saves == 1:
        die()  # the first entry after the rotation is written; its state save is not
    real_save(self)
    if armed:
        saves += 1
        if window == "saved":
            die()  # the rotation's state is saved; nothing written to the new file yet
IntegrityState.save = save

real_fsync, real_unlink = os.fsync, os.unlink
def compressing():
    return armed and threading.current_thread().name == "segment-gzip"
def fsync(fd):
    if compressing() and window == "partial":
        die()  # the compressed copy is in .gz.partial, not yet renamed
    real_fsync(fd)
def unlink(path, *args, **kwargs):
    if compressing() and window == "both":
        die()  # the .jsonl.gz is complete, the plain segment not yet removed
    real_unlink(path, *args, **kwargs)
os.fsync, os.unlink = fsync, unlink

state = IntegrityState.load(log_dir, key.key if key else None)
log = AuditLog(log_dir, state, key, rotation=Rotation(max_bytes=4096, compress=True))
for i in range(2000):
    log.write("operations", {"event": "tools/call", "request_id": str(i), "arguments_summary": {"text": "x" * 40}})
earlier_compressions_done()
sys.exit(3)  # the window was never reached
"""

WINDOWS = [
    "renamed",  # after the rename, before the new active file exists
    "created",  # the new active file created, the state not saved
    "saved",  # the rotation's state saved, no entry in the new file yet
    "written",  # the first entry of the new active file written, the state not yet saved
    "partial",  # the compression cut short: a .jsonl.gz.partial next to the plain segment
    "both",  # the compression finished, the plain segment not yet removed
]


def crash_in(log_dir: Path, window: str, key: AuditKey | None) -> None:
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(log_dir), window, key.key.hex() if key else ""],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 137, (result.returncode, result.stderr[-3000:])


def assert_crash_left(log_dir: Path, window: str, key: AuditKey | None) -> None:
    """The files are those of the window (so the test exercises what it says)."""
    active = log_dir / OPS
    state = IntegrityState.load(log_dir, key.key if key else None).files[OPS]
    found = sealed(log_dir)
    names = os.listdir(segments.folder(active))
    if window == "renamed":
        assert not active.exists() and found[-1].path.suffix == ".jsonl" and found[-1].last == state.last_sequence
    elif window == "created":
        assert active.stat().st_size == 0 and active.stat().st_ino != state.last_inode
        assert found[-1].path.stat().st_ino == state.last_inode
    elif window == "saved":
        assert active.stat().st_size == 0 and state.base_sequence == found[-1].last == state.last_sequence
    elif window == "written":
        assert len(active_entries(log_dir)) == 1 and state.base_sequence == state.last_sequence == found[-1].last
    elif window == "partial":
        assert any(".jsonl.gz.partial." in name for name in names), names
    elif window == "both":
        assert any(name.endswith(".jsonl.gz") and name[:-3] in names for name in names), names
    assert len(found) >= 3


@KEYED
@pytest.mark.parametrize("window", WINDOWS)
def test_a_crash_anywhere_in_a_rotation_is_accepted_and_the_chain_continues(log_dir, window, keyed):
    key = new_key(keyed)
    crash_in(log_dir, window, key)
    assert_crash_left(log_dir, window, key)

    state, warnings = start(log_dir, key)
    if window in ("renamed", "created"):
        assert any("rotation was cut short" in w for w in warnings), warnings
    left = os.listdir(segments.folder(log_dir / OPS))
    assert not any(name.endswith(".partial") for name in left), left
    assert not any(name.endswith(".jsonl.gz") and name[:-3] in left for name in left), left
    written = state.files[OPS].last_sequence

    log = open_log(log_dir, key, SMALL, state)
    assert fill(log, 100)[0]["sequence"] == written + 1
    log.close()
    settle()
    found = sealed(log_dir)
    assert all(s.path.suffix == ".gz" for s in found), [s.path.name for s in found]
    assert_contiguous(found, IntegrityState.load(log_dir, key.key if key else None).files[OPS].base_sequence)
    assert_full_passes(log_dir, key, written + 100)
    start(log_dir, key)


# --------------------------------------------------------------------------- tampering: names (start-up)


@KEYED
@pytest.mark.parametrize("which", ["first", "middle", "last"])
def test_a_deleted_segment_stops_the_start(log_dir, keyed, which):
    key = new_key(keyed)
    found = rotated_trail(log_dir, key)
    victim = {"first": found[0], "middle": found[len(found) // 2], "last": found[-1]}[which]
    victim.path.unlink()

    message = refused(log_dir, key)
    assert "segment" in message and "deleted" in message, message
    assert "deleted" in full_errors(log_dir, key)


@KEYED
def test_all_segments_deleted_stops_the_start(log_dir, keyed):
    key = new_key(keyed)
    for segment in rotated_trail(log_dir, key):
        segment.path.unlink()
    assert "the segments end at entry 0" in refused(log_dir, key)
    assert "the segments end at entry 0" in full_errors(log_dir, key)


@KEYED
def test_a_segment_renamed_out_of_line_stops_the_start(log_dir, keyed):
    key = new_key(keyed)
    found = rotated_trail(log_dir, key)
    middle = found[len(found) // 2]
    # Claims two entries more than it holds: the next segment now overlaps it.
    middle.path.rename(middle.path.with_name(f"operations.{middle.first:012d}-{middle.last + 2:012d}.jsonl.gz"))
    message = refused(log_dir, key)
    assert "should start at entry" in message, message
    assert "should start at entry" in full_errors(log_dir, key)


@KEYED
def test_a_segment_renamed_out_of_the_log_stops_the_start(log_dir, keyed):
    """Renamed so it no longer looks like one of this log's segments: as good as deleted."""
    key = new_key(keyed)
    found = rotated_trail(log_dir, key)
    found[1].path.rename(found[1].path.with_name("hidden" + found[1].path.name))
    assert "deleted" in refused(log_dir, key)
    assert "deleted" in full_errors(log_dir, key)


@KEYED
def test_a_state_whose_base_was_rolled_back_stops_the_start(log_dir, keyed):
    """The state says the active file continues from an earlier segment's end."""
    key = new_key(keyed)
    found = rotated_trail(log_dir, key)
    earlier = found[-3]
    path = log_dir / ".integrity_state"
    document = json.loads(path.read_bytes())
    document["files"][OPS].update(base_sequence=earlier.last, base_hash=entries(earlier)[-1]["entry_hash"])
    path.write_text(json.dumps(document))  # the mac (keyed) is left as it was: the key is not ours

    message = refused(log_dir, key)
    if keyed:
        assert "signature" in message, message
    else:
        assert (
            f"the segments end at entry {found[-1].last}, but the active file continues from entry {earlier.last}"
            in message
        ), message
        assert f"first entry must be sequence {earlier.last + 1}" in message, message


def test_a_consistent_rollback_of_segments_and_state_is_caught_by_the_record_outside(log_dir):
    """Without a key a folder can be made self-consistent again: the newest segment and the
    active file removed, the state moved back to the segment before. The folder alone cannot
    tell (verify_proxy without the proxy's name passes); the trail record outside it can."""
    found = rotated_trail(log_dir, None)
    found[-1].path.unlink()
    active = log_dir / OPS
    active.unlink()
    active.touch(mode=0o600)
    state = IntegrityState.load(log_dir)
    stat = active.stat()
    last_hash = entries(found[-2])[-1]["entry_hash"]
    state.files[OPS] = dataclasses.replace(
        state.files[OPS],
        last_hash=last_hash,
        last_sequence=found[-2].last,
        last_inode=stat.st_ino,
        last_dev=stat.st_dev,
        last_size=0,
        base_sequence=found[-2].last,
        base_hash=last_hash,
    )
    state.save()
    state.close()

    assert verify_proxy(log_dir, None).overall == "passed"
    assert "ROLLBACK" in refused(log_dir, None)
    assert "ROLLBACK" in full_errors(log_dir, None)


# --------------------------------------------------------------------------- tampering: content (full verify)


@KEYED
@pytest.mark.parametrize("edit", ["field", "field_and_own_hash"])
def test_an_edited_entry_in_a_compressed_segment_is_caught_by_full_verify(log_dir, keyed, edit):
    key = new_key(keyed)
    found = rotated_trail(log_dir, key)
    victim = found[len(found) // 2]
    held = lines(victim)
    entry = json.loads(held[3])
    entry["tool_name"] = "delete_everything"
    if edit == "field_and_own_hash":  # recomputed in plain SHA-256: the next prev_hash no longer matches
        entry["entry_hash"] = entry_hash(entry, None)
    held[3] = json.dumps(entry, separators=(",", ":")).encode() + b"\n"
    rewrite(victim, held)

    start(log_dir, key)  # by design: a start reads no segment, so its cost does not grow with the trail
    errors = full_errors(log_dir, key)
    assert victim.path.name in errors, errors
    expected = "prev_hash does not match" if edit == "field_and_own_hash" and not keyed else "entry hash mismatch"
    assert expected in errors, errors


@KEYED
def test_a_segment_boundary_moved_consistently_is_caught_by_full_verify(log_dir, keyed):
    """Two neighbours renamed so the names stay contiguous but lie about what they hold."""
    key = new_key(keyed)
    found = rotated_trail(log_dir, key)
    a, b = found[2], found[3]
    folder = segments.folder(log_dir / OPS)
    a.path.rename(folder / f"operations.{a.first:012d}-{a.last + 2:012d}.jsonl.gz")
    b.path.rename(folder / f"operations.{a.last + 3:012d}-{b.last:012d}.jsonl.gz")

    start(log_dir, key)  # the names are contiguous: a start cannot tell
    errors = full_errors(log_dir, key)
    assert f"holds entries up to {a.last}, its name says {a.last + 2}" in errors, errors


@pytest.mark.parametrize("position", ["middle", "newest"])
@pytest.mark.parametrize("forger", ["unkeyed-trail", "keyed-trail", "keyed-trail-own-key"])
def test_a_resealed_segment_is_caught_by_full_verify(log_dir, position, forger):
    """The forger edits an entry of one segment and re-seals the segment, chained to the one
    before it. On a keyed trail every re-sealed entry fails the HMAC (plain SHA-256 or a key of
    the forger's own); without a key the seal holds, but the segment no longer ends where the
    next segment (or the active file, by the state's base) continues."""
    key = new_key(forger != "unkeyed-trail")
    found = rotated_trail(log_dir, key)
    index = len(found) // 2 if position == "middle" else len(found) - 1
    victim = found[index]
    held = entries(victim)
    held[2]["tool_name"] = "delete_everything"
    prev = entries(found[index - 1])[-1]["entry_hash"]
    forged, _ = rechain(held, victim.first, prev, secrets.token_bytes(32) if forger.endswith("own-key") else None)
    rewrite(victim, forged)

    start(log_dir, key)  # names only
    errors = full_errors(log_dir, key)
    if key is not None:
        assert f"segment {victim.path.name}" in errors and "entry hash mismatch" in errors, errors
    elif position == "middle":
        assert (
            f"segment {found[index + 1].path.name}: line 1: first entry must be sequence {victim.last + 1}, "
            "chained to the last entry of the segment before it" in errors
        ), errors
    else:
        assert "the newest segment does not end with the entry the active file continues" in errors, errors


@KEYED
def test_a_trail_rechained_to_its_end_is_caught_with_a_key_or_a_record(log_dir, keyed):
    """The forger re-seals everything from a middle segment on (later segments, the active file)
    and points the state at the new hashes. With a key the state cannot be re-signed; without
    one the folder is consistent again and only the trail record outside it catches the change."""
    key = new_key(keyed)
    found = rotated_trail(log_dir, key)
    middle = len(found) // 2
    prev = entries(found[middle - 1])[-1]["entry_hash"]
    for index, segment in enumerate(found[middle:]):
        held = entries(segment)
        if index == 0:
            held[2]["tool_name"] = "delete_everything"
        forged, prev = rechain(held, segment.first, prev, None)
        rewrite(segment, forged)
    base_hash = prev
    active = log_dir / OPS
    forged, prev = rechain(active_entries(log_dir), found[-1].last + 1, base_hash, None)
    rewrite_in_place(active, b"".join(forged))
    state = IntegrityState.load(log_dir, key.key if key else None)
    state.files[OPS] = dataclasses.replace(
        state.files[OPS], last_hash=prev, base_hash=base_hash, last_size=active.stat().st_size
    )
    state.key = None  # the forger has no key: an unsigned state
    state.save()
    state.close()

    message = refused(log_dir, key)
    if keyed:
        assert "signature" in message, message
    else:
        assert verify_proxy(log_dir, None).overall == "passed"  # the folder alone cannot tell
        assert "is not the one recorded" in message, message


# --------------------------------------------------------------------------- bugs found while testing rotation


def test_a_rotated_log_missing_from_the_state_continues_its_chain(log_dir):
    from mcp_acp.audit.repair import apply_repair, plan_repair

    log = open_log(log_dir, None)
    fill(log, 60)
    log.files["operations"].rotate()  # the active file is empty, as after any rotation
    fill(log, 5, "decisions")
    log.close()
    decisions = log_dir / PROTECTED["decisions"]
    decisions.write_bytes(b"".join(decisions.read_bytes().splitlines(keepends=True)[:-1]))  # a repair is due
    plan = plan_repair(log_dir, None)
    apply_repair(plan)

    state, _ = start(log_dir, None)
    log = open_log(log_dir, None, SMALL, state)
    entry = fill(log, 1)[0]
    log.close()
    start(log_dir, None)
    assert entry["sequence"] == 61


def test_a_checkpoint_still_holds_after_its_entry_was_rotated(log_dir):
    from mcp_acp.audit import checkpoint

    log = open_log(log_dir, None)
    fill(log, 5)
    pins = checkpoint.heads(log_dir, None)
    fill(log, 100)
    log.close()
    settle()
    report = verify_proxy(log_dir, None)
    assert report.overall == "passed"
    assert checkpoint.compare(pins, {PROTECTED[f.name]: f.check for f in report.files}, log_dir) == []


@pytest.mark.parametrize("damage", ["truncated_gzip", "not_json"])
def test_a_checkpoint_pinning_a_damaged_segment_reports_it(log_dir, damage):
    from mcp_acp.audit import checkpoint

    log = open_log(log_dir, None)
    fill(log, 5)
    pins = checkpoint.heads(log_dir, None)
    fill(log, 100)
    log.close()
    settle()
    first = sealed(log_dir)[0]
    data = first.path.read_bytes()
    first.path.write_bytes(data[: len(data) // 2] if damage == "truncated_gzip" else gzip.compress(b"not json\n"))
    report = verify_proxy(log_dir, None)
    assert report.overall == "failed"
    errors = checkpoint.compare(pins, {PROTECTED[f.name]: f.check for f in report.files}, log_dir)
    assert any("no longer matches the checkpoint" in error for error in errors), errors


def test_policy_versions_continue_after_the_history_rotates(log_dir):
    from mcp_acp.audit.history import record_load

    log = open_log(log_dir, None)
    policy = Path("/nonexistent/policy.json")
    assert record_load(log, "policy", policy, '{"rules": []}') == "v1"
    assert record_load(log, "policy", policy, '{"rules": [1]}') == "v2"
    log.files["policy-history"].rotate()
    version = record_load(log, "policy", policy, '{"rules": [1]}')
    log.close()
    assert version == "v2"


def test_a_planted_plain_twin_never_makes_the_proxy_delete_the_real_segment(log_dir):
    """After a compression the plain segment is removed only when it is the compressed one's
    twin: a forged plain copy planted next to the real .gz leaves both, and verify sees it."""
    from mcp_acp.audit import segments

    log = open_log(log_dir, None)
    fill(log, 60)
    log.files["operations"].rotate()
    log.close()
    settle()
    active = log_dir / "audit" / "operations.jsonl"
    segment = segments.list_segments(active)[-1]
    assert segment.path.suffix == ".gz"
    genuine = segment.path.read_bytes()
    forged = [json.loads(raw) for raw in segment.read().splitlines()]
    forged[3]["tool"] = "forged"
    segment.path.with_suffix("").write_bytes(b"".join(json.dumps(e).encode() + b"\n" for e in forged))
    segments.tidy(active)
    assert segment.path.read_bytes() == genuine  # the real segment is still there
    assert verify_proxy(log_dir, None).overall == "failed"  # and the planted twin is caught
