"""Unit tests of the rate limiters (docs/policies.md#limits) and their config block."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from mcp_acp.config.models import LimitsConfig
from mcp_acp.proxy.limits import TokenBucket, ToolCallWindow


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def take_all(bucket: TokenBucket, attempts: int) -> list[bool]:
    return [bucket.try_take() for _ in range(attempts)]


# --- TokenBucket ----------------------------------------------------------------------


def test_bucket_allows_a_burst_of_50_then_rejects_the_flood(clock: FakeClock) -> None:
    bucket = TokenBucket(clock=clock)
    assert take_all(bucket, 50) == [True] * 50
    assert take_all(bucket, 100) == [False] * 100


def test_bucket_refills_at_the_sustained_rate(clock: FakeClock) -> None:
    bucket = TokenBucket(rate=10, burst=50, clock=clock)
    take_all(bucket, 50)
    clock.advance(0.05)
    assert not bucket.try_take()  # half a token is not a token
    clock.advance(0.05)
    assert bucket.try_take()
    assert not bucket.try_take()
    clock.advance(1.0)
    assert take_all(bucket, 11) == [True] * 10 + [False]


def test_bucket_never_holds_more_than_the_burst(clock: FakeClock) -> None:
    bucket = TokenBucket(rate=10, burst=5, clock=clock)
    clock.advance(3600)
    assert take_all(bucket, 6) == [True] * 5 + [False]


def test_bucket_sustains_its_rate_indefinitely(clock: FakeClock) -> None:
    bucket = TokenBucket(rate=4, burst=1, clock=clock)
    for _ in range(100):
        assert bucket.try_take()
        assert not bucket.try_take()
        clock.advance(0.25)


def test_bucket_tolerates_a_clock_going_backwards(clock: FakeClock) -> None:
    bucket = TokenBucket(rate=1, burst=1, clock=clock)
    assert bucket.try_take()
    clock.advance(-10)
    assert not bucket.try_take()
    clock.advance(11)
    assert bucket.try_take()


@pytest.mark.parametrize(("rate", "burst"), [(0, 50), (-1, 50), (math.nan, 50), (10, 0), (10, -5)])
def test_bucket_rejects_nonsense_settings(rate: float, burst: int) -> None:
    with pytest.raises(ValueError):
        TokenBucket(rate=rate, burst=burst)


# --- ToolCallWindow -------------------------------------------------------------------


def record_many(window: ToolCallWindow, count: int, session: str = "s1", tool: str = "read_file") -> list[bool]:
    return [window.record(session, tool) for _ in range(count)]


def test_window_flags_the_121st_call_within_60_seconds(clock: FakeClock) -> None:
    window = ToolCallWindow(clock=clock)
    assert record_many(window, 120) == [False] * 120
    assert window.record("s1", "read_file")
    assert window.record("s1", "read_file")  # stays breached until reset or the window slides


def test_window_counts_calls_spread_over_the_window(clock: FakeClock) -> None:
    window = ToolCallWindow(threshold=30, window_seconds=60, clock=clock)
    for _ in range(30):
        assert not window.record("s1", "t")
        clock.advance(1.9)  # 30 calls over 57 s
    assert window.record("s1", "t")


def test_window_forgets_calls_once_they_are_window_seconds_old(clock: FakeClock) -> None:
    window = ToolCallWindow(threshold=30, window_seconds=60, clock=clock)
    record_many(window, 30, tool="t")
    clock.advance(59.999)
    assert window.record("s1", "t")
    clock.advance(0.001)  # the first 30 calls are now exactly 60 s old: no longer counted
    assert record_many(window, 29, tool="t") == [False] * 29
    assert window.record("s1", "t")


def test_window_slides_call_by_call(clock: FakeClock) -> None:
    window = ToolCallWindow(threshold=3, window_seconds=10, clock=clock)
    for _ in range(3):
        assert not window.record("s", "t")
        clock.advance(3)  # calls at 0, 3 and 6
    assert window.record("s", "t")  # t=9: four calls within 10 s
    clock.advance(4)
    assert not window.record("s", "t")  # t=13: 0 and 3 have left; 6, 9 and 13 remain
    assert window.record("s", "t")  # a second call at t=13 is the fourth again


def test_reset_after_an_approved_breach_gives_a_fresh_allowance(clock: FakeClock) -> None:
    window = ToolCallWindow(clock=clock)
    record_many(window, 120)
    assert window.record("s1", "read_file")
    window.reset("s1", "read_file")
    assert record_many(window, 120) == [False] * 120
    assert window.record("s1", "read_file")


def test_reset_only_touches_its_own_session_and_tool(clock: FakeClock) -> None:
    window = ToolCallWindow(threshold=2, clock=clock)
    for session, tool in [("s1", "a"), ("s1", "b"), ("s2", "a")]:
        record_many(window, 2, session, tool)
    window.reset("s1", "a")
    window.reset("unknown", "a")  # unknown keys are fine
    assert not window.record("s1", "a")
    assert window.record("s1", "b")
    assert window.record("s2", "a")


def test_sessions_and_tools_are_counted_separately(clock: FakeClock) -> None:
    window = ToolCallWindow(threshold=2, clock=clock)
    assert record_many(window, 2, "s1", "a") == [False, False]
    assert record_many(window, 2, "s2", "a") == [False, False]
    assert record_many(window, 2, "s1", "b") == [False, False]
    assert window.record("s1", "a")
    assert window.record("s2", "a")
    assert window.record("s1", "b")


def test_per_tool_overrides_apply_to_exact_names_only(clock: FakeClock) -> None:
    window = ToolCallWindow(threshold=30, per_tool={"bash": 2, "search": 100}, clock=clock)
    assert window.threshold_for("bash") == 2
    assert window.threshold_for("Bash") == 30
    assert record_many(window, 3, tool="bash") == [False, False, True]
    assert record_many(window, 31, tool="Bash")[-1]
    assert record_many(window, 100, tool="search") == [False] * 100
    assert window.record("s1", "search")


def test_clear_session_forgets_all_of_its_tools(clock: FakeClock) -> None:
    window = ToolCallWindow(threshold=1, clock=clock)
    record_many(window, 2, "s1", "a")
    record_many(window, 2, "s1", "b")
    record_many(window, 2, "s2", "a")
    window.clear_session("s1")
    window.clear_session("never-seen")
    assert not window.record("s1", "a")
    assert not window.record("s1", "b")
    assert window.record("s2", "a")


def test_window_memory_stays_bounded_under_a_flood(clock: FakeClock) -> None:
    window = ToolCallWindow(threshold=30, clock=clock)
    record_many(window, 10_000)
    # Reaching into the tracker: only the newest threshold + 1 timestamps are kept.
    assert len(window._calls["s1"]["read_file"]) == 31
    assert window.record("s1", "read_file")


@pytest.mark.parametrize(
    "kwargs",
    [{"threshold": 0}, {"window_seconds": 0}, {"window_seconds": -1}, {"per_tool": {"x": 0}}],
)
def test_window_rejects_nonsense_settings(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        ToolCallWindow(**kwargs)


# --- LimitsConfig ---------------------------------------------------------------------


def test_config_defaults_match_the_spec() -> None:
    config = LimitsConfig()
    assert config.model_dump() == {
        "requests_per_second": 10.0,
        "burst": 50,
        "tool_calls_per_window": 120,
        "window_seconds": 60.0,
        "per_tool": {},
    }


def test_config_builds_limiters_with_its_settings(clock: FakeClock) -> None:
    config = LimitsConfig.model_validate(
        {"requests_per_second": 2, "burst": 3, "tool_calls_per_window": 4, "window_seconds": 5, "per_tool": {"x": 1}}
    )
    bucket = TokenBucket.from_limits(config, clock)
    assert take_all(bucket, 4) == [True] * 3 + [False]
    clock.advance(0.5)
    assert bucket.try_take()

    window = ToolCallWindow.from_limits(config, clock)
    assert record_many(window, 5, tool="y") == [False] * 4 + [True]
    assert record_many(window, 2, tool="x") == [False, True]
    clock.advance(5)
    assert not window.record("s1", "y")


def test_config_limiters_use_the_real_clock_by_default() -> None:
    config = LimitsConfig()
    assert TokenBucket.from_limits(config).try_take()
    assert not ToolCallWindow.from_limits(config).record("s", "t")


@pytest.mark.parametrize(
    "block",
    [
        {"requests_per_second": 0},
        {"requests_per_second": 100_001},
        {"requests_per_second": "nan"},
        {"requests_per_second": "inf"},
        {"burst": 0},
        {"burst": 1_000_001},
        {"tool_calls_per_window": 0},
        {"tool_calls_per_window": 1_000_001},
        {"window_seconds": 0.5},
        {"window_seconds": 3601},
        {"per_tool": {"bash": 0}},
        {"per_tool": {"bash": 1_000_001}},
        {"per_tool": {"": 5}},
        {"per_tool": ["bash"]},
        {"burts": 50},
    ],
)
def test_config_rejects_out_of_range_or_unknown_settings(block: dict) -> None:
    with pytest.raises(ValidationError):
        LimitsConfig.model_validate(block)


def test_config_accepts_the_edges_of_each_range() -> None:
    low = LimitsConfig(requests_per_second=0.001, burst=1, tool_calls_per_window=1, window_seconds=1)
    high = LimitsConfig(
        requests_per_second=100_000,
        burst=1_000_000,
        tool_calls_per_window=1_000_000,
        window_seconds=3600,
        per_tool={"bash": 1, "search": 1_000_000},
    )
    assert low.burst == 1
    assert high.per_tool == {"bash": 1, "search": 1_000_000}
