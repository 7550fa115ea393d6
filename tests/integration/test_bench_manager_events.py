"""`bench/manager_events.py --quick` runs end to end: a real manager, simulated proxies on its
socket, real SSE subscribers, and every event delivered once to every subscriber. No timing is
asserted (the numbers depend on the machine); only that the report is complete and nothing was lost."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from pathlib import Path

import psutil

from tests.support.processes import ROOT

BENCH = ROOT / "bench" / "manager_events.py"


def test_quick_bench_delivers_every_event(tmp_path: Path) -> None:
    out = tmp_path / "manager_events.json"
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["bench"] == "manager_events"
    result = report["result"]
    settings = result["settings"]
    assert (settings["proxies"], settings["rate"], settings["subscribers"]) == (3, 50, 3)
    assert result["errors"] == []
    assert result["events_sent"] == 3 * 50 * 3  # proxies x rate x seconds
    assert result["expected_deliveries"] == result["events_sent"] * settings["subscribers"]
    assert result["delivered"] == result["expected_deliveries"]
    assert result["lost"] == 0
    assert result["duplicates"] == 0
    assert result["subscribers_complete"] == settings["subscribers"]
    assert result["ok"] is True
    latency = result["latency_ms"]
    assert latency["count"] == result["expected_deliveries"]
    assert set(latency) >= {"p50", "p95", "p99", "max"}
    assert latency["p50"] <= latency["p95"] <= latency["p99"] <= latency["max"]
    assert isinstance(result["manager_cpu_percent"], float) and result["manager_cpu_percent"] >= 0
    assert result["manager_rss_mb"]["peak"] > 0
    assert len(report["load_avg_1m"]) == 2

    # The bench stops the manager it started.
    pid = result["manager_pid"]
    assert isinstance(pid, int)
    with contextlib.suppress(psutil.NoSuchProcess):
        assert "manager" not in " ".join(psutil.Process(pid).cmdline())
