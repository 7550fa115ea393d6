"""Several processes of one proxy share its log folder: one per MCP client (docs/audit.md#several-clients-at-once).

Every chained file stays one hash chain, so verification, repair and the log viewers see one
trail. Writers take turns: each append happens under an exclusive flock on `.append.lock`,
after the writer has caught up with what the others wrote (writer.py). A process killed in the
middle leaves at most one line past the state, which the next writer checks against the chain
(and the key) before it continues: a crash of one client's proxy is never taken for tampering.

Each running process also holds a *shared* flock on `.writer.lock` for its lifetime. `audit
repair` and `proxy delete` take that lock exclusively, so they cannot run while any process of
the proxy does, and no process can start while they run.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Generator
from pathlib import Path

from mcp_acp.config.store import ensure_private_dir

RUNNING_LOCK = ".writer.lock"
APPEND_LOCK = ".append.lock"
START_TIMEOUT_SECONDS = 60.0  # another process's start-up verification of a large file
HELD_GRACE_SECONDS = 2.0  # a repair or deletion that is just finishing


def _retry(attempt: Callable[[], None], seconds: float) -> bool:
    """Call a non-blocking flock until it succeeds or `seconds` pass."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            attempt()
            return True
        except BlockingIOError:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)


class AlreadyRunning(Exception):
    """The folder is held exclusively: a repair or a deletion of this proxy is under way."""


class FolderLocks:
    def __init__(self, log_dir: Path) -> None:
        ensure_private_dir(log_dir)
        self.log_dir = log_dir
        self._running = os.open(log_dir / RUNNING_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        if not _retry(lambda: fcntl.flock(self._running, fcntl.LOCK_SH | fcntl.LOCK_NB), HELD_GRACE_SECONDS):
            os.close(self._running)
            raise AlreadyRunning(
                f"the proxy's log folder is held by a repair or a deletion ({log_dir / RUNNING_LOCK}); "
                "start it again when that has finished"
            ) from None
        self._append = os.open(log_dir / APPEND_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        self._depth = 0  # re-entrant within this process (callers also hold a thread lock)
        self._slot: int | None = None
        self.slot: int | None = None

    def acquire(self, timeout: float | None = None) -> None:
        if self._depth == 0:
            if timeout is None:
                fcntl.flock(self._append, fcntl.LOCK_EX)
            else:
                if not _retry(lambda: fcntl.flock(self._append, fcntl.LOCK_EX | fcntl.LOCK_NB), timeout):
                    raise TimeoutError(f"another process of this proxy held {APPEND_LOCK} for {timeout:g} s")
        self._depth += 1

    def release(self) -> None:
        self._depth -= 1
        if self._depth == 0:
            fcntl.flock(self._append, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def held(self, timeout: float | None = None) -> Generator[None]:
        self.acquire(timeout)
        try:
            yield
        finally:
            self.release()

    def alone(self) -> bool:
        """No other process of this proxy is running: no other session slot is held. (Probing
        the slots, not converting our shared lock: a failed flock conversion drops the lock.)"""
        for path in self.log_dir.glob(".session.*.lock"):
            if path.name == f".session.{self.slot}.lock":
                continue
            fd = os.open(path, os.O_RDWR)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            finally:
                os.close(fd)  # closing releases a probe that succeeded
        return True

    def claim_slot(self, slots: int) -> int:
        """The lowest session slot no running process holds; held until close(). A slot names
        the process's API socket, so clients of one proxy never take each other's socket."""
        for slot in range(slots):
            fd = os.open(self.log_dir / f".session.{slot}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            self._slot, self.slot = fd, slot
            return slot
        raise AlreadyRunning(f"{slots} clients are already using this proxy; close one of them first")

    def close(self) -> None:
        for fd in (self._slot, self._append, self._running):
            if fd is None:
                continue
            with contextlib.suppress(OSError):
                os.close(fd)
