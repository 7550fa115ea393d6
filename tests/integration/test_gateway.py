"""`mcp-acp serve` end to end, on a loopback gateway without an issuer (the local user): real
processes throughout (the gateway, its STDIO backend tests/fixtures/backend.py) and the mcp
SDK's Client over streamable HTTP in both eras. Tokens and principals: test_gateway_oauth.py."""

from __future__ import annotations

import getpass
import json
import os
import subprocess
import sys
from typing import Any

import httpx
import pytest
from mcp.shared.exceptions import MCPError
from mcp_types import TextContent

from tests.support.audit import read_jsonl
from tests.support.config import ECHO_ONLY_POLICY, proxy_log_dir, use_policy
from tests.support.gateway import GatewayProcess, gateway_client
from tests.support.processes import BACKEND, MCP_ACP

ERAS = ("legacy", "2026-07-28")


@pytest.fixture
def gateway(launcher: Any, tmp_path) -> Any:
    launcher.proxy(sys.executable, [BACKEND], name="files")
    use_policy(launcher.env, "files", ECHO_ONLY_POLICY)
    with GatewayProcess(launcher.env, tmp_path / "gateway.log") as process:
        yield process


def decisions(env: dict) -> list[dict]:
    return [
        entry for path in sorted(proxy_log_dir(env, "files").rglob("decisions*.jsonl")) for entry in read_jsonl(path)
    ]


@pytest.mark.parametrize("era", ERAS)
async def test_the_policy_decides_each_call_and_every_decision_is_recorded(
    launcher: Any, gateway: Any, era: str
) -> None:
    async with gateway_client(gateway.endpoint("files"), era) as client:
        expected = era if era != "legacy" else "2025-11-25"
        assert client.protocol_version == expected
        assert {"echo", "add"} <= {tool.name for tool in (await client.list_tools()).tools}
        echoed = await client.call_tool("echo", {"text": f"hello {era}"})
        assert isinstance(echoed.content[0], TextContent) and echoed.content[0].text == f"hello {era}"
        with pytest.raises(MCPError, match=r"(?i)denied"):
            await client.call_tool("add", {"a": 1, "b": 2})
    calls = [d for d in decisions(launcher.env) if d.get("tool_name") in ("echo", "add")]
    assert {(d["tool_name"], d["decision"]) for d in calls} == {("echo", "allow"), ("add", "deny")}
    assert {d["subject_id"] for d in calls} == {getpass.getuser()}


async def test_sessions_of_the_2025_era_are_separate_and_end_on_delete(gateway: Any) -> None:
    async with (
        gateway_client(gateway.endpoint("files"), "legacy") as one,
        gateway_client(gateway.endpoint("files"), "legacy") as two,
    ):
        first, second = await one.call_tool("echo", {"text": "one"}), await two.call_tool("echo", {"text": "two"})
        assert [first.content[0].text, second.content[0].text] == ["one", "two"]  # type: ignore[union-attr]
    # The SDK sent DELETE for both on exit: their ids are gone.
    response = httpx.post(
        gateway.endpoint("files"),
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers={"Mcp-Session-Id": "not-a-session", "Accept": "application/json, text/event-stream"},
    )
    assert response.status_code == 404 and "initialize again" in response.text


def test_a_proxy_that_is_not_served_is_404_and_the_health_check_lists_the_served(gateway: Any) -> None:
    missing = httpx.post(gateway.url + "/mcp/nope", json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert missing.status_code == 404 and "no proxy named 'nope'" in missing.text
    assert httpx.get(gateway.url + "/healthz").json() == {"status": "ok", "proxies": ["files"]}


def test_a_foreign_host_or_origin_is_refused_before_anything_else(gateway: Any) -> None:
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    rebound = httpx.post(gateway.endpoint("files"), json=ping, headers={"Host": "evil.example:8770"})
    foreign = httpx.post(gateway.endpoint("files"), json=ping, headers={"Origin": "https://evil.example"})
    assert rebound.status_code in (403, 421) and foreign.status_code == 403


async def test_status_shows_the_endpoints_and_each_principal_and_a_second_gateway_is_refused(
    launcher: Any, gateway: Any, tmp_path
) -> None:
    async with gateway_client(gateway.endpoint("files"), "legacy") as client:
        await client.call_tool("echo", {"text": "counted"})
        report = json.loads(launcher.cli("status", "--json").stdout)["gateway"]
        [endpoint] = report["endpoints"]
        assert endpoint["url"] == gateway.endpoint("files") and report["auth"] is None
        [row] = endpoint["principals"]
        assert (row["principal"], row["sessions"]) == (getpass.getuser(), 1)
        assert row["requests"] >= 2 and row["allowed"] >= 1  # initialize and the call, at least
        assert endpoint["backends"][0]["running"] is True
        text = launcher.cli("status").stdout
        assert "gateway: running" in text and getpass.getuser() in text
    refused = subprocess.run(
        [MCP_ACP, "serve", "--port", "1"],
        env={**os.environ, **launcher.env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode != 0 and "already running" in refused.stderr
