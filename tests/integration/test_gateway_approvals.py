"""Approvals for remote users through `mcp-acp serve`: real processes (the gateway, the test OIDC
provider, the STDIO backend) and the mcp SDK client with tokens. A rule names its approvers by
the claims of their tokens; with `self_approval: false` the requester cannot approve their own
request, and whoever decides is recorded."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from oidc_provider import OidcProvider

from tests.support.audit import read_jsonl
from tests.support.config import proxy_log_dir, use_policy
from tests.support.gateway import GatewayProcess, gateway_client, write_gateway_config
from tests.support.processes import BACKEND, free_port, wait_until, wait_until_async

WAIT = 60.0
POLICY = {
    "rules": [
        {"id": "echo", "effect": "allow", "conditions": {"tool_name": "echo"}},
        {
            "id": "writes-need-security",
            "effect": "hitl",
            "conditions": {"tool_name": "write_file"},
            "approvers": ["group:security"],
            "self_approval": False,
        },
        {"id": "sums-ask-the-requester", "effect": "hitl", "conditions": {"tool_name": "add"}},
    ]
}


@pytest.fixture
def idp(tmp_path: Path):
    provider = OidcProvider(interval=1, state_dir=tmp_path / "idp")
    provider.start(timeout=60)
    yield provider
    provider.stop()


@pytest.fixture
def gateway(launcher: Any, idp: OidcProvider, tmp_path: Path):
    launcher.proxy(sys.executable, [BACKEND], name="files")
    use_policy(launcher.env, "files", POLICY)
    port = free_port()
    write_gateway_config(launcher.env, {"auth": {"issuer": idp.url}})
    with GatewayProcess(launcher.env, tmp_path / "gateway.log", port=port) as process:
        yield process


def token(idp: OidcProvider, gateway: GatewayProcess, sub: str, groups: list[str]) -> str:
    return idp.mint(sub, aud=gateway.endpoint("files"), groups=groups)


def pending(gateway: GatewayProcess, bearer: str) -> list[dict]:
    response = httpx.get(f"{gateway.url}/approvals/files/pending", headers={"Authorization": f"Bearer {bearer}"})
    assert response.status_code == 200, response.text
    return response.json()


def decide(gateway: GatewayProcess, bearer: str, approval_id: str, decision: str) -> httpx.Response:
    return httpx.post(
        f"{gateway.url}/approvals/files/{approval_id}/{decision}", headers={"Authorization": f"Bearer {bearer}"}
    )


async def test_a_designated_approver_decides_and_the_requester_cannot_approve_their_own(
    launcher: Any, idp: OidcProvider, gateway: GatewayProcess, tmp_path: Path
) -> None:
    alice, bob, sam = (
        token(idp, gateway, sub, groups) for sub, groups in (("alice", ["dev"]), ("bob", []), ("sam", ["security"]))
    )
    target = tmp_path / "written.txt"
    async with gateway_client(gateway.endpoint("files"), "legacy", alice) as client:
        call = asyncio.ensure_future(client.call_tool("write_file", {"path": str(target), "content": "approved"}))
        [waiting] = await wait_until_async(lambda: pending(gateway, sam), WAIT, "the approval, seen by sam")
        assert (waiting["tool_name"], waiting["subject_id"]) == ("write_file", "alice")
        assert [a["id"] for a in pending(gateway, alice)] == [waiting["id"]]  # her own request: she sees it
        assert pending(gateway, bob) == []  # neither hers nor his to decide

        own = decide(gateway, alice, waiting["id"], "approve")
        assert own.status_code == 403 and "their own request" in own.text
        stranger = decide(gateway, bob, waiting["id"], "approve")
        assert stranger.status_code == 403 and "group:security" in stranger.text
        assert not call.done() and not target.exists()

        assert decide(gateway, sam, waiting["id"], "allow-once").status_code == 200
        result = await asyncio.wait_for(call, WAIT)
        assert not result.is_error and target.read_text() == "approved"

    log_dir = proxy_log_dir(launcher.env, "files")
    [decision] = [
        d for p in log_dir.rglob("decisions*.jsonl") for d in read_jsonl(p) if d.get("tool_name") == "write_file"
    ]
    assert (decision["subject_id"], decision["hitl_approver_id"], decision["hitl_outcome"]) == (
        "alice",
        "sam",
        "user_allowed",
    )
    refused = [
        e for p in log_dir.rglob("auth*.jsonl") for e in read_jsonl(p) if e.get("event_type") == "gateway_refused"
    ]
    assert {e["subject"]["subject_id"] for e in refused} == {"alice", "bob"}


async def test_without_named_approvers_the_requester_decides_their_own(
    idp: OidcProvider, gateway: GatewayProcess
) -> None:
    alice, sam = token(idp, gateway, "alice", []), token(idp, gateway, "sam", ["security"])
    async with gateway_client(gateway.endpoint("files"), "legacy", alice) as client:
        call = asyncio.ensure_future(client.call_tool("add", {"a": 1, "b": 2}))
        [waiting] = await wait_until_async(lambda: pending(gateway, alice), WAIT, "alice's approval")
        assert pending(gateway, sam) == []
        assert decide(gateway, sam, waiting["id"], "approve").status_code == 403
        assert decide(gateway, alice, waiting["id"], "approve").status_code == 200
        result = await asyncio.wait_for(call, WAIT)
        assert not result.is_error and result.structured_content == {"result": 3.0}


def test_the_approvals_page_is_served_for_the_link_and_the_api_needs_a_token(gateway: GatewayProcess) -> None:
    anonymous = httpx.get(f"{gateway.url}/approvals/files/pending")
    assert anonymous.status_code == 401 and "resource_metadata=" in anonymous.headers["www-authenticate"]
    assert httpx.post(f"{gateway.url}/approvals/files/abc/approve").status_code == 401
    assert httpx.get(f"{gateway.url}/approvals/proxy/px_unknown:files").status_code == 404


MODERN_META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientInfo": {"name": "raw-modern-client", "version": "1"},
    "io.modelcontextprotocol/clientCapabilities": {"elicitation": {"url": {}}},
}


def modern_call(gateway: GatewayProcess, bearer: str, request_id: int, arguments: dict, **extra: Any) -> dict:
    """One 2026-07-28 tools/call over HTTP, as the spec's headers require, answered as JSON."""
    body = {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": "write_file", "arguments": arguments, "_meta": MODERN_META, **extra},
    }
    headers = {
        "Authorization": f"Bearer {bearer}",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2026-07-28",
        "Mcp-Method": "tools/call",
        "Mcp-Name": "write_file",
    }
    response = httpx.post(gateway.endpoint("files"), json=body, headers=headers, timeout=WAIT)
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/json"), (
        response.text
    )
    return response.json()


