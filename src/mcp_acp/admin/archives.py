"""The archive catalogue: the proxies deleted so far, kept under `<config_dir>/archive/` (docs/configuration.md#files-mcp-acp-writes-besides-the-logs,
§6, §8.3). List them, find one by archive or proxy name, verify its audit trail, purge it for good.

Archives are made by admin/deletion.py; every name here comes from the listing of archive/, never
from joining user input to a path.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from mcp_acp.audit.keys import delete_audit_key
from mcp_acp.config import paths

STAMP = "%Y-%m-%dT%H-%M-%S"  # UTC, in an archive's folder name: `<proxy>_<stamp>[-n]`
ARCHIVE_NAME = re.compile(r"^(?P<name>.+)_\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}(-\d+)?$")


class ArchiveError(Exception):
    """An archive that cannot be found or purged; the message says why and what to do."""


class ArchiveNotFound(ArchiveError):
    pass


class AmbiguousArchive(ArchiveError):
    def __init__(self, name: str, matches: list[str]) -> None:
        super().__init__(
            f"proxy {name!r} has {len(matches)} archives: {', '.join(matches)}. "
            "Name the one to purge by its full archive name."
        )
        self.matches = matches


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


def archived_key_owner(archive_name: str) -> str:
    """What to pass to `audit.keys.load_audit_key` for an archive's audit key."""
    return f"archive:{archive_name}"


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
        match = ARCHIVE_NAME.fullmatch(entry.name)
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
    with suppress(Exception):  # best effort, as in a deletion: the archive itself is gone
        delete_audit_key(archived_key_owner(info.archive_name))
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
