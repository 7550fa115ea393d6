"""The published JSON Schema stays in step with the model; the approval cache keeps its rules."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from mcp_acp.identity.local import Identity
from mcp_acp.policy.context import build_context
from mcp_acp.policy.model import policy_json_schema
from mcp_acp.proxy.approvals import ApprovalCache, cacheable

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "docs" / "policy.schema.json"


def test_published_schema_matches_the_model():
    """docs/policy.schema.json is what editors use for completion: it must not go stale."""
    assert json.loads(SCHEMA_FILE.read_text()) == policy_json_schema(), (
        "regenerate it: python -c 'import json; from mcp_acp.policy.model import policy_json_schema; "
        "print(json.dumps(policy_json_schema(), indent=2))' > docs/policy.schema.json")


def test_schema_accepts_the_spec_examples_and_rejects_unknown_fields():
    schema = policy_json_schema()
    jsonschema.validate({"version": "1", "default_action": "deny", "rules": [
        {"id": "read-project", "effect": "allow",
         "conditions": {"tool_name": ["read_*", "list_*"], "path_pattern": "/home/u/proj/**"}},
        {"id": "write-project", "effect": "hitl", "conditions": {"operations": ["write", "delete"]},
         "cache_side_effects": ["fs_write"]}]}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"rules": [{"effect": "allow", "conditions": {"tool": "x"}}]}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"default_action": "allow"}, schema)


@pytest.mark.parametrize(("effects", "allowed", "expected"), [
    (None, frozenset({"fs_write"}), False),  # unknown tool: never cached
    (frozenset(), None, True),  # known to do nothing
    (frozenset({"code_exec", "fs_write"}), frozenset({"code_exec", "fs_write"}), False),  # never code_exec
    (frozenset({"fs_write"}), frozenset({"fs_write"}), True),
    (frozenset({"fs_read", "fs_write"}), frozenset({"fs_write"}), False),  # not a subset
    (frozenset({"fs_write"}), None, False),  # the rule allows no caching
])
def test_cacheable(effects, allowed, expected):
    assert cacheable(effects, allowed) is expected


def _ctx(subject: str, tool: str, path: str):
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": {"path": path}}}
    return build_context(message, Identity(subject, "local"), "fs")


def test_cache_key_ttl_and_clear(tmp_path):
    now = [0.0]
    cache = ApprovalCache(600, clock=lambda: now[0])
    target = tmp_path / "a.txt"
    cache.remember(_ctx("alice", "write_file", str(target)))
    assert cache.holds(_ctx("alice", "write_file", str(tmp_path / "." / "a.txt")))  # same real path
    assert not cache.holds(_ctx("bob", "write_file", str(target)))  # another subject
    assert not cache.holds(_ctx("alice", "delete_file", str(target)))  # another tool
    assert not cache.holds(_ctx("alice", "write_file", str(tmp_path / "b.txt")))  # another path
    link = tmp_path / "link.txt"
    link.symlink_to(target)
    assert cache.holds(_ctx("alice", "write_file", str(link)))  # keyed by where the path leads
    now[0] = 600.0
    assert not cache.holds(_ctx("alice", "write_file", str(target)))  # expired and purged
    assert len(cache) == 0
    cache.remember(_ctx("alice", "write_file", str(target)))
    assert cache.clear() == 1 and len(cache) == 0
