"""Repairing a proxy's integrity state (docs/audit.md#mcp-acp-audit-repair), and the checks around it.

Repair never edits log content. Per protected file:
- missing                      -> drop its entry from the state ("cleared")
- chain internally broken      -> rename to `<stem>.broken.<YYYY-MM-DD_HHMMSS>.jsonl`, create an
                                  empty 0600 file, drop its state ("backed_up"; destructive, so the
                                  caller asks first)
- chain valid, state differs   -> point the state at the file's last entry ("repaired")
- no chained entries           -> drop its state ("cleared")
A damaged or unreadable `.integrity_state` counts as no state: it is rebuilt from the files whose
chains hold.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Generator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from mcp_acp.audit import segments, trail
from mcp_acp.audit.files import PROTECTED
from mcp_acp.audit.keys import AuditKey, save_audit_key
from mcp_acp.audit.sharing import RUNNING_LOCK
from mcp_acp.audit.state import STATE_FILE, FileState, IntegrityState, StateError
from mcp_acp.audit.verify import FileReport, trail_errors, verify_file
from mcp_acp.audit.writer import AuditLog

LOCK_FILE = RUNNING_LOCK


class ProxyRunning(Exception):
    """The proxy holds its log folder's writer lock."""


@contextlib.contextmanager
def exclusive(log_dir: Path, proxy: str) -> Generator[None, None, None]:
    """Hold the writer lock, so the proxy cannot start (or be running) while we change things."""
    if not log_dir.is_dir():
        yield  # never started: nothing to lock against
        return
    lock = FileLock(str(log_dir / LOCK_FILE), mode=0o600)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise ProxyRunning(f"proxy {proxy} is running; stop it first (close its MCP client)") from None
    try:
        yield
    finally:
        lock.release()


def is_running(log_dir: Path) -> bool:
    """True when some process holds the writer lock (checked without keeping it)."""
    try:
        with exclusive(log_dir, ""):
            return False
    except ProxyRunning:
        return True


def backup_name(path: Path, now: datetime | None = None) -> Path:
    stamp = (now or datetime.now()).strftime("%Y-%m-%d_%H%M%S")
    candidate = path.with_name(f"{path.stem}.broken.{stamp}.jsonl")
    counter = 2
    while candidate.exists():  # two repairs within one second: never overwrite a backup
        candidate = path.with_name(f"{path.stem}.broken.{stamp}-{counter}.jsonl")
        counter += 1
    return candidate


@dataclass
class Action:
    file: str  # relative path
    action: str  # ok | cleared | repaired | backed_up | failed | none
    detail: str
    report: FileReport | None = None
    backup: Path | None = None
    known: FileState | None = None  # what the state said before the repair


@dataclass
class Plan:
    log_dir: Path
    state: IntegrityState
    state_problem: str | None
    actions: list[Action]
    proxy: str = ""
    key: AuditKey | None = None
    trail_problems: list[str] = field(default_factory=list[str])  # the folder against the record outside it

    @property
    def destructive(self) -> list[Action]:
        return [a for a in self.actions if a.action == "backed_up"]

    @property
    def changes(self) -> bool:
        return bool(self.state_problem or self.trail_problems) or any(a.action in CHANGES for a in self.actions)


CHANGES = ("cleared", "repaired", "backed_up")


def plan_repair(log_dir: Path, key: AuditKey | None, names: list[str] | None = None, proxy: str = "") -> Plan:
    """Decide what repair would do, touching nothing."""
    state_problem = None
    try:
        state = IntegrityState.load(log_dir, key.key if key else None)
    except StateError as exc:
        state_problem = str(exc)
        state = IntegrityState(log_dir / STATE_FILE, key=key.key if key else None)
    actions: list[Action] = []
    for name in names or list(PROTECTED):
        rel = PROTECTED[name]
        known = state.files.get(rel)
        report = verify_file(log_dir, rel, known, key, name)
        action = _decide(rel, known, report, rebuilding=state_problem is not None)
        action.known = known
        actions.append(action)
    trail_problems = trail_errors(proxy or None, key, state if state_problem is None else None)
    return Plan(log_dir, state, state_problem, actions, proxy, key, trail_problems)


def _decide(rel: str, known: FileState | None, report: FileReport, rebuilding: bool) -> Action:
    if report.status == "not_created":
        return Action(rel, "none", "no file")
    if report.segment_errors:
        return Action(
            rel, "backed_up", "rotated segments are missing or damaged: " + "; ".join(report.segment_errors[:3]), report
        )
    if report.status == "missing" and report.base[0]:
        return Action(
            rel,
            "repaired",
            f"active file was deleted: continue from entry {report.base[0]}, the newest segment's last",
            report,
        )
    if report.status == "missing":
        return Action(rel, "cleared", "file was deleted: removed it from the integrity state", report)
    if report.status == "error":
        return Action(rel, "failed", "; ".join(report.errors) or "cannot read the file", report)
    check = report.check
    assert check is not None  # every status but the ones above comes from a chain check
    if report.status == "protected" and check.entries == 0:  # just rotated: nothing in the active file yet
        return Action(rel, "ok", f"consistent ({report.entries} entries, all in segments)", report)
    if check.errors:
        return Action(
            rel,
            "backed_up",
            "chain is broken: "
            + "; ".join(check.errors[:3])
            + (f" (+{len(check.errors) - 3} more)" if len(check.errors) > 3 else ""),
            report,
        )
    if check.entries == 0:
        if known is not None:
            return Action(rel, "cleared", "no chained entries: removed it from the integrity state", report)
        return Action(rel, "none", "no chained entries")
    if not check.last_entry_valid:  # cannot happen with a clean chain; never adopt a bad entry
        return Action(rel, "failed", "the last entry's own hash is wrong: refusing to adopt it", report)
    assert check.last_sequence is not None  # a chain with entries has a last one
    stat = report.path.stat()
    current = (check.last_hash, check.last_sequence, stat.st_ino, stat.st_dev)
    if known is not None and (known.last_hash, known.last_sequence, known.last_inode, known.last_dev) == current:
        return Action(rel, "ok", f"consistent ({check.entries} entries)", report)
    if rebuilding:
        why = "rebuilt from the file"
    elif known is None:
        why = "was not in the integrity state"
    elif (known.last_inode, known.last_dev) != (stat.st_ino, stat.st_dev):
        why = "file was replaced (new inode)"
    elif known.last_sequence > check.last_sequence:
        why = f"state expected {known.last_sequence} entries, the file has {check.last_sequence}"
    else:
        why = f"state pointed at entry {known.last_sequence}"
    return Action(rel, "repaired", f"state set to entry {check.last_sequence} ({why})", report)


