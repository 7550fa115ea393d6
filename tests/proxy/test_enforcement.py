"""The enforcement point on its own: what each decision answers, and what decisions.jsonl records.

It runs with the real engine and the real chained audit writer in a temp folder. The approver
is a scripted stand-in for the human (the approval UI is a later feature); it implements the
same `Approver` interface the UI will.
"""

from __future__ import annotations

import asyncio
import functools
import json
import subprocess
import sys
from pathlib import Path

import pytest

from mcp_acp.config.models import LimitsConfig
from mcp_acp.proxy.approvals import (
    USER_ALLOWED,
    USER_ALLOWED_ONCE,
    USER_DENIED,
    ApprovalOutcome,
    ApprovalRequest,
    NoApprover,
)
from mcp_acp.proxy.enforcement import Enforcer
from mcp_acp.proxy.gate import LogWhileForwarded
from tests.support.processes import ROOT
from tests.support.proxy_session import build_session

RULES = [
    {"id": "read", "effect": "allow", "conditions": {"tool_name": "read_*"}},
    {"id": "no-env", "effect": "deny", "conditions": {"path_pattern": "**/.env"}},
    {"id": "writes", "effect": "hitl", "conditions": {"tool_name": "write_file"}, "cache_side_effects": ["fs_write"]},
    {"id": "shell", "effect": "hitl", "conditions": {"tool_name": "bash"}},
]


class ScriptedApprover:
    """Answers approval requests from a list, and remembers what it was asked."""

    def __init__(self, *outcomes: str) -> None:
        self.outcomes = list(outcomes)
        self.asked: list[ApprovalRequest] = []

    async def ask(self, request: ApprovalRequest) -> ApprovalOutcome:
        self.asked.append(request)
        return ApprovalOutcome(self.outcomes.pop(0), approver_id="alice")


def build(tmp_path: Path, approver=None, limits: LimitsConfig | None = None, rules=RULES):
    """An enforcer over real audit files in `tmp_path`, built as the proxy builds it, and the path
    of its decisions.jsonl."""
    session = build_session(tmp_path, rules, approver=approver or NoApprover(), limits=limits)
    return session.enforcer, tmp_path / "logs" / "audit" / "decisions.jsonl"


@pytest.fixture
def setup(tmp_path: Path):
    return functools.partial(build, tmp_path)


def call(tool: str, path: str = "/p/a.txt", request_id: int = 1) -> dict:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": tool, "arguments": {"path": path}},
    }


async def verdict(enforcer: Enforcer, message: dict):
    answer = enforcer.check(message)
    return await answer if asyncio.iscoroutine(answer) else answer


