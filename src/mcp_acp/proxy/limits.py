"""Rate limits (docs/policies.md#limits): a global DoS token bucket and per-(session, tool) call windows.

Both are plain objects driven by an injectable clock: no threads, no timers, no locks.
They are meant to be used from the proxy's event loop only.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from mcp_acp.config.models import LimitsConfig

Clock = Callable[[], float]

# Summing float time deltas drifts by ~1e-12; that must not cost a client a whole token.
_ROUNDING_SLACK = 1e-9


class TokenBucket:
    """Allows `rate` requests per second sustained and up to `burst` at once."""

    def __init__(self, rate: float = 10.0, burst: int = 50, clock: Clock = time.monotonic) -> None:
        if not rate > 0:
            raise ValueError(f"rate must be > 0, got {rate!r}")
        if burst < 1:
            raise ValueError(f"burst must be >= 1, got {burst!r}")
        self._rate = rate
        self._burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._refilled_at = clock()

    @classmethod
    def from_limits(cls, limits: LimitsConfig, clock: Clock = time.monotonic) -> TokenBucket:
        return cls(limits.requests_per_second, limits.burst, clock)

    def try_take(self) -> bool:
        """Spend one token if there is one; False means reject the request."""
        now = self._clock()
        # Refill lazily from the time elapsed since the last call, so no timer is needed.
        elapsed = max(0.0, now - self._refilled_at)
        self._tokens = min(self._burst, self._tokens + elapsed * self._rate)
        self._refilled_at = now
        if self._tokens < 1 - _ROUNDING_SLACK:
            return False
        self._tokens -= 1
        return True


class ToolCallWindow:
    """Counts calls per (session, tool) over a sliding window and flags calls over the threshold.

    A call counts while it is younger than `window_seconds`. `record` returns True for
    every call that makes the count exceed the tool's threshold, until `reset` (a human
    approved the burst) or the window slides past the old calls.
    """

    def __init__(
        self,
        threshold: int = 120,
        window_seconds: float = 60.0,
        per_tool: dict[str, int] | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        overrides = dict(per_tool or {})
        if threshold < 1 or any(limit < 1 for limit in overrides.values()):
            raise ValueError(f"thresholds must be >= 1, got {threshold!r} and overrides {overrides!r}")
        if not window_seconds > 0:
            raise ValueError(f"window_seconds must be > 0, got {window_seconds!r}")
        self.threshold = threshold
        self.window_seconds = window_seconds
        self._per_tool = overrides
        self._clock = clock
        self._calls: dict[str, dict[str, deque[float]]] = {}

    @classmethod
    def from_limits(cls, limits: LimitsConfig, clock: Clock = time.monotonic) -> ToolCallWindow:
        return cls(limits.tool_calls_per_window, limits.window_seconds, limits.per_tool, clock)

    def threshold_for(self, tool_name: str) -> int:
        return self._per_tool.get(tool_name, self.threshold)

    def record(self, session_id: str, tool_name: str) -> bool:
        """Record one call; True when it exceeds the threshold within the window."""
        now = self._clock()
        limit = self.threshold_for(tool_name)
        session = self._calls.setdefault(session_id, {})
        # Only "more than limit" matters, so limit + 1 timestamps are enough to decide:
        # the deque drops the oldest, which would leave the window first anyway.
        calls = session.setdefault(tool_name, deque(maxlen=limit + 1))
        while calls and now - calls[0] >= self.window_seconds:
            calls.popleft()
        calls.append(now)
        return len(calls) > limit

    def reset(self, session_id: str, tool_name: str) -> None:
        """Forget the tool's recent calls, e.g. after a human approved a rate-limit breach."""
        self._calls.get(session_id, {}).pop(tool_name, None)

    def clear_session(self, session_id: str) -> None:
        self._calls.pop(session_id, None)
