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
        "print(json.dumps(policy_json_schema(), indent=2))' > docs/policy.schema.json"
    )


def test_schema_accepts_the_spec_examples_and_rejects_unknown_fields():
    schema = policy_json_schema()
    jsonschema.validate(
        {
            "version": "1",
            "default_action": "deny",
            "rules": [
                {
                    "id": "read-project",
                    "effect": "allow",
                    "conditions": {"tool_name": ["read_*", "list_*"], "path_pattern": "/home/u/proj/**"},
                },
                {
                    "id": "write-project",
                    "effect": "hitl",
                    "conditions": {"operations": ["write", "delete"]},
                    "cache_side_effects": ["fs_write"],
                },
            ],
        },
        schema,
    )
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"rules": [{"effect": "allow", "conditions": {"tool": "x"}}]}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"default_action": "allow"}, schema)


@pytest.mark.parametrize(
    ("effects", "allowed", "expected"),
    [
        (None, frozenset({"fs_write"}), False),  # unknown tool: never cached
        (frozenset(), None, True),  # known to do nothing
        (frozenset({"code_exec", "fs_write"}), frozenset({"code_exec", "fs_write"}), False),  # never code_exec
        (frozenset({"fs_write"}), frozenset({"fs_write"}), True),
        (frozenset({"fs_read", "fs_write"}), frozenset({"fs_write"}), False),  # not a subset
        (frozenset({"fs_write"}), None, False),  # the rule allows no caching
    ],
)
def test_cacheable(effects, allowed, expected):
    assert cacheable(effects, allowed) is expected


def _ctx(subject: str, tool: str, path: str | None = None, arguments: dict | None = None, roots=()):
    arguments = arguments if arguments is not None else {"path": path}
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": arguments}}
    return build_context(message, Identity(subject, "local"), "fs", roots=roots)


def test_cache_key_ttl_and_clear(tmp_path):
    now = [0.0]
    cache = ApprovalCache(600, clock=lambda: now[0])
    target = tmp_path / "a.txt"
    cache.remember(_ctx("alice", "write_file", str(target)))
    assert cache.holds(_ctx("alice", "write_file", f"{tmp_path}/./a.txt"))  # the same path in every reading
    assert cache.holds(_ctx("alice", "write_file", f"{tmp_path}/sub/../a.txt"))
    assert not cache.holds(_ctx("bob", "write_file", str(target)))  # another subject
    assert not cache.holds(_ctx("alice", "delete_file", str(target)))  # another tool
    assert not cache.holds(_ctx("alice", "write_file", str(tmp_path / "b.txt")))  # another path
    link = tmp_path / "link.txt"
    link.symlink_to(target)
    # A link reads as itself and as its target: not what was approved (the human saw a.txt only).
    assert not cache.holds(_ctx("alice", "write_file", str(link)))
    now[0] = 600.0
    assert not cache.holds(_ctx("alice", "write_file", str(target)))  # expired and purged
    assert len(cache) == 0
    cache.remember(_ctx("alice", "write_file", str(target)))
    assert cache.clear("api") == 1 and len(cache) == 0


def test_a_remembered_move_does_not_cover_another_destination():
    cache = ApprovalCache(600)
    approved = {"source": "/p/a.txt", "destination": "/p/b.txt"}
    cache.remember(_ctx("alice", "move_file", arguments=approved), approved)
    assert cache.holds(_ctx("alice", "move_file", arguments=dict(approved)), approved)
    for other in (
        {"source": "/p/a.txt", "destination": "/etc/cron.d/x"},
        {"source": "/p/a.txt", "destination": "/p/b.txt/../../etc/x"},
        {"source": "/p/b.txt", "destination": "/p/a.txt"},  # roles swapped
        {"source": "/p/a.txt"},
        {"destination": "/p/b.txt"},
        {"source": "/p/a.txt", "destination": "/p/b.txt", "backup": "/p/c.txt"},
    ):
        assert not cache.holds(_ctx("alice", "move_file", arguments=other), other), other


def test_a_remembered_path_list_does_not_cover_another_list():
    cache = ApprovalCache(600)
    approved = {"paths": ["/p/a", "/p/b"]}
    cache.remember(_ctx("alice", "read_multiple_files", arguments=approved), approved)
    assert cache.holds(_ctx("alice", "read_multiple_files", arguments={"paths": ["/p/a", "/p/b"]}))
    assert cache.holds(_ctx("alice", "read_multiple_files", arguments={"paths": ["/p/b", "/p/./a"]}))  # same set
    for other in (["/p/a"], ["/p/a", "/p/b", "/p/c"], ["/p/a", "/etc/shadow"], ["/p/b"]):
        assert not cache.holds(_ctx("alice", "read_multiple_files", arguments={"paths": other})), other


def test_a_remembered_relative_path_is_keyed_by_where_it_leads():
    cache = ApprovalCache(600)
    cache.remember(_ctx("alice", "write_file", "notes/a.md", roots=("/srv",)))
    assert cache.holds(_ctx("alice", "write_file", "/srv/notes/a.md"))
    assert not cache.holds(_ctx("alice", "write_file", "notes/a.md", roots=("/other",)))
    assert not cache.holds(_ctx("alice", "write_file", "notes/a.md", roots=("/srv", "/other")))


@pytest.mark.parametrize("tool", ["bash", "docker_exec", "frobnicate", "my_custom_tool"])
def test_code_exec_and_unknown_tools_need_identical_arguments(tool):
    """Their effect cannot be read off the paths: only the very same arguments are covered."""
    cache = ApprovalCache(600)
    approved = {"command": "ls", "cwd": "/p"}
    cache.remember(_ctx("alice", tool, arguments=approved), approved)
    assert cache.holds(
        _ctx("alice", tool, arguments=approved), {"cwd": "/p", "command": "ls"}
    )  # key order is no matter
    assert not cache.holds(_ctx("alice", tool, arguments=approved), {"command": "rm -rf ~", "cwd": "/p"})
    assert not cache.holds(_ctx("alice", tool, arguments=approved), None)
    assert cache.snapshot()["approvals"][0]["exact_arguments"] is True


def test_known_tools_are_keyed_by_paths_not_by_other_arguments():
    cache = ApprovalCache(600)
    cache.remember(
        _ctx("alice", "write_file", arguments={"path": "/p/a", "content": "one"}), {"path": "/p/a", "content": "one"}
    )
    assert cache.holds(
        _ctx("alice", "write_file", arguments={"path": "/p/a", "content": "two"}), {"path": "/p/a", "content": "two"}
    )
    assert cache.snapshot()["approvals"][0]["exact_arguments"] is False


def test_snapshot_and_forget_show_every_path(tmp_path):
    cache = ApprovalCache(600)
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    arguments = {"source": f"{tmp_path}/link/a", "destination": "/p/b"}
    cache.remember(_ctx("alice", "move_file", arguments=arguments), arguments)
    entry = cache.snapshot()["approvals"][0]
    assert entry["paths"] == [f"{tmp_path}/real/a", "/p/b"]  # where each leads
    assert entry["path"] == entry["paths"][0] and entry["tool_name"] == "move_file"
    assert not cache.forget("alice", "move_file", "/p/b") and len(cache) == 1
    assert cache.forget("alice", "move_file", entry["path"]) and len(cache) == 0
