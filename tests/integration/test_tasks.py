"""Tasks through the proxy (docs/policies.md#tasks), with real processes: a 2026-07-28 client (the mcp
SDK's, speaking the tasks extension) over STDIO to `mcp-acp start`, whose backend is the tasks
fixture served over streamable HTTP, so that two proxies (two sessions) share one backend.

The policy allows `server/discover` (until the STDIO front classifies it as discovery) and the
tools; it says nothing about tasks/*: a task's follow-ups are decided by who created it.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, Literal

import mcp_types as types
import pytest
from mcp.client.client import Client
from mcp.client.extension import ClaimContext, ClientExtension, ResultClaim
from mcp.client.stdio import StdioServerParameters

from tests.support.audit import read_jsonl
from tests.support.config import proxy_config_dir, proxy_log_dir
from tests.support.processes import MCP_ACP, ROOT, HttpBackendServer

TASKS_BACKEND = str(ROOT / "tests" / "fixtures" / "tasks_backend.py")
TASKS = "io.modelcontextprotocol/tasks"
MODERN = "2026-07-28"

POLICY = {
    "rules": [
        {"id": "discover", "effect": "allow", "conditions": {"mcp_method": "server/discover"}},
        {"id": "sums", "effect": "allow", "conditions": {"tool_name": ["slow_sum", "plain", "linked"]}},
    ]
}


class TaskIdParams(types.RequestParams):
    taskId: str


class GetTask(types.Request[TaskIdParams, Literal["tasks/get"]]):
    method: Literal["tasks/get"] = "tasks/get"
    name_param = "taskId"


class TaskState(types.Result):
    status: str
    result: dict[str, Any] | None = None


class CreatedTask(types.Result):
    result_type: Literal["task"] = "task"
    task_id: str
    status: str


class TaskClient(ClientExtension):
    """The tasks extension, client side: a task handle is polled with tasks/get until it ends."""

    identifier = TASKS

    def __init__(self) -> None:
        self.created: list[str] = []
        self.polls = 0

    def claims(self) -> list[ResultClaim[Any]]:
        return [ResultClaim(result_type="task", model=CreatedTask, resolve=self.resolve)]

    async def resolve(self, created: CreatedTask, ctx: ClaimContext) -> types.CallToolResult:
        self.created.append(created.task_id)
        while True:
            state = await ctx.session.send_request(GetTask(params=TaskIdParams(taskId=created.task_id)), TaskState)
            self.polls += 1
            if state.status == "completed" and state.result is not None:
                return types.CallToolResult.model_validate(state.result)
            await asyncio.sleep(0.01)


@pytest.fixture
def seen(tmp_path: Path) -> Path:
    return tmp_path / "backend-seen.jsonl"


@pytest.fixture
def tasks_backend(seen: Path):
    server = HttpBackendServer(TASKS_BACKEND, "--http", "--seen", str(seen))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def two_proxies(cli, acp_env, tasks_backend) -> tuple[str, str]:
    """Two proxies in one home in front of the one HTTP backend: two sessions."""
    for name in ("alpha", "beta"):
        cli("proxy", "add", name, "--server-name", "tasks", "--url", tasks_backend.url, check=True)
        (proxy_config_dir(acp_env, name) / "policy.json").write_text(json.dumps(POLICY), encoding="utf-8")
    return "alpha", "beta"


def client_for(acp_env: dict, name: str, extension: ClientExtension) -> Client:
    params = StdioServerParameters(command=MCP_ACP, args=["start", "--proxy", name, "--headless"], env=acp_env)
    return Client(params, mode=MODERN, extensions=[extension])


def seen_requests(seen: Path) -> list[dict]:
    return [json.loads(line) for line in seen.read_text().splitlines()] if seen.exists() else []


async def test_a_task_gives_its_result_to_its_own_session_only(acp_env, two_proxies, seen):
    alpha, beta = two_proxies
    tasks_a = TaskClient()
    async with client_for(acp_env, alpha, tasks_a) as client_a:
        assert client_a.protocol_version == MODERN  # the era actually spoken, not a fallback
        result = await client_a.call_tool("slow_sum", {"a": 2, "b": 40})
        assert result.structured_content == {"sum": 42}
        assert len(tasks_a.created) == 1 and tasks_a.polls >= 2  # it came through tasks/get
        task_id = tasks_a.created[0]

        # Session B (another proxy, same backend, same user) asks for A's task.
        async with client_for(acp_env, beta, TaskClient()) as client_b:
            assert client_b.protocol_version == MODERN
            before = seen_requests(seen)
            with pytest.raises(Exception) as refused:
                await client_b.session.send_request(GetTask(params=TaskIdParams(taskId=task_id)), TaskState)
            assert "was not created in this session" in str(refused.value)
            assert seen_requests(seen) == before  # the backend never saw B's request

    a_ops = read_jsonl(proxy_log_dir(acp_env, alpha) / "audit" / "operations.jsonl")
    final = [e for e in a_ops if e.get("kind") == "task_result"]
    assert len(final) == 1
    entry = final[0]
    call = next(e for e in a_ops if e.get("method") == "tools/call" and e.get("kind") is None)
    assert entry["method"] == "tools/call" and entry["tool_name"] == "slow_sum"
    assert entry["request_id"] == call["request_id"]  # the answer of the call that created the task
    assert entry["arguments_summary"] == call["arguments_summary"]
    assert entry["task_id"] == task_id and entry["task_status"] == "completed" and entry["status"] == "Success"
    assert entry["via"] == "tasks/get"
    assert entry["response_summary"]["structured_content"]["fields"] == ["sum"]
    assert entry["duration"]["duration_ms"] >= call["duration"]["duration_ms"]

    b_ops = read_jsonl(proxy_log_dir(acp_env, beta) / "audit" / "operations.jsonl")
    refused_op = next(e for e in b_ops if e.get("method") == "tasks/get")
    assert refused_op["status"] == "Failure" and refused_op["task_id"] == task_id
    b_decisions = read_jsonl(proxy_log_dir(acp_env, beta) / "audit" / "decisions.jsonl")
    decision = next(e for e in b_decisions if e.get("mcp_method") == "tasks/get")
    assert decision["decision"] == "deny" and decision["final_rule"] == "task_not_bound"
    a_decisions = read_jsonl(proxy_log_dir(acp_env, alpha) / "audit" / "decisions.jsonl")
    allowed = [e for e in a_decisions if e.get("mcp_method") == "tasks/get"]
    assert allowed and {e["final_rule"] for e in allowed} == {"task_bound"}


async def test_a_made_up_task_id_never_reaches_the_backend(acp_env, two_proxies, seen):
    alpha, _ = two_proxies
    async with client_for(acp_env, alpha, TaskClient()) as client:
        for method in ("tasks/get", "tasks/cancel"):
            request = GetTask(params=TaskIdParams(taskId="00000000-0000-0000-0000-000000000000"))
            request.method = method  # type: ignore[assignment]
            with pytest.raises(Exception) as refused:
                await client.session.send_request(request, types.Result)
            assert "was not created in this session" in str(refused.value)
    assert seen_requests(seen) == []
