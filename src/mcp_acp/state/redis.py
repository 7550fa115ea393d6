"""Redis or Valkey: the state gateway replicas share (docs/scale.md).

One redis.asyncio client serves everything (records, claims, buckets, pub/sub). Timeouts are short
so a dead server denies a request within about a second instead of holding it, and the client
reconnects by itself on the next call once the server is back. Every server error surfaces as
`StateUnavailable`, naming the server (never its password) and what to do.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from typing import Any, SupportsFloat
from urllib.parse import urlsplit

import orjson
from key_value.aio.protocols import AsyncKeyValue
from key_value.aio.stores.redis import RedisStore
from key_value.aio.wrappers.base import BaseWrapper
from key_value.aio.wrappers.prefix_collections import PrefixCollectionsWrapper
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from mcp_acp.state.base import StateUnavailable

TIMEOUT_SECONDS = 1.0  # connect and per-operation socket timeouts
DEADLINE_SECONDS = 2.0  # a whole operation, its one retry on a fresh connection included
PUBSUB_IDLE_PING_SECONDS = 5.0  # a silent subscription pings the server to notice it has gone
_SERVER_ERRORS = (RedisError, OSError, TimeoutError)

# A token bucket, atomically and on the server's clock, so every replica draws from the same one.
# KEYS[1] the bucket (a hash: tokens, at in microseconds); ARGV: per_minute, burst.
# KEYS[2...]: marks to read in the same trip (take_token_reading).
# Returns {"-1" when granted, else the seconds to wait (as a string: Lua numbers become integers),
# then each mark's value or nil}.
TOKEN_BUCKET = """
local per_minute = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
if per_minute <= 0 then return '60' end
local rate = per_minute / 60000000.0
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
local wait = -1
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = (1 - tokens) / rate / 1000000.0
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.6f', tokens), 'at', string.format('%d', now))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate / 1000) + 1000)
local answer = {string.format('%.6f', wait)}
for i = 2, #KEYS do
  answer[i] = redis.call('GET', KEYS[i])
end
return answer
"""


def server_name(url: str) -> str:
    """host:port of a redis:// URL, for messages (the URL may carry a password)."""
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 6379}"


class _Guard:
    """Turns a server error, or an operation past its deadline, into StateUnavailable."""

    def __init__(self, server: str) -> None:
        self.server = server

    @contextmanager
    def errors(self) -> Iterator[None]:
        try:
            yield
        except _SERVER_ERRORS as error:
            raise StateUnavailable(
                f"the state server {self.server} is unavailable ({type(error).__name__}: {error}); "
                "requests that need shared state are denied until it answers: check that Redis/Valkey "
                "runs and is reachable (state.url in gateway.json)"
            ) from error

    async def run(self, operation: Any) -> Any:
        with self.errors():
            async with asyncio.timeout(DEADLINE_SECONDS):
                return await operation


class _GuardedKeyValue(BaseWrapper):
    """The record store, its server errors surfaced as StateUnavailable."""

    def __init__(self, key_value: AsyncKeyValue, guard: _Guard) -> None:
        self.key_value = key_value
        self._guard = guard
        super().__init__()

    async def get(self, key: str, *, collection: str | None = None) -> dict[str, Any] | None:
        return await self._guard.run(self.key_value.get(key, collection=collection))

    async def get_many(self, keys: Sequence[str], *, collection: str | None = None) -> list[dict[str, Any] | None]:
        return await self._guard.run(self.key_value.get_many(keys, collection=collection))

    async def ttl(self, key: str, *, collection: str | None = None) -> tuple[dict[str, Any] | None, float | None]:
        return await self._guard.run(self.key_value.ttl(key, collection=collection))

    async def ttl_many(
        self, keys: Sequence[str], *, collection: str | None = None
    ) -> list[tuple[dict[str, Any] | None, float | None]]:
        return await self._guard.run(self.key_value.ttl_many(keys, collection=collection))

    async def put(
        self, key: str, value: Mapping[str, Any], *, collection: str | None = None, ttl: SupportsFloat | None = None
    ) -> None:
        await self._guard.run(self.key_value.put(key, value, collection=collection, ttl=ttl))

    async def put_many(
        self,
        keys: Sequence[str],
        values: Sequence[Mapping[str, Any]],
        *,
        collection: str | None = None,
        ttl: SupportsFloat | None = None,
    ) -> None:
        await self._guard.run(self.key_value.put_many(keys, values, collection=collection, ttl=ttl))

    async def delete(self, key: str, *, collection: str | None = None) -> bool:
        return await self._guard.run(self.key_value.delete(key, collection=collection))

    async def delete_many(self, keys: Sequence[str], *, collection: str | None = None) -> int:
        return await self._guard.run(self.key_value.delete_many(keys, collection=collection))


