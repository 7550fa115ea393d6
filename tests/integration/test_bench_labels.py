"""`bench/labels.py --rounds 50` runs end to end and writes its report (issue 22). No timing is
asserted (the numbers depend on the machine); the bench itself exits non-zero if a call it
times is not allowed and forwarded, so a broken label path cannot be timed as a fast one."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.processes import ROOT


def test_labels_bench_prints_its_table_and_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "labels.json"
    command = [
        sys.executable,
        str(ROOT / "bench" / "labels.py"),
        "--rounds",
        "50",
        "--repeats",
        "1",
        "--json",
        str(out),
    ]
    proc = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL, check=False
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "labels off" in proc.stdout and "Enforcer.check" in proc.stdout
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["bench"] == "labels" and report["rounds"] == 50
    for case in ("off", "on", "added"):
        assert set(report[case]) == {"own_us", "engine_us", "enforcer_us"}
        assert all(isinstance(value, float) for value in report[case].values())
