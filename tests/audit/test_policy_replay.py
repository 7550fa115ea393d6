"""audit/policy_replay.py: a proxy's recorded decisions, decided again under a candidate policy.

The log is written by a real enforcer (built as `mcp-acp start` builds it) over real chained
audit files; a segment is gzipped where rotation puts it."""

from __future__ import annotations

import asyncio
import gzip
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mcp_acp.audit.policy_replay import NOT_BY_POLICY, recorded_decisions, replay, since_time
from mcp_acp.config.models import LimitsConfig
from mcp_acp.policy import methods
from mcp_acp.policy.engine import PolicyEngine
from mcp_acp.policy.model import parse_policy
from mcp_acp.policy.protected import ProtectedPaths
from mcp_acp.proxy import enforcement, tasks
from mcp_acp.proxy.approvals import NoApprover
from tests.support.proxy_session import build_session

OLD = [
    {"id": "read", "effect": "allow", "conditions": {"tool_name": "read_*"}},
    {"id": "no-env", "effect": "deny", "conditions": {"path_pattern": "**/.env"}},
    {"id": "writes", "effect": "hitl", "conditions": {"tool_name": "write_file"}},
]
NEW = [
    {"id": "read-p", "effect": "allow", "conditions": {"tool_name": "read_*", "path_pattern": "/p/**"}},
    {"id": "no-env", "effect": "deny", "conditions": {"path_pattern": "**/.env"}},
    {"id": "writes", "effect": "allow", "conditions": {"tool_name": "write_file"}},
]


def call(request_id: int, tool: str, **arguments) -> dict:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": tool, "arguments": arguments},
    }


def engine(rules: list[dict], tmp_path: Path) -> PolicyEngine:
    return PolicyEngine(parse_policy({"rules": rules}), ProtectedPaths([tmp_path / "config"]))


@pytest.fixture
def recorded(tmp_path) -> Path:
    """A log of: tools/list, two reads (one in /p), a read of a .env, a write (asked, nobody
    to approve), a read of a relative path (judged against a root)."""
    session = build_session(tmp_path, OLD, approver=NoApprover(), limits=LimitsConfig())
    enforcer = session.enforcer

    async def run() -> None:
        for message in (
            {"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            call(2, "read_file", path="/p/a.txt"),
            call(3, "read_file", path="/q/b.txt"),
            call(4, "read_file", path="/p/.env"),
            call(5, "write_file", path="/p/c.txt"),
        ):
            verdict = enforcer.check(message)
            verdict = await verdict if asyncio.iscoroutine(verdict) else verdict
            if hasattr(verdict, "write"):
                verdict.write()  # a read-only discovery's entry, written while it is forwarded
        enforcer.roots.add(["/p"])
        enforcer.check(call(6, "read_file", path="d.txt"))

    asyncio.run(run())
    return tmp_path / "logs"


def test_what_would_change_is_counted_and_each_change_names_its_entry(recorded, tmp_path):
    report = replay(recorded, engine(NEW, tmp_path))
    assert report["entries"] == 6
    assert report["not_decided_by_policy"] == 1  # tools/list
    assert report["redecided"] == 4 and report["not_redecidable"] == 1
    assert report["transitions"] == [
        {"from": "allow", "to": "allow", "count": 1},
        {"from": "allow", "to": "deny", "count": 1},
        {"from": "deny", "to": "deny", "count": 1},
        {"from": "hitl", "to": "allow", "count": 1},
    ]
    assert report["changed"] == 2 and report["unchanged"] == 1 and report["same_outcome_other_rule"] == 1
    [to_deny, to_allow] = report["changes"]
    [example] = to_deny["examples"]
    assert (example["request_id"], example["paths"], example["file"]) == ("3", ["/q/b.txt"], "audit/decisions.jsonl")
    assert example["old"]["rule"] == "read" and example["new"] == {
        "decision": "deny",
        "rule": "default",
        "reason": None,
    }
    entries = [json.loads(line) for line in (recorded / "audit" / "decisions.jsonl").read_text().splitlines()]
    assert example["sequence"] == next(e["sequence"] for e in entries if e.get("request_id") == "3")
    assert to_allow["examples"][0]["old"]["hitl_outcome"] == "no_approver"  # the policy asked; nobody was there
    assert to_allow["examples"][0]["new"]["rule"] == "writes"
    [(reason, count)] = report["not_redecidable_reasons"].items()
    assert "relative path 'd.txt'" in reason and count == 1


def test_the_same_policy_changes_nothing(recorded, tmp_path):
    report = replay(recorded, engine(OLD, tmp_path))
    assert report["changed"] == 0 and report["same_outcome_other_rule"] == 0 and report["redecided"] == 4


def test_rotated_and_compressed_segments_are_read_first(recorded, tmp_path):
    active = recorded / "audit" / "decisions.jsonl"
    lines = active.read_bytes().splitlines(keepends=True)
    first, last = json.loads(lines[0])["sequence"], json.loads(lines[2])["sequence"]
    segment = recorded / "audit" / "segments" / f"decisions.{first:012d}-{last:012d}.jsonl.gz"
    segment.parent.mkdir()
    segment.write_bytes(gzip.compress(b"".join(lines[:3])))
    active.write_bytes(b"".join(lines[3:]))
    files = [item.file for item in recorded_decisions(recorded)]
    assert files == [str(segment.relative_to(recorded))] * 3 + ["audit/decisions.jsonl"] * 3
    report = replay(recorded, engine(NEW, tmp_path))
    assert report["changes"][0]["examples"][0]["file"] == str(segment.relative_to(recorded))


def test_entries_without_what_a_decision_needs_are_not_guessed(recorded, tmp_path):
    active = recorded / "audit" / "decisions.jsonl"
    entries = [json.loads(line) for line in active.read_text().splitlines()]
    for entry in entries:
        entry.pop("path_roles", None)  # as written before path roles were recorded
    active.write_text("".join(json.dumps(e) + "\n" for e in entries))
    report = replay(recorded, engine(NEW, tmp_path))
    assert report["redecided"] == 0 and report["not_redecidable"] == 5
    assert "not their roles" in next(iter(report["not_redecidable_reasons"]))


def test_since_keeps_only_recent_requests(recorded, tmp_path):
    later = datetime.now(UTC) + timedelta(minutes=1)
    assert replay(recorded, engine(NEW, tmp_path), since=later)["entries"] == 0
    assert since_time("30m") < datetime.now(UTC) and since_time("2026-01-01T00:00:00").tzinfo is not None
    with pytest.raises(ValueError, match="neither an ISO time"):
        since_time("yesterday")


def test_the_rules_the_proxy_decides_without_the_policy_are_known():
    proxy_rules = {
        enforcement.RATE_LIMIT_RULE,
        enforcement.FLOOD_RULE,
        enforcement.NOTIFICATION_RULE,
        enforcement.PATH_CHANGED_RULE,
        enforcement.STATE_RULE,
        "evaluation_error",
        tasks.BOUND_RULE,
        tasks.NOT_BOUND_RULE,
        tasks.LISTED_RULE,
        *methods.BYPASS_RULES.values(),
    }
    assert proxy_rules == NOT_BY_POLICY
