"""Deleting a proxy, shared by `mcp-acp proxy delete|purge` and the manager's DELETE route
(SPEC §4.4, §6, §8.3).

A soft delete keeps everything with evidential value in
`<config_dir>/archive/<name>_<YYYY-MM-DDTHH-MM-SS>/` (UTC): the config folder (config, policy,
bootstrap.jsonl) and the audit trail (audit/, system/, the integrity state, crash breadcrumb and
shutdown incidents). Logs are *moved* (renamed), not copied: their inodes, and so
`.integrity_state`, still match, and the archived trail verifies as it did in place. Debug wire
logs, the control socket and the backend API key have no evidential value and are deleted.
A purge deletes everything.

Callers check that the proxy is not running first (to give a friendly message); we also hold its
log folder's writer lock throughout, so it cannot start half-way through a deletion.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import socket
import sys
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from mcp_acp.audit import repair
from mcp_acp.audit.files import LAST_CRASH, SHUTDOWNS
from mcp_acp.audit.state import STATE_FILE
from mcp_acp.backends.credentials import credential_key
from mcp_acp.config import paths
from mcp_acp.config.models import proxy_name_problem
from mcp_acp.config.store import ensure_private_dir, list_proxy_names, load_manager_config, write_private_text

DEBUG_DIR = "debug"
_STAMP = "%Y-%m-%dT%H-%M-%S"
_ARCHIVE_NAME = re.compile(r"^(?P<name>.+)_\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}(-\d+)?$")
# keys.py stores a proxy's audit HMAC key as `audit-hmac:<proxy>`; an archive's key is moved to
# `audit-hmac:archive:<archive name>`, so `load_audit_key(archived_key_owner(a))` finds it and a
# new proxy of the same name does not inherit it.
_AUDIT_KEY = "audit-hmac:{}"
_AUDIT_TRAIL = "audit-trail:{}"


class DeletionError(Exception):
    """A deletion or purge that cannot go ahead; the message says why and what to do."""


class ProxyNotFound(DeletionError):
    pass


class ProxyRunning(DeletionError):
    pass


class ArchiveNotFound(DeletionError):
    pass


class AmbiguousArchive(DeletionError):
    def __init__(self, name: str, matches: list[str]) -> None:
        super().__init__(
            f"proxy {name!r} has {len(matches)} archives: {', '.join(matches)}. "
            "Name the one to purge by its full archive name."
        )
        self.matches = matches


@dataclass(frozen=True, slots=True)
class DeleteResult:
    archived: list[str]
    deleted: list[str]
    archive_name: str | None
    archived_size: int
    deleted_size: int
    proxy_id: str | None = None
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        """The API response (SPEC §8.3)."""
        return {
            "archived": self.archived,
            "deleted": self.deleted,
            "archive_name": self.archive_name,
            "archived_size": self.archived_size,
            "deleted_size": self.deleted_size,
        }


@dataclass(frozen=True, slots=True)
class ArchiveInfo:
    archive_name: str
    original_name: str
    deleted_at: str | None
    deleted_by: str | None
    size: int
    metadata: dict | None
    path: Path


@dataclass(frozen=True, slots=True)
class PurgeResult:
    archive_name: str
    size: int


# ----------------------------------------------------------------------------- running?


def socket_accepts(path: Path, timeout: float = 1.0) -> bool:
    """True when something accepts connections on the Unix socket `path`."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(str(path))
            return True
        except OSError:
            return False


def proxy_running(name: str, log_dir: Path | None = None) -> bool:
    """Its control socket answers, or some process holds its audit writer lock (a proxy whose
    control socket failed to start still runs and writes its logs)."""
    if socket_accepts(paths.proxy_socket_path(name)):
        return True
    return repair.is_running(paths.proxy_log_dir(log_dir or load_manager_config().log_path, name))


# ------------------------------------------------------------------------------ helpers


def tree_size(path: Path) -> int:
    """Bytes in the files under `path` (symlinks are not followed)."""
    if path.is_symlink() or path.is_file():
        return path.lstat().st_size
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            with suppress(OSError):
                total += os.lstat(os.path.join(folder, name)).st_size
    return total


