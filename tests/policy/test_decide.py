"""policy/decide.py: the enforcer's decision for one request, shared by `policy test` and replay."""

from __future__ import annotations

import pytest

from mcp_acp.identity.local import Identity
from mcp_acp.policy.decide import NotDecidedByPolicy, decide_request
from mcp_acp.policy.engine import PolicyEngine
from mcp_acp.policy.model import parse_policy
from mcp_acp.policy.protected import ProtectedPaths

RULES = [
    {"id": "read", "effect": "allow", "conditions": {"tool_name": "read_*"}},
    {"id": "no-env", "effect": "deny", "conditions": {"path_pattern": "**/.env"}},
    {"id": "docs", "effect": "allow", "conditions": {"scheme": "docs"}},
    {"id": "secret-docs", "effect": "hitl", "conditions": {"resource_type": "resource", "path_pattern": "/secret/**"}},
]
ALICE = Identity("alice", "local")


@pytest.fixture
def engine(tmp_path) -> PolicyEngine:
    return PolicyEngine(parse_policy({"rules": RULES}), ProtectedPaths([tmp_path / "config"]))


def call(tool: str, **arguments) -> dict:
    return {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": arguments}}


def test_a_rule_decides_and_every_path_is_judged(engine):
    ctx, decision = decide_request(engine, call("read_file", path="/p/a.txt"), ALICE, "fs")
    assert (decision.effect, decision.final_rule, ctx.paths) == ("allow", "read", ("/p/a.txt",))
    _, decision = decide_request(engine, call("read_file", path="/p/a.txt", other="/q/.env"), ALICE, "fs")
    assert (decision.effect, decision.final_rule) == ("deny", "no-env")


def test_discovery_passes_before_any_path_is_judged(engine, tmp_path):
    _, decision = decide_request(engine, {"method": "tools/list", "params": {}}, ALICE, "fs")
    assert (decision.effect, decision.final_rule) == ("allow", "discovery_bypass")


def test_protected_folders_and_relative_paths_without_roots(engine, tmp_path):
    _, decision = decide_request(engine, call("read_file", path=f"{tmp_path}/config/x"), ALICE, "fs")
    assert decision.final_rule == "built_in_protected_path"
    _, decision = decide_request(engine, call("read_file", path="notes.txt"), ALICE, "fs")
    assert decision.final_rule == "unjudgeable_path"
    _, decision = decide_request(engine, call("read_file", path="notes.txt"), ALICE, "fs", ("/p",))
    assert decision.final_rule == "read"


def test_a_listen_is_judged_on_every_resource_it_watches(engine):
    listen = {
        "method": "subscriptions/listen",
        "params": {"notifications": {"resourceSubscriptions": ["docs://a", "file:///secret/b"]}},
    }
    _, decision = decide_request(engine, listen, ALICE, "fs")
    assert decision.effect == "hitl"


def test_an_unknown_method_says_why_it_is_refused(engine):
    _, decision = decide_request(engine, {"method": "made/up", "params": {}}, ALICE, "fs")
    assert decision.final_rule == "default" and "not a method of any published MCP version" in str(decision.reason)


@pytest.mark.parametrize(
    "message",
    [
        {"method": "tasks/get", "params": {"taskId": "t"}},
        {"method": "subscriptions/listen", "params": {"notifications": {"taskIds": ["t"]}}},
    ],
)
def test_tasks_are_not_the_policys_to_decide(engine, message):
    with pytest.raises(NotDecidedByPolicy):
        decide_request(engine, message, ALICE, "fs")
