"""Reading what a proxy recorded: JSONL logs, its audit key, and whether a log's hash chain holds."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.config import home


def read_jsonl(path: Path) -> list[dict]:
    """The entries of a JSONL log; none when it does not exist yet."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def audit_key_of(env: dict, name: str):
    """The proxy's audit key (a proxy creates one at its first start), read as the CLI would."""
    from mcp_acp.audit.keys import load_audit_key

    with home(env):
        return load_audit_key(name)


def chain_ok(env: dict, name: str, rel: str, data: bytes):
    """check_chain of one of the proxy's logs under its own key rule."""
    from mcp_acp.audit.chain import check_chain
    from mcp_acp.audit.keys import rule_for

    return check_chain(data, rule_for(audit_key_of(env, name), rel))
