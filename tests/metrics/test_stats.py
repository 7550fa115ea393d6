"""Request counters: what ProxyStats counts, what the enforcement point records in it, and how
publish_stats reports changes to the manager's event sink.

The enforcement point runs with the real engine and the real chained audit writer in a temp
folder; the events go to a real ProxyEvents with a list as its subscriber.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from mcp_acp.config.models import LimitsConfig
from mcp_acp.metrics.stats import MAX_METHODS, OTHER_METHOD, ProxyStats, publish_stats
from mcp_acp.proxy.enforcement import Enforcer
from mcp_acp.proxy.events import ProxyEvents
from tests.proxy.test_enforcement import build

RULES = [
    {"id": "read", "effect": "allow", "conditions": {"tool_name": "read_*"}},
    {"id": "no-env", "effect": "deny", "conditions": {"path_pattern": "**/.env"}},
    {"id": "writes", "effect": "hitl", "conditions": {"tool_name": "write_file"}},
]


def counts(stats: ProxyStats) -> tuple[int, int, int, int]:
    snap = stats.snapshot()
    return snap["requests_total"], snap["requests_allowed"], snap["requests_denied"], snap["requests_hitl"]


def test_counters_and_shapes():
    stats = ProxyStats()
    assert counts(stats) == (0, 0, 0, 0)
    stats.record_decision("allow", "tools/call")
    stats.record_decision("allow", "tools/call")
    stats.record_decision("deny", "tools/call")
    stats.record_decision("hitl", "resources/read")
    stats.record_discovery("tools/list")
    assert counts(stats) == (5, 2, 1, 1)  # discovery counts toward the total only
    snap = stats.snapshot()
    assert snap["by_method"] == {
        "tools/call": {"allow": 2, "deny": 1},
        "resources/read": {"hitl": 1},
        "tools/list": {"discovery": 1},
    }
    assert snap["proxy_latency_ms"] is None and snap["latency"] == stats.api_stats()["latency"]
    assert stats.api_stats() == {
        "requests_total": 5,
        "requests_allowed": 2,
        "requests_denied": 1,
        "requests_hitl": 1,
        "latency": {
            "proxy_latency_ms": None,
            "policy_eval_ms": None,
            "hitl_wait_ms": None,
            "proxy_latency_p95_ms": None,
            "policy_eval_p95_ms": None,
            "hitl_wait_p95_ms": None,
            "sample_count": {"proxy_latency": 0, "policy_eval": 0, "hitl_wait": 0},
        },
    }
    snap["by_method"]["tools/call"]["allow"] = 99  # a snapshot is a copy
    assert stats.snapshot()["by_method"]["tools/call"]["allow"] == 2
    with pytest.raises(KeyError):
        stats.record_decision("maybe", "tools/call")
    assert counts(stats) == (5, 2, 1, 1)


def test_method_names_are_capped():
    """A client picks the method names: past MAX_METHODS distinct ones they share one label."""
    stats = ProxyStats()
    for n in range(MAX_METHODS + 10):
        stats.record_decision("deny", f"x/{n}")
    stats.record_decision("deny", "x/0")  # a method seen before the cap keeps its own label
    by_method = stats.snapshot()["by_method"]
    assert len(by_method) == MAX_METHODS + 1
    assert by_method[OTHER_METHOD] == {"deny": 10} and by_method["x/0"] == {"deny": 2}


async def test_publish_reports_changes_only():
    stats, events, seen = ProxyStats(), ProxyEvents(), []
    events.sinks.append(lambda kind, payload: seen.append((kind, payload)))
    task = asyncio.create_task(publish_stats(stats, events, interval=0.02))
    try:
        await asyncio.sleep(0.1)
        assert seen == []  # nothing decided: nothing sent
        stats.record_decision("allow", "tools/call")
        stats.record_discovery("ping")
        stats.record_decision("deny", "tools/call")
        await asyncio.sleep(0.1)
        assert [kind for kind, _ in seen] == ["stats_updated", "new_log_entries"]
        assert seen[0][1]["stats"]["requests_total"] == 3 and seen[0][1]["stats"]["by_method"]["ping"]
        assert seen[1][1]["count"] == 3 and seen[1][1]["severity"] == "info"
        stats.record_decision("hitl", "tools/call")
        await asyncio.sleep(0.1)
        assert [kind for kind, _ in seen] == ["stats_updated", "new_log_entries"] * 2
        assert seen[2][1]["stats"]["requests_hitl"] == 1 and seen[3][1]["count"] == 1
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@pytest.fixture
def enforcer(tmp_path: Path):
    def make(limits: LimitsConfig | None = None) -> Enforcer:
        return build(tmp_path, limits=limits, rules=RULES)[0]

    return make


def call(tool: str, path: str = "/p/a.txt", request_id: int = 1) -> dict:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": tool, "arguments": {"path": path}},
    }


async def verdict(enforcer: Enforcer, message: dict):
    answer = enforcer.check(message)
    return await answer if asyncio.iscoroutine(answer) else answer


async def test_every_decision_is_counted(enforcer):
    e = enforcer()
    assert await verdict(e, {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {}}) is None
    assert e.note_notification({"jsonrpc": "2.0", "method": "notifications/initialized"})
    assert await verdict(e, call("read_file", request_id=1)) is None
    assert (await verdict(e, call("read_file", "/p/.env", 2)))["code"] == -32001
    assert (await verdict(e, call("write_file", request_id=3)))["code"] == -32001  # hitl, nobody to ask
    assert (await verdict(e, call("delete_file", request_id=4)))["code"] == -32001  # default deny
    assert counts(e.stats) == (6, 1, 2, 1)
    assert e.stats.snapshot()["by_method"] == {
        "initialize": {"discovery": 1},
        "notifications/initialized": {"discovery": 1},
        "tools/call": {"allow": 1, "deny": 2, "hitl": 1},
    }


async def test_flood_limit_denials_are_counted(enforcer):
    e = enforcer(LimitsConfig(requests_per_second=0.001, burst=3))
    stats = e.stats
    for n in range(5):
        await verdict(e, call("read_file", request_id=n))
    assert counts(stats) == (5, 3, 2, 0)
