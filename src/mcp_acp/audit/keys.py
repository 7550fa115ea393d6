"""The optional audit HMAC key, kept in the secret store rather than next to the logs.

The key record also says, per file, from which sequence on entries are keyed: a chain that
existed before the key was created stays verifiable with plain hashes up to that point, and
nobody without access to the secret store can move that boundary.
"""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass

from mcp_acp import secret_store
from mcp_acp.audit.chain import KeyRule


@dataclass
class AuditKey:
    key: bytes
    since: dict[str, int]  # protected file (relative path) -> first keyed sequence

    def rule_for(self, name: str) -> KeyRule:
        return KeyRule(self.key, self.since.get(name, 1))


def secret_name(proxy: str) -> str:
    return f"audit-hmac:{proxy}"


def load_audit_key(proxy: str) -> AuditKey | None:
    raw = secret_store.get(secret_name(proxy))
    if raw is None:
        return None
    record = json.loads(raw)
    return AuditKey(base64.b64decode(record["key"]), {k: int(v) for k, v in record["since"].items()})


def create_audit_key(proxy: str, since: dict[str, int]) -> AuditKey:
    key = AuditKey(secrets.token_bytes(32), since)
    save_audit_key(proxy, key)
    return key


def save_audit_key(proxy: str, key: AuditKey) -> None:
    secret_store.put(secret_name(proxy), json.dumps({"key": base64.b64encode(key.key).decode(), "since": key.since}))


def copy_audit_key(source: str, target: str) -> bool:
    """Give `target` the key record of `source`, unchanged (a deleted proxy's key moves with its
    archive); False when `source` has none."""
    raw = secret_store.get(secret_name(source))
    if raw is None:
        return False
    secret_store.put(secret_name(target), raw)
    return True


def delete_audit_key(proxy: str) -> None:
    secret_store.delete(secret_name(proxy))


def rule_for(key: AuditKey | None, name: str) -> KeyRule:
    return key.rule_for(name) if key else KeyRule()
