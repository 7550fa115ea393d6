"""The embedded default: state in this process (one gateway, nothing to install)."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence

from key_value.aio.protocols import AsyncKeyValue
from key_value.aio.stores.memory import MemoryStore


class MemoryState:
    def __init__(self, replica_id: str, clock=time.monotonic, max_buckets: int = 10_000) -> None:
        self.kv: AsyncKeyValue = MemoryStore()
        self.replica_id = replica_id
        self._clock = clock
        self._claims: dict[str, float] = {}  # key -> expiry
        # key -> (tokens, last refill, when full again), in order of last use
        self._buckets: OrderedDict[str, tuple[float, float, float]] = OrderedDict()
        self._max_buckets = max_buckets
        self._subscribers: dict[str, set[asyncio.Queue[dict]]] = {}
        self._indexes: dict[str, dict[str, float]] = {}  # index -> member -> until
        self._marks: dict[str, tuple[str, float]] = {}  # key -> (value, until)

    async def claim(self, key: str, ttl_seconds: float) -> bool:
        now = self._clock()
        if self._claims.get(key, 0.0) > now:
            return False
        if len(self._claims) > 10_000:  # expired claims go once there are many
            self._claims = {k: t for k, t in self._claims.items() if t > now}
        self._claims[key] = now + ttl_seconds
        return True

    async def take_token(self, key: str, per_minute: int, burst: int) -> float | None:
        now = self._clock()
        rate = per_minute / 60.0
        tokens, last, _full = self._buckets.pop(key, (float(burst), now, now))
        tokens = min(float(burst), tokens + (now - last) * rate)
        wait = None
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / rate if rate > 0 else 60.0
        full = now + (float(burst) - tokens) / rate if rate > 0 else float("inf")
        self._buckets[key] = (tokens, now, full)
        if len(self._buckets) > self._max_buckets:
            self._sweep(now)
        return wait

    def _sweep(self, now: float) -> None:
        # A bucket that has refilled is the same as none; past the bound even so, the least
        # recently used goes (which can only ever be lenient).
        self._buckets = OrderedDict((k, b) for k, b in self._buckets.items() if b[2] > now)
        while len(self._buckets) > self._max_buckets:
            self._buckets.popitem(last=False)

    async def mark(self, key: str, value: str, ttl_seconds: float) -> None:
        now = self._clock()
        if len(self._marks) > self._max_buckets:  # expired marks go once there are many
            self._marks = {k: m for k, m in self._marks.items() if m[1] > now}
        self._marks[key] = (value, now + ttl_seconds)

    async def read_marks(self, keys: Sequence[str]) -> list[str | None]:
        now = self._clock()
        found = [self._marks.get(key) for key in keys]
        return [mark[0] if mark is not None and mark[1] > now else None for mark in found]

    async def take_token_reading(
        self, key: str, per_minute: int, burst: int, marks: Sequence[str]
    ) -> tuple[float | None, list[str | None]]:
        return await self.take_token(key, per_minute, burst), await self.read_marks(marks)

    async def index_add(self, index: str, member: str, ttl_seconds: float) -> None:
        members = self._indexes.setdefault(index, {})
        members[member] = self._clock() + ttl_seconds
        if len(members) > self._max_buckets:  # members past their time go once there are many
            now = self._clock()
            self._indexes[index] = {m: t for m, t in members.items() if t > now}

    async def index_remove(self, index: str, member: str) -> None:
        self._indexes.get(index, {}).pop(member, None)

    async def index_members(self, index: str) -> list[str]:
        now = self._clock()
        return [member for member, until in self._indexes.get(index, {}).items() if until > now]

    async def publish(self, channel: str, message: dict) -> None:
        for queue in list(self._subscribers.get(channel, ())):
            queue.put_nowait(message)

    async def subscribe(self, channel: str) -> AsyncIterator[dict]:
        queue: asyncio.Queue[dict] = asyncio.Queue()
        self._subscribers.setdefault(channel, set()).add(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._subscribers[channel].discard(queue)

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._subscribers.clear()
