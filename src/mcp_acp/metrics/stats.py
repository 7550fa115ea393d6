"""A proxy's request counters (SPEC §13.1), and their publication to the manager.

The enforcement point records every decision here, so counting must cost next to nothing:
plain ints and one small dict, no locks (the proxy runs on one event loop). The latency
trackers of §13.1 come later; until then their medians are null.
"""

from __future__ import annotations

import asyncio

from mcp_acp.proxy.events import ProxyEvents

DECISIONS = ("allow", "deny", "hitl")
DISCOVERY = "discovery"
# Method names come from the client: past this many distinct ones, the rest are counted
# together, so a hostile client cannot grow memory or the manager's metric labels without end.
MAX_METHODS = 64
OTHER_METHOD = "other"


class ProxyStats:
    __slots__ = ("requests_total", "_by_decision", "by_method")

    def __init__(self) -> None:
        self.requests_total = 0
        self._by_decision = dict.fromkeys(DECISIONS, 0)
        self.by_method: dict[str, dict[str, int]] = {}

    def record_decision(self, decision: str, method: str) -> None:
        """One policy-evaluated request: `decision` is allow, deny or hitl."""
        self._by_decision[decision] += 1  # an unknown decision is a bug: fail loudly
        self.requests_total += 1
        self._count(method, decision)

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

    def snapshot(self) -> dict:
        """What `stats_updated` and `/api/proxies` carry (by_method feeds the manager's metrics)."""
        return {"requests_total": self.requests_total, "requests_allowed": self._by_decision["allow"],
                "requests_denied": self._by_decision["deny"], "requests_hitl": self._by_decision["hitl"],
                "proxy_latency_ms": None, "policy_eval_ms": None, "hitl_wait_ms": None,
                "by_method": {method: dict(counts) for method, counts in self.by_method.items()}}

    def api_stats(self) -> dict:
        """`GET /api/stats` (SPEC §13.1)."""
        return {"requests_total": self.requests_total, "requests_allowed": self._by_decision["allow"],
                "requests_denied": self._by_decision["deny"], "requests_hitl": self._by_decision["hitl"],
                "latency": {"proxy_latency_ms": None, "policy_eval_ms": None, "hitl_wait_ms": None}}


async def publish_stats(stats: ProxyStats, events: ProxyEvents, interval: float = 0.5) -> None:
    """Until cancelled: after every `interval` in which requests were decided, tell the manager the
    new counts and how many decision entries were logged meanwhile. Idle proxies send nothing."""
    last_total = stats.requests_total
    while True:
        await asyncio.sleep(interval)
        total = stats.requests_total  # every record bumps the total, so it alone tells of a change
        if total != last_total:
            events.emit("stats_updated", stats=stats.snapshot())
            events.emit("new_log_entries", count=total - last_total)
            last_total = total
