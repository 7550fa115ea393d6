"""Three gateway replicas behind haproxy, their state in a real redis-server (issue 21): what one
replica decides, remembers, limits or revokes holds on the others; with the state server down
requests are refused with a clear error, and served again once it is back."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp.shared.exceptions import MCPError
from oidc_provider import OidcProvider

from tests.support.audit import read_jsonl
from tests.support.config import proxy_log_dir, use_policy
from tests.support.gateway import gateway_client
from tests.support.processes import BACKEND, MCP_ACP, wait_until_async
from tests.support.redis import RedisServer
from tests.support.topology import Topology

WAIT = 60.0
BURST = 30  # per principal: generous for the other tests, exact for the one that counts
POLICY = {
    "rules": [
        {"id": "echo", "effect": "allow", "conditions": {"tool_name": ["echo", "slow"]}},
        {"id": "sums-ask", "effect": "hitl", "conditions": {"tool_name": "add"}},
        {
            "id": "reads-ask-and-may-be-remembered",
            "effect": "hitl",
            "conditions": {"tool_name": "read_file"},
            "cache_side_effects": ["fs_read"],
        },
    ]
}


@pytest.fixture
def idp(tmp_path: Path):
    provider = OidcProvider(interval=1, state_dir=tmp_path / "idp")
    provider.start(timeout=60)
    yield provider
    provider.stop()


@pytest.fixture
def replicas(launcher: Any, idp: OidcProvider, redis_server: RedisServer, tmp_path: Path):
    launcher.proxy(sys.executable, [BACKEND], name="files")
    use_policy(launcher.env, "files", POLICY)
    root = tmp_path / "topology"
    root.mkdir()
    settings = {"auth": {"issuer": idp.url}, "limits": {"requests_per_minute": 1, "burst": BURST}}
    with Topology(launcher.env, root, replicas=3, state_url=redis_server.url, settings=settings) as running:
        yield running
        print(running.output())  # shown when the test fails


def token(idp: OidcProvider, replicas: Topology, sub: str, **claims: Any) -> str:
    return idp.mint(sub, aud=replicas.url("files"), **claims)


def base(replicas: Topology, i: int) -> str:
    return replicas.replica_url(i, "files").rsplit("/mcp/", 1)[0]


def pending(replicas: Topology, i: int, bearer: str) -> list[dict]:
    response = httpx.get(f"{base(replicas, i)}/approvals/files/pending", headers={"Authorization": f"Bearer {bearer}"})
    assert response.status_code == 200, response.text
    return response.json()


def decide(replicas: Topology, i: int, bearer: str, approval_id: str, decision: str) -> httpx.Response:
    return httpx.post(
        f"{base(replicas, i)}/approvals/files/{approval_id}/{decision}",
        headers={"Authorization": f"Bearer {bearer}"},
    )


def ping(url: str, bearer: str) -> httpx.Response:
    """One 2026-07-28 request (tools/list): what the rate limit counts."""
    meta = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "replica-test", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": meta}}
    headers = {
        "Authorization": f"Bearer {bearer}",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2026-07-28",
        "Mcp-Method": "tools/list",
    }
    return httpx.post(url, json=body, headers=headers, timeout=WAIT)


def decisions(replicas: Topology, i: int, tool: str) -> list[dict]:
    log_dir = proxy_log_dir(replicas.envs[i], "files")
    return [d for p in log_dir.rglob("decisions*.jsonl") for d in read_jsonl(p) if d.get("tool_name") == tool]


async def test_an_approval_raised_on_one_replica_is_decided_on_another_and_the_call_completes(
    idp: OidcProvider, replicas: Topology
) -> None:
    alice = token(idp, replicas, "alice")
    async with gateway_client(replicas.replica_url(1, "files"), "legacy", alice) as client:
        call = asyncio.ensure_future(client.call_tool("add", {"a": 2, "b": 3}))
        [waiting] = await wait_until_async(lambda: pending(replicas, 2, alice), WAIT, "alice's approval on replica 2")
        assert waiting["replica"] == "gw-1" and waiting["tool_name"] == "add"
        assert pending(replicas, 3, alice) == [waiting]  # every replica lists it
        assert decide(replicas, 2, alice, waiting["id"], "allow-once").status_code == 200
        result = await asyncio.wait_for(call, WAIT)
        assert not result.is_error and result.structured_content == {"result": 5.0}
    [entry] = decisions(replicas, 1, "add")
    assert (entry["subject_id"], entry["hitl_outcome"], entry["hitl_approver_id"]) == (
        "alice",
        "user_allowed",
        "alice",
    )
    assert decide(replicas, 3, alice, waiting["id"], "approve").status_code == 404  # decided once, gone everywhere
    assert all(pending(replicas, i, alice) == [] for i in (1, 2, 3))


async def test_a_remembered_approval_holds_on_every_replica(
    idp: OidcProvider, replicas: Topology, tmp_path: Path
) -> None:
    target = tmp_path / "notes.txt"
    target.write_text("shared")
    alice = token(idp, replicas, "alice")
    async with gateway_client(replicas.replica_url(1, "files"), "legacy", alice) as client:
        call = asyncio.ensure_future(client.call_tool("read_file", {"path": str(target)}))
        [waiting] = await wait_until_async(lambda: pending(replicas, 3, alice), WAIT, "the read's approval")
        assert decide(replicas, 3, alice, waiting["id"], "approve").status_code == 200
        assert not (await asyncio.wait_for(call, WAIT)).is_error
    for i in (2, 3):  # asked nobody: remembered on replica 1, recalled here
        async with gateway_client(replicas.replica_url(i, "files"), "legacy", alice) as client:
            result = await asyncio.wait_for(client.call_tool("read_file", {"path": str(target)}), WAIT)
            assert not result.is_error
        [entry] = decisions(replicas, i, "read_file")
        assert entry["hitl_cache_hit"] is True and entry["decision"] == "hitl"  # the rule asks; the cache answered
    bob = token(idp, replicas, "bob")  # remembered for alice only
    async with gateway_client(replicas.replica_url(2, "files"), "legacy", bob) as client:
        call = asyncio.ensure_future(client.call_tool("read_file", {"path": str(target)}))
        [asked] = await wait_until_async(lambda: pending(replicas, 2, bob), WAIT, "bob is asked")
        assert decide(replicas, 2, bob, asked["id"], "deny").status_code == 200
        with pytest.raises(MCPError, match="denied"):
            await asyncio.wait_for(call, WAIT)


def test_a_rate_limit_of_n_allows_n_across_all_replicas_together(idp: OidcProvider, replicas: Topology) -> None:
    rita = token(idp, replicas, "rita")
    statuses = [ping(replicas.replica_url(1 + n % 3, "files"), rita).status_code for n in range(2 * BURST)]
    assert statuses.count(200) == BURST, statuses
    assert set(statuses[BURST:]) == {429}
    bob = token(idp, replicas, "bob")  # his own bucket
    assert ping(replicas.url("files"), bob).status_code == 200


async def test_logout_on_one_replica_refuses_the_token_on_every_replica(idp: OidcProvider, replicas: Topology) -> None:
    alice = token(idp, replicas, "alice")
    assert all(ping(replicas.replica_url(i, "files"), alice).status_code == 200 for i in (1, 2, 3))
    out = httpx.post(f"{base(replicas, 2)}/logout/files", headers={"Authorization": f"Bearer {alice}"})
    assert out.status_code == 200 and out.json()["subject"] == "alice"
    for i in (1, 2, 3):
        refused = ping(replicas.replica_url(i, "files"), alice)
        assert refused.status_code == 401 and "revoked" in refused.text, (i, refused.text)
    assert ping(replicas.url("files"), token(idp, replicas, "alice")).status_code == 200  # a new sign-in works


async def test_an_administrator_revokes_a_subject_everywhere_and_their_sessions_end(
    idp: OidcProvider, replicas: Topology
) -> None:
    bob = token(idp, replicas, "bob")
    async with gateway_client(replicas.replica_url(3, "files"), "legacy", bob) as client:
        assert not (await client.call_tool("echo", {"text": "before"})).is_error
        revoke = await asyncio.create_subprocess_exec(
            MCP_ACP, "auth", "revoke", "--subject", "bob", env=replicas.envs[1], stdout=asyncio.subprocess.PIPE
        )
        out, _ = await revoke.communicate()
        assert revoke.returncode == 0 and b"Revoked" in out
        with pytest.raises(MCPError):
            await client.call_tool("echo", {"text": "after"})
    assert all(ping(replicas.replica_url(i, "files"), bob).status_code == 401 for i in (1, 2, 3))


def legacy_post(url: str, bearer: str, message: dict, session: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {bearer}", "Accept": "application/json, text/event-stream"}
    if session:
        headers["Mcp-Session-Id"] = session
    return httpx.post(url, json=message, headers=headers, timeout=WAIT)


def open_legacy_session(url: str, bearer: str) -> str:
    """A raw 2025-era handshake on one replica; returns the session id."""
    params = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}
    opened = legacy_post(url, bearer, {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": params})
    assert opened.status_code == 200, opened.text
    session = opened.headers["mcp-session-id"]
    assert (
        legacy_post(url, bearer, {"jsonrpc": "2.0", "method": "notifications/initialized"}, session).status_code == 202
    )
    return session


def test_a_2025_session_is_bound_to_its_principal_on_every_replica(idp: OidcProvider, replicas: Topology) -> None:
    alice, bob = token(idp, replicas, "alice"), token(idp, replicas, "bob")
    session = open_legacy_session(replicas.replica_url(1, "files"), alice)
    echo = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "echo", "arguments": {"text": "x"}}}
    for i in (2, 3):  # replicas that do not hold the session: the owner recorded in the shared state decides
        refused = legacy_post(replicas.replica_url(i, "files"), bob, echo, session)
        assert refused.status_code == 403 and "another principal" in refused.text, (i, refused.text)
        elsewhere = legacy_post(replicas.replica_url(i, "files"), alice, echo, session)
        assert elsewhere.status_code == 404, (i, elsewhere.text)
        assert "replica gw-1" in elsewhere.text and "initialize again" in elsewhere.text
    assert legacy_post(replicas.replica_url(1, "files"), bob, echo, session).status_code == 403
    assert legacy_post(replicas.replica_url(1, "files"), alice, echo, session).status_code == 200
    assert [d["subject_id"] for d in decisions(replicas, 1, "echo")] == ["alice"]  # nothing of bob's was judged
    assert decisions(replicas, 2, "echo") == decisions(replicas, 3, "echo") == []


async def test_with_the_state_server_down_requests_are_refused_clearly_then_served_again(
    idp: OidcProvider, replicas: Topology, redis_server: RedisServer
) -> None:
    alice = token(idp, replicas, "alice")
    assert ping(replicas.url("files"), alice).status_code == 200
    redis_server.stop()
    try:
        refused = ping(replicas.url("files"), alice)
        assert refused.status_code == 503 and "shared state is unavailable" in refused.text
        assert refused.json()["error"]["code"] == -32005
    finally:
        redis_server.start()
    served = await wait_until_async(
        lambda: ping(replicas.url("files"), alice).status_code == 200, WAIT, "service after the state server returns"
    )
    assert served
    refusals = [
        e
        for i in (1, 2, 3)
        for p in proxy_log_dir(replicas.envs[i], "files").rglob("auth*.jsonl")
        for e in read_jsonl(p)
        if e.get("reason") == "state_unavailable"
    ]
    assert refusals  # recorded locally, by the replica that refused


async def test_an_approval_outlives_the_replica_that_held_it(idp: OidcProvider, replicas: Topology) -> None:
    alice = token(idp, replicas, "alice")
    waiting: dict = {}
    with pytest.raises((MCPError, BaseExceptionGroup)):  # the client is told its server is gone
        async with gateway_client(replicas.replica_url(1, "files"), "legacy", alice) as client:
            call = asyncio.ensure_future(client.call_tool("add", {"a": 40, "b": 2}))
            [waiting] = await wait_until_async(lambda: pending(replicas, 2, alice), WAIT, "the approval")
            replicas.kill(1)
            await asyncio.wait_for(call, WAIT)
    # The holder is gone: the approval still waits, and is decided on another replica.
    assert [a["id"] for a in pending(replicas, 3, alice)] == [waiting["id"]]
    assert decide(replicas, 3, alice, waiting["id"], "allow-once").status_code == 200
    # The client's retry of the same request, on another replica, is answered by that decision, once.
    async with gateway_client(replicas.replica_url(2, "files"), "legacy", alice) as client:
        result = await asyncio.wait_for(client.call_tool("add", {"a": 40, "b": 2}), WAIT)
        assert not result.is_error and result.structured_content == {"result": 42.0}
        again = asyncio.ensure_future(client.call_tool("add", {"a": 40, "b": 2}))
        [second] = await wait_until_async(lambda: pending(replicas, 2, alice), WAIT, "a second call is asked again")
        assert second["id"] != waiting["id"] and decide(replicas, 2, alice, second["id"], "deny").status_code == 200
        with pytest.raises(MCPError, match="denied"):
            await asyncio.wait_for(again, WAIT)
    [entry] = decisions(replicas, 2, "add")[:1]
    assert (entry["hitl_outcome"], entry["hitl_approver_id"]) == ("user_allowed", "alice")


async def test_kill_9_of_a_replica_with_calls_in_flight_loses_no_answer_and_no_decision(
    idp: OidcProvider, replicas: Topology, tmp_path: Path
) -> None:
    alice = token(idp, replicas, "alice")

    def call(n: int) -> httpx.Response | Exception:
        meta = {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientInfo": {"name": "replica-test", "version": "1"},
            "io.modelcontextprotocol/clientCapabilities": {},
        }
        body = {
            "jsonrpc": "2.0",
            "id": n,
            "method": "tools/call",
            "params": {"name": "slow", "arguments": {"seconds": 1.5, "steps": 1}, "_meta": meta},
        }
        headers = {
            "Authorization": f"Bearer {alice}",
            "Accept": "application/json, text/event-stream",
            "MCP-Protocol-Version": "2026-07-28",
            "Mcp-Method": "tools/call",
            "Mcp-Name": "slow",
        }
        try:
            return httpx.post(replicas.url("files"), json=body, headers=headers, timeout=WAIT)
        except httpx.HTTPError as exc:
            return exc

    calls = [asyncio.ensure_future(asyncio.to_thread(call, n)) for n in range(12)]
    await asyncio.sleep(0.7)  # the calls are with the backends
    replicas.kill(2)
    outcomes = await asyncio.wait_for(asyncio.gather(*calls), WAIT)
    answered = [o for o in outcomes if isinstance(o, httpx.Response) and o.status_code == 200]
    failed = [o for o in outcomes if o not in answered]
    assert answered, "the two replicas left answered nothing"
    for outcome in failed:  # haproxy's answer for the dead replica's calls: an HTTP error, never a hang
        assert isinstance(outcome, httpx.Response) and outcome.status_code in (502, 503, 504), outcome
    replicas.restart(2)  # its trail is checked, as every start checks it, and must still verify
    for i in (1, 2, 3):
        verify = await asyncio.create_subprocess_exec(
            MCP_ACP, "audit", "verify", "--proxy", "files", env=replicas.envs[i], stdout=asyncio.subprocess.PIPE
        )
        out, _ = await verify.communicate()
        assert verify.returncode == 0, (i, out.decode())
    replicas.stop()  # each writes its last signed checkpoint
    # The three trails together, as an auditor on another machine checks them: only public keys.
    args = []
    for i in (1, 2, 3):
        log_dir = proxy_log_dir(replicas.envs[i], "files")
        public = log_dir.parent.parent / "replicas" / f"gw-{i}.pub"
        args += ["--replica", str(log_dir), "--public-key", str(public)]
    empty = tmp_path / "auditor"
    empty.mkdir()
    offline = await asyncio.create_subprocess_exec(
        MCP_ACP,
        "audit",
        "verify",
        *args,
        env={"PATH": "/usr/bin:/bin", "MCP_ACP_HOME": str(empty), "HOME": str(empty)},
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await offline.communicate()
    assert offline.returncode == 0, out.decode()
    recorded = sum(len(decisions(replicas, i, "slow")) for i in (1, 2, 3))
    assert recorded >= len(calls)  # every call that reached a replica was decided and recorded first


def modern_add(url: str, bearer: str, request_id: int, **extra: Any) -> dict:
    """A 2026-07-28 tools/call from a client that takes URL-mode elicitation: asked in band."""
    meta = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "replica-test", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {"elicitation": {"url": {}}},
    }
    body = {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": "add", "arguments": {"a": 20, "b": 22}, "_meta": meta, **extra},
    }
    headers = {
        "Authorization": f"Bearer {bearer}",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2026-07-28",
        "Mcp-Method": "tools/call",
        "Mcp-Name": "add",
    }
    response = httpx.post(url, json=body, headers=headers, timeout=WAIT)
    assert response.headers["content-type"].startswith("application/json"), response.text
    return response.json()


def test_a_modern_clients_retry_after_an_in_band_approval_may_reach_any_replica(
    idp: OidcProvider, replicas: Topology
) -> None:
    alice = token(idp, replicas, "alice")
    asked = modern_add(replicas.replica_url(1, "files"), alice, 1)["result"]
    assert asked["resultType"] == "input_required"
    approval_id = asked["inputRequests"]["mcp-acp/approval"]["params"]["url"].rpartition("=")[2]
    retry = {"requestState": asked["requestState"], "inputResponses": {"mcp-acp/approval": {"action": "accept"}}}
    waiting = modern_add(replicas.replica_url(3, "files"), alice, 2, **retry)["result"]
    assert waiting["resultType"] == "input_required"  # not decided yet, said by another replica
    assert decide(replicas, 2, alice, approval_id, "allow-once").status_code == 200
    retry["requestState"] = waiting["requestState"]
    answered = modern_add(replicas.replica_url(3, "files"), alice, 3, **retry)
    assert answered["result"]["structuredContent"] == {"result": 42.0}, answered
    replayed = modern_add(replicas.replica_url(2, "files"), alice, 4, **retry)
    assert "error" in replayed and "used already" in replayed["error"]["message"]


async def test_the_live_events_of_every_replica_reach_each_replicas_stream_for_whom_they_concern(
    idp: OidcProvider, replicas: Topology
) -> None:
    alice, bob = token(idp, replicas, "alice"), token(idp, replicas, "bob")
    seen: dict[str, list[str]] = {"alice": [], "bob": []}

    async def follow(who: str, bearer: str) -> None:
        headers = {"Authorization": f"Bearer {bearer}"}
        async with (
            httpx.AsyncClient(timeout=None) as http,
            http.stream("GET", f"{base(replicas, 3)}/events/files", headers=headers) as stream,
        ):
            assert stream.status_code == 200
            async for line in stream.aiter_lines():
                if line.startswith("event:"):
                    seen[who].append(line.partition(":")[2].strip())

    streams = [asyncio.ensure_future(follow("alice", alice)), asyncio.ensure_future(follow("bob", bob))]
    try:
        await asyncio.sleep(1.0)  # both streams subscribed
        async with gateway_client(replicas.replica_url(1, "files"), "legacy", alice) as client:
            call = asyncio.ensure_future(client.call_tool("add", {"a": 1, "b": 1}))
            [waiting] = await wait_until_async(lambda: pending(replicas, 2, alice), WAIT, "the approval")
            assert decide(replicas, 2, alice, waiting["id"], "allow-once").status_code == 200
            assert not (await asyncio.wait_for(call, WAIT)).is_error
        await wait_until_async(lambda: "pending_resolved" in seen["alice"], WAIT, "alice's stream on replica 3")
        assert seen["alice"][:2] == ["pending_created", "pending_resolved"]
        assert seen["bob"] == []  # not his request, not his to decide
    finally:
        for stream in streams:
            stream.cancel()
        await asyncio.gather(*streams, return_exceptions=True)
