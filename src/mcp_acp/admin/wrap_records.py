"""What `mcp-acp wrap` did to a client's file, kept so `mcp-acp unwrap` can undo it
(docs/quickstart.md#undo-it-unwrap).

One record per wrap, in the config folder (`wrapped/`, 0700; each record 0600): the client, the
file, its exact former bytes and mode, a hash of what wrap wrote, and the proxies it made. Unwrap
takes the latest record of that file. If the file is still exactly what wrap wrote, its former bytes
go back byte for byte; if something (the client, the user) changed it since, only the wrapped
entries go back to what they were, so the later changes survive. The former bytes may hold the
env values wrap moved into the secret store, which is why the record is private and is deleted
by unwrap. Never prompts or prints."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from mcp_acp.admin.client_file import ClientFileError, apply, is_mcp_acp_entry, plan_merge, read_servers, restore_bytes
from mcp_acp.config import paths
from mcp_acp.config.store import ensure_private_dir, write_private_text

if TYPE_CHECKING:
    from mcp_acp.admin.wrap import WrapItem


class UnwrapError(Exception):
    """Nothing to undo, or the file cannot be restored; the message says why."""


@dataclass
class WrapRecord:
    path: Path  # the record itself
    client: str
    file: Path
    at: str
    original: bytes
    original_mode: int
    written_sha256: str
    proxies: dict[str, str]  # entry name -> proxy name
    secret_env: dict[str, list[str]] = field(default_factory=dict)  # proxy -> its secret variables


@dataclass
class UnwrapResult:
    record: WrapRecord
    exact: bool  # the file is byte for byte what it was before the wrap
    restored_entries: list[str]
    backup: Path | None


def records_dir() -> Path:
    return paths.config_dir() / "wrapped"


def _file_id(file: Path) -> str:
    return hashlib.sha256(str(file.absolute()).encode()).hexdigest()[:12]


def add(client: str, file: Path, original: bytes, written: bytes, items: list[WrapItem]) -> WrapRecord:
    """Record a wrap before the client's file is changed (the caller drops it if the write fails)."""
    folder = ensure_private_dir(records_dir())
    now = datetime.now(UTC)
    stem = f"{client}-{_file_id(file)}-{now:%Y%m%dT%H%M%S%fZ}"
    record = WrapRecord(
        path=folder / f"{stem}.json",
        client=client,
        file=file.absolute(),
        at=now.isoformat(),
        original=original,
        original_mode=file.stat().st_mode & 0o7777,
        written_sha256=hashlib.sha256(written).hexdigest(),
        proxies={item.entry: item.proxy or "" for item in items},
        secret_env={item.proxy or "": sorted(item.secrets) for item in items if item.secrets},
    )
    _save(record)
    return record


def confirm_written(record: WrapRecord, written: bytes) -> None:
    """The bytes that actually landed (the same on POSIX; text mode may differ elsewhere)."""
    record.written_sha256 = hashlib.sha256(written).hexdigest()
    _save(record)


def _save(record: WrapRecord) -> None:
    body = {
        "client": record.client,
        "file": str(record.file),
        "at": record.at,
        "original_base64": base64.b64encode(record.original).decode(),
        "original_mode": record.original_mode,
        "written_sha256": record.written_sha256,
        "proxies": record.proxies,
        "secret_env": record.secret_env,
    }
    write_private_text(record.path, json.dumps(body, indent=2) + "\n")


def drop(record: WrapRecord) -> None:
    record.path.unlink(missing_ok=True)


def _load(path: Path) -> WrapRecord:
    body = json.loads(path.read_text(encoding="utf-8"))
    return WrapRecord(
        path=path,
        client=body["client"],
        file=Path(body["file"]),
        at=body["at"],
        original=base64.b64decode(body["original_base64"]),
        original_mode=int(body["original_mode"]),
        written_sha256=body["written_sha256"],
        proxies=dict(body["proxies"]),
        secret_env={k: list(v) for k, v in body.get("secret_env", {}).items()},
    )


def latest(client: str, file: Path) -> WrapRecord:
    """The last wrap of this client's file; UnwrapError when there is none."""
    folder = records_dir()
    found = sorted(folder.glob(f"{client}-{_file_id(file)}-*.json")) if folder.is_dir() else []
    if not found:
        raise UnwrapError(f"no wrap of {file} is recorded for {client}: nothing to undo.")
    try:
        return _load(found[-1])
    except (OSError, ValueError, KeyError) as exc:
        raise UnwrapError(f"the wrap record {found[-1]} cannot be read ({exc}); nothing was changed.") from None


def unwrap(record: WrapRecord) -> UnwrapResult:
    """Put the client's file back as it was before `record`'s wrap; drops the record."""
    file = record.file
    current = file.read_bytes() if file.exists() else None
    if current is None or hashlib.sha256(current).hexdigest() == record.written_sha256:
        restore_bytes(file, record.original, record.original_mode)
        drop(record)
        return UnwrapResult(record, True, list(record.proxies), None)
    # Changed since: put back only the entries wrap rewrote that still run its proxy.
    from mcp_acp.admin.client_snippets import servers_key

    key = servers_key(record.client)
    try:
        before = json.loads(record.original.decode("utf-8")) if record.client != "vscode" else None
        if before is None:
            import json5

            before = json5.loads(record.original.decode("utf-8"))
        now = read_servers(file, record.client, key)
        entries = {
            name: before[key][name]
            for name, proxy in record.proxies.items()
            if name in now and is_mcp_acp_entry(now[name], proxy)
        }
        plan = plan_merge(file, record.client, key, entries, force=True)
        backup = apply(plan)
    except (ClientFileError, OSError, ValueError, KeyError) as exc:
        raise UnwrapError(f"{file} changed since the wrap and could not be restored ({exc}).") from None
    drop(record)
    return UnwrapResult(record, False, list(entries), backup)
