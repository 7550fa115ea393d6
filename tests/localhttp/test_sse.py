"""The event hub (localhttp/sse.py): every browser gets the snapshot then every event
in order, incident events also announce `incidents_updated`, a slow subscriber is cut off
rather than missing events, and closing ends every stream."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from mcp_acp.localhttp import sse as events_module
from mcp_acp.localhttp.sse import EventHub

# --------------------------------------------------------------------------- the event hub


def messages(chunk: bytes) -> list[dict]:
    """The events in one write of an SSE stream."""
    assert chunk.endswith(b"\n\n")
    return [orjson.loads(part.removeprefix(b"data: ")) for part in chunk.split(b"\n\n") if part]


async def next_chunk(stream) -> bytes:
    return await asyncio.wait_for(stream.__anext__(), 5)


async def test_every_subscriber_gets_the_snapshot_then_every_event_in_order():
    hub = EventHub()
    counts = []
    hub.on_subscribers_changed.append(counts.append)
    first = [{"type": "snapshot", "approvals": []}]
    a, b = hub.stream(first), hub.stream(first)
    assert messages(await next_chunk(a)) == first and messages(await next_chunk(b)) == first
    assert counts == [1, 2] and len(hub.subscribers) == 2

    for n in range(3):
        hub.publish({"type": "stats_updated", "n": n})
    # What queued up while the browser was busy goes out in one write, in order.
    for stream in (a, b):
        assert [event["n"] for event in messages(await next_chunk(stream))] == [0, 1, 2]

    await a.aclose()
    assert counts == [1, 2, 1] and len(hub.subscribers) == 1
    hub.publish({"type": "proxy_registered", "proxy_name": "p1"})
    assert messages(await next_chunk(b)) == [{"type": "proxy_registered", "proxy_name": "p1"}]
    await b.aclose()
    assert counts[-1] == 0 and not hub.subscribers


# The incident-class events of docs/manager.md#events-get-apievents, listed here so that a change to the product's list is noticed.
INCIDENT_EVENTS = [
    "critical_shutdown",
    "audit_init_failed",
    "device_health_failed",
    "session_hijacking",
    "audit_tampering",
    "audit_missing",
    "audit_permission_denied",
    "health_degraded",
    "health_monitor_failed",
]


@pytest.mark.parametrize("event_type", INCIDENT_EVENTS)
async def test_incident_events_also_announce_incidents_updated(event_type):
    hub = EventHub()
    stream = hub.stream([])
    await next_chunk(stream)
    hub.publish({"type": event_type, "proxy_name": "p1", "proxy_id": "px_00000000:p1"})
    assert messages(await next_chunk(stream)) == [
        {"type": event_type, "proxy_name": "p1", "proxy_id": "px_00000000:p1"},
        {"type": "incidents_updated", "proxy_name": "p1", "trigger_event": event_type},
    ]
    await stream.aclose()


@pytest.mark.parametrize("event_type", ["stats_updated", "policy_reloaded", "proxy_disconnected", "pending_created"])
async def test_other_events_do_not_announce_incidents(event_type):
    hub = EventHub()
    stream = hub.stream([])
    await next_chunk(stream)
    hub.publish({"type": event_type, "proxy_name": "p1"})
    assert [event["type"] for event in messages(await next_chunk(stream))] == [event_type]
    await stream.aclose()


async def test_a_slow_subscriber_is_disconnected_instead_of_missing_events(monkeypatch):
    monkeypatch.setattr(events_module, "QUEUE_SIZE", 5)
    hub = EventHub()
    counts = []
    hub.on_subscribers_changed.append(counts.append)
    slow, fast = hub.stream([]), hub.stream([])
    await next_chunk(slow)
    await next_chunk(fast)

    for n in range(4):
        hub.publish({"type": "new_log_entries", "n": n})
    assert [event["n"] for event in messages(await next_chunk(fast))] == [0, 1, 2, 3]
    for n in range(4, 8):  # the slow one has 5 waiting at n=4 and overflows at n=5
        hub.publish({"type": "new_log_entries", "n": n})

    # The slow browser's stream ends (it reconnects and resynchronises); it never sees a gap.
    with pytest.raises(StopAsyncIteration):
        await next_chunk(slow)
    assert len(hub.subscribers) == 1 and counts == [1, 2, 1]
    assert [event["n"] for event in messages(await next_chunk(fast))] == [4, 5, 6, 7]
    await fast.aclose()


async def test_close_all_ends_every_stream():
    hub = EventHub()
    streams = [hub.stream([]) for _ in range(3)]
    for stream in streams:
        await next_chunk(stream)
    hub.publish({"type": "stats_updated"})
    hub.close_all()
    for stream in streams:
        with pytest.raises(StopAsyncIteration):  # queued events are dropped with the stream
            await next_chunk(stream)
    assert not hub.subscribers
