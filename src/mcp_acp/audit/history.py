"""Config and policy history (docs/audit.md#what-the-main-entries-hold): versioned snapshots, with manual-edit detection.

At every start the file's checksum is compared with the last one logged: a difference means
someone edited it by hand, so a `manual_change_detected` entry with the new version and a full
snapshot comes first, then the `*_loaded` entry. Writes go through the chained writer like
every other protected entry.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from mcp_acp.audit import segments
from mcp_acp.audit.writer import AuditLog, AuditWriteError


def _last_entry(path: Path) -> dict[str, Any] | None:
    """The history's last entry: in the active file, or (just after a rotation) the newest segment."""
    try:
        lines = path.read_bytes().splitlines()
    except FileNotFoundError:
        lines = []
    for raw in reversed(lines):
        if raw.strip():
            return json.loads(raw)
    try:
        sealed = segments.last_entry(path)
        return json.loads(sealed) if sealed else None
    except segments.UNREADABLE as exc:  # a damaged segment: the start fails closed (exit 10)
        raise AuditWriteError(f"cannot read the newest segment of {path.name}: {exc}") from None


def record_load(audit: AuditLog, kind: str, path: Path, text: str, source: str = "start") -> str:
    """Log the load of `kind` ("config" or "policy") at start or on a reload; returns its
    version (`v1`, `v2`…), bumped whenever the file changed since the last entry."""
    history = audit.files[f"{kind}-history"]
    checksum = "sha256:" + hashlib.sha256(text.encode()).hexdigest()
    last = _last_entry(history.path)
    common = {
        "component": "proxy",
        f"{kind}_path": str(path),
        "source": source,
        "checksum": checksum,
        "snapshot_format": "json",
    }
    if last is None:
        version = "v1"
        audit.write(
            f"{kind}-history",
            {
                "event": f"{kind}_loaded",
                f"{kind}_version": version,
                "change_type": "initial_load",
                "snapshot": text,
                **common,
            },
        )
        return version
    version = last.get(f"{kind}_version", "v1")
    if last.get("checksum") != checksum:
        previous, version = version, f"v{int(version.lstrip('v') or 0) + 1}"
        audit.write(
            f"{kind}-history",
            {
                "event": "manual_change_detected",
                f"{kind}_version": version,
                "previous_version": previous,
                "change_type": "manual_edit",
                "snapshot": text,
                **common,
            },
        )
    audit.write(
        f"{kind}-history",
        {
            "event": f"{kind}_loaded",
            f"{kind}_version": version,
            "change_type": "startup_load" if source == "start" else "reload",
            **common,
        },
    )
    return version
