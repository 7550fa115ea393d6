"""Modern (2026-07-28) and dual-era clients through the proxy, under an ordinary tool policy.

The proxy runs as a subprocess (`mcp-acp start --proxy NAME --headless`) in front of
tests/fixtures/dual_era_server.py, an `mcp` SDK server that speaks both eras and logs every
line it reads. Each test asserts which era was negotiated, from the client's side and from
what the backend received.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from fastmcp import Client as FastMCPClient
from fastmcp.client.transports import StdioTransport
from mcp.client.client import Client
from mcp.client.stdio import StdioServerParameters
from mcp.shared.exceptions import MCPError

from tests.support.audit import read_jsonl
from tests.support.config import proxy_config_dir, proxy_log_dir

Launcher = Any
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "dual_era_server.py"
MODERN = "2026-07-28"
# An ordinary policy: tools by name, nothing for methods; not allow-all.
TOOL_POLICY = {
    "rules": [
        {"id": "tools-ok", "effect": "allow", "conditions": {"tool_name": ["echo", "add", "touch_tools"]}},
        {"id": "no-delete", "effect": "deny", "conditions": {"tool_name": "delete_*"}},
    ]
}

pytestmark = pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")


@pytest.fixture(autouse=True)
def _this_checkout(launcher: Launcher) -> None:
    """The proxy runs this checkout's code when the tests do (PYTHONPATH=src)."""
    if pythonpath := os.environ.get("PYTHONPATH"):
        launcher.env["PYTHONPATH"] = pythonpath


def _proxy(launcher: Launcher, tmp_path: Path, name: str = "dual") -> tuple[StdioServerParameters, Path]:
    """The proxy in front of the dual-era fixture under TOOL_POLICY; and the backend's wire log."""
    wire = tmp_path / f"{name}-backend-wire.jsonl"
    params = launcher.proxy(sys.executable, [str(FIXTURE), str(wire)], name=name)
    (proxy_config_dir(launcher.env, name) / "policy.json").write_text(json.dumps(TOOL_POLICY), encoding="utf-8")
    return params, wire


def _backend_saw(wire: Path) -> list[dict]:
    return [json.loads(line) for line in wire.read_text(encoding="utf-8").splitlines() if line.strip()]


def _decisions(launcher: Launcher, name: str = "dual") -> list[dict]:
    return read_jsonl(proxy_log_dir(launcher.env, name) / "audit" / "decisions.jsonl")


async def test_modern_only_client_lists_and_calls_tools(launcher: Launcher, tmp_path: Path) -> None:
    """The SDK client pinned to 2026-07-28 never sends initialize: it only works if the proxy
    passes the modern envelope (server/discover, per-request _meta) unchanged."""
    params, wire = _proxy(launcher, tmp_path)
    with anyio.fail_after(60):
        async with Client(params, mode=MODERN, read_timeout_seconds=30) as client:
            discovered = await client.session.send_discover(MODERN)
            assert MODERN in discovered["supportedVersions"]
            assert client.protocol_version == MODERN
            assert {t.name for t in (await client.list_tools()).tools} >= {"echo", "add"}
            assert (await client.call_tool("echo", {"text": "modern"})).content[0].text == "modern"
            with pytest.raises(MCPError) as denied:
                await client.call_tool("delete_everything", {})
            assert denied.value.error.code == -32001
            assert denied.value.error.message.startswith("Policy denied")
    seen = _backend_saw(wire)
    methods = [m.get("method") for m in seen]
    assert "initialize" not in methods and "server/discover" in methods
    assert all(m["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"] == MODERN for m in seen)
    assert "delete_everything" not in json.dumps(seen)  # the denied call never reached the server
    entries = {e["mcp_method"]: e for e in _decisions(launcher)}
    assert entries["server/discover"]["final_rule"] == "discovery_bypass"
    assert entries["server/discover"]["decision"] == "allow"
    denials = [e for e in _decisions(launcher) if e["decision"] == "deny"]
    assert [(e["mcp_method"], e["tool_name"]) for e in denials] == [("tools/call", "delete_everything")]


async def test_dual_era_client_negotiates_the_modern_era(launcher: Launcher, tmp_path: Path) -> None:
    """fastmcp's client probes server/discover and falls back to initialize on any error: under a
    tool policy it must end up modern, not silently downgraded."""
    params, wire = _proxy(launcher, tmp_path)
    transport = StdioTransport(params.command, list(params.args), env=params.env, cwd=str(params.cwd))
    with anyio.fail_after(60):
        async with FastMCPClient(transport) as client:
            assert client.protocol_version == MODERN
            assert {t.name for t in await client.list_tools()} >= {"echo", "add"}
            assert (await client.call_tool("add", {"a": 2, "b": 40})).structured_content == {"result": 42.0}
            with pytest.raises(Exception, match="Policy denied"):
                await client.call_tool("delete_everything", {})
    methods = [m.get("method") for m in _backend_saw(wire)]
    assert methods[0] == "server/discover" and "initialize" not in methods


