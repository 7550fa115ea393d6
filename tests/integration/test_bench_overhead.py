"""`bench/overhead.py --quick` runs end to end: every path over STDIO and HTTP, tools/call and
tools/list, the concurrency, payload and policy-size sections (each for both transports), and
the JSON report. No timing is
asserted (the numbers depend on the machine); only that the report is complete and well-formed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.processes import ROOT

BENCH = ROOT / "bench" / "overhead.py"
PATHS = {
    "stdio": [
        "direct",
        "byte relay (floor)",
        "mcp-acp",
        "direct 2026-07-28",
        "byte relay 2026-07-28",
        "mcp-acp 2026-07-28",
        "fastmcp create_proxy",
    ],
    "http": ["direct", "mcp-acp", "fastmcp create_proxy"],
}


def positive_stats(stats: dict) -> None:
    assert set(stats) == {"median_ms", "p95_ms", "p99_ms"}
    assert all(isinstance(v, float) and v > 0 for v in stats.values()), stats
    assert stats["p95_ms"] <= stats["p99_ms"]


def signed_stats(stats: dict) -> None:
    """An "added" figure: a difference of two timings, so any sign."""
    assert set(stats) == {"median_ms", "p95_ms", "p99_ms"}
    assert all(isinstance(v, float) for v in stats.values()), stats


@pytest.mark.timeout(600)
def test_quick_bench_report_is_complete(tmp_path: Path) -> None:
    out = tmp_path / "overhead.json"
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=540,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for title in (
        "tools/call echo latency",
        "tools/list latency",
        "throughput",
        "mcp-acp proxy RSS",
        "payload sizes",
        "policy sizes",
        "load average",
    ):
        assert title in proc.stdout, title

    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["bench"] == "overhead"
    assert report["quick"] is True
    assert report["errors"] == []
    assert len(report["load_avg_1m"]) == 2

    # Latency: every path of both transports, tools/call and tools/list, the 5 MB result intact.
    rows = report["latency"]
    assert [(r["transport"], r["path"]) for r in rows] == [(t, p) for t, paths in PATHS.items() for p in paths]
    for row in rows:
        assert row["error"] is None, row
        assert row["big_ok"] is True, row
        positive_stats(row["call"])
        positive_stats(row["list"])
        if row["path"].startswith("direct"):
            assert row["added_call"] is None and row["added_list"] is None
        else:
            signed_stats(row["added_call"])
            signed_stats(row["added_list"])

    # Concurrency: 1, 8 and 64 in flight, direct and mcp-acp, each transport, and the proxy's memory under load.
    throughput = {(r["transport"], r["path"], r["in_flight"]): r for r in report["concurrency"]}
    assert len(throughput) == len(report["concurrency"])
    assert set(throughput) == {(t, p, n) for t in PATHS for p in ("direct", "mcp-acp") for n in (1, 8, 64)}
    for row in throughput.values():
        assert row["error"] is None, row
        assert row["calls"] > 0 and row["seconds"] > 0 and row["calls_per_s"] > 0
        assert row["pct_of_direct"] > 0
    for rss in (report["proxy_rss_mb"], report["proxy_rss_mb_http"]):
        assert rss["in_flight"] == 64 and isinstance(rss["pid"], int)
        assert rss["rss_samples"] > 0
        assert all(rss[key] > 0 for key in ("idle", "peak", "after", "idle_uss", "after_uss"))

    # Payloads: 100 B, 100 KB and 5 MB, direct and mcp-acp, each transport.
    payloads = {(r["transport"], r["path"], r["size_bytes"]): r for r in report["payloads"]}
    assert len(payloads) == len(report["payloads"])
    assert set(payloads) == {(t, p, s) for t in PATHS for p in ("direct", "mcp-acp") for s in (100, 100_000, 5_000_000)}
    for (_, path, _), row in payloads.items():
        assert row["error"] is None, row
        assert row["samples"] > 0
        positive_stats(row["stats"])
        if path == "mcp-acp":
            signed_stats(row["added"])

    # Policy sizes: 10, 100 and 1,000 rules, each transport.
    assert [(r["transport"], r["rules"]) for r in report["policy_sizes"]] == [
        (t, n) for t in PATHS for n in (10, 100, 1000)
    ]
    for row in report["policy_sizes"]:
        assert row["error"] is None, row
        positive_stats(row["stats"])
        signed_stats(row["added"])
