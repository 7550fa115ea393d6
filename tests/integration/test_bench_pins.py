"""`bench/pins.py --rounds 50` runs end to end and writes its report. No timing is asserted (the
numbers depend on the machine); only that every figure is there and well-formed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.processes import ROOT

BENCH = ROOT / "bench" / "pins.py"


@pytest.mark.timeout(300)
def test_pins_bench_reports_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "pins.json"
    command = [sys.executable, str(BENCH), "--rounds", "50", "--tools", "20", "--json", str(out)]
    proc = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=240, stdin=subprocess.DEVNULL, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert "added by pins" in proc.stdout
    report = json.loads(out.read_text())
    assert report["tools"] == 20 and report["flagged"] == 5
    for key in ("check_pins_off", "check_pins_on", "judge_lookup", "tools_list_hook"):
        figures = report[key]
        assert figures["median_ms"] <= figures["p99_ms"] and figures["samples"] > 0, (key, figures)
    assert isinstance(report["added_median_ms"], float)
