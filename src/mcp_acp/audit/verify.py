"""Verifying a proxy's protected files against their chains and the integrity state (docs/audit.md#what-the-hash-chain-proves, docs/audit.md#mcp-acp-audit-verify).

Crash rules, decided so that `kill -9` at any instant never raises a false alarm:
- The writer appends the line first, then saves the state. A crash between the two leaves the
  file exactly one valid, chained entry ahead of the state, so that is accepted; anything else
  that disagrees with the state is not.
- A line is written with one write(); if the process dies inside it, the file ends in a torn
  fragment without a newline, and the state still names the last complete entry. Only in that
  exact situation is the fragment a crash artefact: start-up moves it aside to
  `<file>.torn.<time>` (never deleted) and truncates the file to its last complete line.
  A torn end with any other state is reported as tampering.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from mcp_acp.audit import segments, trail
from mcp_acp.audit.chain import GENESIS, ChainCheck, check_chain
from mcp_acp.audit.files import PROTECTED
from mcp_acp.audit.keys import AuditKey, rule_for
from mcp_acp.audit.state import FileState, IntegrityState, StateError
from mcp_acp.config.store import ConfigError

REPAIR_HINT = (
    "Run 'mcp-acp audit verify --proxy {proxy}' to see what changed, then 'mcp-acp audit repair --proxy {proxy}'."
)


@dataclass
class FileReport:
    name: str
    path: Path
    status: str  # protected | unprotected | broken | missing | empty | not_created | error
    entries: int = 0
    errors: list[str] = field(default_factory=list[str])
    warnings: list[str] = field(default_factory=list[str])
    backups: list[str] = field(default_factory=list[str])
    check: ChainCheck | None = None
    ahead_by_one: bool = False  # the crash window between line and state
    replaced: bool = False  # another file (inode) stands where the state's file was
    torn_tail: bool = False
    rotation_cut_short: bool = False
    base: tuple[int, str] = (0, GENESIS)  # the entry the active file continues from (rotation)
    segment_errors: list[str] = field(default_factory=list[str])  # rotated segments missing or damaged


def _backups(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.glob(f"{path.stem}.broken.*.jsonl"))


def rotation_cut_short(path: Path, state: FileState | None, sealed: list[segments.Segment]) -> bool:
    """A crash inside ChainedFile.rotate(): the state still names the file that is now the newest
    segment (same inode), and the active file is missing or has nothing in it yet. Proven by the
    files themselves, so no marker has to be believed."""
    if state is None or not sealed or sealed[-1].last != state.last_sequence or sealed[-1].path.suffix != ".jsonl":
        return False
    try:
        sealed_stat = sealed[-1].path.stat()
        active_size = path.stat().st_size if path.exists() else 0
    except OSError:
        return False
    return (sealed_stat.st_dev, sealed_stat.st_ino) == (state.last_dev, state.last_inode) and active_size == 0


def verify_file(
    log_dir: Path,
    rel: str,
    state: FileState | None,
    key: AuditKey | None,
    name: str | None = None,
    state_exists: bool = True,
    full: bool = True,
    progress: Callable[[int], None] | None = None,
) -> FileReport:
    """`full` reads every rotated segment; a start does not (only their names are checked), so
    its cost is bounded by the active file's size, not the trail's."""
    path = log_dir / rel
    report = FileReport(name or rel, path, "error", backups=_backups(path))
    sealed = segments.list_segments(path)
    rule = rule_for(key, rel)
    if state is not None and rotation_cut_short(path, state, sealed):
        report.rotation_cut_short = True
        report.warnings.append(f"{rel}: a rotation was cut short by a crash (finished at the next start)")
        state = FileState(state.last_hash, state.last_sequence, 0, 0, 0, state.last_sequence, state.last_hash)
    base = (state.base_sequence, state.base_hash) if state else (0, GENESIS)
    if sealed and (full or state is None):
        last, report.segment_errors = segments.check_segments(rel, sealed, rule, progress)
        if state is None:
            base = (sealed[-1].last, last.last_hash or "?")
        elif last.last_hash != base[1]:
            report.segment_errors.append(
                f"{rel}: the newest segment does not end with the entry the active file continues"
            )
    if sealed or base[0]:
        report.segment_errors += segments.continuity_errors(rel, sealed, base[0])
    report.errors += report.segment_errors
    report.base = base
    report.entries = base[0]
    try:
        data = path.read_bytes() if not report.rotation_cut_short else b""
        if not report.rotation_cut_short:
            path.stat()
    except FileNotFoundError:
        if state is not None:
            report.status = "missing"
            report.errors.append(f"{rel} was deleted (the integrity state expects {state.last_sequence} entries)")
        else:
            report.status = "broken" if report.errors else "not_created"
        return report
    except OSError as exc:
        report.errors.append(f"cannot read {rel}: {exc.strerror}")
        return report
    check = check_chain(data, rule, start=(base[0] + 1, base[1]))
    if progress:
        progress(check.entries)
    report.check = check
    report.entries += check.entries
    report.errors += check.errors
    report.warnings += check.warnings
    if check.entries == 0 and not check.torn_tail:
        report.status = "unprotected" if check.unchained else "empty" if not sealed else "protected"
        if state is not None and (state.last_sequence, state.last_hash) != base:
            report.errors.append(f"{rel} has no chained entries but the integrity state expects {state.last_sequence}")
        report.status = "broken" if report.errors else report.status
        return report
    if state is None:
        if state_exists and check.entries == 1 and check.first_sequence == 1 and not check.torn_tail:
            report.ahead_by_one = True  # the file's very first line, written just before a crash
        else:
            report.errors.append(f"{rel} has chained entries but no integrity state (the state was deleted or reset)")
    else:
        stat = path.stat()
        if (stat.st_dev, stat.st_ino) != (state.last_dev, state.last_inode) and not report.rotation_cut_short:
            report.replaced = True
            report.errors.append(f"{rel} was replaced by another file (inode changed)")
        _compare_with_state(check, state, rel, report)
    report.status = "broken" if report.errors else "protected"
    return report


def _compare_with_state(check: ChainCheck, state: FileState, rel: str, report: FileReport) -> None:
    if check.torn_tail:
        if check.last_sequence == state.last_sequence and check.last_hash == state.last_hash:
            report.torn_tail = True
            report.warnings.append(f"{rel} ends in an incomplete line (a write cut short by a crash)")
        else:
            report.errors.append(f"{rel} ends in an incomplete line that does not match the integrity state")
        return
    if check.last_sequence == state.last_sequence and check.last_hash == state.last_hash:
        return
    # The state's entry is in this file, or (the first write after a rotation) it is the base
    # this file continues from, which check_chain has already held the first entry to.
    previous = check.hashes.get(state.last_sequence) or (
        state.last_hash if state.last_sequence == state.base_sequence and check.entries == 1 else None
    )
    if check.last_sequence == state.last_sequence + 1 and previous == state.last_hash:
        report.ahead_by_one = True  # line written, state not yet saved: the crash window
        return
    if check.last_sequence is not None and check.last_sequence < state.last_sequence:
        report.errors.append(
            f"STATE MISMATCH: {rel} ends at entry {check.last_sequence} but {state.last_sequence} were written (truncated)"
        )
    else:
        report.errors.append(f"STATE MISMATCH: the last entry of {rel} is not the one last written")


@dataclass
class ProxyReport:
    files: list[FileReport]
    state_error: str | None = None
    trail_errors: list[str] = field(default_factory=list[str])  # the log folder against the record outside it
    repairs: list[dict[str, Any]] = field(
        default_factory=list[dict[str, Any]]
    )  # every `audit repair` on record, oldest first

    @property
    def overall(self) -> str:
        if self.state_error or self.trail_errors or any(f.status in ("broken", "missing", "error") for f in self.files):
            return "failed"
        return "passed" if any(f.status == "protected" for f in self.files) else "no_files"


def trail_errors(proxy: str | None, key: AuditKey | None, state: IntegrityState | None) -> list[str]:
    if proxy is None:
        return []
    try:
        record = trail.load(proxy, key)
    except (trail.TrailError, ConfigError) as exc:
        return [str(exc)]
    return trail.problems(record, state, state is not None and state.exists)


def _repairs(log_dir: Path) -> list[dict[str, Any]]:
    try:
        lines = (log_dir / PROTECTED["repairs"]).read_bytes().splitlines()
    except OSError:
        return []
    found: list[dict[str, Any]] = []
    for line in lines:
        with contextlib.suppress(ValueError):
            entry: object = json.loads(line)
            if isinstance(entry, dict) and (entry := cast("dict[str, Any]", entry)).get("event") == "audit_repaired":
                found.append({k: v for k, v in entry.items() if k not in ("prev_hash", "entry_hash")})
    return found


def verify_proxy(
    log_dir: Path,
    key: AuditKey | None,
    proxy: str | None = None,
    full: bool = True,
    progress: Callable[[int], None] | None = None,
) -> ProxyReport:
    """Every protected file against its chain and the state, and (given the proxy's name) the
    whole folder against the trail record kept outside it."""
    try:
        state = IntegrityState.load(log_dir, key.key if key else None)
    except StateError as exc:
        reports = [
            verify_file(log_dir, rel, None, key, name, full=full, progress=progress) for name, rel in PROTECTED.items()
        ]
        return ProxyReport(
            reports, state_error=str(exc), trail_errors=trail_errors(proxy, key, None), repairs=_repairs(log_dir)
        )
    reports = [
        verify_file(log_dir, rel, state.files.get(rel), key, name, state.exists, full, progress)
        for name, rel in PROTECTED.items()
    ]
    return ProxyReport(reports, trail_errors=trail_errors(proxy, key, state), repairs=_repairs(log_dir))


class AuditFailure(Exception):
    """The audit trail cannot be trusted or written: the proxy must not run (exit 10)."""

    exit_code = 10


def verify_settled(
    log_dir: Path, key: AuditKey | None, proxy: str | None = None, progress: Callable[[int], None] | None = None
) -> ProxyReport:
    """`verify_proxy`, tolerant of a proxy writing meanwhile: it may write between our reading the
    state and reading a file, leaving the file an entry ahead for an instant (or rotate a file
    between the two). A real mismatch survives a second look."""
    report = verify_proxy(log_dir, key, proxy, progress=progress)
    for _ in range(2):
        if not any(f.status in ("broken", "missing") for f in report.files):
            break
        time.sleep(0.2)
        report = verify_proxy(log_dir, key, proxy)
    return report


def _stamp() -> str:
    # Microseconds: two crash recoveries within one second must not collide.
    return datetime.now().strftime("%Y-%m-%d_%H%M%S_%f")


def verify_on_startup(log_dir: Path, proxy: str, key: AuditKey | None) -> tuple[IntegrityState, list[str]]:
    """Check everything before the proxy runs. Returns the state to continue from and warnings.

    Only what the files prove is forgiven: one torn last line, one entry past the state, a
    rotation cut short. A `.last_crash` file is the proxy's note to a human, never evidence: a
    deleted, replaced or truncated log is refused whatever it says. Rotated segments are checked
    by name only, so the cost is bounded by the active files' size (`audit verify` reads all).

    Raises AuditFailure naming every problem and how to repair it.
    """
    hint = REPAIR_HINT.format(proxy=proxy)
    for rel in PROTECTED.values():
        segments.tidy(log_dir / rel)
    try:
        state = IntegrityState.load(log_dir, key.key if key else None)
    except StateError as exc:
        raise AuditFailure(f"{exc}. {hint}") from None
    reports = [
        verify_file(log_dir, rel, state.files.get(rel), key, state_exists=state.exists, full=False)
        for rel in PROTECTED.values()
    ]
    errors = trail_errors(proxy, key, state) + [e for r in reports for e in r.errors]
    if errors:
        raise AuditFailure("audit log integrity check failed: " + "; ".join(errors) + f". {hint}")
    warnings = [w for r in reports for w in r.warnings]
    for report in reports:
        rel = report.path.relative_to(log_dir).as_posix()
        if report.rotation_cut_short:
            known = state.files[rel]  # the writer opens the fresh active file and records it
            state.files[rel] = FileState(
                known.last_hash, known.last_sequence, 0, 0, 0, known.last_sequence, known.last_hash
            )
        if report.torn_tail:
            _quarantine_torn_tail(report)
            warnings.append(f"Moved an incomplete last line of {report.path.name} aside (crash artefact)")
        if report.ahead_by_one:
            _adopt(state, log_dir, report)
    return state, warnings


def _adopt(state: IntegrityState, log_dir: Path, report: FileReport) -> None:
    """Point the state at the file's current last entry."""
    stat = report.path.stat()
    check = report.check
    assert check is not None and check.last_hash is not None and check.last_sequence is not None  # ahead by one entry
    rel = report.path.relative_to(log_dir).as_posix()
    known = state.files.get(rel)
    base = (known.base_sequence, known.base_hash) if known else (0, GENESIS)
    state.files[rel] = FileState(check.last_hash, check.last_sequence, stat.st_ino, stat.st_dev, stat.st_size, *base)


def _quarantine_torn_tail(report: FileReport) -> None:
    assert report.check is not None  # a torn tail was seen by a chain check
    tail = report.check.torn_tail
    keep = report.path.stat().st_size - len(tail)
    aside = report.path.with_name(f"{report.path.name}.torn.{_stamp()}")
    fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, tail)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.truncate(report.path, keep)
