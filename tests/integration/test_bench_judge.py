"""`bench/judge.py --rounds 2` runs end to end: every case through every stage, the loop-lag probe,
and the JSON report. No timing is asserted (the numbers depend on the machine); only that the
report is complete and well-formed, and that each case ends the way the policy says."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.processes import ROOT

BENCH = ROOT / "bench" / "judge.py"
STAGES = {"parse", "describe", "paths", "evaluate", "decide", "relay"}
CASES = {  # case: (paths found, outcome)
    "small tools/call (echo)": (0, "forwarded"),
    "write_file, 1 MB plain text": (1, "forwarded"),
    "write_file, 1 MB text full of /": (1, "forwarded"),
    "write_file, 1 MB, spaced JSON": (1, "forwarded"),
    "read_multiple_files, 1,000 paths": (1000, "forwarded"),
    "800 KB of / under a path key": (1, "refused"),
}


def figures(stats: dict, samples: int | None = None) -> None:
    assert set(stats) == {"median_ms", "p99_ms", "max_ms", "samples"}, stats
    assert all(isinstance(stats[k], float) for k in ("median_ms", "p99_ms", "max_ms")), stats
    assert stats["median_ms"] <= stats["p99_ms"] <= stats["max_ms"], stats
    assert stats["samples"] == samples if samples is not None else stats["samples"] > 0


@pytest.mark.timeout(600)
def test_judge_bench_prints_its_tables_and_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "judge.json"
    command = [sys.executable, str(BENCH), "--rounds", "2", "--lag-seconds", "0.05", "--json", str(out)]
    proc = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=540, stdin=subprocess.DEVNULL, check=False
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for title in ("per request, ms: median / max of 2", "event loop held", "load average", *STAGES, *CASES):
        assert title in proc.stdout, title

    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["bench"] == "judge"
    assert report["rounds"] == 2
    assert report["event_loop"] in ("uvloop", "asyncio")
    assert len(report["load_avg_1m"]) == 2
    assert [row["case"] for row in report["cases"]] == list(CASES)
    for row in report["cases"]:
        paths, outcome = CASES[row["case"]]
        assert (row["paths_found"], row["outcome"]) == (paths, outcome), row
        assert row["bytes"] > 0
        assert row["decision"] == ("allow" if outcome == "forwarded" else "deny"), row
        assert set(row["stages"]) == STAGES
        for stats in row["stages"].values():
            figures(stats, samples=2)
        lag = dict(row["loop_lag"])
        assert lag.pop("requests") >= 2
        figures(lag)
