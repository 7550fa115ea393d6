"""Latency trackers (docs/manager.md#a-proxys-own-api): the last LATENCY_BUFFER_SIZE samples of one kind of latency.

`record()` is on the request path, so it only appends to a fixed-size deque (O(1), no sorting);
the statistics sort a copy when they are read. They describe the samples held, so min, max,
median and p95 are those of the last 1000 samples; `total` counts every sample ever recorded.
"""

from __future__ import annotations

import math
from collections import deque

LATENCY_BUFFER_SIZE = 1000


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _median(ordered: list[float]) -> float | None:
    n = len(ordered)
    if not n:
        return None
    middle = n // 2
    return ordered[middle] if n % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def _p95(ordered: list[float]) -> float | None:
    """Nearest rank: the smallest sample that at least 95% of the samples do not exceed."""
    return ordered[math.ceil(0.95 * len(ordered)) - 1] if ordered else None


class LatencyTracker:
    __slots__ = ("_samples", "total")

    def __init__(self, size: int = LATENCY_BUFFER_SIZE) -> None:
        self._samples: deque[float] = deque(maxlen=size)  # a full deque drops its oldest on append
        self.total = 0

    def record(self, ms: float) -> None:
        self._samples.append(ms)
        self.total += 1

    def count(self) -> int:
        """Samples held (at most LATENCY_BUFFER_SIZE)."""
        return len(self._samples)

    def median(self) -> float | None:
        return _median(sorted(self._samples))

    def p95(self) -> float | None:
        return _p95(sorted(self._samples))

    def min(self) -> float | None:
        return min(self._samples, default=None)

    def max(self) -> float | None:
        return max(self._samples, default=None)

    def to_dict(self) -> dict:
        ordered = sorted(self._samples)  # one sort for every statistic
        return {
            "median_ms": _round(_median(ordered)),
            "p95_ms": _round(_p95(ordered)),
            "count": len(ordered),
            "min_ms": _round(ordered[0] if ordered else None),
            "max_ms": _round(ordered[-1] if ordered else None),
        }
