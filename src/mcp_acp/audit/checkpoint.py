"""Checkpoints: the chain heads of a proxy's protected files, to be kept off the machine.

The hash chain and the integrity state attest to themselves: whoever can rewrite both can
truncate a log and re-point the state. A checkpoint stored elsewhere pins "entry N of this file
had hash H"; a later `audit verify --checkpoint` fails if that entry is gone or different.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

from mcp_acp.audit import segments
from mcp_acp.audit.chain import ChainCheck, check_chain, utc_now
from mcp_acp.audit.files import PROTECTED
from mcp_acp.audit.keys import AuditKey, rule_for

VERSION = 1


class CheckpointError(Exception):
    """The checkpoint file cannot be read or is not a checkpoint."""


def heads(log_dir: Path, key: AuditKey | None) -> dict[str, dict[str, Any]]:
    """{relative path: {"sequence", "entry_hash"}} of every protected file with chained entries."""
    result: dict[str, dict[str, Any]] = {}
    for rel in PROTECTED.values():
        try:
            data = (log_dir / rel).read_bytes()
        except FileNotFoundError:
            data = b""
        check = check_chain(data, rule_for(key, rel), partial=True)
        if check.entries:
            result[rel] = {"sequence": check.last_sequence, "entry_hash": check.last_hash}
        elif (sealed := segments.last_entry(log_dir / rel)) is not None:  # rotated a moment ago
            entry = json.loads(sealed)
            result[rel] = {"sequence": entry["sequence"], "entry_hash": entry["entry_hash"]}
    return result


def document(proxies: dict[str, dict[str, dict[str, Any]]]) -> dict[str, Any]:
    return {"version": VERSION, "created_at": utc_now(), "proxies": proxies}


def load(path: Path) -> dict[str, dict[str, dict[str, Any]]]:
    """The checkpoint's {proxy: {relative path: {"sequence", "entry_hash"}}}."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {path} does not exist") from None
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {exc.strerror}") from None
    except (ValueError, UnicodeDecodeError):
        raise CheckpointError(f"{path} is not a checkpoint (not valid JSON)") from None
    found = cast("dict[str, Any]", data) if isinstance(data, dict) else {}
    if found.get("version") != VERSION or not isinstance(found.get("proxies"), dict):
        raise CheckpointError(f"{path} is not a version-{VERSION} checkpoint made by 'mcp-acp audit checkpoint'")
    proxies: dict[str, dict[str, dict[str, Any]]] = {}
    for proxy, files in cast("dict[str, Any]", found["proxies"]).items():
        if not isinstance(files, dict):
            raise CheckpointError(f"{path}: proxy {proxy!r} is malformed")
        proxies[proxy] = {}
        for rel, head in cast("dict[str, Any]", files).items():
            head = cast("dict[str, Any]", head) if isinstance(head, dict) else {}
            if not isinstance(head.get("sequence"), int) or not isinstance(head.get("entry_hash"), str):
                raise CheckpointError(f"{path}: entry for {proxy}/{rel} is malformed")
            proxies[proxy][rel] = head
    return proxies


def compare(
    files: dict[str, dict[str, Any]], checks: dict[str, ChainCheck | None], log_dir: Path | None = None
) -> list[str]:
    """Errors for every pinned entry that is gone or different. `checks`: relative path -> the
    active file's chain check (None when the file does not exist); an entry rotated out of the
    active file since is looked up in its segment under `log_dir`."""
    errors: list[str] = []
    for rel, head in sorted(files.items()):
        check = checks.get(rel)
        sequence = head["sequence"]
        found = check.hashes.get(sequence) if check is not None else None
        if found is None and log_dir is not None:
            found = segments.entry_hash_at(log_dir / rel, sequence)
        if check is None and found is None:
            errors.append(f"{rel} no longer exists, but the checkpoint pins entry {sequence} of it")
        elif found != head["entry_hash"]:
            errors.append(
                f"entry {sequence} of {rel} no longer matches the checkpoint: the log was rewritten or truncated"
            )
    return errors
