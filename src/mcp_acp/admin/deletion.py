"""Deleting a proxy, shared by `mcp-acp proxy delete` and the manager's DELETE route
(docs/cli.md#mcp-acp-proxy-delete--mcp-acp-proxy-purge). What is deleted becomes an archive (admin/archives.py lists them).

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
import shutil
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from mcp_acp import secret_store
from mcp_acp.admin.archive_manifest import ARCHIVED_LABELS, DELETED_LABELS, archive_metadata, write_manifest
from mcp_acp.admin.archives import STAMP, archived_key_owner, tree_size
from mcp_acp.admin.backend_env import delete_secret_values
from mcp_acp.audit import keys, repair, trail
from mcp_acp.backends.credentials import credential_key
from mcp_acp.config import paths
from mcp_acp.config.models import proxy_name_problem
from mcp_acp.config.store import ensure_private_dir, list_proxy_names, load_manager_config
from mcp_acp.localhttp.server import socket_accepts

DEBUG_DIR = "debug"
SECRET_ENV_LABEL = "backend secret environment values"
# A proxy's audit HMAC key (audit/keys.py) moves with its archive, to the owner
# `archived_key_owner(archive)`: `load_audit_key` finds it there, and a new proxy of the same name
# does not inherit it.


class DeletionError(Exception):
    """A deletion or purge that cannot go ahead; the message says why and what to do."""


class ProxyNotFound(DeletionError):
    pass


class ProxyRunning(DeletionError):
    pass


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
        """The API response (docs/manager.md#editing-a-proxy-from-the-api)."""
        return {
            "archived": self.archived,
            "deleted": self.deleted,
            "archive_name": self.archive_name,
            "archived_size": self.archived_size,
            "deleted_size": self.deleted_size,
        }


# ----------------------------------------------------------------------------- running?


def proxy_running(name: str, log_dir: Path | None = None) -> bool:
    """Its control socket answers, or some process holds its audit writer lock (a proxy whose
    control socket failed to start still runs and writes its logs)."""
    if socket_accepts(paths.proxy_socket_path(name)):
        return True
    return repair.is_running(paths.proxy_log_dir(log_dir or load_manager_config().log_path, name))


# ------------------------------------------------------------------------------ helpers


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
    base = f"{name}_{now.strftime(STAMP)}"
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
        return self._try("read the backend API key", lambda: secret_store.get(credential_key(self.name))) is not None

    def delete_credential(self) -> bool:
        def delete() -> bool:
            secret_store.delete(credential_key(self.name))
            return True

        return self._try(f"delete the backend API key {credential_key(self.name)!r}", delete, False)

    def delete_secret_env(self) -> bool:
        """The backend's secret environment values (never archived: the archived config only names them)."""
        backend = self.raw.get("backend")
        stdio = backend.get("stdio") if isinstance(backend, dict) else None
        names = stdio.get("secret_env") if isinstance(stdio, dict) else None
        if not isinstance(names, list):
            return False
        names = [name for name in names if isinstance(name, str)]
        deleted = self._try(
            "delete the backend's secret environment values", lambda: delete_secret_values(self.name, names), []
        )
        return bool(deleted)

    def copy_audit_key(self, archive_name: str) -> bool:
        return self._try(
            "keep the audit key with the archive",
            lambda: keys.copy_audit_key(self.name, archived_key_owner(archive_name)),
            False,
        )

    def delete_audit_key(self, owner: str) -> None:
        self._try("delete the audit key", lambda: keys.delete_audit_key(owner))
        if owner == self.name:  # the record of how far the trail reached (audit/trail.py) goes with it
            self._try("delete the audit trail record", lambda: trail.forget(owner))

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
    if cleanup.delete_secret_env():
        deleted.append(SECRET_ENV_LABEL)
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
        metadata = archive_metadata(
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
        write_manifest(target, metadata, key_kept, same_filesystem)
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
        write_manifest(target, metadata, key_kept, same_filesystem)

    archived = [label for key, label in ARCHIVED_LABELS.items() if metadata["archived"][key]]
    if key_kept:
        archived.append("audit key")
    deleted = [label for key, label in DELETED_LABELS.items() if metadata["deleted"][key]]
    if cleanup.delete_secret_env():
        deleted.append(SECRET_ENV_LABEL)
    return DeleteResult(archived, deleted, target.name, tree_size(target), debug_size, _proxy_id(raw), cleanup.warnings)
