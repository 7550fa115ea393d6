"""`bench/gateway.py --quick` runs end to end: every path (direct over HTTP, the gateway with an
HTTP backend, the gateway with a STDIO backend) in both eras, the throughput levels, the memory
section with its idle sessions, the target verdicts and the JSON report. No timing is asserted
(the numbers depend on the machine); only that the report is complete and well-formed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.processes import ROOT

BENCH = ROOT / "bench" / "gateway.py"
PATHS = ["direct", "gateway, HTTP backend", "gateway, STDIO backend"]
ERAS = ["2025", "2026-07-28"]
SESSIONS = 10  # enough to cross both proxies; the real run holds 100


def stats(figures: dict, signed: bool = False) -> None:
    assert set(figures) == {"median_ms", "p95_ms", "p99_ms"}
    assert all(isinstance(v, float) for v in figures.values()), figures
    if not signed:
        assert all(v > 0 for v in figures.values()) and figures["p95_ms"] <= figures["p99_ms"], figures


@pytest.mark.timeout(600)
def test_quick_gateway_bench_report_is_complete(tmp_path: Path) -> None:
    out = tmp_path / "gateway.json"
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--sessions", str(SESSIONS), "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=540,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for title in ("tools/call echo latency", "throughput", "gateway memory", "issue 20 targets", "load average"):
        assert title in proc.stdout, title

    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["bench"] == "gateway" and report["quick"] is True
    assert report["errors"] == []
    assert len(report["load_avg_1m"]) == 2

    # Latency: every path in both eras, the gateway ones against the direct path of their era.
    rows = report["latency"]
    assert [(r["era"], r["path"]) for r in rows] == [(era, path) for era in ERAS for path in PATHS]
    for row in rows:
        assert row["error"] is None, row
        stats(row["call"])
        if row["path"] == "direct":
            assert row["added"] is None
        else:
            stats(row["added"], signed=True)

    # Throughput: 1, 8 and 64 in flight on each path of each era, with its share of direct.
    throughput = {(r["era"], r["path"], r["in_flight"]): r for r in report["throughput"]}
    assert len(throughput) == len(report["throughput"])
    assert set(throughput) == {(e, p, n) for e in ERAS for p in PATHS for n in (1, 8, 64)}
    for row in throughput.values():
        assert row["error"] is None, row
        assert row["calls"] > 0 and row["seconds"] > 0 and row["calls_per_s"] > 0 and row["pct_of_direct"] > 0

    # Memory: the serve process, fresh, under load, with every session open (and each still alive), after.
    memory = report["memory"]
    assert memory["error"] is None, memory
    assert isinstance(memory["pid"], int) and memory["sessions"] == SESSIONS
    assert sum(memory["sessions_per_proxy"].values()) == SESSIONS and len(memory["sessions_per_proxy"]) == 2
    for key in ("fresh", "peak_64", "warm", "warm_uss", "with_sessions", "with_sessions_uss", "after_sessions"):
        assert memory[key] > 0, key
    assert memory["with_sessions_children"] > 0  # the STDIO backends started by the sessions' proxies

    # The three targets of issue 20, each measured (met or not: that is the machine's business).
    verdicts = report["verdicts"]
    assert len(verdicts) == 5
    assert all(v["met"] in (True, False) for v in verdicts), verdicts
