"""The emergency log: where an audit entry goes when the proxy's own files refused it.

It is needed exactly when the disk is full, a folder is read-only or the state cannot be
saved, so it tries each place in turn and never raises (docs/audit.md, "Fail-closed"):
1. the configured `emergency_audit.jsonl` (config folder), into room reserved at start;
2. memory, not disk: `$XDG_RUNTIME_DIR/mcp-acp/`, then `/dev/shm/mcp-acp-<uid>/` (tmpfs; a
   folder only the user can enter, checked before use, since /dev/shm is shared);
3. stderr, one line, which the MCP client usually keeps in its log of the server.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

from mcp_acp.config import paths
from mcp_acp.config.store import ensure_private_dir

FILE_NAME = "emergency_audit.jsonl"
RESERVE_BYTES = 128 * 1024  # about 50 typical entries
FALLOC_FL_KEEP_SIZE = 0x01
SHARED_MEMORY = Path("/dev/shm")
STDERR_PREFIX = b"mcp-acp: EMERGENCY AUDIT ENTRY (no file would take it): "


def locations() -> list[tuple[Path, str, bool]]:
    """(file, label, in a shared place) in the order tried. The label names the place without
    the user's paths: it is what the client is told."""
    found: list[tuple[Path, str, bool]] = []
    with contextlib.suppress(Exception):  # a config folder that cannot be named: the others remain
        found.append((paths.emergency_audit_path(), FILE_NAME, False))
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    if os.path.isabs(runtime):
        found.append((Path(runtime) / "mcp-acp" / FILE_NAME, f"$XDG_RUNTIME_DIR/mcp-acp/{FILE_NAME}", True))
    found.append((SHARED_MEMORY / f"mcp-acp-{os.getuid()}" / FILE_NAME, f"/dev/shm/mcp-acp-<uid>/{FILE_NAME}", True))
    return found


def write(entry: dict[str, Any]) -> str:
    """Keep `entry` in the first place that takes all of it; returns that place's label.
    Never raises: it runs while the proxy is failing."""
    try:
        line = (json.dumps(entry, default=str) + "\n").encode()
    except Exception:  # a value json cannot take must not cost the whole entry
        line = (json.dumps({"event": "emergency_audit", "unserialisable_entry": repr(entry)[:65536]}) + "\n").encode()
    for path, label, shared in locations():
        try:
            if shared:
                _private_folder(path.parent)
            else:
                ensure_private_dir(path.parent)
            append_whole(path, line)
            return label
        except Exception:
            continue
    with contextlib.suppress(Exception):
        _write_all(2, STDERR_PREFIX + line)
    return "stderr"


def reserve(path: Path | None = None, size: int = RESERVE_BYTES) -> bool:
    """At start: room past the end of the emergency log that a full disk cannot take, since only
    appends to this file can use it (fallocate KEEP_SIZE: Linux, on ext4, xfs, btrfs, tmpfs).
    False where that is not possible; the other places remain. Never raises."""
    fallocate = _fallocate()
    if fallocate is None:
        return False
    try:
        path = path or paths.emergency_audit_path()
        ensure_private_dir(path.parent)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except Exception:
        return False
    try:
        return fallocate(fd, FALLOC_FL_KEEP_SIZE, os.fstat(fd).st_size, size) == 0
    except Exception:
        return False
    finally:
        os.close(fd)


def _fallocate():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        function = getattr(libc, "fallocate64", None) or libc.fallocate
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
    function.restype = ctypes.c_int
    return function


def _private_folder(folder: Path) -> None:
    """A fallback folder in a shared place: ours, 0700, not a symlink, or not used at all
    (another user may have created it first)."""
    with contextlib.suppress(FileExistsError):
        os.mkdir(folder, 0o700)
    info = os.lstat(folder)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise PermissionError(f"{folder} is not a private folder of this user")


def append_whole(path: Path, line: bytes) -> None:
    """Append one line, fsynced, or nothing: a line cut short (a full disk) is taken back."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid():
            raise PermissionError(f"{path} is not a file of this user")
        fcntl.flock(fd, fcntl.LOCK_EX)  # proxies share the file: a cut-short line is removed under the lock
        start = os.lseek(fd, 0, os.SEEK_END)
        try:
            _write_all(fd, line)
            os.fsync(fd)
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, start)  # never half an entry: the next place gets all of it
            raise
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if not written:
            raise OSError(errno.ENOSPC, "nothing was written")
        view = view[written:]
