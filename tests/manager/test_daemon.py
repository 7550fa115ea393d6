"""The daemon's idle policy (manager/daemon.py): when a manager with nothing to do may stop on
its own, and what keeps it up (a registered proxy, a browser following events, its grace period)."""

from __future__ import annotations

import pytest

from mcp_acp.config.models import ManagerConfig
from mcp_acp.localhttp.sse import Subscriber
from mcp_acp.manager.daemon import IdlePolicy
from mcp_acp.manager.registry import ProxyConnection
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
