"""The writer of a proxy's protected files (one per process; processes of one proxy take turns, sharing.py).

Order of one append, chosen for crash safety (see verify.py): check the file is still the one
we opened, write the whole line with one write(), then save the integrity state. The caller
replies to the client only after append() returns, so an answered request is always on disk
(in the OS page cache, which survives a process crash; `durable` adds fsync for power loss).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import orjson

from mcp_acp.audit import segments
from mcp_acp.audit.chain import GENESIS, KeyRule, check_chain, seal
from mcp_acp.audit.files import PROTECTED
from mcp_acp.audit.keys import AuditKey, rule_for
from mcp_acp.audit.sharing import FolderLocks
from mcp_acp.audit.state import FileState, IntegrityState, StateError
from mcp_acp.config.store import ensure_private_dir

TAIL_WINDOW = 10  # entries the health check re-verifies per file
# Longest wait for another session's turn: a start-up verifies at most one rotation's worth of
# active files in well under this; anyone holding the lock longer is treated as a failure.
TURN_WAIT_SECONDS = 30.0
TAIL_BYTES = 64 * 1024


class AuditWriteError(Exception):
    """An entry could not be written, or the file is no longer the one we opened."""


@dataclass(frozen=True)
class Rotation:
    max_bytes: int = 8 * 1024 * 1024
    max_age_seconds: float = 24 * 3600.0
    compress: bool = True


class ChainedFile:
    def __init__(
        self, log_dir: Path, rel: str, state: IntegrityState, rule: KeyRule, rotation: Rotation | None = None
    ) -> None:
        self.rel = rel
        self.path = log_dir / rel
        self._path_str = str(self.path)  # os.stat on a str skips the Path conversion (every write)
        self._state = state
        self._rule = rule
        self._rotation = rotation or Rotation()
        ensure_private_dir(self.path.parent)
        self._open_active()
        known = state.files.get(rel)
        self.sequence: int = known.last_sequence if known else 0
        self.last_hash: str = known.last_hash if known else GENESIS
        self.base: tuple[int, str] = (known.base_sequence, known.base_hash) if known else (0, GENESIS)
        if known:
            self._remember()
        self.dirty = False
        self._opened_at = self._first_entry_time()
        if self._rotation.compress:
            for segment in segments.list_segments(self.path):
                if segment.path.suffix == ".jsonl":
                    segments.compress_later(segment.path)

    def _open_active(self) -> None:
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.fchmod(self._fd, 0o600)
        stat = os.fstat(self._fd)
        self.dev, self.inode, self.size = stat.st_dev, stat.st_ino, stat.st_size

    def _remember(self) -> None:
        self._state.files[self.rel] = FileState(
            self.last_hash, self.sequence, self.inode, self.dev, self.size, *self.base
        )

    def _first_entry_time(self) -> float:
        """When the active file began, for rotation by age: its first entry's time."""
        if not self.size:
            return time.time()
        try:
            with open(self.path, "rb") as handle:
                first = orjson.loads(handle.readline())
            return datetime.fromisoformat(first["time"].replace("Z", "+00:00")).timestamp()
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return time.time()

    def _due(self, adding: int) -> bool:
        return self.size > 0 and (
            self.size + adding > self._rotation.max_bytes
            or time.time() - self._opened_at > self._rotation.max_age_seconds
        )

    def rotate(self) -> None:
        """Seal the active file into a segment and start a fresh one chained to it. Each step is
        one rename or create, and a start can tell from the files alone how far a crash got
        (verify.finish_rotation), so no marker is trusted."""
        segment = segments.path_for(self.path, self.base[0] + 1, self.sequence)
        ensure_private_dir(segment.parent)
        os.rename(self.path, segment)
        os.close(self._fd)
        self._open_active()
        self.base = (self.sequence, self.last_hash)
        self._opened_at = time.time()
        self._remember()
        self._state.save()
        if self._rotation.compress:
            segments.compress_later(segment)

    def check_same_file(self) -> None:
        try:
            stat = os.stat(self._path_str)
        except FileNotFoundError:
            raise AuditWriteError(f"{self.rel} was deleted while the proxy was running") from None
        if (stat.st_dev, stat.st_ino) != (self.dev, self.inode):
            raise AuditWriteError(f"{self.rel} was replaced while the proxy was running")
        if stat.st_size != self.size:
            self._adopt_unrecorded(stat.st_size)

    def unchanged(self) -> bool:
        """The file is still the one we opened, with what we last knew in it (no adopting)."""
        try:
            stat = os.stat(self._path_str)
        except OSError:
            return False
        return (stat.st_dev, stat.st_ino, stat.st_size) == (self.dev, self.inode, self.size)

    def follow(self, known: FileState) -> None:
        """Another process of this proxy wrote the file since we did: continue from its head,
        and from its new active file if it rotated (the state it saved names that file)."""
        if known.last_sequence < self.sequence:
            # An older state put back (even one the key signed) would make us fork the chain.
            raise AuditWriteError(f"the integrity state of {self.rel} was set back to an earlier entry")
        if (known.last_dev, known.last_inode) != (self.dev, self.inode):
            os.close(self._fd)
            self._open_active()
            if (self.dev, self.inode) != (known.last_dev, known.last_inode):
                raise AuditWriteError(f"{self.rel} was replaced while the proxy was running")
            self._opened_at = self._first_entry_time()
        self.sequence, self.last_hash = known.last_sequence, known.last_hash
        self.base = (known.base_sequence, known.base_hash)
        self.size = known.last_size
        self._remember()

    def _adopt_unrecorded(self, size: int) -> None:
        """The file is longer than any state says: another process of this proxy was killed
        between its line and its state save. Those lines are taken only if they continue the
        chain (under the key, when there is one); anything else is tampering."""
        if size < self.size:
            raise AuditWriteError(f"{self.rel} was cut short while the proxy was running")
        with open(self.path, "rb") as handle:
            handle.seek(self.size)
            data = handle.read(size - self.size)
        check = check_chain(data, self._rule, start=(self.sequence + 1, self.last_hash))
        # One line at most: a killed session leaves one, and the next writer records it at once.
        if check.errors or check.torn_tail or check.entries != 1:
            raise AuditWriteError(f"{self.rel} has content the proxy did not write")
        assert check.last_sequence is not None and check.last_hash is not None
        self.sequence, self.last_hash, self.size = check.last_sequence, check.last_hash, size
        self._remember()
        self._state.save()  # recorded at once: never two unrecorded lines, which a start would refuse

    def append(self, fields: dict[str, Any]) -> dict[str, Any]:
        self.check_same_file()
        entry, line = seal(fields, self.sequence + 1, self.last_hash, self._rule.key_for(self.sequence + 1))
        if self._due(len(line)):
            try:
                self.rotate()
            except OSError as exc:
                raise AuditWriteError(f"cannot rotate {self.rel}: {exc.strerror or exc}") from None
        try:
            view = memoryview(line)
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError as exc:
            raise AuditWriteError(f"cannot write {self.rel}: {exc.strerror}") from None
        self.sequence, self.last_hash = entry["sequence"], entry["entry_hash"]
        self.size += len(line)
        self.dirty = True
        self._remember()
        return entry

    def tail_problems(self) -> list[str]:
        """Re-verify the last entries against the state (the health monitor's check)."""
        try:
            self.check_same_file()
            with open(self.path, "rb") as handle:
                handle.seek(max(0, self.size - TAIL_BYTES))
                data = handle.read(self.size)
        except (AuditWriteError, OSError) as exc:
            return [str(exc)]
        if self.sequence == self.base[0]:
            return [] if not data else [f"{self.rel} has content the proxy did not write"]
        start = data.find(b"\n") + 1 if self.size > TAIL_BYTES else 0
        lines = data[start:].splitlines(keepends=True)[-TAIL_WINDOW:]
        check = check_chain(b"".join(lines), self._rule, partial=True)
        problems = list(check.errors)
        if check.torn_tail or (check.last_sequence, check.last_hash) != (self.sequence, self.last_hash):
            problems.append(f"{self.rel}: the last entry is not the one the proxy wrote")
        return problems

    def fsync(self) -> None:
        os.fsync(self._fd)
        self.dirty = False

    def close(self) -> None:
        os.close(self._fd)