def decisions(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("method", ["tools/list", "ping", "prompts/list", "resources/list", "resources/templates/list"])
def test_read_only_discovery_is_logged_while_forwarded(setup, method):
    enforcer, log = setup()
    deferred = enforcer.check({"jsonrpc": "2.0", "id": 7, "method": method})
    assert isinstance(deferred, LogWhileForwarded)
    assert decisions(log) == []  # nothing written before the request goes out
    assert deferred.write() is None
    [entry] = decisions(log)
    assert entry["final_rule"] == "discovery_bypass" and entry["decision"] == "allow"
    assert entry["mcp_method"] == method and entry["request_id"] == "7" and entry["subject_id"] == "alice"
    assert enforcer.stats.requests_total == 1


def test_initialize_is_logged_before_it_is_forwarded(setup):
    enforcer, log = setup()
    assert enforcer.check({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {}}) is None
    assert decisions(log)[0]["final_rule"] == "discovery_bypass"


UNWRITABLE_DISCOVERY_ENTRY = """
import json, sys, time
from pathlib import Path
from tests.proxy.test_enforcement import build
enforcer, log = build(Path(sys.argv[1]))
deferred = enforcer.check({"jsonrpc": "2.0", "id": 8, "method": "tools/list"})
log.unlink()  # the decisions log disappears while the request is with the backend
print(json.dumps(deferred.write()), flush=True)
time.sleep(30)  # the security shutdown ends the process
"""


def test_discovery_entry_that_cannot_be_written_refuses_and_shuts_down(tmp_path):
    # In a child process: the security shutdown exits the process it runs in.
    done = subprocess.run(
        [sys.executable, "-c", UNWRITABLE_DISCOVERY_ENTRY, str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 10, done.stderr
    refusal = json.loads(done.stdout)
    assert refusal["code"] == -32603 and "audit" in refusal["message"].lower()
    [shutdown] = [json.loads(line) for line in (tmp_path / "logs" / "shutdowns.jsonl").read_text().splitlines()]
    assert shutdown["event"] == "security_shutdown" and shutdown["exit_code"] == 10


async def test_allow_and_deny_answers_and_entries(setup):
    enforcer, log = setup()
    assert await verdict(enforcer, call("read_file")) is None
    denied = await verdict(enforcer, call("read_file", "/p/.env", 2))
    assert denied["code"] == -32001 and denied["message"] == "Policy denied: tools/call on /p/.env"
    assert denied["data"] == {
        "decision": "deny",
        "tool": "read_file",
        "path": "/p/.env",
        "matched_rules": ["read", "no-env"],
        "final_rule": "no-env",
    }
    allowed, refused = decisions(log)
    assert allowed["event"] == "policy_decision" and allowed["decision"] == "allow" and allowed["final_rule"] == "read"
    assert allowed["matched_rules"] == [{"id": "read", "effect": "allow"}]
    for entry in (allowed, refused):
        assert entry["subject_id"] == "alice" and entry["backend_id"] == "fs" and entry["session_id"] == "s1"
        assert entry["policy_version"] == "v1" and entry["mcp_method"] == "tools/call"
        assert entry["policy_eval_ms"] >= 0 and entry["policy_total_ms"] == entry["policy_eval_ms"]
        assert "policy_hitl_ms" not in entry and "hitl_outcome" not in entry
    assert refused["request_id"] == "2" and refused["side_effects"] == ["fs_read"] and refused["path"] == "/p/.env"


async def test_discovery_and_default(setup):
    enforcer, log = setup()
    assert (
        await verdict(
            enforcer,
            {
                "jsonrpc": "2.0",
                "id": 0,
                "method": "initialize",
                "params": {"clientInfo": {"name": "c", "version": "1"}},
            },
        )
        is None
    )
    assert enforcer.note_notification({"jsonrpc": "2.0", "method": "notifications/initialized"})
    assert enforcer.note_notification({"jsonrpc": "2.0", "method": "notifications/roots/list_changed"})
    assert (await verdict(enforcer, call("delete_file", "/p/a", 3)))["data"]["final_rule"] == "default"
    entries = decisions(log)
    assert [e["final_rule"] for e in entries] == ["discovery_bypass"] * 3 + ["default"]
    # every client notification is a protocol notification, logged (policy/methods.py)
    assert [e["mcp_method"] for e in entries[1:3]] == ["notifications/initialized", "notifications/roots/list_changed"]


async def test_no_approver_denies_and_says_so(setup):
    enforcer, log = setup()
    answer = await verdict(enforcer, call("write_file"))
    assert answer["message"] == "Approval required but no approver is available: tools/call on /p/a.txt"
    entry = decisions(log)[-1]
    assert entry["decision"] == "hitl" and entry["final_rule"] == "writes" and entry["hitl_outcome"] == "no_approver"


async def test_approval_outcomes_cache_and_timings(setup):
    approver = ScriptedApprover(USER_ALLOWED, USER_ALLOWED_ONCE, USER_DENIED, USER_ALLOWED, USER_ALLOWED)
    enforcer, log = setup(approver)
    assert await verdict(enforcer, call("write_file")) is None  # approved, cacheable: remembered
    assert await verdict(enforcer, call("write_file")) is None  # served from the cache, nobody asked
    assert len(approver.asked) == 1 and approver.asked[0].cacheable and approver.asked[0].rule_id == "writes"
    assert await verdict(enforcer, call("write_file", "/p/b.txt")) is None  # allow once: not remembered
    denied = await verdict(enforcer, call("write_file", "/p/b.txt"))
    assert denied["message"] == "User denied: tools/call on /p/b.txt"
    assert await verdict(enforcer, call("bash", "/p")) is None
    assert await verdict(enforcer, call("bash", "/p")) is None
    assert len(approver.asked) == 5  # code_exec is never cached: the second bash call asked again
    first, hit, once, user_denied, shell, *_ = decisions(log)
    assert (first["decision"], first["hitl_outcome"], first["hitl_cache_hit"], first["hitl_approver_id"]) == (
        "hitl",
        "user_allowed",
        False,
        "alice",
    )
    assert first["policy_total_ms"] == pytest.approx(first["policy_eval_ms"] + first["policy_hitl_ms"], abs=0.002)
    assert (hit["hitl_cache_hit"], hit["policy_hitl_ms"]) == (True, 0.0)  # 0.0 is logged, not omitted
    # Allow-once is logged as user_allowed (docs/approvals.md#the-three-answers).
    assert once["hitl_outcome"] == "user_allowed"
    assert (user_denied["decision"], user_denied["hitl_outcome"]) == ("hitl", "user_denied")
    assert not approver.asked[3].cacheable  # bash executes code: never cached
    assert shell["hitl_outcome"] == "user_allowed"


async def test_reload_clears_cached_approvals(setup):
    enforcer, _ = setup(ScriptedApprover(USER_ALLOWED, USER_ALLOWED))
    assert await verdict(enforcer, call("write_file")) is None
    assert len(enforcer.approvals) == 1
    result = await enforcer.reloader.reload("test")
    assert result["status"] == "success" and result["approvals_cleared"] == 1 and len(enforcer.approvals) == 0


async def test_per_tool_window_breach_asks_then_resets(setup):
    """docs/policies.md#limits, at the enforcement point: the call over the limit asks a human; an
    approval resets the counter and the policy still decides the call itself."""
    approver = ScriptedApprover(USER_ALLOWED)
    enforcer, log = setup(approver, LimitsConfig(tool_calls_per_window=3))
    for n in range(3):
        assert await verdict(enforcer, call("read_file", request_id=n)) is None
    assert await verdict(enforcer, call("read_file", request_id=3)) is None  # 4th: asked, approved
    assert approver.asked[-1].rule_id == "rate_limit_breach" and not approver.asked[-1].cacheable
    assert await verdict(enforcer, call("read_file", request_id=4)) is None  # counter was reset
    assert len(approver.asked) == 1
    assert decisions(log)[3]["final_rule"] == "read"  # approved breach, then the normal decision


async def test_per_tool_window_breach_without_approver_is_denied(setup):
    enforcer, log = setup(limits=LimitsConfig(tool_calls_per_window=2))
    for n in range(2):
        assert await verdict(enforcer, call("read_file", request_id=n)) is None
    answer = await verdict(enforcer, call("read_file", request_id=9))
    assert answer["message"].startswith("Rate limit exceeded: Approval required")
    assert answer["data"]["final_rule"] == "rate_limit_breach"
    assert decisions(log)[-1]["final_rule"] == "rate_limit_breach"


async def test_flood_limit_denies_beyond_the_burst(setup):
    enforcer, log = setup(limits=LimitsConfig(requests_per_second=0.001, burst=5))
    answers = [await verdict(enforcer, call("read_file", request_id=n)) for n in range(8)]
    assert answers[:5] == [None] * 5
    assert all(a["message"].startswith("Rate limit exceeded") for a in answers[5:])
    assert [e["final_rule"] for e in decisions(log)][5:] == ["rate_limit_flood"] * 3


async def test_an_error_on_the_decision_path_denies(setup, monkeypatch):
    enforcer, log = setup()

    def broken(ctx):
        raise RuntimeError("boom")

    monkeypatch.setattr(enforcer.reloader.engine, "evaluate", broken)
    answer = await verdict(enforcer, call("read_file"))
    assert answer == {"code": -32001, "message": "Internal error evaluating policy for tools/call"}
    assert decisions(log)[-1]["final_rule"] == "evaluation_error"