async def test_legacy_client_still_gets_the_2025_era(launcher: Launcher, tmp_path: Path) -> None:
    """The same proxy and server, a client that only knows the handshake: nothing changed for it."""
    params, wire = _proxy(launcher, tmp_path)
    with anyio.fail_after(60):
        async with Client(params, mode="legacy", read_timeout_seconds=30) as client:
            assert client.protocol_version == "2025-11-25"
            assert (await client.call_tool("echo", {"text": "legacy"})).content[0].text == "legacy"
    methods = [m.get("method") for m in _backend_saw(wire)]
    assert methods[:2] == ["initialize", "notifications/initialized"] and "server/discover" not in methods


async def test_subscriptions_listen_relays_its_notifications(launcher: Launcher, tmp_path: Path) -> None:
    """A long-lived subscriptions/listen: its acknowledgment and the events arrive while it is
    open; it is logged as discovery (it watches lists only). One that watches a resource is
    decided, and a tool-only policy denies it."""
    params, wire = _proxy(launcher, tmp_path)
    with anyio.fail_after(60):
        async with Client(params, mode=MODERN, read_timeout_seconds=30) as client:
            async with client.listen(tools_list_changed=True) as subscription:
                assert subscription.honored.tools_list_changed is True
                await client.call_tool("touch_tools", {})
                event = await subscription.__anext__()
                assert type(event).__name__ == "ToolsListChanged"
            with pytest.raises(MCPError) as denied:
                async with client.listen(resource_subscriptions=["file:///etc/hosts"]):
                    pass
            assert denied.value.error.code == -32001
    received = [m for m in _backend_saw(wire) if m.get("method") == "subscriptions/listen"]
    assert len(received) == 1  # the denied one never reached the server
    listens = [e for e in _decisions(launcher) if e["mcp_method"] == "subscriptions/listen"]
    assert [(e["decision"], e["final_rule"]) for e in listens] == [
        ("allow", "discovery_bypass"),
        ("deny", "default"),
    ]


def _raw_session(params: StdioServerParameters, lines: list[bytes], answers: int) -> list[dict]:
    """Send raw lines to the proxy; read `answers` answers (notifications skipped)."""
    proc = subprocess.Popen(
        [params.command, *params.args],
        env=params.env,
        cwd=params.cwd,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        for line in lines:
            proc.stdin.write(line + b"\n")
        proc.stdin.flush()
        got: list[dict] = []
        while len(got) < answers:
            raw = proc.stdout.readline()
            assert raw, "the proxy closed its output"
            message = json.loads(raw)
            if "id" in message:
                got.append(message)
        return got
    finally:
        proc.stdin.close()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def test_per_request_meta_reaches_the_backend_byte_equal(launcher: Launcher, tmp_path: Path) -> None:
    """Protocol version, client capabilities, log level and trace context travel in _meta:
    the backend gets the very bytes the client sent (odd spacing, key order, escapes included)."""
    params, wire = _proxy(launcher, tmp_path)
    meta = (
        b'{"io.modelcontextprotocol/protocolVersion":"2026-07-28",'
        b'"io.modelcontextprotocol/clientInfo":{"name":"raw","version":"1"},'
        b'"io.modelcontextprotocol/clientCapabilities":{"elicitation":{"url":{}},"extensions":{"x.y/z":{}}},'
        b'"io.modelcontextprotocol/logLevel":"debug",'
        b'"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",'
        b'"tracestate":"vendor=\\u00e9t\\u00e9",  "progressToken":7}'
    )
    discover = b'{"jsonrpc":"2.0","id":1,"method":"server/discover","params":{"_meta":' + meta + b"}}"
    call = (
        b'{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"t"},'
        b'"_meta":' + meta + b"}}"
    )
    answers = _raw_session(params, [discover, call], 2)
    assert "result" in answers[0] and answers[1]["result"]["content"][0]["text"] == "t"
    received = wire.read_bytes().splitlines()
    assert discover in received and call in received


def test_unknown_methods_are_decided_by_the_default_and_recorded(launcher: Launcher, tmp_path: Path) -> None:
    """A method of no MCP version: no tool rule names it, so the default denies it, and the
    entry says why; a server-to-client method sent by the client is no exception."""
    params, wire = _proxy(launcher, tmp_path)
    answers = _raw_session(
        params,
        [
            b'{"jsonrpc":"2.0","id":1,"method":"vendor/frobnicate","params":{}}',
            b'{"jsonrpc":"2.0","id":2,"method":"sampling/createMessage","params":{}}',
        ],
        2,
    )
    assert [a["error"]["code"] for a in answers] == [-32001, -32001]
    entries = [e for e in _decisions(launcher) if e["mcp_method"] in ("vendor/frobnicate", "sampling/createMessage")]
    assert [(e["decision"], e["final_rule"]) for e in entries] == [("deny", "default")] * 2
    assert all("not a method of any published MCP version" in e["reason"] for e in entries)
    assert not wire.exists() or b"frobnicate" not in wire.read_bytes()
