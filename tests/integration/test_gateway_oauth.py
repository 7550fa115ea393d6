"""`mcp-acp serve` as an OAuth 2.1 resource server, with real clients and real tokens: the
project's OIDC provider (tests/fixtures/oidc_provider.py) signs them, the gateway checks them
against its JWKS, and the mcp SDK's Python client (both eras) and the official TypeScript SDK
client from npm call through it to a real STDIO backend (tests/fixtures/backend.py).

Every token names the endpoint's own URL as its audience (RFC 8707), so the gateway's port is
chosen before the first token is minted. Attacks on the same surface: tests/security/test_gateway_http.py.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp.shared.exceptions import MCPError
from mcp_types import TextContent

from tests.fixtures.oidc_provider import OidcProvider
from tests.support.audit import read_jsonl
from tests.support.config import proxy_log_dir, use_policy
from tests.support.gateway import GatewayProcess, gateway_client, write_gateway_config
from tests.support.processes import BACKEND, ROOT, free_port

ERAS = ("legacy", "2026-07-28")
ACCEPT = "application/json, text/event-stream"
TS_CLIENT = ROOT / "tests" / "fixtures" / "ts_sdk_http_client.mjs"
TS_SDK = ROOT / "tests" / "npm" / "node_modules" / "@modelcontextprotocol" / "sdk"
NODE22 = ROOT / "tests" / "conformance" / "node_modules" / ".bin" / "node"

# One rule for everyone: `echo` for alice only. bob's call matches no allow rule and is denied.
ALICE_ECHO_POLICY = {
    "rules": [{"id": "alice-echo", "effect": "allow", "conditions": {"tool_name": "echo", "subject_id": "alice"}}]
}


class Served:
    """A gateway with an issuer, in front of proxy `files`, and the provider that signs its tokens."""

    def __init__(self, env: dict, idp: OidcProvider, gateway: GatewayProcess) -> None:
        self.env = env
        self.idp = idp
        self.gateway = gateway
        self.endpoint = gateway.endpoint("files")

    def token(self, sub: str, **claims: Any) -> str:
        return self.idp.mint(sub, aud=self.endpoint, **claims)

    def decisions(self) -> list[dict]:
        return [e for p in sorted(proxy_log_dir(self.env, "files").rglob("decisions*.jsonl")) for e in read_jsonl(p)]

    def auth_log(self) -> list[dict]:
        return [e for p in sorted(proxy_log_dir(self.env, "files").rglob("auth*.jsonl")) for e in read_jsonl(p)]

    def calls(self, tool: str) -> list[dict]:
        return [d for d in self.decisions() if d.get("tool_name") == tool]


@pytest.fixture
def served(launcher: Any, tmp_path: Path) -> Any:
    launcher.proxy(sys.executable, [BACKEND], name="files")
    use_policy(launcher.env, "files", ALICE_ECHO_POLICY)
    port = free_port()
    with OidcProvider() as idp:
        write_gateway_config(launcher.env, {"auth": {"issuer": idp.url}})
        with GatewayProcess(launcher.env, tmp_path / "gateway.log", port=port) as gateway:
            yield Served(launcher.env, idp, gateway)
            print(gateway.output())  # shown when the test failed


def post(url: str, token: str | None, message: dict, session: str | None = None) -> httpx.Response:
    headers = {"Accept": ACCEPT}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if session:
        headers["Mcp-Session-Id"] = session
    return httpx.post(url, json=message, headers=headers, timeout=60)


def answer_of(response: httpx.Response) -> dict:
    """The JSON-RPC answer of a POST, whether it came as JSON or as the last event of a stream."""
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        data = [line[5:].strip() for line in response.text.splitlines() if line.startswith("data:")]
        return json.loads(data[-1])
    return response.json()


def initialize(url: str, token: str) -> str:
    """A raw 2025-era handshake; returns the session id."""
    opened = post(
        url,
        token,
        {
            "jsonrpc": "2.0",
            "id": 0,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "raw", "version": "1"},
            },
        },
    )
    assert opened.status_code == 200, opened.text
    session = opened.headers["mcp-session-id"]
    assert post(url, token, {"jsonrpc": "2.0", "method": "notifications/initialized"}, session).status_code == 202
    return session


# --- the Python SDK client, both eras -------------------------------------------------------


@pytest.mark.parametrize("era", ERAS)
async def test_the_python_sdk_client_calls_through_with_its_token_and_the_decision_names_its_subject(
    served: Served, era: str
) -> None:
    async with gateway_client(served.endpoint, era, token=served.token("alice")) as client:
        assert client.protocol_version == ("2025-11-25" if era == "legacy" else era)
        assert "echo" in {tool.name for tool in (await client.list_tools()).tools}
        echoed = await client.call_tool("echo", {"text": f"hi {era}"})
        assert isinstance(echoed.content[0], TextContent) and echoed.content[0].text == f"hi {era}"
        with pytest.raises(MCPError, match=r"(?i)denied"):
            await client.call_tool("add", {"a": 1, "b": 2})
    assert [(d["decision"], d["subject_id"]) for d in served.calls("echo")] == [("allow", "alice")]
    assert [(d["decision"], d["subject_id"]) for d in served.calls("add")] == [("deny", "alice")]


# --- the official TypeScript SDK client -------------------------------------------------------


def node_binary() -> str:
    if NODE22.exists():
        return str(NODE22)
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: run `make npm-deps`")
    return node


def ts_client(url: str, token: str, tool: str, arguments: dict) -> dict:
    if not TS_SDK.exists():
        pytest.skip(f"{TS_SDK} is missing: run `make npm-deps`")
    run = subprocess.run(
        [node_binary(), str(TS_CLIENT), str(TS_SDK), url, token, tool, json.dumps(arguments)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, f"the TypeScript client failed:\n{run.stdout}\n{run.stderr}"
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_the_typescript_sdk_client_calls_through_with_its_token(served: Served) -> None:
    out = ts_client(served.endpoint, served.token("alice"), "echo", {"text": "from typescript"})
    assert "connectError" not in out, out
    assert out["protocolVersion"] == "2025-11-25" and out["sessionId"] and "echo" in out["tools"], out
    assert out["result"]["content"] == [{"type": "text", "text": "from typescript"}], out
    assert [(d["decision"], d["subject_id"]) for d in served.calls("echo")] == [("allow", "alice")]


def test_the_typescript_sdk_client_without_alices_subject_is_denied_by_the_rule(served: Served) -> None:
    out = ts_client(served.endpoint, served.token("bob"), "echo", {"text": "from bob"})
    assert "connectError" not in out and "result" not in out, out
    assert "denied" in out["error"]["message"].lower(), out
    assert [(d["decision"], d["subject_id"]) for d in served.calls("echo")] == [("deny", "bob")]


def test_the_typescript_sdk_client_without_a_token_cannot_connect(served: Served) -> None:
    out = ts_client(served.endpoint, "", "echo", {"text": "nobody"})
    assert "connectError" in out and "tools" not in out, out
    assert served.calls("echo") == []


# --- two users at once ----------------------------------------------------------------------


@pytest.mark.parametrize("era", ERAS)
async def test_two_users_at_once_one_allowed_and_one_denied_by_the_same_rule(served: Served, era: str) -> None:
    async with (
        gateway_client(served.endpoint, era, token=served.token("alice")) as alice,
        gateway_client(served.endpoint, era, token=served.token("bob")) as bob,
    ):
        allowed = await alice.call_tool("echo", {"text": "alice here"})
        with pytest.raises(MCPError, match=r"(?i)denied"):
            await bob.call_tool("echo", {"text": "bob here"})
        again = await alice.call_tool("echo", {"text": "alice again"})
    assert [allowed.content[0].text, again.content[0].text] == ["alice here", "alice again"]  # type: ignore[union-attr]
    echoes = served.calls("echo")
    assert sorted((d["subject_id"], d["decision"]) for d in echoes) == [
        ("alice", "allow"),
        ("alice", "allow"),
        ("bob", "deny"),
    ]
    # Each principal has a proxy session of its own in the trail.
    sessions = {d["subject_id"]: set() for d in echoes}
    for d in echoes:
        sessions[d["subject_id"]].add(d.get("bound_session_id") or d.get("session_id"))
    assert sessions["alice"].isdisjoint(sessions["bob"]), echoes
    started = {e["subject"]["subject_id"] for e in served.auth_log() if e.get("event_type") == "session_started"}
    assert {"alice", "bob"} <= started


def test_one_users_session_with_another_users_token_is_refused_and_recorded(served: Served) -> None:
    alice, bob = served.token("alice"), served.token("bob")
    session = initialize(served.endpoint, alice)
    hijack = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "echo", "arguments": {"text": "x"}}}
    refused = post(served.endpoint, bob, hijack, session)
    assert refused.status_code == 403, refused.text
    assert "another principal" in refused.json()["error"]["message"]
    stream = httpx.get(
        served.endpoint, headers={"Authorization": f"Bearer {bob}", "Mcp-Session-Id": session, "Accept": ACCEPT}
    )
    ended = httpx.delete(served.endpoint, headers={"Authorization": f"Bearer {bob}", "Mcp-Session-Id": session})
    assert (stream.status_code, ended.status_code) == (403, 403)
    refusals = [e for e in served.auth_log() if e.get("event_type") == "gateway_refused"]
    assert len(refusals) == 3 and {e["subject"]["subject_id"] for e in refusals} == {"bob"}, refusals
    assert {e["reason"] for e in refusals} == {"session_of_another_principal"}
    # Nothing of bob's reached the policy; alice's session is untouched and still works.
    assert served.calls("echo") == []
    mine = post(served.endpoint, alice, {**hijack, "id": 2}, session)
    assert mine.status_code == 200 and answer_of(mine)["result"]["content"][0]["text"] == "x", mine.text
    assert [(d["decision"], d["subject_id"]) for d in served.calls("echo")] == [("allow", "alice")]


# --- protected resource metadata (RFC 9728) --------------------------------------------------


def test_the_protected_resource_metadata_names_the_endpoint_and_the_issuer(served: Served) -> None:
    where = served.gateway.url + "/.well-known/oauth-protected-resource/mcp/files"
    metadata = httpx.get(where)
    assert metadata.status_code == 200
    assert metadata.json()["resource"] == served.endpoint
    assert metadata.json()["authorization_servers"] == [served.idp.url]
    anonymous = post(served.endpoint, None, {"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
    assert anonymous.status_code == 401
    challenge = anonymous.headers["www-authenticate"]
    assert challenge.startswith("Bearer ") and f'resource_metadata="{where}"' in challenge
    assert httpx.get(served.gateway.url + "/.well-known/oauth-protected-resource/mcp/nope").status_code == 404
