"""The relay against real processes: fidelity, concurrency, and every way the ends can fail."""

from __future__ import annotations

import asyncio
import getpass
import os
import signal
import sys
from pathlib import Path

import pytest
from backend import big_text

from tests.support.config import allow_everything
from tests.support.processes import BACKEND, free_port
from tests.support.proxies import RawProxy


def children_of(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"


@pytest.fixture
def stdio_proxy(cli, acp_env):
    cli("proxy", "add", "fx", "--server-name", "fixture", "--command", sys.executable, "--arg", BACKEND, check=True)
    allow_everything(acp_env, "fx")
    return "fx"


@pytest.fixture
def http_proxy(cli, acp_env, http_backend):
    cli("proxy", "add", "web", "--server-name", "fixture-http", "--url", http_backend.url, check=True)
    allow_everything(acp_env, "web")
    return "web"


@pytest.fixture(params=["stdio", "http"])
def any_proxy(request):
    return request.getfixturevalue(f"{request.param}_proxy")


async def test_tool_call_round_trips(acp_env, any_proxy):
    proxy = await RawProxy.start(acp_env, any_proxy)
    try:
        init = await proxy.initialize()
        assert init["result"]["serverInfo"]["name"] == "acp-test-backend"
        answer = await proxy.call_tool("add", {"a": 2, "b": 40})
        assert answer["result"]["structuredContent"] == {"result": 42}
        code, stderr = await proxy.finish()
        assert code == 0, stderr
        assert "Proxy server ready - listening on STDIO" in stderr
        assert "policy: 1 rules (v1)" in stderr  # the banner says which policy is in force
        assert f"identity: local user '{getpass.getuser()}'" in stderr
    finally:
        await proxy.close()


async def test_five_megabyte_result_passes_intact(acp_env, any_proxy):
    proxy = await RawProxy.start(acp_env, any_proxy)
    try:
        await proxy.initialize()
        size = 5 * 1024 * 1024
        answer = await proxy.call_tool("big", {"size_bytes": size}, timeout=60)
        assert answer["result"]["content"][0]["text"] == big_text(size)
    finally:
        await proxy.close()


async def test_requests_are_handled_concurrently(acp_env, any_proxy):
    """A slow call does not hold up a quick one sent after it."""
    proxy = await RawProxy.start(acp_env, any_proxy)
    try:
        await proxy.initialize()
        await proxy.send(
            {
                "jsonrpc": "2.0",
                "id": "slow",
                "method": "tools/call",
                "params": {"name": "slow", "arguments": {"seconds": 3, "steps": 1}},
            }
        )
        await proxy.send(
            {
                "jsonrpc": "2.0",
                "id": "quick",
                "method": "tools/call",
                "params": {"name": "echo", "arguments": {"text": "first"}},
            }
        )
        first = await proxy.receive()
        while "method" in first:  # skip notifications
            first = await proxy.receive()
        assert first["id"] == "quick"
        assert (await proxy.response_to("slow"))["result"]["content"][0]["text"].startswith("slept")
    finally:
        await proxy.close()


async def test_non_json_from_client_gets_parse_error_and_proxy_keeps_running(acp_env, any_proxy):
    proxy = await RawProxy.start(acp_env, any_proxy)
    try:
        await proxy.initialize()
        await proxy.send(b"this is not json\n")
        error = await proxy.receive()
        assert error["id"] is None and error["error"]["code"] == -32700
        assert "not valid JSON" in error["error"]["message"]
        await proxy.send(b"[1, 2]\n")
        assert (await proxy.receive())["error"]["code"] == -32600
        answer = await proxy.call_tool("echo", {"text": "still here"})
        assert answer["result"]["content"][0]["text"] == "still here"
    finally:
        await proxy.close()


async def test_stdio_backend_dying_mid_request(acp_env, stdio_proxy):
    proxy = await RawProxy.start(acp_env, stdio_proxy)
    try:
        await proxy.initialize()
        answer = await proxy.call_tool("crash", {})
        assert answer["error"]["code"] == -32000
        assert "exited with code 3" in answer["error"]["message"]
        assert answer["error"]["data"]["backend_id"] == "fixture"
        code, stderr = await proxy.finish()
        assert code == 1
        assert "Traceback" not in stderr
        assert "backend 'fixture' stopped: the backend process exited with code 3" in stderr
    finally:
        await proxy.close()


async def test_http_backend_dying_then_reconnecting(acp_env, http_proxy, http_backend):
    proxy = await RawProxy.start(acp_env, http_proxy)
    try:
        await proxy.initialize()
        assert (await proxy.call_tool("echo", {"text": "one"}))["result"]["content"][0]["text"] == "one"
        await proxy.send(
            {
                "jsonrpc": "2.0",
                "id": "pending",
                "method": "tools/call",
                "params": {"name": "slow", "arguments": {"seconds": 10, "steps": 1}},
            }
        )
        await asyncio.sleep(0.5)
        http_backend.stop()
        # The request in flight fails: its event stream broke.
        lost = await proxy.response_to("pending")
        assert lost["error"]["code"] == -32000 and "stream" in lost["error"]["message"]
        down = await proxy.call_tool("echo", {"text": "down"})
        assert down["error"]["code"] == -32000
        assert "Backend 'fixture-http' is unavailable" in down["error"]["message"]
        http_backend.start()
        # The next request opens a new session, replaying the client's initialize first.
        back = await proxy.call_tool("echo", {"text": "back"})
        assert back["result"]["content"][0]["text"] == "back"
        assert proxy.process.returncode is None
    finally:
        await proxy.close()


async def test_client_closing_stdin_leaves_no_orphan(acp_env, stdio_proxy):
    proxy = await RawProxy.start(acp_env, stdio_proxy)
    try:
        await proxy.initialize()
        backend_pids = children_of(proxy.process.pid)
        assert backend_pids, "the backend child should be running"
        code, stderr = await proxy.finish()
        assert code == 0, stderr
        await asyncio.sleep(0.2)
        assert not any(alive(pid) for pid in backend_pids)
    finally:
        await proxy.close()


async def test_killed_proxy_takes_its_backend_down(acp_env, stdio_proxy):
    """Even SIGKILL, which no cleanup code sees, must not orphan the backend (Linux death signal)."""
    proxy = await RawProxy.start(acp_env, stdio_proxy)
    await proxy.initialize()
    backend_pids = children_of(proxy.process.pid)
    proxy.process.send_signal(signal.SIGKILL)
    await proxy.process.wait()
    for _ in range(50):
        if not any(alive(pid) for pid in backend_pids):
            break
        await asyncio.sleep(0.1)
    assert not any(alive(pid) for pid in backend_pids)


async def test_sigterm_stops_cleanly(acp_env, stdio_proxy):
    proxy = await RawProxy.start(acp_env, stdio_proxy)
    await proxy.initialize()
    backend_pids = children_of(proxy.process.pid)
    proxy.process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(proxy.process.wait(), 20) == 0
    await asyncio.sleep(0.2)
    assert not any(alive(pid) for pid in backend_pids)


def test_backend_command_that_does_not_exist(cli):
    cli("proxy", "add", "ghost", "--server-name", "ghost", "--command", "no-such-mcp-server-xyz", check=True)
    result = cli("start", "--proxy", "ghost", "--headless")
    assert result.returncode == 1
    assert "'no-such-mcp-server-xyz' was not found" in result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_url(cli):
    url = f"http://127.0.0.1:{free_port()}/mcp"
    cli("proxy", "add", "gone", "--server-name", "gone", "--url", url, check=True)
    result = cli("start", "--proxy", "gone", "--headless")
    assert result.returncode == 1
    assert f"cannot reach the HTTP backend at {url}" in result.stderr
    assert "retrying" in result.stderr  # docs/configuration.md#backends: the start-up health check retries
    assert "Traceback" not in result.stderr


def test_missing_and_broken_config(cli, acp_env):
    missing = cli("start", "--proxy", "nope", "--headless")
    assert missing.returncode == 1 and "no proxy named 'nope'" in missing.stderr
    cli("proxy", "add", "bad", "--server-name", "x", "--command", "true", check=True)
    config = Path(acp_env["MCP_ACP_HOME"]) / "config" / "proxies" / "bad" / "config.json"
    config.write_text('{"proxy_id": ')
    broken = cli("start", "--proxy", "bad", "--headless")
    assert broken.returncode == 1
    assert str(config) in broken.stderr and "not valid JSON" in broken.stderr
    assert "Traceback" not in broken.stderr
    assert config.read_text() == '{"proxy_id": '  # nothing overwritten


async def test_auto_transport_falls_back_to_stdio(cli, acp_env):
    """docs/configuration.md#backends `auto`: an unreachable HTTP URL with a STDIO command configured uses STDIO, with a warning."""
    url = f"http://127.0.0.1:{free_port()}/mcp"
    cli(
        "proxy",
        "add",
        "both",
        "--server-name",
        "fixture",
        "--url",
        url,
        "--command",
        sys.executable,
        "--arg",
        BACKEND,
        check=True,
    )
    allow_everything(acp_env, "both")
    proxy = await RawProxy.start(acp_env, "both")
    try:
        await proxy.initialize()
        assert (await proxy.call_tool("echo", {"text": "via stdio"}))["result"]["content"][0]["text"] == "via stdio"
        code, stderr = await proxy.finish()
        assert code == 0
        assert "falling back to STDIO" in stderr and "transport: stdio" in stderr
    finally:
        await proxy.close()


def test_stdin_from_dev_null_is_a_client_that_left(cli, stdio_proxy):
    """/dev/null cannot be polled (uvloop aborted on it, exit 134): it reads as an immediate EOF."""
    result = cli("start", "--proxy", stdio_proxy, "--headless")  # the fixture's stdin is /dev/null
    assert result.returncode == 0, result.stderr
    assert "Proxy server ready" in result.stderr
