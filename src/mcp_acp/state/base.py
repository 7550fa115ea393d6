"""The interface every state backend offers: py-key-value-aio's key-value store for records,
plus the three things a plain key-value store cannot do atomically across replicas."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Protocol

from key_value.aio.protocols import AsyncKeyValue


class StateUnavailable(Exception):
    """The state server cannot be reached or answered with an error: deny what needed it."""


class SharedState(Protocol):
    @property
    def kv(self) -> AsyncKeyValue:
        """Records by collection and key, each with an optional TTL (py-key-value-aio)."""
        ...

    replica_id: str  # this process, as the others see it in records and events

    async def claim(self, key: str, ttl_seconds: float) -> bool:
        """Set `key` if absent, atomically: True for the one caller that got it (a spent nonce,
        a decision taken once)."""
        ...

    async def take_token(self, key: str, per_minute: int, burst: int) -> float | None:
        """One token from the bucket `key` (atomic, on the state server's clock): None when
        granted, else the seconds to wait."""
        ...

    async def mark(self, key: str, value: str, ttl_seconds: float) -> None:
        """A short value under `key` for `ttl_seconds` (a revocation), read in the same round
        trip as a rate-limit token by `take_token_reading`."""
        ...

    async def read_marks(self, keys: Sequence[str]) -> list[str | None]: ...

    async def take_token_reading(
        self, key: str, per_minute: int, burst: int, marks: Sequence[str]
    ) -> tuple[float | None, list[str | None]]:
        """`take_token`, and the values of `marks`, in one round trip."""
        ...

    async def index_add(self, index: str, member: str, ttl_seconds: float) -> None:
        """Add `member` to the set `index` for `ttl_seconds` (what records exist: a key-value
        store cannot list its keys)."""
        ...

    async def index_remove(self, index: str, member: str) -> None: ...

    async def index_members(self, index: str) -> list[str]:
        """The members of `index` whose time has not run out."""
        ...

    async def publish(self, channel: str, message: dict) -> None:
        """To every replica's subscribers of `channel`, this one's included."""
        ...

    def subscribe(self, channel: str) -> AsyncIterator[dict]:
        """Messages published on `channel` from now on; survives reconnections of the server
        (messages published while disconnected are lost: subscribers re-read records)."""
        ...

    async def ping(self) -> None:
        """Raise StateUnavailable unless the state server answers."""
        ...

    async def close(self) -> None: ...
