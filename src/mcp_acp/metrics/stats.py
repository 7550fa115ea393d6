"""A proxy's request counters (docs/manager.md#a-proxys-own-api), and their publication to the manager.

The enforcement point records every decision here, so counting must cost next to nothing:
plain ints and one small dict, no locks (the proxy runs on one event loop). The latency
trackers only append on the request path; their statistics are computed when read.

Recording rules (docs/manager.md#a-proxys-own-api): `policy_eval` for every policy-evaluated decision (not discovery),
`hitl_wait` for every HITL outcome (a cache hit is 0 ms), and `proxy_latency` for every request
answered with a result, not a discovery method, and not held for a human: the enforcement point
marks those request ids (`mark_hitl`) and `record_answer` consumes the mark.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from mcp_acp.event_names import Event
from mcp_acp.metrics.latency import LatencyTracker
from mcp_acp.policy.context import DISCOVERY_METHODS

DECISIONS = ("allow", "deny", "hitl")
DISCOVERY = "discovery"
LATENCY_KINDS = ("proxy_latency", "policy_eval", "hitl_wait")  # ProxyStats attributes, and metric labels
# Method names come from the client: past this many distinct ones, the rest are counted
# together, so a hostile client cannot grow memory or the manager's metric labels without end.
MAX_METHODS = 64
OTHER_METHOD = "other"


class ProxyStats:
    __slots__ = (
        "_by_decision",
        "_hitl_requests",
        "by_method",
        "hitl_wait",
        "policy_eval",
        "proxy_latency",
        "requests_total",
    )

    def __init__(self) -> None:
        self.requests_total = 0
        self._by_decision: dict[str, int] = dict.fromkeys(DECISIONS, 0)
        self.by_method: dict[str, dict[str, int]] = {}
        self.proxy_latency = LatencyTracker()
        self.policy_eval = LatencyTracker()
        self.hitl_wait = LatencyTracker()
        self._hitl_requests: set[str] = set()  # ids of requests a human was asked about, until answered

    def record_decision(
        self, decision: str, method: str, eval_ms: float | None = None, hitl_ms: float | None = None
    ) -> None:
        """One policy-evaluated request: `decision` is allow, deny or hitl; `hitl_ms` for HITL outcomes."""
        self._by_decision[decision] += 1  # an unknown decision is a bug: fail loudly
        self.requests_total += 1
        self._count(method, decision)
        if eval_ms is not None:
            self.policy_eval.record(eval_ms)
        if hitl_ms is not None:
            self.hitl_wait.record(hitl_ms)

    def mark_hitl(self, request_id: str) -> None:
        """A human was asked about this request: its round trip is not the proxy's latency."""
        self._hitl_requests.add(request_id)

    def record_answer(self, request_id: str | None, method: str | None, succeeded: bool, duration_ms: float) -> None:
        """A client request was answered, `duration_ms` after it arrived (the relay's measure)."""
        held_for_human = request_id in self._hitl_requests
        self._hitl_requests.discard(request_id)
        if succeeded and not held_for_human and method not in DISCOVERY_METHODS:
            self.proxy_latency.record(duration_ms)

    def record_discovery(self, method: str) -> None:
        """One discovery message that bypassed the policy: it counts toward the total only."""
        self.requests_total += 1
        self._count(method, DISCOVERY)

    def _count(self, method: str, decision: str) -> None:
        counts = self.by_method.get(method)
        if counts is None:
            if len(self.by_method) >= MAX_METHODS:
                method = OTHER_METHOD
            counts = self.by_method.setdefault(method, {})
        counts[decision] = counts.get(decision, 0) + 1

    def latency(self) -> dict:
        """Medians (docs/manager.md#a-proxys-own-api), p95s and the samples each is computed from; null when empty."""
        summary = {kind: getattr(self, kind).to_dict() for kind in LATENCY_KINDS}
        return {
            **{f"{kind}_ms": summary[kind]["median_ms"] for kind in LATENCY_KINDS},
            **{f"{kind}_p95_ms": summary[kind]["p95_ms"] for kind in LATENCY_KINDS},
            "sample_count": {kind: summary[kind]["count"] for kind in LATENCY_KINDS},
        }

    def api_stats(self) -> dict:
        """`GET /api/stats` (docs/manager.md#a-proxys-own-api, plus p95s and sample counts in `latency`)."""
        return {
            "requests_total": self.requests_total,
            "requests_allowed": self._by_decision["allow"],
            "requests_denied": self._by_decision["deny"],
            "requests_hitl": self._by_decision["hitl"],
            "latency": self.latency(),
        }

    def snapshot(self) -> dict:
        """What `stats_updated` and `/api/proxies` carry: `/api/stats`, the median proxy latency the
        proxy cards show, and by_method (for the manager's metrics)."""
        stats = self.api_stats()
        return {
            **stats,
            "proxy_latency_ms": stats["latency"]["proxy_latency_ms"],
            "by_method": {method: dict(counts) for method, counts in self.by_method.items()},
        }


class Emitter(Protocol):
    """Where the stats go: the proxy's event bus (proxy/events.py), which the manager link follows."""

    def emit(self, event_type: str, **data) -> None: ...


async def publish_stats(stats: ProxyStats, events: Emitter, interval: float = 0.5) -> None:
    """Until cancelled: after every `interval` in which requests were decided or answered, tell the
    manager the new stats, and how many decision entries were logged meanwhile. Idle proxies send nothing."""
    last_total, last_answered = stats.requests_total, stats.proxy_latency.total
    while True:
        await asyncio.sleep(interval)
        # Every decision bumps the total; an answer that comes after its decision was published
        # only adds a latency sample.
        total, answered = stats.requests_total, stats.proxy_latency.total
        if (total, answered) != (last_total, last_answered):
            events.emit(Event.STATS_UPDATED, stats=stats.snapshot())
            if total != last_total:
                events.emit(Event.NEW_LOG_ENTRIES, count=total - last_total)
            last_total, last_answered = total, answered
