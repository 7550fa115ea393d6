"""The enforcement point and information-flow labels (docs/policies.md#information-flow-labels-and-session_labels):
a forwarded call gives its session its tool's labels, a refused one none; a session_labels rule's
decision names the requests that set them, in its reason and in decisions.jsonl.

The enforcer is built as the proxy builds it (tests/support/proxy_session.py), over real audit
files; the tools are labelled by the presets (read_file: private data, fetch: untrusted content
and egress, send_email: egress).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from mcp_acp.proxy.approvals import USER_ALLOWED, ApprovalOutcome, ApprovalRequest
from tests.support.proxy_session import build_session

RULES = [
    {"id": "tools", "effect": "allow", "conditions": {"tool_name": "*"}},
    {"id": "no-env", "effect": "deny", "conditions": {"path_pattern": "**/.env"}},
    {
        "id": "trifecta",
        "effect": "hitl",
        "conditions": {"tool_labels": ["egress"], "session_labels": ["private_data", "untrusted_content"]},
    },
]


class Approve:
    def __init__(self) -> None:
        self.asked: list[ApprovalRequest] = []

    async def ask(self, request: ApprovalRequest) -> ApprovalOutcome:
        self.asked.append(request)
        return ApprovalOutcome(USER_ALLOWED, approver_id="alice")


def call(request_id: int, tool: str, **arguments: str) -> dict:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": tool, "arguments": arguments},
    }


async def verdict(enforcer, message: dict):
    answer = enforcer.check(message)
    return await answer if asyncio.iscoroutine(answer) else answer


def decisions(tmp_path: Path) -> list[dict]:
    return [json.loads(line) for line in (tmp_path / "logs" / "audit" / "decisions.jsonl").read_text().splitlines()]


async def test_the_trifecta_is_asked_and_names_the_requests_that_set_its_labels(tmp_path: Path) -> None:
    enforcer = build_session(tmp_path, RULES).enforcer
    assert await verdict(enforcer, call(1, "read_file", path="/home/u/notes")) is None
    assert enforcer.labels.touched == {"private_data"}
    assert await verdict(enforcer, call(2, "fetch", url="http://example.test/page")) is None
    refused = await verdict(enforcer, call(3, "send_email", to="x@example.test"))
    assert refused["message"].startswith("Approval required but no approver is available: tools/call")
    assert "asked because this session read private data (read_file /home/u/notes" in refused["message"]
    entry = decisions(tmp_path)[-1]
    assert (entry["decision"], entry["final_rule"], entry["hitl_outcome"]) == ("hitl", "trifecta", "no_approver")
    assert [(s["label"], s["request_id"], s["tool_name"], s["target"]) for s in entry["label_sources"]] == [
        ("private_data", "1", "read_file", "/home/u/notes"),
        ("untrusted_content", "2", "fetch", "http://example.test/page"),
    ]
    assert entry["reason"].startswith(
        "asked because this session read private data (read_file /home/u/notes, request 1"
    )
    assert "took in untrusted content (fetch http://example.test/page, request 2" in entry["reason"]
    # fetch carries egress too (its URL can carry data out); the refused send set nothing.
    assert [t.request_id for t in enforcer.labels.sources(frozenset({"egress"}))] == ["2"]


async def test_a_denied_call_touches_nothing(tmp_path: Path) -> None:
    enforcer = build_session(tmp_path, RULES).enforcer
    assert (await verdict(enforcer, call(1, "read_file", path="/home/u/.env")))["code"] == -32001
    assert await verdict(enforcer, call(2, "fetch", url="http://example.test/")) is None
    assert await verdict(enforcer, call(3, "send_email", to="x@example.test")) is None  # not asked
    assert enforcer.labels.touched == {"untrusted_content", "egress"}
    assert [e["final_rule"] for e in decisions(tmp_path)] == ["no-env", "tools", "tools"]
    assert all("label_sources" not in e for e in decisions(tmp_path))


async def test_an_approved_call_touches_its_labels(tmp_path: Path) -> None:
    approver = Approve()
    enforcer = build_session(tmp_path, RULES, approver=approver).enforcer
    assert await verdict(enforcer, call(1, "read_file", path="/home/u/notes")) is None
    assert await verdict(enforcer, call(2, "fetch", url="http://example.test/")) is None
    assert await verdict(enforcer, call(3, "send_email", to="x@example.test")) is None  # asked, approved
    assert len(approver.asked) == 1 and approver.asked[0].rule_id == "trifecta"
    assert enforcer.labels.touched == {"private_data", "untrusted_content", "egress"}
