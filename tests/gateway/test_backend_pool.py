"""The gateway's backend pool over real STDIO children: tests/fixtures/pool_backend.py (strict:
it refuses work before the handshake, and reports what reached it) and the FastMCP fixture
backend (progress). Each "client" is what a relay would be to its view: a deliver callback
that collects messages, and an on_lost that notes the reason."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import orjson
import pytest

from mcp_acp.backends import BackendUnavailable
from mcp_acp.backends.stdio import StdioBackend
from mcp_acp.config.models import BackendConfig, ProxyConfig
from mcp_acp.config.models import HttpBackend as HttpConfig
from mcp_acp.config.models import StdioBackend as StdioConfig
from mcp_acp.gateway.backend_pool import UNROUTABLE, BackendPool
from mcp_acp.proxy.relay import Relay
from tests.support.processes import BACKEND, HttpBackendServer
from tests.support.proxy_session import build_session

POOL_BACKEND = str(Path(__file__).resolve().parents[1] / "fixtures" / "pool_backend.py")
WAIT = 30.0


def config(script: str = POOL_BACKEND) -> ProxyConfig:
    return ProxyConfig(
        proxy_id="px_00000000:t",
        backend=BackendConfig(server_name="fs", stdio=StdioConfig(command=sys.executable, args=[script])),
    )


def opener(script: str = POOL_BACKEND):
    async def open_backend():
        return StdioBackend("fs", sys.executable, [script], dict(os.environ))

    return open_backend


def initialize(request_id: object = 0) -> dict:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }


def tool(request_id: object, name: str, **arguments: object) -> dict:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": name, "arguments": arguments},
    }


INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}


class Client:
    """A fake relay on one view."""

    def __init__(self, pool: BackendPool, principal: str = "alice") -> None:
        self.view = pool.view(principal)
        self.received: list[dict] = []
        self.raws: list[bytes | None] = []
        self.lost: list[str] = []
        self.arrived = asyncio.Event()

    async def start(self) -> Client:
        await self.view.start(self.deliver, self.on_lost)
        return self

    async def deliver(self, message: dict, raw: bytes | None) -> None:
        self.received.append(message)
        self.raws.append(raw)
        self.arrived.set()

    def on_lost(self, reason: str) -> None:
        self.lost.append(reason)
        self.arrived.set()

    async def send(self, message: dict) -> None:
        await self.view.send(message, orjson.dumps(message) + b"\n")

    async def until(self, found):
        async with asyncio.timeout(WAIT):
            while (hit := found()) is None or hit == []:
                self.arrived.clear()
                await self.arrived.wait()
        return hit

    def answers(self, request_id: object) -> list[dict]:
        return [m for m in self.received if m.get("id") == request_id and "method" not in m]

    async def answer(self, request_id: object) -> dict:
        return (await self.until(lambda: self.answers(request_id)))[0]

    async def ask(self, message: dict) -> dict:
        await self.send(message)
        return await self.answer(message["id"])

    async def handshake(self) -> dict:
        answer = await self.ask(initialize(0))
        await self.send(INITIALIZED)
        return answer

    async def text(self, message: dict) -> str:
        answer = await self.ask(message)
        assert "result" in answer, answer
        return answer["result"]["content"][0]["text"]

    async def stats(self, request_id: object = "stats") -> dict:
        return json.loads(await self.text(tool(request_id, "stats")))


@pytest.fixture
async def pool():
    pool = BackendPool("t", config(), "shared", idle_seconds=300, open_backend=opener(), backoff=(0.01, 0.05))
    yield pool
    await pool.close()


async def test_nothing_starts_before_the_first_send(pool):
    client = await Client(pool).start()
    [row] = pool.status()
    assert row["principal"] == "*" and not row["running"] and row["pid"] is None and row["views"] == 1
    await client.handshake()
    [row] = pool.status()
    assert row["running"] and row["pid"] == (await client.stats())["pid"] and row["transport"] == "stdio"
    assert client.view.reconnects is True


async def test_the_default_opener_starts_the_configured_child():
    pool = BackendPool("t", config(), "shared", idle_seconds=300)
    try:
        client = await Client(pool).start()
        await client.handshake()
        assert await client.text(tool(1, "echo", text="hi")) == "hi"
    finally:
        await pool.close()
    assert not pool.status()[0]["running"]


async def test_one_initialize_reaches_the_backend_and_each_client_gets_its_own_answer(pool):
    alice, bob = await Client(pool).start(), await Client(pool, "bob").start()
    first, second = await alice.handshake(), await bob.handshake()
    assert first["id"] == 0 and second["id"] == 0 and first["result"] == second["result"]
    assert second["result"]["serverInfo"]["name"] == "pool-backend"
    stats = await bob.stats()
    assert stats["initialize"] == 1 and stats["initialized"] == 1


async def test_concurrent_initializes_wait_for_the_first(pool):
    alice, bob = await Client(pool).start(), await Client(pool, "bob").start()
    await asyncio.gather(alice.send(initialize(0)), bob.send(initialize(0)))
    assert "result" in await alice.answer(0) and "result" in await bob.answer(0)
    await alice.send(INITIALIZED)
    await bob.send(INITIALIZED)
    assert (await alice.stats())["initialize"] == 1


async def test_the_same_client_id_on_two_views_gets_each_its_own_answer(pool):
    alice, bob = await Client(pool).start(), await Client(pool, "bob").start()
    await alice.handshake()
    await bob.handshake()
    await bob.send(tool(7, "hold"))  # in flight while the same id goes out from alice
    await asyncio.gather(alice.send(tool(1, "echo", text="from alice")), bob.send(tool(1, "echo", text="from bob")))
    assert (await alice.answer(1))["result"]["content"][0]["text"] == "from alice"
    assert (await bob.answer(1))["result"]["content"][0]["text"] == "from bob"
    assert await alice.text(tool(2, "release")) == "released"
    assert (await bob.answer(7))["result"]["content"][0]["text"] == "released"
    assert alice.answers(7) == [] and len(alice.answers(1)) == 1 and len(bob.answers(1)) == 1


async def test_a_rewritten_answer_is_reserialised_with_the_clients_id(pool):
    alice = await Client(pool).start()
    await alice.handshake()
    await alice.ask(tool("mine", "echo", text="x"))
    raw = alice.raws[alice.received.index(alice.answers("mine")[0])]
    assert raw is not None and orjson.loads(raw)["id"] == "mine"


async def test_per_principal_mode_starts_one_process_per_principal():
    pool = BackendPool("t", config(), "per_principal", idle_seconds=300, open_backend=opener())
    try:
        alice, alice2, bob = Client(pool), Client(pool, "alice"), Client(pool, "bob")
        for client in (alice, alice2, bob):
            await client.start()
            await client.handshake()
        pids = {client: (await client.stats())["pid"] for client in (alice, alice2, bob)}
        assert pids[alice] == pids[alice2] != pids[bob]
        rows = {row["principal"]: row for row in pool.status()}
        assert set(rows) == {"alice", "bob"}
        assert rows["alice"]["pid"] == pids[alice] and rows["alice"]["views"] == 2
        assert rows["bob"]["pid"] == pids[bob] and rows["bob"]["views"] == 1
        assert (await bob.stats())["initialize"] == 1  # its own handshake, not alice's cache
    finally:
        await pool.close()


async def test_a_killed_backend_fails_in_flight_views_and_restarts_with_the_handshake_replayed(pool):
    alice, bob, carol = [await Client(pool, name).start() for name in ("alice", "bob", "carol")]
    await alice.handshake()
    await bob.handshake()
    await carol.handshake()
    await alice.send(tool(1, "hold"))
    await bob.send(tool(1, "hold"))
    before = (await carol.stats())["pid"]
    os.kill(before, signal.SIGKILL)
    await alice.until(lambda: alice.lost)
    await bob.until(lambda: bob.lost)
    assert "exited" in alice.lost[0] and carol.lost == []  # carol had nothing in flight
    async with asyncio.timeout(WAIT):
        while True:  # a short back-off first
            try:
                await alice.send(tool(2, "echo", text="again"))
                break
            except BackendUnavailable:
                await asyncio.sleep(0.02)
    assert (await alice.answer(2))["result"]["content"][0]["text"] == "again"
    stats = await bob.stats("after")
    assert stats["pid"] != before and stats["initialize"] == 1 and stats["initialized"] == 1
    [row] = pool.status()
    assert row["restarts"] == 1 and row["running"] and row["pid"] == stats["pid"] and row["views"] == 3
    # A new client is answered from the cache; the backend saw only the replay.
    dave = await Client(pool, "dave").start()
    await dave.handshake()
    assert (await dave.stats())["initialize"] == 1


async def test_during_the_back_off_a_send_is_refused_with_the_reason():
    pool = BackendPool("t", config(), "shared", idle_seconds=300, open_backend=opener(), backoff=(600, 600))
    try:
        alice = await Client(pool).start()
        await alice.handshake()
        await alice.send(tool(1, "hold"))
        os.kill(pool.status()[0]["pid"], signal.SIGKILL)
        await alice.until(lambda: alice.lost)
        with pytest.raises(BackendUnavailable, match="restarts it in"):
            await alice.send(tool(2, "echo", text="x"))
        assert not pool.status()[0]["running"]
    finally:
        await pool.close()


async def test_an_idle_backend_stops_and_starts_again_on_use():
    pool = BackendPool("t", config(), "shared", idle_seconds=0.2, open_backend=opener())
    try:
        alice = await Client(pool).start()
        await alice.handshake()
        first = (await alice.stats())["pid"]
        async with asyncio.timeout(WAIT):
            while pool.status()[0]["running"]:
                await asyncio.sleep(0.05)
        assert pool.status()[0]["pid"] is None
        stats = await alice.stats("again")  # no new initialize from the client: the pool replays it
        assert stats["pid"] != first and stats["initialize"] == 1 and stats["initialized"] == 1
        assert pool.status()[0]["restarts"] == 0
    finally:
        await pool.close()


async def test_progress_goes_back_to_its_own_view_with_its_own_token():
    pool = BackendPool("t", config(BACKEND), "shared", idle_seconds=300, open_backend=opener(BACKEND))
    try:
        alice, bob = await Client(pool).start(), await Client(pool, "bob").start()
        await alice.handshake()
        await bob.handshake()

        def slow(text_steps: int) -> dict:
            message = tool(5, "slow", seconds=0.2, steps=text_steps)
            message["params"]["_meta"] = {"progressToken": "tok"}
            return message

        await asyncio.gather(alice.send(slow(2)), bob.send(slow(3)))
        assert "result" in await alice.answer(5) and "result" in await bob.answer(5)
        for client, steps in ((alice, 2), (bob, 3)):
            progress = [m for m in client.received if m.get("method") == "notifications/progress"]
            assert [p["params"]["progressToken"] for p in progress] == ["tok"] * steps
            assert [p["params"]["total"] for p in progress] == [steps] * steps
    finally:
        await pool.close()


async def test_a_server_request_reaches_the_one_view_in_flight_and_its_answer_the_backend(pool):
    alice, bob = await Client(pool).start(), await Client(pool, "bob").start()
    await alice.handshake()
    await bob.handshake()
    await alice.send(tool(3, "ask"))
    [request] = await alice.until(lambda: [m for m in alice.received if m.get("method") == "sampling/createMessage"])
    assert request["id"] != "s-1"  # the pool's id, mapped back when alice answers
    await alice.send(
        {
            "jsonrpc": "2.0",
            "id": request["id"],
            "result": {"role": "assistant", "content": {"type": "text", "text": "yo"}},
        }
    )
    assert (await alice.answer(3))["result"]["content"][0]["text"] == "sampled: yo"
    assert not [m for m in bob.received if m.get("method") == "sampling/createMessage"]


async def test_a_server_request_with_two_views_in_flight_is_refused_to_the_backend(pool, caplog):
    alice, bob = await Client(pool).start(), await Client(pool, "bob").start()
    await alice.handshake()
    await bob.handshake()
    await bob.send(tool(1, "hold"))
    text = await alice.text(tool(1, "ask"))
    assert text == f"refused: {UNROUTABLE}"
    assert not [m for m in alice.received + bob.received if m.get("method") == "sampling/createMessage"]
    assert UNROUTABLE in caplog.text
    await alice.text(tool(2, "release"))


async def test_list_changed_goes_to_every_view_and_a_log_message_to_the_one_in_flight(pool):
    alice, bob = await Client(pool).start(), await Client(pool, "bob").start()
    await alice.handshake()
    await bob.handshake()
    assert await alice.text(tool(4, "notify")) == "notified"
    changed = {"jsonrpc": "2.0", "method": "notifications/tools/list_changed"}
    await bob.until(lambda: [m for m in bob.received if m.get("method") == changed["method"]])
    for client in (alice, bob):
        assert [m for m in client.received if m.get("method") == changed["method"]] == [changed]
    assert [m["params"]["data"] for m in alice.received if m.get("method") == "notifications/message"] == ["hello"]
    assert not [m for m in bob.received if m.get("method") == "notifications/message"]


async def test_a_cancel_for_another_clients_request_is_never_forwarded(pool):
    alice, bob = await Client(pool).start(), await Client(pool, "bob").start()
    await alice.handshake()
    await bob.handshake()
    await bob.send(tool(9, "hold"))
    # alice names bob's id and the pool's own form of ids: neither is hers, nothing is sent.
    for victim in (9, *(f"g-{n}" for n in range(1, 12))):
        await alice.send({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": victim}})
    assert (await alice.stats())["cancelled"] == 0
    await alice.text(tool(2, "release"))
    assert (await bob.answer(9))["result"]["content"][0]["text"] == "released"


async def test_a_clients_cancel_of_its_own_request_reaches_the_backend_with_the_pools_id(pool):
    alice, bob = await Client(pool).start(), await Client(pool, "bob").start()
    await alice.handshake()
    await bob.handshake()
    await alice.send(tool(9, "hold"))
    await bob.send(tool(9, "hold"))
    await alice.send({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 9}})
    assert (await bob.stats())["cancelled"] == 1
    await bob.text(tool(2, "release"))
    assert (await bob.answer(9))["result"]["content"][0]["text"] == "released"


async def test_a_view_whose_deliver_fails_is_detached_and_the_others_go_on(pool):
    alice, bob = await Client(pool).start(), await Client(pool, "bob").start()
    await alice.handshake()
    await bob.handshake()

    async def broken(message: dict, raw: bytes | None) -> None:
        raise RuntimeError("the client's stream is gone")

    await bob.view.start(broken, bob.on_lost)
    assert await alice.text(tool(1, "notify")) == "notified"
    with pytest.raises(BackendUnavailable):
        await bob.send(tool(2, "echo", text="x"))
    assert pool.status()[0]["views"] == 1
    assert await alice.text(tool(3, "echo", text="still here")) == "still here"


async def test_closing_a_view_leaves_the_shared_backend_to_the_others(pool):
    alice, bob = await Client(pool).start(), await Client(pool, "bob").start()
    await alice.handshake()
    await bob.handshake()
    pid = (await alice.stats())["pid"]
    await bob.view.close()
    assert pool.status()[0]["views"] == 1 and pool.status()[0]["pid"] == pid
    assert await alice.text(tool(1, "echo", text="x")) == "x"


def operations(tmp_path: Path) -> list[dict]:
    path = tmp_path / "logs" / "audit" / "operations.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


async def test_real_relays_with_their_recorder_and_gate_run_on_views(pool, tmp_path):
    session = build_session(
        tmp_path,
        [
            {"id": "echo", "effect": "allow", "conditions": {"tool_name": "echo"}},
            {"id": "no", "effect": "deny", "conditions": {"tool_name": "stats"}},
        ],
    )
    relays, outputs = [], []
    for _ in range(2):
        received: list[dict] = []
        arrived = asyncio.Event()

        async def write(data: bytes, received=received, arrived=arrived) -> None:
            received.append(orjson.loads(data))
            arrived.set()

        relay = Relay(pool.view("alice"), session.gate, write, session.recorder("http"))
        await relay.start()
        relays.append(relay)
        outputs.append((received, arrived))

    async def ask(index: int, message: dict) -> dict:
        received, arrived = outputs[index]
        await relays[index].from_client(orjson.dumps(message) + b"\n")
        async with asyncio.timeout(WAIT):
            while not [m for m in received if m.get("id") == message["id"]]:
                arrived.clear()
                await arrived.wait()
        return next(m for m in received if m.get("id") == message["id"])

    try:
        for index in range(2):
            assert "result" in await ask(index, initialize(0))
            await relays[index].from_client(orjson.dumps(INITIALIZED) + b"\n")
        first, second = await asyncio.gather(ask(0, tool(1, "echo", text="one")), ask(1, tool(1, "echo", text="two")))
        assert first["result"]["content"][0]["text"] == "one"
        assert second["result"]["content"][0]["text"] == "two"
        denied = await ask(1, tool(2, "stats"))
        assert denied["error"]["code"] == -32001
        echoes = [e for e in operations(tmp_path) if e.get("tool_name") == "echo"]
        assert sorted(e["request_id"] for e in echoes) == ["1", "1"] and {e["status"] for e in echoes} == {"Success"}
    finally:
        for relay in relays:
            await relay.close()
    assert pool.status()[0]["views"] == 0


async def test_an_http_backend_is_one_session_that_reopens_itself_after_a_loss():
    server = HttpBackendServer()
    server.start()
    http_config = ProxyConfig(
        proxy_id="px_00000000:t",
        backend=BackendConfig(server_name="fs", transport="streamablehttp", http=HttpConfig(url=server.url)),
    )
    pool = BackendPool("t", http_config, "shared", idle_seconds=300)
    try:
        alice, bob = await Client(pool).start(), await Client(pool, "bob").start()
        await alice.handshake()
        await bob.handshake()
        [row] = pool.status()
        assert row["transport"] == "streamablehttp" and row["pid"] is None and alice.view.transport == "streamablehttp"
        first, second = await asyncio.gather(alice.ask(tool(1, "echo", text="a")), bob.ask(tool(1, "echo", text="b")))
        assert first["result"]["content"][0]["text"] == "a" and second["result"]["content"][0]["text"] == "b"
        await alice.send(tool(2, "slow", seconds=60, steps=1))
        server.stop()
        await alice.until(lambda: alice.lost)
        assert bob.lost == []
        server.start()
        assert await bob.text(tool(3, "echo", text="back")) == "back"  # a new session, handshake replayed
        [row] = pool.status()
        assert row["restarts"] == 1 and row["running"]
    finally:
        await pool.close()
        server.stop()


def modern(request_id: object, method: str, **params: object) -> dict:
    meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": {**params, "_meta": meta}}


async def test_modern_requests_pass_straight_through_without_a_handshake(tmp_path, monkeypatch):
    era_log = tmp_path / "era.log"
    monkeypatch.setenv("CONFORMANCE_SERVER_ERA_LOG", str(era_log))
    script = str(Path(POOL_BACKEND).with_name("conformance_server.py"))
    pool = BackendPool("t", config(script), "shared", idle_seconds=300, open_backend=opener(script))
    try:
        alice, bob = await Client(pool).start(), await Client(pool, "bob").start()
        assert "supportedVersions" in (await alice.ask(modern(1, "server/discover")))["result"]
        calls = await asyncio.gather(
            alice.ask(modern(2, "tools/call", name="test_simple_text", arguments={})),
            bob.ask(modern(2, "tools/call", name="test_simple_text", arguments={})),
        )
        assert all(call["result"]["content"][0]["type"] == "text" for call in calls)
        lines = era_log.read_text().splitlines()
        assert sorted(lines) == ["2026-07-28 server/discover", "2026-07-28 tools/call", "2026-07-28 tools/call"]
    finally:
        await pool.close()


async def test_an_idle_principal_with_no_views_left_is_forgotten():
    pool = BackendPool("t", config(), "per_principal", idle_seconds=0.2, open_backend=opener())
    try:
        alice, bob = await Client(pool).start(), await Client(pool, "bob").start()
        await alice.handshake()
        await bob.handshake()
        await bob.view.close()
        async with asyncio.timeout(WAIT):
            while {row["principal"] for row in pool.status()} != {"alice"}:
                await asyncio.sleep(0.05)
        assert await alice.text(tool(1, "echo", text="x")) == "x"
    finally:
        await pool.close()