def test_a_modern_client_gets_a_link_to_the_gateway_and_its_retry_runs_once_approved(
    idp: OidcProvider, gateway: GatewayProcess, tmp_path: Path
) -> None:
    alice, sam = token(idp, gateway, "alice", []), token(idp, gateway, "sam", ["security"])
    arguments = {"path": str(tmp_path / "modern.txt"), "content": "in band"}
    asked = modern_call(gateway, alice, 1, arguments)["result"]
    assert asked["resultType"] == "input_required"
    link = asked["inputRequests"]["mcp-acp/approval"]["params"]["url"]
    assert link.startswith(f"{gateway.url}/approvals/proxy/") and "?approval=" in link
    approval_id = link.rpartition("=")[2]
    page = httpx.get(link)
    assert page.status_code == 200 and "Approvals for proxy files" in page.text
    assert decide(gateway, sam, approval_id, "allow-once").status_code == 200
    retry = {"requestState": asked["requestState"], "inputResponses": {"mcp-acp/approval": {"action": "accept"}}}
    done = modern_call(gateway, alice, 2, arguments, **retry)
    assert "error" not in done and not done["result"].get("isError"), done
    assert (tmp_path / "modern.txt").read_text() == "in band"
    replayed = modern_call(gateway, alice, 3, arguments, **retry)  # a request state works once
    assert "error" in replayed


async def test_per_principal_backends_are_separate_processes(launcher: Any, idp: OidcProvider, tmp_path: Path) -> None:
    launcher.proxy(sys.executable, [BACKEND], name="files")
    use_policy(launcher.env, "files", POLICY)
    write_gateway_config(
        launcher.env, {"auth": {"issuer": idp.url}, "proxies": {"files": {"backend": "per_principal"}}}
    )
    with GatewayProcess(launcher.env, tmp_path / "gateway.log") as gateway:
        for sub in ("alice", "bob"):
            async with gateway_client(gateway.endpoint("files"), "legacy", token(idp, gateway, sub, [])) as client:
                assert (await client.call_tool("echo", {"text": sub})).content[0].text == sub  # type: ignore[union-attr]
        report = json.loads(launcher.cli("status", "--json").stdout)["gateway"]
        backends = report["endpoints"][0]["backends"]
        assert {row["principal"] for row in backends} == {"alice", "bob"}
        assert len({row["pid"] for row in backends}) == 2 and all(row["pid"] for row in backends)


def test_a_modern_client_that_goes_away_withdraws_its_waiting_approval(
    idp: OidcProvider, gateway: GatewayProcess
) -> None:
    """Closing a 2026-07-28 request's connection is its cancellation: nothing stays waiting."""
    alice = token(idp, gateway, "alice", [])
    held_meta = {**MODERN_META, "io.modelcontextprotocol/clientCapabilities": {}}  # no URL mode: held
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "add", "arguments": {"a": 1, "b": 2}, "_meta": held_meta},
    }
    headers = {
        "Authorization": f"Bearer {alice}",
        "MCP-Protocol-Version": "2026-07-28",
        "Mcp-Method": "tools/call",
        "Mcp-Name": "add",
    }
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(gateway.endpoint("files"), json=body, headers=headers, timeout=httpx.Timeout(30, read=3))
    # The client gave up after 3 s; the approval it raised must not outlive it.
    # Well before the rule's 60 s timeout would close it anyway.
    wait_until(lambda: pending(gateway, alice) == [], 15, "the approval withdrawn")
