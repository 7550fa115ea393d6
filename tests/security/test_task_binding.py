"""Task ids are bearer handles on the backend: the proxy lets a session follow only the tasks its own
allowed calls created (proxy/tasks.py), whatever the policy allows.

A real proxy (`mcp-acp start`) in front of the tasks fixture over STDIO, spoken to in raw 2026-07-28
JSON-RPC (no handshake, `_meta` on every request) so every hostile shape can be sent. The policy
allows EVERY method: the binding alone keeps the made-up ids away from the backend, which writes
down every tasks/* request it receives.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.support.audit import read_jsonl
from tests.support.config import allow_everything, proxy_log_dir
from tests.support.processes import ROOT
from tests.support.proxies import RawProxy

TASKS_BACKEND = str(ROOT / "tests" / "fixtures" / "tasks_backend.py")
META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {"extensions": {"io.modelcontextprotocol/tasks": {}}},
    "io.modelcontextprotocol/clientInfo": {"name": "raw-modern", "version": "1"},
}


@pytest.fixture
def seen(tmp_path: Path) -> Path:
    return tmp_path / "seen.jsonl"


@pytest.fixture
def proxy_name(cli, acp_env, seen) -> str:
    args = ["--arg", TASKS_BACKEND, "--arg", "--seen", "--arg", str(seen)]
    cli("proxy", "add", "tk", "--server-name", "tasks", "--command", sys.executable, *args, check=True)
    allow_everything(acp_env, "tk")
    return "tk"


def seen_requests(seen: Path) -> list[dict]:
    return [json.loads(line) for line in seen.read_text().splitlines()] if seen.exists() else []


async def modern(proxy: RawProxy, method: str, params: dict) -> dict:
    return await proxy.request(method, {**params, "_meta": META}, timeout=60)


HOSTILE = [
    ("tasks/get", {"taskId": "00000000-0000-4000-8000-000000000000"}),  # made up
    ("tasks/update", {"taskId": "00000000-0000-4000-8000-000000000000", "inputResponses": {}}),
    ("tasks/cancel", {"taskId": "00000000-0000-4000-8000-000000000000"}),
    ("tasks/result", {"taskId": "00000000-0000-4000-8000-000000000000"}),  # the 2025 method
    ("tasks/anything", {"taskId": "00000000-0000-4000-8000-000000000000"}),  # the prefix is reserved
    ("tasks/get", {}),  # names no task
    ("tasks/get", {"taskId": 1}),
    ("tasks/get", {"taskId": ["x"]}),
]


async def test_only_a_task_this_session_created_reaches_the_backend(acp_env, proxy_name, seen):
    proxy = await RawProxy.start(acp_env, proxy_name)
    try:
        created = await modern(proxy, "tools/call", {"name": "slow_sum", "arguments": {"a": 1, "b": 2}})
        assert created["result"]["resultType"] == "task", created
        task_id = created["result"]["taskId"]
        variants = [task_id.upper(), f" {task_id}", f"{task_id}\u200b", task_id[:-1]]
        for method, params in [*HOSTILE, *(("tasks/get", {"taskId": v}) for v in variants)]:
            answer = await modern(proxy, method, params)
            assert answer["error"]["code"] == -32001, (method, params, answer)
            assert answer["error"]["data"]["final_rule"] == "task_not_bound"
        assert seen_requests(seen) == []  # none of them reached the backend
        # A task's notifications carry its final result: listening to another's is reading it.
        for followed in (["00000000-0000-4000-8000-000000000000"], [task_id, task_id.upper()], task_id, [7]):
            answer = await modern(proxy, "subscriptions/listen", {"notifications": {"taskIds": followed}})
            assert answer["error"]["data"]["final_rule"] == "task_not_bound", (followed, answer)

        first = await modern(proxy, "tasks/get", {"taskId": task_id})
        assert first["result"]["status"] == "working"
        done = await modern(proxy, "tasks/get", {"taskId": task_id})
        assert done["result"]["result"]["structuredContent"] == {"sum": 3}
        assert await modern(proxy, "tasks/cancel", {"taskId": task_id}) == {
            "jsonrpc": "2.0",
            "id": proxy._next_id,
            "result": {"resultType": "complete", "_meta": done["result"]["_meta"]},
        }
        assert [r["taskId"] for r in seen_requests(seen)] == [task_id] * 3
        code, stderr = await proxy.finish()
        assert code == 0, stderr
    finally:
        await proxy.close()

    logs = proxy_log_dir(acp_env, proxy_name) / "audit"
    decisions = [d for d in read_jsonl(logs / "decisions.jsonl") if str(d.get("mcp_method")).startswith("tasks/")]
    assert [d["final_rule"] for d in decisions] == ["task_not_bound"] * 12 + ["task_bound"] * 3
    operations = read_jsonl(logs / "operations.jsonl")
    refused = [o for o in operations if str(o.get("method")).startswith("tasks/") and o.get("status") == "Failure"]
    assert len(refused) == 12 and all(o["error_code"] == -32001 for o in refused)
    [final] = [o for o in operations if o.get("kind") == "task_result"]
    assert final["tool_name"] == "slow_sum" and final["task_id"] == task_id


async def test_a_linked_resource_is_decided_as_any_read(cli, acp_env, seen):
    """A resource_link in a tool result grants nothing: reading the linked URI is a resources/read
    the policy decides, refused unless a rule allows it, and allowed when one does."""
    args = ["--arg", TASKS_BACKEND, "--arg", "--seen", "--arg", str(seen)]
    cli("proxy", "add", "ln", "--server-name", "tasks", "--command", sys.executable, *args, check=True)
    policy = Path(acp_env["MCP_ACP_HOME"]) / "config" / "proxies" / "ln" / "policy.json"
    tool_only = {"rules": [{"id": "linked-tool", "effect": "allow", "conditions": {"tool_name": "linked"}}]}
    policy.write_text(json.dumps(tool_only))
    proxy = await RawProxy.start(acp_env, "ln")
    try:
        linked = await modern(proxy, "tools/call", {"name": "linked", "arguments": {}})
        [link] = [c for c in linked["result"]["content"] if c["type"] == "resource_link"]
        refused = await modern(proxy, "resources/read", {"uri": link["uri"]})
        assert refused["error"]["code"] == -32001
        assert refused["error"]["data"]["final_rule"] == "default"
    finally:
        await proxy.close()

    reads = {"id": "vault", "effect": "allow", "conditions": {"mcp_method": "resources/read", "scheme": "secret"}}
    policy.write_text(json.dumps({"rules": [*tool_only["rules"], reads]}))
    proxy = await RawProxy.start(acp_env, "ln")
    try:
        read = await modern(proxy, "resources/read", {"uri": "secret://vault"})
        assert read["result"]["contents"][0]["text"] == "the secret"
    finally:
        await proxy.close()
    ops = read_jsonl(proxy_log_dir(acp_env, "ln") / "audit" / "operations.jsonl")
    call = next(o for o in ops if o.get("tool_name") == "linked")
    assert call["response_summary"]["resource_links"] == ["secret://vault"]
