"""The embedded default: state in this process (one gateway, nothing to install)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from key_value.aio.stores.memory import MemoryStore


class MemoryState:
    def __init__(self, replica_id: str, clock=time.monotonic) -> None:
        self.kv = MemoryStore()
        self.replica_id = replica_id
        self._clock = clock
        self._claims: dict[str, float] = {}  # key -> expiry
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, last refill)
        self._subscribers: dict[str, set[asyncio.Queue[dict]]] = {}

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
        tokens, last = self._buckets.get(key, (float(burst), now))
        tokens = min(float(burst), tokens + (now - last) * rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            return None
        self._buckets[key] = (tokens, now)
        return (1.0 - tokens) / rate if rate > 0 else 60.0

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
