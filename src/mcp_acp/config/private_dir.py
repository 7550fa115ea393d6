"""Folders that hold sockets, the PID file and the lock: used only once checked to be ours.

A socket in a folder someone else controls can be replaced by theirs: a stand-in manager would
receive tool names, paths and approval requests. So before anything binds or connects, the
folder must be a real folder (not a symlink: `lstat`), owned by us, with no access for group or
others (0700 or tighter), and its parent must not let anyone else swap it (owned by us or root,
not writable by others unless sticky, as /tmp is).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from mcp_acp.config.errors import ConfigError


class UnsafeFolder(ConfigError):
    """A folder mcp-acp would put sockets in fails the check; the message says what to do."""


def folder_problem(path: Path) -> str | None:
    """What is wrong with `path` as a private folder of ours, or None."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return "does not exist"
    if stat.S_ISLNK(info.st_mode):
        return "is a symbolic link"
    if not stat.S_ISDIR(info.st_mode):
        return "is not a folder"
    if info.st_uid != os.getuid():
        return f"belongs to {_owner(info.st_uid)}, not to you"
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        return f"has mode {mode:04o}: other users can enter it (it must be 0700)"
    return _parent_problem(path)


def _parent_problem(path: Path) -> str | None:
    parent = path.parent
    info = os.stat(parent)  # following links is fine here: /tmp is a link on macOS
    if info.st_uid not in (0, os.getuid()):
        return f"sits in {parent}, which belongs to {_owner(info.st_uid)}, who could replace it"
    if info.st_mode & 0o022 and not info.st_mode & stat.S_ISVTX:
        return f"sits in {parent}, which other users can write to, so they could replace it"
    return None


def check_private_dir(path: Path, what: str = "socket folder") -> Path:
    """`path` when it passes the check; else UnsafeFolder."""
    problem = folder_problem(path)
    if problem is not None:
        raise UnsafeFolder(_message(path, problem, what))
    return path


def private_dir(path: Path, what: str = "socket folder") -> Path:
    """`path`, made 0700 (with any missing parents) if it does not exist, then checked. A folder
    that exists is never loosened or tightened here: one that fails is refused."""
    missing = []
    folder = path
    while not os.path.lexists(folder):
        missing.append(folder)
        folder = folder.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:
            pass  # made meanwhile, by us or by someone else: the check below decides
        except OSError as exc:
            raise UnsafeFolder(
                f"cannot create the {what} {folder}: {exc.strerror}. Create it yourself "
                f"(mkdir -m 700 {folder}), or set MCP_ACP_HOME to a folder you can write"
            ) from None
    return check_private_dir(path, what)


def checked_dir(path: Path, what: str = "socket folder") -> Path:
    """`path` for a lookup (where to connect, which PID to trust): checked when it exists. A missing
    one is left missing (nothing there to connect to) unless others can write its parent (a sticky
    folder such as /tmp), where it is made now, so that nobody else can make it first."""
    if os.path.lexists(path):
        return check_private_dir(path, what)
    try:
        info = os.stat(path.parent)
    except OSError:
        return path
    return private_dir(path, what) if info.st_mode & 0o022 else path


def usable_base(path: Path) -> bool:
    """Whether a folder we did not make ($XDG_RUNTIME_DIR, /run/user/<uid>, an ancestor of the
    home) may hold our folder: a real folder of ours that nobody else can write to."""
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and not info.st_mode & 0o022 and path.is_absolute()


def _message(path: Path, problem: str, what: str) -> str:
    if problem.startswith("has mode"):
        fix = f"Check that nothing in it is someone else's, then run: chmod 700 {path}"
    elif problem.startswith("sits in"):
        fix = "Point MCP_ACP_HOME (or XDG_RUNTIME_DIR) at a folder only you can write to"
    else:
        fix = (
            "Another user may have made it to stand in for mcp-acp. Look at what is in it, remove it (as its "
            "owner, or with sudo), and start again; or point MCP_ACP_HOME (or XDG_RUNTIME_DIR) at a folder "
            "only you own"
        )
    return (
        f"the {what} {path} {problem}. mcp-acp uses its sockets only in a folder that is yours alone, so "
        f"nobody can stand in for the manager or a proxy. {fix}."
    )


def _owner(uid: int) -> str:
    try:
        import pwd

        return f"user '{pwd.getpwuid(uid).pw_name}' (uid {uid})"
    except (ImportError, KeyError):
        return f"uid {uid}"
