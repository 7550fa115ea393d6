"""The manager's pure parts (docs/manager.md): when it may stop on its own, what a registration must
look like, how events fan out to browsers, and which forwarded paths are safe."""

from __future__ import annotations

import asyncio
import posixpath

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcp_acp.config.models import ManagerConfig
from mcp_acp.localhttp import protocol
from mcp_acp.localhttp import sse as events_module
from mcp_acp.localhttp.sse import EventHub, Subscriber
from mcp_acp.manager.daemon import IdlePolicy
from mcp_acp.manager.registry import ProxyConnection
from mcp_acp.manager.routing import _safe_path
from mcp_acp.manager.state import ManagerState

# --------------------------------------------------------------------------- idle shutdown


@pytest.fixture
def idle_state(tmp_path) -> ManagerState:
    """A manager that started at t=0 and has had no activity since."""
    state = ManagerState(config=ManagerConfig(log_dir=str(tmp_path)))
    state.started = state.last_activity = 0.0
    return state


POLICY = IdlePolicy(grace=60, interval=30, timeout=300)


def test_idle_manager_stops_after_grace_and_timeout(idle_state):
    assert POLICY.should_stop(idle_state, now=300)
    assert POLICY.should_stop(idle_state, now=10_000)


def test_idle_manager_does_not_stop_before_the_timeout(idle_state):
    assert not POLICY.should_stop(idle_state, now=299.9)
    idle_state.last_activity = 200.0  # a request, a registration, a subscription
    assert not POLICY.should_stop(idle_state, now=400)
    assert POLICY.should_stop(idle_state, now=500)


def test_idle_manager_does_not_stop_during_its_grace_period(idle_state):
    policy = IdlePolicy(grace=60, interval=1, timeout=0)
    assert not policy.should_stop(idle_state, now=59.9)
    assert policy.should_stop(idle_state, now=60)


def test_a_registered_proxy_keeps_the_manager_up(idle_state):
    idle_state.registry.add(ProxyConnection("p1", "px_00000000:p1", "i1", "/tmp/p1.sock", {}))
    assert not POLICY.should_stop(idle_state, now=10_000)


def test_a_browser_following_events_keeps_the_manager_up(idle_state):
    subscriber = Subscriber()
    idle_state.hub.subscribers.add(subscriber)
    assert not POLICY.should_stop(idle_state, now=10_000)
    idle_state.hub.subscribers.discard(subscriber)
    assert POLICY.should_stop(idle_state, now=10_000)


def test_spec_defaults():
    assert (IdlePolicy().grace, IdlePolicy().interval, IdlePolicy().timeout) == (60, 30, 300)


# --------------------------------------------------------------------------- the registration protocol


def registration(**changes) -> dict:
    message = {
        "type": "register",
        "proxy_name": "p1",
        "proxy_id": "px_0123abcd:fixture",
        "instance_id": "a1b2c3",
        "config_summary": {"backend_id": "fixture", "transport": "stdio", "api_port": None},
        "socket_path": "/run/mcp-acp/proxy_p1.sock",
    }
    message.update(changes)
    return {key: value for key, value in message.items() if value is not None}


def test_encode_is_one_compact_line_and_decodes_back():
    message = {"type": "event", "event_type": "stats_updated", "data": {"a": [1, 2], "b": "é"}}
    line = protocol.encode(message)
    assert line.endswith(b"\n") and line.count(b"\n") == 1 and b": " not in line
    assert protocol.decode(line) == message


@pytest.mark.parametrize(
    "line",
    [
        b"",
        b"\n",
        b"not json\n",
        b"[1, 2]\n",
        b'"register"\n',
        b"{}\n",
        b'{"type": 1}\n',
        b'{"type": null}\n',
        b"\xff\xfe\n",
        b'{"type": "x"',
    ],
)
def test_decode_refuses_what_is_not_a_typed_json_object(line):
    assert protocol.decode(line) is None


@given(st.binary(max_size=256))
def test_decode_never_raises(line):
    result = protocol.decode(line)
    assert result is None or isinstance(result["type"], str)


def test_a_valid_registration_is_accepted():
    parsed, problem = protocol.parse_register(registration(extra_field="ignored"))
    assert problem is None
    assert (parsed.proxy_name, parsed.proxy_id, parsed.instance_id) == ("p1", "px_0123abcd:fixture", "a1b2c3")
    assert parsed.socket_path == "/run/mcp-acp/proxy_p1.sock"
    assert parsed.config_summary["backend_id"] == "fixture"


@pytest.mark.parametrize(
    ("message", "mentions"),
    [
        (None, "invalid JSON"),
        (registration(type="event"), "register"),
        (registration(proxy_id=None), "proxy_id"),
        (registration(instance_id=None), "instance_id"),
        (registration(proxy_name=None), "proxy_name"),
        (registration(socket_path=None), "socket_path"),
        (registration(socket_path=""), "socket_path"),
        (registration(instance_id=""), "instance_id"),
        (registration(instance_id="x" * 65), "instance_id"),
        (registration(proxy_id="px_0123abcd"), "proxy_id"),
        (registration(proxy_id="px_XYZ:fixture"), "proxy_id"),
        (registration(proxy_id="px_0123abcd:../etc"), "proxy_id"),
        (registration(proxy_name="../etc"), "proxy_name"),
        (registration(proxy_name="a/b"), "proxy_name"),
        (registration(proxy_name=""), "proxy_name"),
        (registration(proxy_name="x" * 65), "proxy_name"),
        (registration(proxy_name="manager"), "reserved"),
        (registration(proxy_name=["p1"]), "proxy_name"),
        (registration(config_summary="nope"), "config_summary"),
    ],
)
def test_a_bad_registration_is_refused_with_its_reason(message, mentions):
    parsed, problem = protocol.parse_register(message)
    assert parsed is None
    assert mentions in problem, problem


@given(
    st.dictionaries(
        st.sampled_from(["type", "proxy_name", "proxy_id", "instance_id", "socket_path", "config_summary", "other"]),
        st.one_of(
            st.none(),
            st.booleans(),
            st.integers(),
            st.text(max_size=80),
            st.lists(st.text(max_size=5), max_size=3),
            st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
        ),
    )
)
def test_parse_register_never_raises(message):
    parsed, problem = protocol.parse_register(message)
    assert (parsed is None) != (problem is None)


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


# --------------------------------------------------------------------------- forwarded paths


@pytest.mark.parametrize(
    "path",
    [
        "stats",
        "control/status",
        "logs/decisions",
        "approvals/pending/0123abcd/approve",
        "policy/rules/rule-1",
        "logs/..x",
        "a...b",
        "incidents/shutdowns",
    ],
)
def test_safe_paths(path):
    assert _safe_path(path)


@pytest.mark.parametrize(
    "path",
    [
        "",
        "/",
        "/stats",
        "stats/",
        "a//b",
        ".",
        "..",
        "../x",
        "x/..",
        "a/../b",
        "a/./b",
        "./a",
        "..\\config",
        "a\\b",
        "logs/decisions\x00",
        "\x00",
        "a" * 2049,
    ],
)
def test_unsafe_paths(path):
    assert not _safe_path(path)


@given(st.text(alphabet=st.sampled_from(["a", ".", "/", "\\", "\x00", "%", "2", "e", "f"]), max_size=40))
def test_a_safe_path_never_leaves_the_api_tree(path):
    if _safe_path(path):
        target = "/api/" + path
        assert posixpath.normpath(target) == target
        assert "\\" not in path and "\x00" not in path
