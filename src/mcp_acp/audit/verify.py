"""Verifying a proxy's protected files against their chains and the integrity state (SPEC §5.3, §5.6).

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

import os
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from mcp_acp.audit.chain import ChainCheck, check_chain
from mcp_acp.audit.files import LAST_CRASH, PROTECTED
from mcp_acp.audit.keys import AuditKey, rule_for
from mcp_acp.audit.state import FileState, IntegrityState, StateError

REPAIR_HINT = "Run 'mcp-acp audit verify --proxy {proxy}' to see what changed, then 'mcp-acp audit repair --proxy {proxy}'."


@dataclass
class FileReport:
    name: str
    path: Path
    status: str  # protected | unprotected | broken | missing | empty | not_created | error
    entries: int = 0
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    backups: list[str] = field(default_factory=list)
    check: ChainCheck | None = None
    ahead_by_one: bool = False  # the crash window between line and state
    replaced: bool = False  # another file (inode) stands where the state's file was
    torn_tail: bool = False


def _backups(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.glob(f"{path.stem}.broken.*.jsonl"))


def verify_file(log_dir: Path, rel: str, state: FileState | None, key: AuditKey | None,
                name: str | None = None, state_exists: bool = True) -> FileReport:
    path = log_dir / rel
    report = FileReport(name or rel, path, "error", backups=_backups(path))
    try:
        data = path.read_bytes()
        stat = path.stat()
    except FileNotFoundError:
        if state is not None:
            report.status = "missing"
            report.errors.append(f"{rel} was deleted (the integrity state expects {state.last_sequence} entries)")
        else:
            report.status = "not_created"
        return report
    except OSError as exc:
        report.errors.append(f"cannot read {rel}: {exc.strerror}")
        return report
    check = check_chain(data, rule_for(key, rel))
    report.check, report.entries = check, check.entries
    report.errors += check.errors
    report.warnings += check.warnings
    if check.entries == 0 and not check.torn_tail:
        report.status = "unprotected" if check.unchained else "empty"
        if state is not None:
            report.errors.append(f"{rel} has no chained entries but the integrity state expects {state.last_sequence}")
            report.status = "broken"
        return report
    if state is None:
        if state_exists and check.entries == 1 and check.first_sequence == 1 and not check.torn_tail:
            report.ahead_by_one = True  # the file's very first line, written just before a crash
        else:
            report.errors.append(f"{rel} has chained entries but no integrity state (the state was deleted or reset)")
    else:
        if (stat.st_dev, stat.st_ino) != (state.last_dev, state.last_inode):
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
    if (check.last_sequence == state.last_sequence + 1
            and check.hashes.get(state.last_sequence) == state.last_hash):
        report.ahead_by_one = True  # line written, state not yet saved: the crash window
        return
    if check.last_sequence is not None and check.last_sequence < state.last_sequence:
        report.errors.append(
            f"STATE MISMATCH: {rel} ends at entry {check.last_sequence} but {state.last_sequence} were written (truncated)")
    else:
        report.errors.append(f"STATE MISMATCH: the last entry of {rel} is not the one last written")


@dataclass
class ProxyReport:
    files: list[FileReport]
    state_error: str | None = None

    @property
    def overall(self) -> str:
        if self.state_error or any(f.status in ("broken", "missing", "error") for f in self.files):
            return "failed"
        return "passed" if any(f.status == "protected" for f in self.files) else "no_files"


def verify_proxy(log_dir: Path, key: AuditKey | None) -> ProxyReport:
    try:
        state = IntegrityState.load(log_dir, key.key if key else None)
    except StateError as exc:
        reports = [verify_file(log_dir, rel, None, key, name) for name, rel in PROTECTED.items()]
        return ProxyReport(reports, state_error=str(exc))
    return ProxyReport([verify_file(log_dir, rel, state.files.get(rel), key, name, state.exists)
                        for name, rel in PROTECTED.items()])


class AuditFailure(Exception):
    """The audit trail cannot be trusted or written: the proxy must not run (exit 10)."""

    exit_code = 10


def verify_settled(log_dir: Path, key: AuditKey | None) -> ProxyReport:
    """`verify_proxy`, tolerant of a proxy writing meanwhile: it may write between our reading the
    state and reading a file, leaving the file an entry ahead for an instant. A real mismatch
    survives a second look."""
    report = verify_proxy(log_dir, key)
    for _ in range(2):
        if not any("STATE MISMATCH" in e for f in report.files for e in f.errors):
            break
        time.sleep(0.2)
        report = verify_proxy(log_dir, key)
    return report


def _stamp() -> str:
    # Microseconds: two crash recoveries within one second must not collide.
    return datetime.now().strftime("%Y-%m-%d_%H%M%S_%f")


def verify_on_startup(log_dir: Path, proxy: str, key: AuditKey | None) -> tuple[IntegrityState, list[str]]:
    """Check everything before the proxy runs. Returns the state to continue from and warnings.

    Raises AuditFailure naming every problem and how to repair it.
    """
    hint = REPAIR_HINT.format(proxy=proxy)
    try:
        state = IntegrityState.load(log_dir, key.key if key else None)
    except StateError as exc:
        raise AuditFailure(f"{exc}. {hint}") from None
    reports = [verify_file(log_dir, rel, state.files.get(rel), key, state_exists=state.exists)
               for rel in PROTECTED.values()]
    warnings = [w for r in reports for w in r.warnings]
    swapped = [r for r in reports if r.status == "missing" or r.replaced]
    # A swapped file is compared with nothing but itself: its own chain must still hold.
    other_errors = [e for r in reports
                    for e in ((r.check.errors if r.check else []) if r in swapped else r.errors)]
    crash_file = log_dir / LAST_CRASH
    if swapped and crash_file.exists() and not other_errors:
        # SPEC §5.3: after a recorded security shutdown, a file that was deleted or replaced is
        # re-baselined, once. The breadcrumb is consumed so it cannot excuse a later swap.
        for report in swapped:
            state.files.pop(report.path.relative_to(log_dir).as_posix(), None)
            if report.check is not None and report.check.entries:
                _adopt(state, log_dir, report)
        crash_file.rename(log_dir / f"{LAST_CRASH}.{_stamp()}")
        warnings.append("Auto-repaired the integrity state after a recorded crash: "
                        + ", ".join(r.path.name for r in swapped))
        return state, warnings
    errors = [e for r in reports for e in r.errors]
    if errors:
        raise AuditFailure("audit log integrity check failed: " + "; ".join(errors) + f". {hint}")
    for report in reports:
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
    state.files[report.path.relative_to(log_dir).as_posix()] = FileState(
        check.last_hash, check.last_sequence, stat.st_ino, stat.st_dev, stat.st_size)


def _quarantine_torn_tail(report: FileReport) -> None:
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
