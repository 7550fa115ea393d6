"""Writes a proxy's signed checkpoints (signed_checkpoint.py) while its trail is open.

The writer calls `noted()` after each entry: a counter, and a wake-up for the checkpoint thread
every `every_entries` entries. The thread also wakes every `every_seconds`, and signs a
checkpoint whenever the heads moved since the last one. Signing and appending happen on that
thread, in the writer's turn (so the heads are consistent and processes of one proxy never fork
the checkpoint chain), never on the decision path. `close()` writes a final checkpoint.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Generator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from mcp_acp.audit import signed_checkpoint
from mcp_acp.audit.chain import GENESIS, utc_now
from mcp_acp.audit.signing import Signer
from mcp_acp.audit.state import IntegrityState

log = logging.getLogger(__name__)
TAIL_BYTES = 64 * 1024  # a checkpoint line is far shorter


class Checkpointer:
    def __init__(
        self,
        log_dir: Path,
        proxy: str,
        signer: Signer,
        every_entries: int,
        every_seconds: float,
        keyed_from: dict[str, int] | None = None,
    ) -> None:
        self.path = log_dir / signed_checkpoint.FILE_NAME
        self.proxy = proxy
        self.signer = signer
        self.every_entries = every_entries
        self.every_seconds = every_seconds
        # None: unkeyed. Otherwise each file is keyed from its entry here, else from its first
        # (keys.AuditKey.since): said in every checkpoint, so an offline check knows which
        # entries it can recompute without the key.
        self.keyed_from = keyed_from
        self._pending = 0
        self._wake = threading.Event()
        self._stop = False
        self._last_heads: dict[str, dict[str, Any]] | None = None
        self._thread: threading.Thread | None = None
        self._state: IntegrityState | None = None
        self._turn: Callable[[], AbstractContextManager[None]] | None = None

    def start(self, state: IntegrityState, turn: Callable[[], AbstractContextManager[None]]) -> None:
        """Called by the writer once it is open: `turn` is its exclusive access to the files."""
        self._state, self._turn = state, turn
        self._thread = threading.Thread(target=self._run, name="audit-checkpoint", daemon=True)
        self._thread.start()

    def noted(self) -> None:
        """One entry written (in the writer's turn): cheap, and never blocks."""
        self._pending += 1
        if self._pending >= self.every_entries:
            self._wake.set()

    def _run(self) -> None:
        while not self._stop:
            self._wake.wait(self.every_seconds)
            self._wake.clear()
            if self._stop:
                return
            try:
                self.write_now()
            except Exception as exc:  # a checkpoint missed is reported; the trail goes on
                log.warning("could not write an audit checkpoint: %s", exc)

    def heads(self) -> dict[str, dict[str, Any]]:
        assert self._state is not None
        found: dict[str, dict[str, Any]] = {}
        for rel, known in sorted(self._state.files.items()):
            if known.last_sequence == 0:
                continue
            head: dict[str, Any] = {"sequence": known.last_sequence, "entry_hash": known.last_hash}
            if self.keyed_from is not None:
                head["keyed_from"] = self.keyed_from.get(rel, 1)
            found[rel] = head
        return found

    def write_now(self) -> bool:
        """Sign and append a checkpoint if the heads moved since the last one; True when written."""
        assert self._turn is not None
        with self._turn():
            self._pending = 0
            heads = self.heads()
            if heads == self._last_heads or not heads:
                return False
            with self._opened() as fd:
                previous = signed_checkpoint.last_record(self._tail(fd))
                if previous is not None and previous["heads"] == heads:
                    self._last_heads = heads  # another process of this proxy pinned them already
                    return False
                record = signed_checkpoint.build(
                    self.signer,
                    self.proxy,
                    utc_now(),
                    previous["counter"] + 1 if previous else 1,
                    signed_checkpoint.record_hash(previous) if previous else GENESIS,
                    heads,
                )
                view = memoryview(signed_checkpoint.line(record))
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)  # off the request path, once per checkpoint: it survives a power loss
            self._last_heads = heads
            return True

    @contextlib.contextmanager
    def _opened(self) -> Generator[int]:
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            yield fd
        finally:
            os.close(fd)

    @staticmethod
    def _tail(fd: int) -> bytes:
        """The file's last bytes; a line cut short by a crash is dropped first, so the next
        checkpoint starts on a line of its own (a torn line was never a valid checkpoint)."""
        size = os.fstat(fd).st_size
        start = max(0, size - TAIL_BYTES)
        data = os.pread(fd, size - start, start)
        if data and not data.endswith(b"\n"):
            keep = data.rfind(b"\n") + 1
            os.ftruncate(fd, start + keep)
            data = data[:keep]
        return data

    def close(self) -> None:
        """Stop the thread and pin the final heads (a clean stop)."""
        self._stop = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        if self._turn is not None:
            try:
                self.write_now()
            except Exception as exc:
                log.warning("could not write the final audit checkpoint: %s", exc)
