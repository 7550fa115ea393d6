"""Latency trackers (docs/manager.md#a-proxys-own-api): the ring buffer and its statistics, the shapes of
`/api/stats` and `stats_updated`, the recording rules through the real enforcement point and
operations recorder. The manager's latency gauges are in test_prometheus.py.

The enforcement point runs with the real engine and the real chained audit writer in a temp
folder; the relay is played by `exchange`, which makes the same calls in the same order
(describe, gate, record with the answer and its duration).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from mcp_acp import jsonrpc
from mcp_acp.metrics.latency import LATENCY_BUFFER_SIZE, LatencyTracker
from mcp_acp.metrics.stats import ProxyStats, publish_stats
from mcp_acp.proxy.approvals import TIMEOUT, USER_ALLOWED, USER_DENIED, ApprovalOutcome
from mcp_acp.proxy.enforcement import Enforcer
from mcp_acp.proxy.events import ProxyEvents
from mcp_acp.proxy.gate import LogWhileForwarded
from mcp_acp.proxy.operations import OperationsRecorder
from tests.support.proxy_session import build_session

# --------------------------------------------------------------------------- the tracker


def tracker(*samples: float) -> LatencyTracker:
    t = LatencyTracker()
    for sample in samples:
        t.record(sample)
    return t


def test_empty_tracker_reports_nulls():
    t = tracker()
    assert (t.median(), t.p95(), t.min(), t.max(), t.count(), t.total) == (None, None, None, None, 0, 0)
    assert t.to_dict() == {"median_ms": None, "p95_ms": None, "count": 0, "min_ms": None, "max_ms": None}


def test_single_sample_is_every_statistic():
    t = tracker(4.2)
    assert (t.median(), t.p95(), t.min(), t.max(), t.count(), t.total) == (4.2, 4.2, 4.2, 4.2, 1, 1)


def test_median_of_odd_and_even_counts():
    assert tracker(9, 1, 5).median() == 5  # the middle one, whatever the recording order
    assert tracker(9, 1, 5, 3).median() == 4  # even: the mean of the middle two (3 and 5)
    assert tracker(1, 2).median() == 1.5


def test_p95_is_the_nearest_rank():
    assert tracker(*range(1, 101)).p95() == 95
    assert tracker(*range(20, 0, -1)).p95() == 19  # ceil(0.95 * 20) = 19th smallest
    assert tracker(1, 1000).p95() == 1000  # with two samples the slow one is the 95th percentile


def test_wraparound_keeps_the_last_1000_and_counts_them_all():
    t = tracker(*range(1, LATENCY_BUFFER_SIZE + 6))  # 1..1005
    assert (t.count(), t.total) == (LATENCY_BUFFER_SIZE, LATENCY_BUFFER_SIZE + 5)
    assert (t.min(), t.max()) == (6, 1005)  # the five oldest were dropped
    assert t.median() == (505 + 506) / 2


def test_min_max_and_rounding():
    t = tracker(2.5, 0.123456, 7.891011)
    assert (t.min(), t.max()) == (0.123456, 7.891011)
    assert t.to_dict() == {"median_ms": 2.5, "p95_ms": 7.89, "count": 3, "min_ms": 0.12, "max_ms": 7.89}


# --------------------------------------------------------------------------- shapes


def test_api_stats_and_snapshot_shapes():
    stats = ProxyStats()
    empty = {
        "proxy_latency_ms": None,
        "policy_eval_ms": None,
        "hitl_wait_ms": None,
        "proxy_latency_p95_ms": None,
        "policy_eval_p95_ms": None,
        "hitl_wait_p95_ms": None,
        "sample_count": {"proxy_latency": 0, "policy_eval": 0, "hitl_wait": 0},
    }
    assert stats.api_stats() == {
        "requests_total": 0,
        "requests_allowed": 0,
        "requests_denied": 0,
        "requests_hitl": 0,
        "latency": empty,
    }
    stats.record_decision("allow", "tools/call", eval_ms=0.2)
    stats.record_decision("hitl", "tools/call", eval_ms=0.4, hitl_ms=1500.0)
    stats.record_answer("1", "tools/call", True, 2.0)
    stats.record_answer("2", "tools/call", True, 4.0)
    latency = stats.api_stats()["latency"]
    assert latency == {
        "proxy_latency_ms": 3.0,
        "policy_eval_ms": 0.3,
        "hitl_wait_ms": 1500.0,
        "proxy_latency_p95_ms": 4.0,
        "policy_eval_p95_ms": 0.4,
        "hitl_wait_p95_ms": 1500.0,
        "sample_count": {"proxy_latency": 2, "policy_eval": 2, "hitl_wait": 1},
    }
    snap = stats.snapshot()
    assert snap["latency"] == latency and snap["proxy_latency_ms"] == 3.0  # the cards show the median
    assert snap["by_method"] == {"tools/call": {"allow": 1, "hitl": 1}}
    assert json.loads(json.dumps(snap)) == snap  # it travels as JSON


async def test_an_answer_after_its_decision_was_published_is_published_too():
    stats, events, seen = ProxyStats(), ProxyEvents(), []
    events.sinks.append(lambda kind, payload: seen.append((kind, payload)))
    task = asyncio.create_task(publish_stats(stats, events, interval=0.02))
    try:
        await asyncio.sleep(0.05)  # the publisher has started
        stats.record_decision("allow", "tools/call", eval_ms=0.1)
        await asyncio.sleep(0.1)
        assert [kind for kind, _ in seen] == ["stats_updated", "new_log_entries"]
        stats.record_answer("1", "tools/call", True, 3.0)  # the backend answered later
        await asyncio.sleep(0.1)
        assert [kind for kind, _ in seen] == ["stats_updated", "new_log_entries", "stats_updated"]
        assert seen[-1][1]["stats"]["proxy_latency_ms"] == 3.0
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


# --------------------------------------------------------------------------- recording rules

RULES = [
    {"id": "read", "effect": "allow", "conditions": {"tool_name": "read_*"}},
    {"id": "no-env", "effect": "deny", "conditions": {"path_pattern": "**/.env"}},
    {"id": "writes", "effect": "hitl", "conditions": {"tool_name": "write_file"}, "cache_side_effects": ["fs_write"]},
]


class ScriptedApprover:
    def __init__(self, *outcomes: str) -> None:
        self.outcomes = list(outcomes)

    async def ask(self, request) -> ApprovalOutcome:
        return ApprovalOutcome(self.outcomes.pop(0), approver_id="alice")


@pytest.fixture
def proxy(tmp_path: Path):
    """An enforcer and an operations recorder sharing one ProxyStats, as the proxy wires them."""

    def make(*outcomes: str) -> tuple[Enforcer, OperationsRecorder]:
        session = build_session(tmp_path, RULES, approver=ScriptedApprover(*outcomes))
        return session.enforcer, session.recorder("stdio")

    return make


def call(tool: str, path: str = "/p/a.txt", request_id: int = 1) -> dict:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": tool, "arguments": {"path": path}},
    }


async def exchange(
    enforcer: Enforcer, recorder: OperationsRecorder, message: dict, duration_ms: float, backend_fails: bool = False
) -> dict:
    """One request as the relay handles it: the gate decides, the backend (if reached) answers."""
    record = recorder.describe(message)
    verdict = enforcer.check(message)
    verdict = await verdict if asyncio.iscoroutine(verdict) else verdict
    if isinstance(verdict, LogWhileForwarded):  # the relay writes it while the backend works
        verdict = verdict.write()
    if verdict is not None:
        answer = jsonrpc.error_response(message["id"], **verdict)
    elif backend_fails:
        answer = jsonrpc.error_response(message["id"], -32603, "backend broke")
    else:
        answer = {"jsonrpc": "2.0", "id": message["id"], "result": {"content": []}}
    assert recorder.record(record, answer, jsonrpc.encode(answer), duration_ms) is None
    return answer


def samples(stats: ProxyStats) -> tuple[list[float], int, list[float]]:
    """proxy_latency samples, policy_eval sample count, hitl_wait samples."""
    return list(stats.proxy_latency._samples), stats.policy_eval.count(), list(stats.hitl_wait._samples)


async def test_discovery_is_neither_evaluated_nor_proxy_latency(proxy):
    e, r = proxy()
    await exchange(e, r, {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {}}, 5.0)
    await exchange(e, r, {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, 6.0)
    await exchange(e, r, {"jsonrpc": "2.0", "id": 2, "method": "ping"}, 7.0)
    assert samples(e.stats) == ([], 0, [])
    assert e.stats.requests_total == 3


async def test_allowed_success_is_proxy_latency_but_denials_and_backend_errors_are_not(proxy):
    e, r = proxy()
    assert "result" in await exchange(e, r, call("read_file", request_id=1), 1.5)
    assert "error" in await exchange(e, r, call("read_file", "/p/.env", 2), 9.0)  # policy denial
    assert "error" in await exchange(e, r, call("delete_file", request_id=3), 9.0)  # default deny
    assert "error" in await exchange(e, r, call("read_file", request_id=4), 9.0, backend_fails=True)
    assert samples(e.stats) == ([1.5], 4, [])  # every decision was evaluated; one answer succeeded


async def test_hitl_outcomes_are_waits_and_human_decided_requests_are_not_proxy_latency(proxy):
    e, r = proxy(USER_ALLOWED, USER_DENIED, TIMEOUT)
    assert "result" in await exchange(e, r, call("write_file", request_id=1), 800.0)  # approved, remembered
    assert "result" in await exchange(e, r, call("write_file", request_id=2), 2.0)  # cache hit: nobody asked
    assert "error" in await exchange(e, r, call("write_file", "/p/b.txt", 3), 900.0)  # denied by the user
    assert "error" in await exchange(e, r, call("write_file", "/p/c.txt", 4), 900.0)  # nobody answered in time
    proxy_latency, evaluated, waits = samples(e.stats)
    # The approved request's 800 ms was a person's: excluded. The cache hit involved nobody.
    assert proxy_latency == [2.0]
    assert evaluated == 4
    assert len(waits) == 4 and waits[1] == 0.0  # approved, cache hit (0 ms), denied, timeout
    assert e.stats.api_stats()["requests_hitl"] == 4
    # The mark is consumed with the answer: a later request reusing the id is measured.
    await exchange(e, r, call("read_file", request_id=1), 3.0)
    assert samples(e.stats)[0] == [2.0, 3.0]
