"""Server-sent events (docs/manager.md#events-get-apievents): the hub that serves a stream to browsers and CLI followers, and
`follow`, the one reader of such a stream.

Each event is serialised once, as the bytes of one SSE message, and queued for every
subscriber; a subscriber's stream sends whatever has queued up within 5 ms in one write. A subscriber that
falls more than QUEUE_SIZE events behind is disconnected rather than silently skipped: its
browser reconnects and gets a fresh snapshot, so it never shows a state with holes in it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

import httpx
import orjson

from mcp_acp.event_names import INCIDENT_EVENTS, Event
from mcp_acp.localhttp.proxy_client import UNREACHABLE, NotRunning, async_proxy_client

log = logging.getLogger(__name__)

QUEUE_SIZE = 10_000
COALESCE_SECONDS = 0.005


def sse_message(event: dict) -> bytes:
    return b"data: " + orjson.dumps(event) + b"\n\n"


class _Overflow(Exception):
    pass


class Subscriber:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes | None] = asyncio.Queue(QUEUE_SIZE)

    def put(self, message: bytes | None) -> None:
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            raise _Overflow from None


class EventHub:
    def __init__(self) -> None:
        self.subscribers: set[Subscriber] = set()
        self.on_subscribers_changed: list[Callable[[int], None]] = []
        self.published = 0

    def publish(self, event: dict) -> None:
        """Send `event` ({"type": ..., ...}) to every browser; incident-class events also say
        that the incidents list changed."""
        self._fan_out(sse_message(event))
        if event.get("type") in INCIDENT_EVENTS:
            self._fan_out(
                sse_message(
                    {
                        "type": Event.INCIDENTS_UPDATED,
                        "proxy_name": event.get("proxy_name"),
                        "trigger_event": event["type"],
                    }
                )
            )

    def _fan_out(self, message: bytes) -> None:
        self.published += 1
        for subscriber in list(self.subscribers):
            try:
                subscriber.put(message)
            except _Overflow:
                log.warning(
                    "an event stream fell %d events behind and was closed; the browser will "
                    "reconnect and resynchronise",
                    QUEUE_SIZE,
                )
                self._drop(subscriber)

    def _drop(self, subscriber: Subscriber) -> None:
        if subscriber in self.subscribers:
            self.subscribers.discard(subscriber)
            while not subscriber.queue.empty():
                subscriber.queue.get_nowait()
            subscriber.queue.put_nowait(None)  # ends its stream
            self._changed()

    def close_all(self) -> None:
        """End every stream (the manager is stopping)."""
        for subscriber in list(self.subscribers):
            self._drop(subscriber)

    def _changed(self) -> None:
        for callback in self.on_subscribers_changed:
            callback(len(self.subscribers))

    async def stream(self, first: list[dict]) -> AsyncIterator[bytes]:
        """One browser's stream: `first` (the snapshots), then live events, batched per write."""
        subscriber = Subscriber()
        self.subscribers.add(subscriber)
        self._changed()
        try:
            yield b"".join(sse_message(event) for event in first)
            while True:
                message = await subscriber.queue.get()
                if message is not None:
                    # Let a burst gather: one write of many events costs a browser and the
                    # kernel about what one event does (4x less manager CPU under load).
                    await asyncio.sleep(COALESCE_SECONDS)
                batch = [message]
                while message is not None and not subscriber.queue.empty():
                    message = subscriber.queue.get_nowait()
                    batch.append(message)
                if batch[-1] is None:
                    if len(batch) > 1:
                        yield b"".join(m for m in batch if m is not None)
                    return
                yield b"".join(m for m in batch if m is not None)  # none is None here
        finally:
            if subscriber in self.subscribers:
                self.subscribers.discard(subscriber)
                self._changed()


STREAM_TIMEOUT = httpx.Timeout(10.0, read=None)  # an event stream may stay quiet for a long time


async def follow(socket_path: str, path: str) -> AsyncIterator[dict]:
    """The events of one SSE stream served on a Unix socket (a proxy's or the manager's): each
    `data:` line that holds a JSON object (anything else is skipped), until the stream ends.
    NotRunning when nothing answers; an error status raises httpx.HTTPStatusError."""
    try:
        async with (
            async_proxy_client(socket_path, timeout=STREAM_TIMEOUT) as client,
            client.stream("GET", path, headers={"Accept": "text/event-stream"}) as response,
        ):
            if response.status_code != 200:
                raise httpx.HTTPStatusError(f"HTTP {response.status_code}", request=response.request, response=response)
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue
                try:
                    event = orjson.loads(line[5:])
                except orjson.JSONDecodeError:
                    continue
                if isinstance(event, dict):
                    yield event
    except UNREACHABLE:
        raise NotRunning(socket_path) from None
