"""`bench/adversarial_globs.py` runs end to end and reports every glob at every size, with the
engine the policy uses for it (RE2). No timing is asserted: the numbers depend on the machine."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.support.processes import ROOT

BENCH = ROOT / "bench" / "adversarial_globs.py"


def test_the_adversarial_glob_bench_reports_every_case(tmp_path) -> None:
    out = tmp_path / "globs.json"
    result = subprocess.run(
        [sys.executable, str(BENCH), "--cap", "0.01", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "worst match with the policy engine's matcher" in result.stdout
    report = json.loads(out.read_text())
    assert len(report["rows"]) == 14 and all(row["engine"] == "re2" for row in report["rows"])
    assert report["worst_ms"] == max(row["ms"] for row in report["rows"])
    # the baseline stops once one match passes the cap, so the largest inputs never run on it
    assert report["rows"][-1]["backtracking_ms"] is None
