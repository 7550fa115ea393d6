"""The Redis backend against a real redis-server: atomic across instances ("replicas"), fail
closed while the server is down, and the same objects work again once it is back."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from redis.asyncio.connection import SSLConnection

from mcp_acp.state import open_state
from mcp_acp.state.base import StateUnavailable
from mcp_acp.state.memory import MemoryState
from mcp_acp.state.redis import RedisState
from tests.support.processes import wait_until_async
from tests.support.redis import RedisServer


@pytest.fixture
async def replicas(redis_server: RedisServer) -> AsyncIterator[tuple[RedisState, RedisState]]:
    first, second = RedisState(redis_server.url, "r1"), RedisState(redis_server.url, "r2")
    yield first, second
    await first.close()
    await second.close()


class Subscriber:
    """Collects what `state.subscribe(channel)` yields, in a task."""

    def __init__(self, state: RedisState, channel: str) -> None:
        self.state, self.channel = state, channel
        self.received: list[dict] = []
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for message in self.state.subscribe(self.channel):
            self.received.append(message)

    async def wait_subscribed(self) -> None:
        # The server's own count of subscribers of the (prefixed) channel.
        name = f"mcp-acp:{self.channel}"

        async def count() -> int:
            try:
                return dict(await self.state.client.pubsub_numsub(name)).get(name, 0)
            except Exception:
                return 0

        for _ in range(200):
            if await count() >= 1:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"never subscribed to {name}")

    async def stop(self) -> None:
        self.task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self.task


async def test_a_claim_is_won_exactly_once_by_fifty_concurrent_claims_from_two_replicas(replicas) -> None:
    first, second = replicas
    results = await asyncio.gather(*(state.claim("nonce-1", 30) for state in [first, second] * 25))
    assert results.count(True) == 1
    assert await first.claim("nonce-2", 30)  # another key is another claim


async def test_a_claim_expires(replicas) -> None:
    first, second = replicas
    assert await first.claim("short", 0.05)
    await asyncio.sleep(0.2)
    assert await second.claim("short", 0.05)


async def test_replicas_draw_from_one_bucket(replicas) -> None:
    first, second = replicas
    answers = await asyncio.gather(*(state.take_token("alice", 60, 5) for state in [first, second] * 6))
    assert answers.count(None) == 5  # the burst in total, not per replica
    waits = [wait for wait in answers if wait is not None]
    assert all(0 < wait <= 1.0 for wait in waits)  # one token a second at 60 a minute
    assert await first.take_token("bob", 60, 5) is None  # buckets are per key


async def test_a_bucket_refills_on_the_server_clock(replicas) -> None:
    first, second = replicas
    assert await first.take_token("fast", 600, 1) is None  # 10 a second
    wait = await second.take_token("fast", 600, 1)
    assert wait is not None and 0 < wait <= 0.1
    await asyncio.sleep(wait + 0.05)
    assert await second.take_token("fast", 600, 1) is None


async def test_a_message_published_by_one_replica_reaches_the_other(replicas) -> None:
    first, second = replicas
    subscriber = Subscriber(second, "events")
    await subscriber.wait_subscribed()
    await first.publish("events", {"type": "approval.pending", "id": "a1"})
    await wait_until_async(lambda: subscriber.received, 10, "the message")
    assert subscriber.received == [{"type": "approval.pending", "id": "a1"}]
    await subscriber.stop()


async def test_a_subscriber_keeps_receiving_after_the_server_restarts(redis_server: RedisServer, replicas) -> None:
    first, second = replicas
    subscriber = Subscriber(second, "events")
    await subscriber.wait_subscribed()
    await first.publish("events", {"n": 1})
    await wait_until_async(lambda: len(subscriber.received) == 1, 10, "the first message")
    redis_server.kill()
    await asyncio.sleep(0.5)  # the subscriber sees the loss and backs off
    redis_server.start()
    await subscriber.wait_subscribed()
    await first.publish("events", {"n": 2})
    await wait_until_async(lambda: len(subscriber.received) == 2, 10, "the message after the restart")
    assert subscriber.received == [{"n": 1}, {"n": 2}]
    assert not subscriber.task.done()
    await subscriber.stop()


def operations(state: RedisState) -> dict[str, Callable[[], Any]]:
    return {
        "kv.get": lambda: state.kv.get("k", collection="approvals"),
        "kv.put": lambda: state.kv.put("k", {"v": 1}, collection="approvals"),
        "claim": lambda: state.claim("nonce", 30),
        "take_token": lambda: state.take_token("alice", 60, 5),
        "publish": lambda: state.publish("events", {"type": "x"}),
        "ping": state.ping,
    }


@pytest.mark.parametrize("outage", ["stop", "kill"])
async def test_with_the_server_down_every_operation_is_denied_then_works_again(
    redis_server: RedisServer, replicas, outage: str
) -> None:
    state, _ = replicas
    for operation in operations(state).values():  # connections in the pool, as in service
        await operation()
    redis_server.stop() if outage == "stop" else redis_server.kill()
    for name, operation in operations(state).items():
        with pytest.raises(StateUnavailable) as raised:
            await operation()
        message = str(raised.value)
        assert f"127.0.0.1:{redis_server.port}" in message, name
        assert "denied" in message, name
    redis_server.start()
    for operation in operations(state).values():  # the same object, no reconnect asked for
        await operation()
    assert await state.kv.get("k", collection="approvals") == {"v": 1}


async def test_the_message_names_the_server_never_its_password(tmp_path) -> None:
    state = RedisState("redis://user:s3cret-pw@127.0.0.1:1/0", "r1")  # nothing listens on port 1
    with pytest.raises(StateUnavailable) as raised:
        await state.ping()
    assert "127.0.0.1:1" in str(raised.value)
    assert "s3cret-pw" not in str(raised.value)
    await state.close()


async def test_keys_and_channels_carry_the_prefix(redis_server: RedisServer) -> None:
    ours, theirs = RedisState(redis_server.url, "r1"), RedisState(redis_server.url, "r1", prefix="other:")
    assert await ours.claim("nonce", 30)
    assert await theirs.claim("nonce", 30)  # another deployment on the same server
    await ours.kv.put("k", {"v": 1}, collection="approvals")
    assert await theirs.kv.get("k", collection="approvals") is None
    assert all(str(key).startswith(("mcp-acp", "other")) for key in await ours.client.keys("*"))
    await ours.close()
    await theirs.close()


async def test_open_state_picks_the_backend_by_url(redis_server: RedisServer) -> None:
    assert isinstance(open_state(None, "r1"), MemoryState)
    state = open_state(redis_server.url, "r1")
    assert isinstance(state, RedisState)
    await state.ping()
    await state.close()
    tls = open_state("rediss://127.0.0.1:6380/0?ssl_cert_reqs=none", "r1")
    assert isinstance(tls, RedisState)
    assert tls.client.connection_pool.connection_class is SSLConnection
    assert tls.client.connection_pool.connection_kwargs["ssl_cert_reqs"] == "none"
    await tls.close()
    with pytest.raises(ValueError):
        open_state("memcached://127.0.0.1", "r1")


async def test_rediss_speaks_tls_and_verifies_the_server(tmp_path) -> None:
    server = RedisServer(tmp_path / "redis-tls", tls=True)
    try:
        state = open_state(server.url, "r1")
        assert await state.claim("nonce", 30)
        assert not await state.claim("nonce", 30)
        await state.close()
        plain = open_state(server.url.replace("rediss://", "redis://").split("?")[0], "r1")
        with pytest.raises(StateUnavailable):  # the server speaks only TLS
            await plain.ping()
        await plain.close()
        unverified = open_state(server.url.split("?")[0], "r1")  # the system's CAs do not know it
        with pytest.raises(StateUnavailable):
            await unverified.ping()
        await unverified.close()
    finally:
        server.stop()


async def test_a_server_that_hangs_is_a_denial_not_a_wait(redis_server: RedisServer, replicas) -> None:
    state, _ = replicas
    await state.ping()
    os.kill(redis_server.process.pid, signal.SIGSTOP)  # accepts nothing, answers nothing
    try:
        for operation in operations(state).values():
            with pytest.raises(StateUnavailable):
                await asyncio.wait_for(operation(), 30)  # a hang would fail here, not wait forever
    finally:
        os.kill(redis_server.process.pid, signal.SIGCONT)
    await state.ping()
    assert await state.claim("after", 30)


async def test_an_index_lists_what_any_replica_added_until_its_time_runs_out(replicas) -> None:
    first, second = replicas
    await first.index_add("waiting:p", "a", 60)
    await second.index_add("waiting:p", "b", 0.2)
    assert sorted(await second.index_members("waiting:p")) == ["a", "b"]
    await second.index_remove("waiting:p", "a")
    await asyncio.sleep(0.3)
    assert await first.index_members("waiting:p") == []


async def test_marks_are_read_in_the_token_round_trip_by_every_replica(replicas) -> None:
    first, second = replicas
    await first.mark("sub:alice", "1000.5", 60)
    wait, values = await second.take_token_reading("rate:alice", 60, 2, ["sub:alice", "jti:none", "sub:bob"])
    assert wait is None and values == ["1000.5", None, None]
    assert await second.take_token_reading("rate:alice", 60, 2, []) == (None, [])
    assert (await second.take_token_reading("rate:alice", 60, 2, ["sub:alice"]))[0] is not None  # the burst is spent
    assert await first.read_marks(["jti:none", "sub:alice"]) == [None, "1000.5"]