class Checkpoints(Protocol):
    """What the writer needs of a checkpointer (checkpointer.py): told of each entry, started
    once the files are open, closed (a final checkpoint) before they are."""

    def start(self, state: IntegrityState, turn: Callable[[], contextlib.AbstractContextManager[None]]) -> None: ...
    def noted(self) -> None: ...
    def close(self) -> None: ...


class AuditLog:
    """All protected files of one proxy, their state, and the lock that makes us their only writer."""

    def __init__(
        self,
        log_dir: Path,
        state: IntegrityState,
        key: AuditKey | None,
        durable: bool = False,
        rotation: Rotation | None = None,
        locks: FolderLocks | None = None,
        checkpoints: Checkpoints | None = None,
    ) -> None:
        self.log_dir = log_dir
        self.state = state
        self.durable = durable
        self.files = {
            name: ChainedFile(log_dir, rel, state, rule_for(key, rel), rotation) for name, rel in PROTECTED.items()
        }
        self._by_rel = {chained.rel: chained for chained in self.files.values()}
        self._locks = locks  # None: this process is the folder's only writer (tests, tools)
        # Python logging may call in from other threads; one chain must see one writer at a time.
        self._write_lock = threading.RLock()
        # `state` is what the start-up check just made of the files, under the lock: it supersedes
        # what is on disk (a crash's extra line adopted), so it is saved without catching up.
        state.last_written = state.peek()
        with self.turn():
            state.save()
        self._writes = 0
        self._synced = 0
        self._sync_task: asyncio.Task[None] | None = None
        self.checkpoints = checkpoints  # None: no signed checkpoints (a STDIO proxy unless configured)
        if checkpoints is not None:
            checkpoints.start(state, self.turn)

    @contextlib.contextmanager
    def turn(self) -> Generator[None]:
        """This process's turn with the files: no other thread or process of the proxy writes
        meanwhile, and what they wrote before is taken in first."""
        with self._write_lock:
            if self._locks is None:
                yield
                return
            try:
                self._locks.acquire(TURN_WAIT_SECONDS)
            except TimeoutError as exc:  # a hung or hostile holder: fail closed, never hang
                raise AuditWriteError(str(exc)) from None
            try:
                self._catch_up()
                yield
            finally:
                self._locks.release()

    def _catch_up(self) -> None:
        saved = self.state.peek()
        if saved == self.state.last_written:
            return  # nobody else saved since we did
        try:
            current = IntegrityState.parse(self.state.path, saved, self.state.key)
        except StateError as exc:
            raise AuditWriteError(str(exc)) from None
        for rel, known in current.files.items():
            if (chained := self._by_rel.get(rel)) is not None:
                chained.follow(known)
        self.state.last_written = saved

    def write(self, name: str, fields: dict[str, Any]) -> dict[str, Any]:
        with self.turn():
            entry = self.files[name].append(fields)
            try:
                self.state.save()
            except OSError as exc:
                raise AuditWriteError(f"cannot save {self.state.path.name}: {exc.strerror or exc}") from None
            self._writes += 1
            if self.checkpoints is not None:
                self.checkpoints.noted()
        return entry

    def check_files(self, *names: str) -> None:
        if self._locks is not None:
            with self._write_lock:
                # The usual case, without the lock: nobody wrote since our last turn and the files
                # are as we left them. Anything else is looked at properly, under the lock.
                if self.state.peek() == self.state.last_written and all(self.files[n].unchanged() for n in names):
                    return
        with self.turn():
            for name in names:
                self.files[name].check_same_file()

    def health_problems(self) -> list[str]:
        try:
            with self.turn():
                problems = [p for f in self.files.values() for p in f.tail_problems()]
        except AuditWriteError as exc:
            problems = [str(exc)]
        if not self.state.path.exists():
            problems.append(f"{self.state.path.name} was deleted while the proxy was running")
        return problems

    async def sync(self) -> None:
        """Durable mode: wait until everything written so far is fsynced. Concurrent callers
        share one fsync (group commit), so throughput does not collapse under load."""
        if not self.durable:
            return
        target = self._writes
        while self._synced < target:
            if self._sync_task is None:
                self._sync_task = asyncio.create_task(self._fsync_round())
            await asyncio.shield(self._sync_task)

    async def _fsync_round(self) -> None:
        upto = self._writes
        try:
            await asyncio.to_thread(self._fsync_all)
            self._synced = max(self._synced, upto)
        finally:
            self._sync_task = None

    def _fsync_all(self) -> None:
        for chained in self.files.values():
            if chained.dirty:
                chained.fsync()
        self.state.fsync()

    def close(self) -> None:
        if self.checkpoints is not None:
            self.checkpoints.close()  # the final heads, while the files and locks are still ours
            self.checkpoints = None
        for chained in self.files.values():
            chained.close()
        self.state.close()
