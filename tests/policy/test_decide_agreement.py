"""Property: `mcp-acp policy test` and `policy replay` decide what the proxy's enforcer decides.

Random tool names and path arguments go through a real Enforcer (built as `mcp-acp start` builds
it, writing real decisions.jsonl entries) and through policy/decide.py with the same engine; the
decision and the rule must be the same, and replaying the entry the enforcer wrote under the same
policy must give it again."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mcp_acp.audit.policy_replay import replay
from mcp_acp.config.models import LimitsConfig
from mcp_acp.identity.local import Identity
from mcp_acp.policy.decide import decide_request
from mcp_acp.proxy.approvals import NoApprover
from tests.support.proxy_session import build_session

RULES = [
    {"id": "read-p", "effect": "allow", "conditions": {"tool_name": "read_*", "path_pattern": "/p/**"}},
    {"id": "env", "effect": "deny", "conditions": {"path_pattern": "**/.env"}},
    {"id": "write-p", "effect": "hitl", "conditions": {"operations": ["write"], "path_pattern": "/p/**"}},
    {"id": "move", "effect": "allow", "conditions": {"source_path": "/p/**", "dest_path": "/q/**"}},
    {"id": "py", "effect": "deny", "conditions": {"extension": ".py", "tool_name": "write_*"}},
    {"id": "echo", "effect": "allow", "conditions": {"tool_name": "echo"}},
]
TOOLS = st.sampled_from(["read_file", "write_file", "move_file", "echo", "delete_file", "run", "Read_File"])
SEGMENT = st.sampled_from(["cfg", "p", "q", "..", ".", ".env", "a.py", "b.txt", "cfg", "x"])
PATHS = st.lists(SEGMENT, min_size=1, max_size=4).map(lambda parts: "/" + "/".join(parts))
KEYS = st.sampled_from(["path", "source", "destination", "file_path", "note"])


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    work = tmp_path_factory.mktemp("agreement")
    limits = LimitsConfig(requests_per_second=100_000, burst=1_000_000, tool_calls_per_window=1_000_000)
    built = build_session(work, RULES, approver=NoApprover(), limits=limits)
    return built, work, work / "logs" / "audit" / "decisions.jsonl", iter(range(1, 1_000_000))


def enforcer_entry(session, log: Path, message: dict) -> dict:
    async def run() -> None:
        verdict = session.enforcer.check(message)
        if asyncio.iscoroutine(verdict):
            await verdict

    asyncio.run(run())
    return json.loads(log.read_text().splitlines()[-1])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tool=TOOLS, arguments=st.dictionaries(KEYS, PATHS, max_size=3))
def test_the_test_runner_and_replay_decide_as_the_enforcer(session, tool, arguments):
    session, work, log, counter = session
    request_id = next(counter)
    # "/cfg…" stands for the proxy's own folder (protected, whatever the rules say)
    arguments = {key: str(work) + path if path.startswith("/cfg") else path for key, path in arguments.items()}
    message = {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": tool, "arguments": arguments},
    }
    entry = enforcer_entry(session, log, message)
    engine = session.reloader.engine
    _, decision = decide_request(engine, message, Identity("alice", "local"), "fs")
    assert (decision.effect, decision.final_rule) == (entry["decision"], entry["final_rule"])
    report = replay(log.parent.parent, engine, limit=0)
    assert report["changed"] == 0 and report["same_outcome_other_rule"] == 0 and report["not_redecidable"] == 0
