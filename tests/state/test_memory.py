"""The embedded state: claims once, buckets refill on the clock, published messages reach subscribers."""

from __future__ import annotations

import asyncio

from mcp_acp.state.memory import MemoryState


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_a_claim_is_taken_once_until_it_expires() -> None:
    clock = Clock()
    state = MemoryState("r1", clock=clock)
    assert await state.claim("nonce", 5)
    assert not await state.claim("nonce", 5)
    clock.now += 6
    assert await state.claim("nonce", 5)


async def test_a_bucket_grants_its_burst_then_says_how_long_to_wait() -> None:
    clock = Clock()
    state = MemoryState("r1", clock=clock)
    assert [await state.take_token("alice", 60, 3) for _ in range(3)] == [None, None, None]
    wait = await state.take_token("alice", 60, 3)
    assert wait is not None and 0.9 < wait <= 1.0
    assert await state.take_token("bob", 60, 3) is None  # buckets are per key
    clock.now += 1.0
    assert await state.take_token("alice", 60, 3) is None


async def test_published_messages_reach_every_subscriber() -> None:
    state = MemoryState("r1")
    first, second = state.subscribe("events"), state.subscribe("events")
    waits = [asyncio.ensure_future(anext(first)), asyncio.ensure_future(anext(second))]
    await asyncio.sleep(0)
    await state.publish("events", {"type": "x"})
    assert await asyncio.gather(*waits) == [{"type": "x"}, {"type": "x"}]


async def test_the_bucket_map_is_bounded_full_buckets_going_first() -> None:
    clock = Clock()
    state = MemoryState("r1", clock=clock, max_buckets=3)
    assert await state.take_token("old", 60, 2) is None
    clock.now += 10  # "old" has refilled: the same as no bucket
    for key in ("a", "b", "c"):
        assert await state.take_token(key, 60, 2) is None
    assert set(state._buckets) == {"a", "b", "c"}
    assert await state.take_token("a", 60, 2) is None  # "a" is the most recently used, and empty
    assert await state.take_token("d", 60, 2) is None  # nothing full: the least recently used goes
    assert set(state._buckets) == {"c", "a", "d"}
    assert await state.take_token("a", 60, 2) is not None  # the drained bucket was kept


async def test_an_index_lists_its_members_until_their_time_runs_out() -> None:
    clock = Clock()
    state = MemoryState("r1", clock=clock)
    await state.index_add("waiting", "a", 10)
    await state.index_add("waiting", "b", 1)
    assert sorted(await state.index_members("waiting")) == ["a", "b"]
    clock.now += 2
    assert await state.index_members("waiting") == ["a"]
    await state.index_remove("waiting", "a")
    assert await state.index_members("waiting") == []


async def test_refused_takes_do_not_drain_a_bucket_and_it_never_fills_past_its_burst() -> None:
    clock = Clock()
    state = MemoryState("r1", clock=clock)
    assert await state.take_token("a", 60, 1) is None
    for _ in range(10):
        assert await state.take_token("a", 60, 1) is not None
    clock.now += 1.0
    assert await state.take_token("a", 60, 1) is None
    clock.now += 3600
    assert [await state.take_token("a", 60, 2) for _ in range(3)][:2] == [None, None]
    assert await state.take_token("a", 60, 2) is not None


async def test_marks_are_read_with_a_token_until_they_expire() -> None:
    clock = Clock()
    state = MemoryState("r1", clock=clock)
    await state.mark("sub:a", "1000.5", 10)
    assert await state.take_token_reading("rate:a", 60, 2, ["sub:a", "jti:x"]) == (None, ["1000.5", None])
    clock.now += 11
    assert await state.read_marks(["sub:a"]) == [None]
