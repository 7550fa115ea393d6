"""`bench/parse_latency_logs.py`: latency statistics from a proxy's decisions.jsonl and
operations.jsonl (docs/performance.md#reading-latency-from-the-audit-logs,
docs/audit.md#what-the-main-entries-hold), on hand-written logs with known numbers and on the
logs of a real headless proxy. It asserts counts and the arithmetic, never a timing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.config import ECHO_ONLY_POLICY, allow_everything, proxy_log_dir
from tests.support.processes import BACKEND, ROOT
from tests.support.proxies import RawProxy

SCRIPT = ROOT / "bench" / "parse_latency_logs.py"
DAY1, DAY2 = "2026-11-24", "2026-11-25"


def decision(
    time: str,
    outcome: str,
    eval_ms: float,
    hitl_ms: float | None = None,
    *,
    rule: str = "some-rule",
    method: str = "tools/call",
    sequence: int = 1,
) -> dict:
    entry = {
        "time": time,
        "sequence": sequence,
        "prev_hash": "GENESIS",
        "event": "policy_decision",
        "decision": outcome,
        "final_rule": rule,
        "policy_eval_ms": eval_ms,
        "mcp_method": method,
    }
    if hitl_ms is not None:
        entry |= {"hitl_outcome": "user_allowed", "hitl_cache_hit": hitl_ms == 0.0, "policy_hitl_ms": hitl_ms}
    entry["policy_total_ms"] = round(eval_ms + (hitl_ms or 0.0), 3)
    return entry | {"request_id": str(sequence), "entry_hash": "0" * 64}


def operation(time: str, method: str, ms: float | None) -> dict:
    entry = {"time": time, "sequence": 1, "prev_hash": "GENESIS", "method": method, "status": "Success"}
    if ms is not None:
        entry["duration"] = {"duration_ms": ms}
    return entry | {"entry_hash": "0" * 64}


DECISIONS = [
    decision(f"{DAY1}T22:41:31.873Z", "allow", 0.3, rule="discovery_bypass", method="initialize"),
    decision(f"{DAY1}T22:41:33.083Z", "allow", 0.1, rule="discovery_bypass", method="tools/list"),
    decision(f"{DAY1}T22:41:33.362Z", "allow", 0.2),
    decision(f"{DAY1}T22:41:33.415Z", "allow", 0.4),
    decision(f"{DAY1}T22:41:33.500Z", "allow", 0.6),
    decision(f"{DAY1}T22:41:33.734Z", "deny", 0.1),
    decision(f"{DAY1}T22:41:33.740Z", "deny", 0.3),
    decision(f"{DAY1}T22:41:33.658Z", "hitl", 0.5, 100.0),
    decision(f"{DAY1}T22:41:40.000Z", "hitl", 0.7, 0.0),  # a cached approval: waited 0 ms, still counted
    decision(f"{DAY2}T00:00:01.000+00:00", "allow", 2.0),
    decision(f"{DAY2}T09:30:00.000Z", "deny", 4.0),
]
OPERATIONS = [
    operation(f"{DAY1}T22:41:33.078Z", "initialize", 1200.0),
    operation(f"{DAY1}T22:41:33.082Z", "notifications/initialized", None),  # notifications have no duration
    operation(f"{DAY1}T22:41:33.355Z", "tools/list", 270.0),
    operation(f"{DAY1}T22:41:33.368Z", "tools/call", 6.0),
    operation(f"{DAY1}T22:41:33.420Z", "tools/call", 2.0),
    operation(f"{DAY1}T22:41:33.666Z", "tools/call", 110.0),
    operation(f"{DAY2}T09:30:00.001Z", "tools/call", 8.0),
]


@pytest.fixture
def logs(tmp_path: Path) -> tuple[Path, Path]:
    decisions, operations = tmp_path / "decisions.jsonl", tmp_path / "operations.jsonl"
    lines = [json.dumps(e) for e in DECISIONS]
    lines.insert(3, '{"time": "2026-11-24T22:41:33.400Z", "decision": "allow", "policy_eval')  # torn write
    lines.insert(5, "[1, 2, 3]")  # JSON, but not an entry
    decisions.write_text("\n".join(lines) + "\n\n", encoding="utf-8")
    operations.write_text("".join(json.dumps(e) + "\n" for e in OPERATIONS) + "not json\n", encoding="utf-8")
    return decisions, operations


def parse(*args: str | Path, tmp_path: Path) -> tuple[subprocess.CompletedProcess, dict | None]:
    output = tmp_path / "report.json"
    output.unlink(missing_ok=True)
    result = subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args), "--json", str(output)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return result, json.loads(output.read_text()) if output.exists() else None


def core(row: dict) -> tuple:
    return row["count"], row["median"], row["min"], row["max"]


def test_statistics_by_decision_and_operations(logs, tmp_path):
    result, report = parse(*logs, "--by-decision", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Policy decisions" in result.stdout and "tools/call" in result.stdout
    assert "skipped 2 invalid line(s)" in result.stderr and "skipped 1 invalid line(s)" in result.stderr
    assert report["invalid_lines"] == {"decisions": 2, "operations": 1}
    assert report["entries"] == {
        "decisions": 11,
        "policy_evaluated": 9,
        "discovery": 2,
        "operations": 7,
        "by_decision": {"allow": 4, "deny": 3, "hitl": 2},
    }

    policy = report["policy"]
    # eval over the 9 policy-evaluated entries: 0.1 0.2 0.3 0.4 0.5 0.6 0.7 2.0 4.0
    assert core(policy["policy_eval_ms"]) == (9, 0.5, 0.1, 4.0)
    assert policy["policy_eval_ms"]["p95"] == 4.0
    assert policy["policy_eval_ms"]["mean"] == pytest.approx(8.8 / 9, abs=1e-3)
    assert core(policy["policy_hitl_ms"]) == (2, 50.0, 0.0, 100.0)  # the 0.0 cache hit counts
    assert (policy["policy_total_ms"]["count"], policy["policy_total_ms"]["max"]) == (9, 100.5)

    # Discovery is reported on its own, never mixed into the policy timings.
    assert core(report["discovery"]["policy_eval_ms"]) == (2, 0.2, 0.1, 0.3)

    groups = report["by_decision"]
    assert set(groups) == {"allow", "deny", "hitl"}
    assert core(groups["allow"]["policy_eval_ms"]) == (4, 0.5, 0.2, 2.0)
    assert core(groups["deny"]["policy_eval_ms"]) == (3, 0.3, 0.1, 4.0)
    assert groups["deny"]["policy_hitl_ms"]["count"] == 0 and groups["deny"]["policy_hitl_ms"]["median"] is None
    assert groups["hitl"]["policy_total_ms"]["median"] == pytest.approx(50.6)

    operations = report["operations"]
    assert core(operations["duration_ms"]) == (6, 59.0, 2.0, 1200.0)  # the notification has no duration
    assert set(operations["by_method"]) == {"initialize", "tools/list", "tools/call"}
    calls = operations["by_method"]["tools/call"]
    assert core(calls) == (4, 7.0, 2.0, 110.0)


def test_date_and_exclude_hitl(logs, tmp_path):
    result, report = parse(*logs, "--date", DAY2, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert report["date"] == DAY2
    assert report["entries"]["by_decision"] == {"allow": 1, "deny": 1, "hitl": 0}
    assert core(report["policy"]["policy_eval_ms"]) == (2, 3.0, 2.0, 4.0)
    assert report["policy"]["policy_hitl_ms"]["count"] == 0
    assert report["operations"]["by_method"] == {"tools/call": report["operations"]["duration_ms"]}
    assert report["operations"]["duration_ms"]["count"] == 1

    result, report = parse(logs[0], "--date", DAY1, "--exclude-hitl", "--by-decision", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "operations" not in report
    assert core(report["policy"]["policy_eval_ms"]) == (5, 0.3, 0.1, 0.6)
    assert core(report["policy"]["policy_total_ms"]) == (5, 0.3, 0.1, 0.6)  # no approval wait in the total
    assert report["policy"]["policy_hitl_ms"]["count"] == 2  # the wait itself is still reported
    assert set(report["by_decision"]) == {"allow", "deny"}


def test_missing_or_empty_input_exits_2(logs, tmp_path):
    decisions, _ = logs
    for args in (
        [tmp_path / "absent.jsonl"],
        [decisions, tmp_path / "absent.jsonl"],
        [decisions, "--date", "2001-01-01"],
    ):
        result, report = parse(*args, tmp_path=tmp_path)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert "error:" in result.stderr and "Traceback" not in result.stderr
        assert report is None
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_text("nope\n{}\n", encoding="utf-8")
    result, _ = parse(garbage, tmp_path=tmp_path)
    assert result.returncode == 2 and "no decision entries" in result.stderr


async def test_real_proxy_logs(cli, acp_env, tmp_path):
    """A headless proxy's own logs: the counts match the calls made (echo allowed, add denied)."""
    cli("proxy", "add", "lat", "--server-name", "fixture", "--command", sys.executable, "--arg", BACKEND, check=True)
    allow_everything(acp_env, "lat")
    (Path(acp_env["MCP_ACP_HOME"]) / "config" / "proxies" / "lat" / "policy.json").write_text(
        json.dumps(ECHO_ONLY_POLICY), encoding="utf-8"
    )
    proxy = await RawProxy.start(acp_env, "lat")
    try:
        await proxy.initialize()
        assert "result" in await proxy.request("tools/list")
        answers = [await proxy.call_tool("echo", {"text": f"hello {i}"}) for i in range(4)]
        answers += [await proxy.call_tool("add", {"a": i, "b": 1}) for i in range(2)]
        assert all("result" in a for a in answers[:4]) and all("error" in a for a in answers[4:]), answers
        code, stderr = await proxy.finish()
        assert code == 0, stderr
    finally:
        await proxy.close()

    audit = proxy_log_dir(acp_env, "lat") / "audit"
    result, report = parse(audit / "decisions.jsonl", audit / "operations.jsonl", "--by-decision", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert report["invalid_lines"] == {"decisions": 0, "operations": 0}
    assert report["entries"]["by_decision"] == {"allow": 4, "deny": 2, "hitl": 0}
    assert report["policy"]["policy_eval_ms"]["count"] == 6
    assert report["policy"]["policy_total_ms"]["count"] == 6
    assert report["policy"]["policy_hitl_ms"]["count"] == 0
    assert report["by_decision"]["deny"]["policy_eval_ms"]["count"] == 2
    assert report["entries"]["discovery"] >= 2  # initialize, tools/list (and the initialized notification)
    by_method = report["operations"]["by_method"]
    assert by_method["tools/call"]["count"] == 6  # denied calls are operations too
    assert by_method["tools/list"]["count"] == 1 and by_method["initialize"]["count"] == 1
    for row in (report["policy"]["policy_eval_ms"], by_method["tools/call"]):
        assert 0 <= row["min"] <= row["median"] <= row["max"]
