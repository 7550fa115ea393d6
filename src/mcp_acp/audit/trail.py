"""The record, kept outside the log folder, that a proxy's audit trail exists and how far it reached.

Someone who can write the log folder can delete it whole, or put back an older copy of it; the
folder alone cannot tell. So the proxy writes down each file's last entry (sequence and hash)
somewhere else at every start, every clean stop and every repair, and every start and every
`audit verify` compares the folder with it: a trail that vanished, or that ends before the
record, is an integrity failure.

- With an audit key the record is in the secret store (`audit-trail:<proxy>`) and carries an
  HMAC under the key: it cannot be edited or forged without the key.
- Without one it is `audit_trail.json` in the proxy's config folder: it stops a wipe or rollback
  of the log folder alone, not someone who also rewrites the config folder.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from mcp_acp import secret_store
from mcp_acp.audit.chain import utc_now
from mcp_acp.audit.keys import AuditKey
from mcp_acp.audit.state import IntegrityState
from mcp_acp.config import paths
from mcp_acp.config.store import write_private_text

FILE_NAME = "audit_trail.json"


class TrailError(Exception):
    """The record cannot be read or does not carry the key's signature."""


@dataclass(frozen=True)
class Head:
    sequence: int
    hash: str


def _secret_name(proxy: str) -> str:
    return f"audit-trail:{proxy}"


def _mac(key: bytes, heads: dict[str, Any]) -> str:
    return hmac.new(key, json.dumps(heads, sort_keys=True).encode(), hashlib.sha256).hexdigest()


def load(proxy: str, key: AuditKey | None) -> dict[str, Head] | None:
    """Each file's last entry as last recorded, or None when the trail was never recorded."""
    if key is not None:
        raw = secret_store.get(_secret_name(proxy))
        where = f"the secret store entry {_secret_name(proxy)}"
    else:
        path = paths.proxy_config_dir(proxy) / FILE_NAME
        where = str(path)
        try:
            raw = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raw = None
        except OSError as exc:
            raise TrailError(f"cannot read {where}: {exc.strerror}") from None
    if raw is None:
        return None
    try:
        record = json.loads(raw)
        heads = record["heads"]
        parsed = {rel: Head(int(head["sequence"]), str(head["hash"])) for rel, head in heads.items()}
    except (ValueError, KeyError, TypeError, AttributeError):
        raise TrailError(f"the trail record in {where} is damaged") from None
    if key is not None and not hmac.compare_digest(str(record.get("mac", "")), _mac(key.key, heads)):
        raise TrailError(f"the trail record in {where} does not carry the audit key's signature")
    return parsed


def save(proxy: str, key: AuditKey | None, state: IntegrityState) -> None:
    heads = {rel: {"sequence": f.last_sequence, "hash": f.last_hash} for rel, f in sorted(state.files.items())}
    record = {"version": 1, "updated_at": utc_now(), "heads": heads}
    if key is not None:
        record["mac"] = _mac(key.key, heads)
        secret_store.put(_secret_name(proxy), json.dumps(record))
    else:
        write_private_text(paths.proxy_config_dir(proxy) / FILE_NAME, json.dumps(record, indent=1) + "\n")


def forget(proxy: str) -> None:
    """When the proxy is deleted (its logs archived or purged)."""
    secret_store.delete(_secret_name(proxy))


def problems(record: dict[str, Head] | None, state: IntegrityState | None, state_present: bool) -> list[str]:
    """How the log folder falls short of the record: gone, rolled back, or rewritten."""
    if not record or not any(head.sequence for head in record.values()):
        return []
    written = sum(head.sequence for head in record.values())
    if not state_present:
        return [
            f"the audit trail is gone: its integrity state was deleted, but {written} entries were "
            "recorded outside the log folder (the log folder was wiped or replaced)"
        ]
    found: list[str] = []
    for rel, head in sorted(record.items()):
        current = state.files.get(rel) if state else None
        if head.sequence == 0:
            continue
        if current is None:
            found.append(f"{rel} is no longer in the integrity state, but it had {head.sequence} entries")
        elif current.last_sequence < head.sequence:
            found.append(
                f"ROLLBACK: {rel} ends at entry {current.last_sequence}, but it had reached entry "
                f"{head.sequence} (an older copy of the logs and state was put back)"
            )
        elif current.last_sequence == head.sequence and current.last_hash != head.hash:
            found.append(f"{rel}: entry {head.sequence} is not the one recorded (the log was rewritten)")
    return found
