"""A backend that speaks ONLY MCP 2026-07-28 over streamable HTTP, behind the proxy.

Real processes: the modern-only SDK server of tests/fixtures/modern_http_backend.py, `mcp-acp
proxy add --url` and `mcp-acp start --proxy NAME --headless`, and the mcp SDK's Client over
STDIO. The server records every request it sees; the tests assert on that record.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import anyio
import httpx
import pytest
from mcp import Client
from mcp_types import TextContent

from tests.support.config import TOOLS_ONLY_POLICY, proxy_log_dir, use_policy
from tests.support.processes import ROOT, wait_until_async

FIXTURE = ROOT / "tests" / "fixtures" / "modern_http_backend.py"
WAIT = 30.0  # an upper bound for something to happen; never a timing assertion


@pytest.fixture
def modern_url(launcher: Any) -> str:
    if "PYTHONPATH" in os.environ:  # a worktree run: the proxy must run this checkout's code too
        launcher.env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return launcher.start_http_backend(sys.executable, [str(FIXTURE)], label="modern-backend")


def backend_log(url: str) -> list[dict]:
    return httpx.get(url.replace("/mcp", "/_log"), timeout=10).json()


def text(result: Any) -> str:
    first = result.content[0]
    assert isinstance(first, TextContent), result
    return first.text


def system_warnings(env: dict, name: str) -> str:
    return "".join(path.read_text(errors="replace") for path in proxy_log_dir(env, name).rglob("system*.jsonl"))


async def test_modern_only_backend_works_behind_the_proxy(launcher: Any, modern_url: str) -> None:
    params = launcher.proxy_url(modern_url, name="modern")  # `proxy add --url` probes it: it must succeed
    use_policy(launcher.env, "modern", TOOLS_ONLY_POLICY)  # an ordinary policy: discovery passes on its own
    async with Client(params, mode="auto") as client:
        assert client.protocol_version == "2026-07-28"
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert {"echo", "where", "wait"} <= names
        assert "bad_header" not in names  # an invalid x-mcp-header: left out on HTTP
        echoed = await client.call_tool("echo", {"text": "hello"})
        assert not echoed.is_error and text(echoed) == "hello"
        # `region` must travel in Mcp-Param-Region too: the SDK server refuses the call otherwise.
        located = await client.call_tool("where", {"region": "Zürich ", "query": "weather"})
        assert not located.is_error, located
        assert text(located) == "Zürich : weather"
    seen = backend_log(modern_url)
    posts = [entry for entry in seen if entry.get("verb") == "POST"]
    assert not any(entry["method"] == "initialize" for entry in posts), posts
    assert not any(entry.get("verb") in ("GET", "DELETE") for entry in seen), seen
    assert not any("mcp-session-id" in entry["headers"] for entry in posts)
    call = next(entry for entry in posts if entry["headers"].get("mcp-name") == "where")
    assert call["headers"]["mcp-method"] == "tools/call"
    assert call["params"] == {"mcp-param-region": "=?base64?WsO8cmljaCA=?="}  # base64: trailing space, ü
    warnings = system_warnings(launcher.env, "modern")
    assert "bad_header" in warnings and "x-mcp-header" in warnings, warnings


async def test_a_client_cancellation_closes_the_request_stream(launcher: Any, modern_url: str) -> None:
    params = launcher.proxy_url(modern_url, name="modern")
    async with Client(params, mode="auto") as client:
        await client.list_tools()
        with anyio.move_on_after(WAIT):
            async with anyio.create_task_group() as group:

                async def call() -> None:
                    await client.call_tool("wait", {"seconds": 120})

                group.start_soon(call)
                await wait_until_async(
                    lambda: any(e.get("event") == "started" for e in backend_log(modern_url)), WAIT, "the call to start"
                )
                group.cancel_scope.cancel()  # the SDK client sends notifications/cancelled over STDIO
        await wait_until_async(
            lambda: any(e.get("event") == "cancelled" for e in backend_log(modern_url)),
            WAIT,
            "the backend to see the call cancelled",
        )
        assert text(await client.call_tool("echo", {"text": "still here"})) == "still here"
    seen = backend_log(modern_url)
    assert not any(e.get("method") == "notifications/cancelled" for e in seen), "modern HTTP has no such POST"
    assert not any(e.get("event") == "finished" for e in seen)


def test_proxy_add_records_nothing_but_a_discover(launcher: Any, modern_url: str) -> None:
    launcher.proxy_url(modern_url, name="modern")
    seen = backend_log(modern_url)
    assert [entry["method"] for entry in seen] == ["server/discover"], seen