class RedisState:
    """SharedState on a Redis-protocol server. `prefix` namespaces keys and channels, so several
    deployments can share one server."""

    def __init__(self, url: str, replica_id: str, *, prefix: str = "mcp-acp:") -> None:
        self.replica_id = replica_id
        self.server = server_name(url)
        self._prefix = prefix
        self._guard = _Guard(self.server)
        # One retry, immediately: after a server restart the pooled connection is dead, and the
        # retry on a fresh one is what makes the same object work again.
        self.client: Redis = Redis.from_url(
            url,
            socket_connect_timeout=TIMEOUT_SECONDS,
            socket_timeout=TIMEOUT_SECONDS,
            retry=Retry(NoBackoff(), 1),
            decode_responses=True,  # py-key-value-aio's RedisStore reads str
        )
        records = RedisStore(client=self.client)
        self.kv: AsyncKeyValue = _GuardedKeyValue(PrefixCollectionsWrapper(records, prefix.rstrip(":")), self._guard)
        self._token_bucket = self.client.register_script(TOKEN_BUCKET)

    async def claim(self, key: str, ttl_seconds: float) -> bool:
        milliseconds = max(1, int(ttl_seconds * 1000))
        taken = await self._guard.run(
            self.client.set(f"{self._prefix}claim:{key}", self.replica_id, nx=True, px=milliseconds)
        )
        return bool(taken)

    async def take_token(self, key: str, per_minute: int, burst: int) -> float | None:
        return (await self.take_token_reading(key, per_minute, burst, ()))[0]

    async def take_token_reading(
        self, key: str, per_minute: int, burst: int, marks: Sequence[str]
    ) -> tuple[float | None, list[str | None]]:
        keys = [f"{self._prefix}bucket:{key}", *(f"{self._prefix}mark:{mark}" for mark in marks)]
        # Script.__call__ is EVALSHA, loading the script on NOSCRIPT (a restarted server).
        answer = await self._guard.run(self._token_bucket(keys=keys, args=[per_minute, burst]))
        wait = float(answer[0])
        values = [*answer[1:], *([None] * (len(marks) - len(answer) + 1))]  # trailing nils are dropped
        return (None if wait < 0 else wait), values

    async def mark(self, key: str, value: str, ttl_seconds: float) -> None:
        await self._guard.run(self.client.set(f"{self._prefix}mark:{key}", value, px=max(1, int(ttl_seconds * 1000))))

    async def read_marks(self, keys: Sequence[str]) -> list[str | None]:
        if not keys:
            return []
        return list(await self._guard.run(self.client.mget([f"{self._prefix}mark:{key}" for key in keys])))

    async def index_add(self, index: str, member: str, ttl_seconds: float) -> None:
        # A sorted set scored by each member's end: past members are dropped as it is written.
        key, now = f"{self._prefix}index:{index}", time.time()
        pipe = self.client.pipeline(transaction=True)
        pipe.zadd(key, {member: now + ttl_seconds})
        pipe.zremrangebyscore(key, "-inf", now)
        pipe.expire(key, int(ttl_seconds) + 3600)  # the set outlives its members: one day of quiet drops it
        await self._guard.run(pipe.execute())

    async def index_remove(self, index: str, member: str) -> None:
        await self._guard.run(self.client.zrem(f"{self._prefix}index:{index}", member))

    async def index_members(self, index: str) -> list[str]:
        found = await self._guard.run(self.client.zrangebyscore(f"{self._prefix}index:{index}", time.time(), "+inf"))
        return list(found)

    async def publish(self, channel: str, message: dict) -> None:
        await self._guard.run(self.client.publish(f"{self._prefix}{channel}", orjson.dumps(message)))

    async def subscribe(self, channel: str) -> AsyncIterator[dict]:
        """Never raises (but on cancellation): a lost server is re-subscribed with back-off."""
        name = f"{self._prefix}{channel}"
        delay = 0.1
        while True:
            pubsub = self.client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(name)
                delay = 0.1
                heard, pinged = time.monotonic(), False
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message is not None:
                        heard, pinged = time.monotonic(), False
                        if message.get("type") == "message":
                            try:
                                yield orjson.loads(message["data"])
                            except orjson.JSONDecodeError:
                                continue  # not ours: another writer on the channel
                    elif time.monotonic() - heard > 2 * PUBSUB_IDLE_PING_SECONDS:
                        raise TimeoutError("the state server stopped answering pings")
                    elif not pinged and time.monotonic() - heard > PUBSUB_IDLE_PING_SECONDS:
                        await pubsub.ping()  # its answer counts as hearing from the server
                        pinged = True
            except _SERVER_ERRORS:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            finally:
                with suppress(*_SERVER_ERRORS):
                    await pubsub.aclose()

    async def ping(self) -> None:
        await self._guard.run(self.client.ping())

    async def close(self) -> None:
        await self.client.aclose()