def apply_repair(plan: Plan) -> None:
    """Carry out a plan (the caller has confirmed any backups). Marks failed actions in place."""
    state = plan.state
    for action in plan.actions:
        try:
            if action.action == "cleared":
                state.files.pop(action.file, None)
            elif action.action == "repaired":
                assert action.report is not None  # _decide repairs only what it verified
                state.files[action.file] = _adopted(action.report)
            elif action.action == "backed_up":
                assert action.report is not None
                action.backup = _back_up(action.report.path)
                for segment in segments.list_segments(action.report.path):  # the chain restarts: all of it goes
                    os.rename(segment.path, action.backup.with_name(f"{action.backup.name}.{segment.path.name}"))
                state.files.pop(action.file, None)
                action.detail += f" -> moved to {action.backup.name}, started an empty file"
        except OSError as exc:
            action.action = "failed"
            action.detail = f"{action.detail}; could not finish: {exc.strerror or exc}"
    if plan.changes:
        try:
            state.save()
        finally:
            state.close()
        _leave_evidence(plan)


def _lost(action: Action, state: IntegrityState) -> tuple[int | None, int]:
    """(entries the state vouched for before, entries kept) of one file."""
    before = action.known.last_sequence if action.known else None
    now = state.files.get(action.file)
    return before, now.last_sequence if now is not None else 0


def _leave_evidence(plan: Plan) -> None:
    """A repair accepts a shorter or different trail; it must never do so silently. Each change
    becomes a chained entry of system/repairs.jsonl (keyed when the trail is), `audit verify`
    lists them from then on, system.jsonl says it too, and the record outside the log folder
    moves to the repaired heads, so the loss is on record and not re-reported forever."""
    restarted = {rel for rel in PROTECTED.values() if rel not in plan.state.files}  # chains that begin again
    key = plan.key
    if key is not None and any(key.since.get(rel, 1) > 1 for rel in restarted):
        # A chain that starts again from entry 1 is keyed from entry 1: no unkeyed gap to forge in.
        key.since.update({rel: 1 for rel in restarted})
        save_audit_key(plan.proxy, key)
    audit = AuditLog(plan.log_dir, plan.state, key)
    try:
        records: list[dict[str, Any]] = [
            {"file": None, "action": "trail_reset", "detail": problem} for problem in plan.trail_problems
        ]
        for action in plan.actions:
            if action.action in CHANGES:
                before, kept = _lost(action, plan.state)
                lost = None if before is None else max(0, before - kept)
                records.append(
                    {
                        "file": action.file,
                        "action": action.action,
                        "detail": action.detail,
                        "entries_before": before,
                        "entries_kept": kept,
                        "entries_lost": lost,
                        "lost_sequences": [kept + 1, before] if lost else None,
                        "backup": action.backup.name if action.backup else None,
                    }
                )
        for record in records:
            audit.write("repairs", {"event": "audit_repaired", **record})
            lost = f", {record['entries_lost']} entries lost" if record.get("entries_lost") else ""
            audit.write(
                "system",
                {
                    "level": "WARNING",
                    "event": "audit_repaired",
                    "component": "audit.repair",
                    "message": f"audit repair: {record['file'] or 'the trail record'} "
                    f"{record['action']}{lost} (see system/repairs.jsonl)",
                    "details": record,
                },
            )
        if plan.proxy:
            trail.save(plan.proxy, key, plan.state)
    finally:
        audit.close()


def _adopted(report: FileReport) -> FileState:
    """The state of a file taken as it is: its last entry, or (with no entry of its own) the
    newest segment's last, which it continues from."""
    check = report.check
    if check is None or not check.entries:
        if not report.path.exists():
            os.close(os.open(report.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        stat = report.path.stat()
        return FileState(report.base[1], report.base[0], stat.st_ino, stat.st_dev, stat.st_size, *report.base)
    stat = report.path.stat()
    assert check.last_hash is not None and check.last_sequence is not None  # a chain with entries has a last one
    return FileState(check.last_hash, check.last_sequence, stat.st_ino, stat.st_dev, stat.st_size, *report.base)


def _back_up(path: Path) -> Path:
    target = backup_name(path)
    os.rename(path, target)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.fchmod(fd, 0o600)
        os.close(fd)
    except OSError:
        with contextlib.suppress(OSError):
            os.rename(target, path)  # roll back: the log stays where it was
        raise
    return target
