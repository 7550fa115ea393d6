"""The official conformance suite's CLIENT scenarios, run on mcp-acp's HTTP backend leg.

The suite starts its own scenario server and runs tests/conformance/client.py with its URL; that
script adds a proxy for the URL (`proxy add --url`), starts `mcp-acp start --proxy NAME
--headless` and drives it over STDIO with the mcp SDK client. The suite judges what reaches its
server. Each scenario runs in every protocol version the suite offers it at; a failure not in
tests/conformance/expected-failures.yml fails the test (and so does a baselined one that passes).
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.support.processes import ROOT

CONFORMANCE = ROOT / "tests" / "conformance"
NODE = CONFORMANCE / "node_modules" / ".bin" / "node"
SUITE = CONFORMANCE / "node_modules" / ".bin" / "conformance"
BASELINE = CONFORMANCE / "expected-failures.yml"
CLIENT = CONFORMANCE / "client.py"

# (scenario, protocol version): every version `conformance list` names for each scenario.
SCENARIOS = [
    ("tools_call", "2025-06-18"),
    ("tools_call", "2025-11-25"),
    ("tools_call", "2026-07-28"),
    ("request-metadata", "2026-07-28"),
    ("http-standard-headers", "2026-07-28"),
    ("http-custom-headers", "2026-07-28"),
    ("http-invalid-tool-headers", "2026-07-28"),
    ("sse-retry", "2025-11-25"),
]
# How many checks pass today, at least (a scenario that quietly stops checking fails the test).
MIN_PASSED = {
    "tools_call": 2,
    "request-metadata": 5,
    "http-standard-headers": 9,
    "http-custom-headers": 18,
    "http-invalid-tool-headers": 12,
    "sse-retry": 3,
}


@pytest.mark.timeout(180)
@pytest.mark.parametrize(("scenario", "version"), SCENARIOS, ids=[f"{s}@{v}" for s, v in SCENARIOS])
def test_client_scenario_passes_on_the_http_leg(scenario: str, version: str, tmp_path) -> None:
    if not SUITE.exists() or not NODE.exists():
        pytest.skip(f"{SUITE} is missing: run `make npm-deps` first")
    command = [
        str(NODE),
        str(SUITE),
        "client",
        "--scenario",
        scenario,
        "--spec-version",
        version,
        "--expected-failures",
        str(BASELINE),
        "--timeout",
        "90000",
        "-o",
        str(tmp_path),
        "--command",
        f"{sys.executable} {CLIENT}",
    ]
    run = subprocess.run(command, capture_output=True, text=True, timeout=170, cwd=ROOT)
    output = re.sub(r"\x1b\[[0-9;]*m", "", run.stdout + run.stderr)
    assert "SKIPPED: scenario" not in output, output
    assert run.returncode == 0, output
    passed = re.search(r"Passed: (\d+)/(\d+), (\d+) failed", output)
    assert passed is not None, output
    assert int(passed.group(1)) >= MIN_PASSED[scenario], output
