"""The interface every state backend offers: py-key-value-aio's key-value store for records,
plus the three things a plain key-value store cannot do atomically across replicas."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from key_value.aio.protocols import AsyncKeyValue
from key_value.aio.protocols.key_value import AsyncEnumerateKeysProtocol


class StateUnavailable(Exception):
    """The state server cannot be reached or answered with an error: deny what needed it."""


class Records(AsyncKeyValue, AsyncEnumerateKeysProtocol, Protocol):
    """Records by collection and key, each with an optional TTL, that can be listed (py-key-value-aio)."""


class SharedState(Protocol):
    @property
    def kv(self) -> Records: ...

    replica_id: str  # this process, as the others see it in records and events

    async def claim(self, key: str, ttl_seconds: float) -> bool:
        """Set `key` if absent, atomically: True for the one caller that got it (a spent nonce,
        a decision taken once)."""
        ...

    async def take_token(self, key: str, per_minute: int, burst: int) -> float | None:
        """One token from the bucket `key` (atomic, on the state server's clock): None when
        granted, else the seconds to wait."""
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