def _raw_config(name: str) -> dict:
    """config.json read leniently: a proxy with a broken config must still be deletable."""
    try:
        data = json.loads(paths.proxy_config_path(name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _proxy_id(raw: dict) -> str | None:
    value = raw.get("proxy_id")
    return value if isinstance(value, str) else None


def find_proxy_by_id(proxy_id: str) -> str | None:
    """The name of the configured proxy with `proxy_id`, if any."""
    return next((name for name in list_proxy_names() if _proxy_id(_raw_config(name)) == proxy_id), None)


def _secrets():
    from mcp_acp import secret_store  # cryptography/keyring load only when a deletion needs them

    return secret_store


def archived_key_owner(archive_name: str) -> str:
    """What to pass to `audit.keys.load_audit_key` for an archive's audit key."""
    return f"archive:{archive_name}"


def _make_private(root: Path) -> None:
    """Folders 0700, files 0600: an archive holds the same secrets-adjacent data as the originals."""
    os.chmod(root, 0o700)
    for folder, dirs, files in os.walk(root):
        for name, mode in [(d, 0o700) for d in dirs] + [(f, 0o600) for f in files]:
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                os.chmod(path, mode)


def _new_archive_dir(name: str, now: datetime) -> Path:
    """A fresh folder: two deletions within one second get `-2`, `-3`… and never share one."""
    root = ensure_private_dir(paths.archive_dir())
    base = f"{name}_{now.strftime(_STAMP)}"
    for n in itertools.count(1):
        candidate = root / (base if n == 1 else f"{base}-{n}")
        try:
            candidate.mkdir(mode=0o700)
        except FileExistsError:
            continue
        os.chmod(candidate, 0o700)
        return candidate
    raise AssertionError("unreachable")


class _Cleanup:
    """The steps outside the proxy's folders (secret store, socket), each best effort: a failure
    becomes a warning, never an aborted deletion, since the files are archived or gone by then."""

    def __init__(self, name: str, raw: dict) -> None:
        self.name = name
        self.raw = raw
        self.warnings: list[str] = []

    def _try(self, doing: str, action, failed=None):
        try:
            return action()
        except Exception as exc:  # keyring and file-store failures vary by platform
            self.warnings.append(f"could not {doing}: {exc}")
            return failed

    def credential_present(self) -> bool:
        backend = self.raw.get("backend")
        http = backend.get("http") if isinstance(backend, dict) else None
        configured = http.get("credential_key") if isinstance(http, dict) else None
        if configured and configured != credential_key(self.name):
            # Only the proxy's own entry is ours to delete; a hand-edited reference may name another.
            self.warnings.append(
                f"config.json referred to the secret {configured!r}, which was left in place "
                "(it is not this proxy's own entry)"
            )
        return self._try("read the backend API key", lambda: _secrets().get(credential_key(self.name))) is not None

    def delete_credential(self) -> bool:
        def delete() -> bool:
            _secrets().delete(credential_key(self.name))
            return True

        return self._try(f"delete the backend API key {credential_key(self.name)!r}", delete, False)

    def copy_audit_key(self, archive_name: str) -> bool:
        def copy() -> bool:
            value = _secrets().get(_AUDIT_KEY.format(self.name))
            if value is None:
                return False
            _secrets().put(_AUDIT_KEY.format(archived_key_owner(archive_name)), value)
            return True

        return self._try("keep the audit key with the archive", copy, False)

    def delete_audit_key(self, owner: str) -> None:
        self._try("delete the audit key", lambda: _secrets().delete(_AUDIT_KEY.format(owner)))
        if owner == self.name:  # the record of how far the trail reached (audit/trail.py) goes with it
            self._try("delete the audit trail record", lambda: _secrets().delete(_AUDIT_TRAIL.format(owner)))

    def delete_socket(self) -> bool:
        path = paths.proxy_socket_path(self.name)
        if not path.exists() and not path.is_symlink():
            return False

        def unlink() -> bool:
            path.unlink(missing_ok=True)
            return True

        return self._try(f"delete the socket {path}", unlink, False)


# ------------------------------------------------------------------------------- delete


def delete_proxy(
    name: str, purge: bool = False, deleted_by: Literal["cli", "api"] = "cli", log_dir: Path | None = None
) -> DeleteResult:
    """Archive (or with `purge`, permanently delete) proxy `name`. `log_dir` is manager.json's
    `log_dir` (read from it when not given)."""
    if problem := proxy_name_problem(name):
        raise DeletionError(problem)  # checked before the name is used in any path
    config_dir = paths.proxy_config_dir(name)
    if not config_dir.is_dir() or config_dir.is_symlink():
        known = ", ".join(list_proxy_names()) or "none"
        raise ProxyNotFound(f"no proxy named {name!r} (configured: {known}); see 'mcp-acp proxy list'.")
    logs = paths.proxy_log_dir(log_dir or load_manager_config().log_path, name)
    raw = _raw_config(name)
    try:
        with repair.exclusive(logs, name):
            if socket_accepts(paths.proxy_socket_path(name)):
                raise ProxyRunning(f"proxy {name} is running; stop it first (close its MCP client)")
            if purge:
                return _purge(name, config_dir, logs, raw)
            return _archive(name, config_dir, logs, raw, deleted_by)
    except repair.ProxyRunning as exc:
        raise ProxyRunning(str(exc)) from None


def _purge(name: str, config_dir: Path, logs: Path, raw: dict) -> DeleteResult:
    cleanup = _Cleanup(name, raw)
    deleted, size = ["config"], tree_size(config_dir)
    shutil.rmtree(config_dir)
    if logs.is_dir():
        deleted.append("logs")
        size += tree_size(logs)
        shutil.rmtree(logs)
    if cleanup.delete_socket():
        deleted.append("socket file")
    if cleanup.credential_present() and cleanup.delete_credential():
        deleted.append("backend credential")
    cleanup.delete_audit_key(name)
    return DeleteResult([], deleted, None, 0, size, _proxy_id(raw), cleanup.warnings)


def _archive(name: str, config_dir: Path, logs: Path, raw: dict, deleted_by: str) -> DeleteResult:
    now = datetime.now(UTC)
    target = _new_archive_dir(name, now)
    cleanup = _Cleanup(name, raw)
    moved: list[tuple[Path, Path]] = []
    key_kept = False
    debug = logs / DEBUG_DIR
    debug_size = tree_size(debug) if debug.is_dir() else 0
    same_filesystem = True
    try:
        # The config is copied: the original goes only once the archive is complete.
        shutil.copytree(config_dir, target / "config", symlinks=True)
        if logs.is_dir():
            ensure_private_dir(target / "logs")
            same_filesystem = logs.stat().st_dev == target.stat().st_dev
            for entry in sorted(logs.iterdir()):
                if entry.name in (DEBUG_DIR, repair.LOCK_FILE):
                    continue
                destination = target / "logs" / entry.name
                shutil.move(entry, destination)  # a rename: inodes (and the integrity state) survive
                moved.append((entry, destination))
        _make_private(target)
        key_kept = cleanup.copy_audit_key(target.name)
        credential = cleanup.credential_present()
        metadata = _metadata(
            name,
            now,
            deleted_by,
            config_dir,
            logs,
            target,
            debug.is_dir(),
            debug_size,
            paths.proxy_socket_path(name).exists(),
            credential,
        )
        _write_manifest(target, metadata, key_kept, same_filesystem)
    except BaseException:
        for source, destination in reversed(moved):  # put the logs back where the proxy expects them
            with suppress(OSError):
                shutil.move(destination, source)
        if key_kept:
            cleanup.delete_audit_key(archived_key_owner(target.name))
        shutil.rmtree(target, ignore_errors=True)
        raise

    # The archive is complete and described: now the originals can go.
    shutil.rmtree(config_dir)
    if logs.is_dir():
        shutil.rmtree(logs)  # what is left: debug/ and the lock file we hold
    cleanup.delete_socket()
    if key_kept:
        cleanup.delete_audit_key(name)
    if metadata["deleted"]["backend_credential"] and not cleanup.delete_credential():
        metadata["deleted"]["backend_credential"] = False  # the manifest must say what really happened
        _write_manifest(target, metadata, key_kept, same_filesystem)

    archived = [label for key, label in _ARCHIVED_LABELS.items() if metadata["archived"][key]]
    if key_kept:
        archived.append("audit key")
    deleted = [label for key, label in _DELETED_LABELS.items() if metadata["deleted"][key]]
    return DeleteResult(archived, deleted, target.name, tree_size(target), debug_size, _proxy_id(raw), cleanup.warnings)


_ARCHIVED_LABELS = {
    "config": "config",
    "audit_logs": "audit logs",
    "system_logs": "system logs",
    "integrity_state": "integrity state",
    "crash_breadcrumb": "crash breadcrumb",
    "incident_shutdowns": "shutdown incidents",
    "incident_bootstrap": "bootstrap incidents",
}
_DELETED_LABELS = {"debug_logs": "debug logs", "socket_file": "socket file", "backend_credential": "backend credential"}


def _metadata(
    name: str,
    now: datetime,
    deleted_by: str,
    config_dir: Path,
    logs: Path,
    target: Path,
    debug: bool,
    debug_size: int,
    socket_file: bool,
    credential: bool,
) -> dict:
    """SPEC §4.4, from what is actually in the archive."""
    archived_logs = target / "logs"
    return {
        "version": 1,
        "original_name": name,
        "deleted_at": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "deleted_by": deleted_by,
        "original_config_path": str(config_dir),
        "original_log_path": str(logs),
        "archived": {
            "config": (target / "config").is_dir(),
            "audit_logs": (archived_logs / "audit").is_dir(),
            "system_logs": (archived_logs / "system").is_dir(),
            "integrity_state": (archived_logs / STATE_FILE).is_file(),
            "crash_breadcrumb": (archived_logs / LAST_CRASH).is_file(),
            "incident_shutdowns": (archived_logs / SHUTDOWNS).is_file(),
            "incident_bootstrap": (target / "config" / "bootstrap.jsonl").is_file(),
        },
        "deleted": {
            "debug_logs": debug,
            "debug_logs_size_bytes": debug_size,
            "socket_file": socket_file,
            "backend_credential": credential,
        },
    }


def _write_manifest(target: Path, metadata: dict, key_kept: bool, same_filesystem: bool) -> None:
    write_private_text(target / "metadata.json", json.dumps(metadata, indent=2) + "\n")
    write_private_text(target / "README.txt", _readme(target, metadata, key_kept, same_filesystem))


_README_LINES = {
    "config": "config/                  config.json and policy.json as they were",
    "incident_bootstrap": "config/bootstrap.jsonl   start-up failures",
    "audit_logs": "logs/audit/              operations, decisions and auth audit logs (hash-chained)",
    "system_logs": "logs/system/             system log, config and policy history",
    "integrity_state": "logs/.integrity_state    last hash/sequence/inode of every protected log",
    "crash_breadcrumb": "logs/.last_crash         the last security shutdown",
    "incident_shutdowns": "logs/shutdowns.jsonl     security shutdown incidents",
}


def _readme(target: Path, metadata: dict, key_kept: bool, same_filesystem: bool) -> str:
    name, archived, deleted = metadata["original_name"], metadata["archived"], metadata["deleted"]
    lines = [
        f"Archive of the mcp-acp proxy '{name}'",
        f"Deleted at {metadata['deleted_at']} (UTC) by the {'CLI' if metadata['deleted_by'] == 'cli' else 'API'}.",
        f"Config was in {metadata['original_config_path']}",
        f"Logs were in  {metadata['original_log_path']}",
        "",
        "Archived here:",
    ]
    lines += [f"  {text}" for key, text in _README_LINES.items() if archived[key]]
    if key_kept:
        lines.append(f"  audit HMAC key: in the secret store as 'audit-hmac:{archived_key_owner(target.name)}'")
    gone = []
    if deleted["debug_logs"]:
        gone.append(f"debug wire logs ({deleted['debug_logs_size_bytes']} bytes)")
    if deleted["socket_file"]:
        gone.append("the control socket")
    if deleted["backend_credential"]:
        gone.append(f"the backend API key ('{credential_key(name)}'; it cannot be recovered)")
    if gone:
        lines += ["", "Deleted permanently:"] + [f"  {item}" for item in gone]
    lines += ["", "metadata.json lists the same facts for programs."]
    if archived["audit_logs"]:
        home = os.environ.get(paths.HOME_ENV)
        env = f"{paths.HOME_ENV}='{home}' " if home else ""
        lines += [
            "",
            "Inspect: every log is JSON Lines, one entry per line, e.g.",
            f"  tail -n 20 '{target}/logs/audit/decisions.jsonl'",
            "",
            "Verify: each entry's entry_hash is the SHA-256 of the entry without it (keys sorted,",
            "compact separators) and prev_hash links it to the one before. To check the chains and",
            "the integrity state as 'mcp-acp audit verify' does:",
            (
                f'  {env}{sys.executable} -c "from mcp_acp.admin.deletion import verify_archive; '
                f"print(verify_archive('{target.name}').overall)\""
            ),
        ]
    lines += ["", f"Delete this archive for good with: mcp-acp proxy purge {target.name}"]
    if not same_filesystem:
        lines += [
            "",
            "Note: the logs were copied to another filesystem, so their inode numbers changed;",
            "verification reports them as 'replaced' although their content is intact.",
        ]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- archives


def _read_metadata(folder: Path) -> dict | None:
    try:
        data = json.loads((folder / "metadata.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def list_archives() -> list[ArchiveInfo]:
    """Every archive directly under `<config_dir>/archive/`, oldest first."""
    root = paths.archive_dir()
    if not root.is_dir():
        return []
    archives = []
    for entry in root.iterdir():
        if entry.is_symlink() or not entry.is_dir():
            continue
        metadata = _read_metadata(entry)
        match = _ARCHIVE_NAME.fullmatch(entry.name)
        if metadata is None and match is None:
            continue  # not an archive of ours
        original = (metadata or {}).get("original_name")
        archives.append(
            ArchiveInfo(
                archive_name=entry.name,
                original_name=original if isinstance(original, str) else (match["name"] if match else entry.name),
                deleted_at=(metadata or {}).get("deleted_at"),
                deleted_by=(metadata or {}).get("deleted_by"),
                size=tree_size(entry),
                metadata=metadata,
                path=entry,
            )
        )
    return sorted(archives, key=lambda a: (str(a.deleted_at or ""), a.archive_name))


def find_archive(name_or_archive: str) -> ArchiveInfo:
    """An exact archive name, or a proxy name with exactly one archive. The answer always comes
    from the listing of archive/, never from joining the input to a path: `../x` or `/etc` can
    only ever fail to match."""
    archives = list_archives()
    for info in archives:
        if info.archive_name == name_or_archive:
            return info
    matches = [info for info in archives if info.original_name == name_or_archive]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise AmbiguousArchive(name_or_archive, [info.archive_name for info in matches])
    known = ", ".join(info.archive_name for info in archives) or "none"
    raise ArchiveNotFound(
        f"no archive or deleted proxy named {name_or_archive!r} (archives: {known}); "
        "see 'mcp-acp proxy list --deleted'."
    )


def purge_archive(name_or_archive: str) -> PurgeResult:
    """Delete one archive for good (and the audit key kept for it)."""
    info = find_archive(name_or_archive)
    path = paths.archive_dir() / info.archive_name
    if path.parent != paths.archive_dir() or path.is_symlink() or not path.is_dir():
        raise ArchiveNotFound(f"{info.archive_name!r} is not an archive folder")
    size = tree_size(path)
    shutil.rmtree(path)
    _Cleanup(info.original_name, {}).delete_audit_key(archived_key_owner(info.archive_name))
    return PurgeResult(info.archive_name, size)


def verify_archive(name_or_archive: str):
    """`audit.verify.ProxyReport` for an archive's logs, with its audit key when it had one."""
    from mcp_acp.audit.keys import load_audit_key
    from mcp_acp.audit.verify import verify_proxy

    info = find_archive(name_or_archive)
    try:
        key = load_audit_key(archived_key_owner(info.archive_name))
    except Exception:  # no usable secret store: verify with plain hashes
        key = None
    return verify_proxy(info.path / "logs", key)
