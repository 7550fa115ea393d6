"""Nobody else on the machine may read or change what mcp-acp keeps: at start every folder under
the config, log and runtime folders must be ours with no access for group or others (0700), and
every file too (0600). What is ours and too open is tightened (a folder before what is in it, so
nobody can swap an entry meanwhile); what belongs to someone else cannot be fixed by us and is
reported, with what to do.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterable
from pathlib import Path

from mcp_acp.config.errors import ConfigError

log = logging.getLogger("mcp_acp.config")


def private_mode_problems(folders: Iterable[Path]) -> list[str]:
    """Tighten what is ours under `folders` (missing ones are skipped); one line per problem left."""
    problems: list[str] = []
    for folder in folders:
        try:
            info = os.lstat(folder)
        except FileNotFoundError:
            continue
        if stat.S_ISLNK(info.st_mode):  # never followed: tightening would change whatever it points to
            problems.append(
                f"{folder} is a symbolic link: mcp-acp checks and uses only a real folder here; "
                "move the folder itself there, or point MCP_ACP_HOME at it"
            )
        else:
            _walk(Path(folder), info, problems)
    return problems


def require_private_modes(*folders: Path) -> None:
    """`private_mode_problems`, as a ConfigError when any is left (the start is refused)."""
    problems = private_mode_problems(folders)
    if problems:
        raise ConfigError(
            f"{len(problems)} file(s) or folder(s) of mcp-acp are not private to you, so another "
            f"user could read or change them: {'; '.join(problems[:5])}"
            f"{f'; and {len(problems) - 5} more' if len(problems) > 5 else ''}",
            problems,
        )


def _walk(root: Path, info: os.stat_result, problems: list[str]) -> None:
    if stat.S_ISDIR(info.st_mode) and _check(root, info, problems):
        for top, dirs, files in os.walk(root):  # top-down: a folder is tightened before its entries are
            for name in [*dirs, *files]:
                path = Path(top) / name
                try:
                    info = os.lstat(path)
                except FileNotFoundError:
                    continue  # gone meanwhile (a rotated log, a socket closed)
                if not _check(path, info, problems) and name in dirs:
                    dirs.remove(name)  # not ours: do not look inside


def _check(path: Path, info: os.stat_result, problems: list[str]) -> bool:
    """Tighten `path` if it is ours and too open; False when it is someone else's."""
    if stat.S_ISLNK(info.st_mode):
        return True  # never followed: what it points to is checked where it lives, if it is ours
    if info.st_uid != os.getuid():
        problems.append(
            f"{path} belongs to {_owner(info.st_uid)}, not to you: if you made it with sudo, give it "
            f"back (sudo chown -R {_me()} {path}); if not, find out who did before using it"
        )
        return False
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077 and not stat.S_ISSOCK(info.st_mode):  # a socket's folder guards it, not its mode
        try:
            os.chmod(path, mode & 0o700, follow_symlinks=False) if _lchmod() else os.chmod(path, mode & 0o700)
        except OSError as exc:
            problems.append(
                f"{path} has mode {mode:04o} and could not be made {mode & 0o700:04o} ({exc.strerror}): "
                f"run chmod go-rwx {path}"
            )
        else:
            log.warning("%s was %04o: made it %04o (only you may read mcp-acp's files)", path, mode, mode & 0o700)
    return True


def _lchmod() -> bool:
    return os.chmod in os.supports_follow_symlinks


def _owner(uid: int) -> str:
    try:
        import pwd

        return f"user '{pwd.getpwuid(uid).pw_name}' (uid {uid})"
    except (ImportError, KeyError):
        return f"uid {uid}"


def _me() -> str:
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):
        return str(os.getuid())
