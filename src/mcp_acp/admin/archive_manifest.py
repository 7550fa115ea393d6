"""What an archive says about itself: metadata.json for programs and README.txt for people, both
built from what is actually in the archive (docs/configuration.md#files-mcp-acp-writes-besides-the-logs), so neither can claim what did not happen."""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime
from pathlib import Path

from mcp_acp.admin.archives import archived_key_owner
from mcp_acp.audit.files import LAST_CRASH, SHUTDOWNS
from mcp_acp.audit.keys import secret_name
from mcp_acp.audit.state import STATE_FILE
from mcp_acp.backends.credentials import credential_key
from mcp_acp.config import paths
from mcp_acp.config.store import write_private_text

ARCHIVED_LABELS = {
    "config": "config",
    "audit_logs": "audit logs",
    "system_logs": "system logs",
    "integrity_state": "integrity state",
    "crash_breadcrumb": "crash breadcrumb",
    "incident_shutdowns": "shutdown incidents",
    "incident_bootstrap": "bootstrap incidents",
}
DELETED_LABELS = {"debug_logs": "debug logs", "socket_file": "socket file", "backend_credential": "backend credential"}


def archive_metadata(
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
    """docs/configuration.md#files-mcp-acp-writes-besides-the-logs, from what is actually in the archive."""
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


def write_manifest(target: Path, metadata: dict, key_kept: bool, same_filesystem: bool) -> None:
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
        lines.append(f"  audit HMAC key: in the secret store as '{secret_name(archived_key_owner(target.name))}'")
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
                f'  {env}{sys.executable} -c "from mcp_acp.admin.archives import verify_archive; '
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
