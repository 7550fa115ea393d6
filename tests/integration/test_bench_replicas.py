"""`bench/replicas.py --quick` runs end to end: part A (a gateway with state in memory beside one
with state in a redis-server, in both auth modes), part B (1 and 3 replicas behind haproxy under
wrk), the target verdicts and the JSON report. No timing is asserted (the numbers depend on the
machine); only that the report is complete and well-formed."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.processes import ROOT

BENCH = ROOT / "bench" / "replicas.py"
MODES = ["local", "oauth"]
VARIANTS = ["memory", "redis"]
ROUNDS = 2  # what --quick runs


@pytest.fixture(autouse=True)
def _wrk_installed() -> None:
    if shutil.which("wrk") is None:  # make test installs it (Makefile system-deps)
        pytest.fail("part B needs wrk: apt-get install wrk (make system-deps does it)", pytrace=False)


@pytest.mark.timeout(600)
def test_quick_replicas_bench_report_is_complete(tmp_path: Path) -> None:
    out = tmp_path / "replicas.json"
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
    for title in ("part A: tools/call echo latency", "what redis adds", "part B", "issue 21 targets", "load average"):
        assert title in proc.stdout, title

    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["bench"] == "replicas" and report["quick"] is True
    assert report["errors"] == []
    assert len(report["load_avg"]) == 2 and all(len(x) == 3 for x in report["load_avg"])

    # Part A: both variants in both auth modes, every round measured, one difference per mode.
    rows = report["latency"]
    assert [(r["mode"], r["variant"]) for r in rows] == [(m, v) for m in MODES for v in VARIANTS]
    for row in rows:
        assert row["error"] is None, row
        assert row["calls"] == ROUNDS * report["calls"]
        assert 0 < row["median_ms"] <= row["p90_ms"] <= row["p99_ms"], row
        assert len(row["round_medians_ms"]) == ROUNDS and all(m > 0 for m in row["round_medians_ms"])
    differences = report["differences"]
    assert [d["mode"] for d in differences] == MODES
    for d in differences:
        assert isinstance(d["median_ms"], float) and len(d["per_round_ms"]) == ROUNDS

    # Part B: 1 and 3 replicas, every answer an echo result.
    throughput = {r["replicas"]: r for r in report["throughput"]}
    assert set(throughput) == {1, 3}
    for row in throughput.values():
        assert row["error"] is None and row["bad_answers"] == 0, row
        assert row["in_flight"] == 64 and row["calls"] > 0 and row["seconds"] > 0 and row["calls_per_s"] > 0
        assert len(row["round_calls_per_s"]) == ROUNDS

    # A verdict per latency target (met or not: the machine's business) and the replicas comparison.
    verdicts = report["verdicts"]
    assert len(verdicts) == len(MODES) + 1
    assert all(v["met"] in (True, False) for v in verdicts), verdicts
