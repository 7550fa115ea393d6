"""The official conformance suite's SERVER scenarios, run differentially in both protocol eras.

For each era (2025-11-25 and 2026-07-28) the suite runs every server scenario that applies, in one
invocation, against the same test server (tests/fixtures/conformance_server.py) twice:

* direct: suite -> `mcp-proxy` npm bridge (HTTP) -> test server (STDIO);
* proxy:  suite -> `mcp-proxy` npm bridge (HTTP) -> `mcp-acp start --proxy NAME --headless`
  (STDIO) -> test server (STDIO child of the proxy), under an ordinary tool policy.

The direct run is the baseline: its failures must be exactly the ones listed, with a reason, in
tests/conformance/expected-failures-server.yml (an unlisted failure fails, and so does a listed
one that now passes). Through mcp-acp, every check of every scenario must end as it did direct.

Select with `-m conformance`; see docs/testing.md.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

from tests.support.conformance import (
    ERAS,
    EXPECTED_FAILURES,
    Bridge,
    Check,
    denials,
    isolated_env,
    missing_tools,
    prepare_proxy_home,
    read_expected_failures,
    read_results,
    run_suite,
    server_command,
)

pytestmark = [pytest.mark.conformance, pytest.mark.timeout(900)]


@dataclass
class Run:
    label: str
    results: dict[str, dict[str, Check]]
    stdout: str
    bridge_log: str
    server_eras: Counter[str]  # the protocol versions the test server itself was spoken to in
    denials: list[str]  # what mcp-acp refused (empty direct)

    def failures(self) -> dict[str, Check]:
        return {
            c.key: c for checks in self.results.values() for c in checks.values() if c.status in ("FAILURE", "WARNING")
        }

    def summary(self) -> str:
        checks = [c for checks in self.results.values() for c in checks.values()]
        passed = sum(1 for c in checks if c.status == "SUCCESS")
        clean = sum(1 for checks in self.results.values() if all(c.status == "SUCCESS" for c in checks.values()))
        return (
            f"{self.label}: {clean}/{len(self.results)} scenarios fully pass, "
            f"{passed}/{len(checks)} graded checks SUCCESS"
        )


def _run(label: str, era: str, root: Path, through_proxy: bool) -> Run:
    root.mkdir(parents=True, exist_ok=True)
    env = isolated_env(root)
    era_log = root / "server-eras.log"
    era_log.touch()
    env["CONFORMANCE_SERVER_ERA_LOG"] = str(era_log)
    command = prepare_proxy_home(env, "conformance") if through_proxy else server_command()
    bridge = Bridge(command, era, env, root / "bridge.log")
    try:
        done = run_suite(bridge.url, era, root / "results", env)
    finally:
        bridge.stop()
    results = read_results(root / "results")
    eras = Counter(line.split(" ", 1)[0] for line in era_log.read_text(encoding="utf-8").splitlines() if line)
    run = Run(
        label,
        results,
        done.stdout + done.stderr,
        bridge.log.read_text(errors="replace"),
        eras,
        denials(Path(env["MCP_ACP_HOME"])),
    )
    if not results:
        pytest.fail(f"{label}: the suite wrote no results (exit {done.returncode})\n{run.stdout[-4000:]}")
    return run


@cache
def _direct(era: str, root: Path) -> Run:
    """One direct run per era and worker, shared by the baseline and the differential test."""
    return _run(f"direct {era}", era, root / f"direct-{era}", through_proxy=False)


@pytest.fixture(scope="module")
def work_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    absent = missing_tools()
    if absent:
        pytest.skip(f"{', '.join(map(str, absent))} missing: run `make npm-deps` first")
    return tmp_path_factory.mktemp("conformance")


@pytest.mark.parametrize("era", ERAS)
def test_direct_baseline_fails_only_what_is_listed(era: str, work_root: Path) -> None:
    direct = _direct(era, work_root)
    listed = read_expected_failures().get(era, {})
    failing = direct.failures()
    unlisted = [f"{k}: {c.status} {c.message[:300]}" for k, c in sorted(failing.items()) if k not in listed]
    stale = [f"{k} (listed: {listed[k]})" for k in sorted(listed) if k not in failing]
    print(direct.summary())
    problems = []
    if unlisted:
        problems.append("failing direct, not in the expected-failures file:\n  " + "\n  ".join(unlisted))
    if stale:
        problems.append(
            f"listed in {EXPECTED_FAILURES.name} but passing direct now (remove them):\n  " + "\n  ".join(stale)
        )
    assert not problems, "\n".join(problems) + f"\n--- suite output ---\n{direct.stdout[-3000:]}"


def _differences(direct: Run, proxied: Run) -> list[str]:
    lines: list[str] = []
    for scenario in sorted(set(direct.results) | set(proxied.results)):
        mine = direct.results.get(scenario)
        theirs = proxied.results.get(scenario)
        if mine is None or theirs is None:
            lines.append(f"{scenario}: ran {'only through the proxy' if mine is None else 'only direct'}")
            continue
        for check in sorted(set(mine) | set(theirs)):
            a, b = mine.get(check), theirs.get(check)
            if a is None or b is None or a.status != b.status:
                direct_end = f"{a.status}" if a else "absent"
                proxy_end = f"{b.status} {b.message[:300]}" if b else "absent"
                lines.append(f"{scenario}/{check}: direct {direct_end}, through mcp-acp {proxy_end}")
    return lines


@pytest.mark.parametrize("era", ERAS)
def test_each_check_through_the_proxy_ends_as_direct(era: str, work_root: Path) -> None:
    direct = _direct(era, work_root)
    proxied = _run(f"through mcp-acp {era}", era, work_root / f"proxy-{era}", through_proxy=True)
    print(direct.summary())
    print(proxied.summary())
    differences = _differences(direct, proxied)
    # The bridge ends the suite's era at its front, so a proxy that downgrades the leg behind it
    # can still pass the suite's checks: compare the era the test server itself was spoken to in.
    if set(direct.server_eras) != set(proxied.server_eras):
        differences.append(
            f"the test server was spoken to in {sorted(proxied.server_eras)} through mcp-acp, "
            f"{sorted(direct.server_eras)} direct"
        )
    if proxied.denials:
        differences.append("mcp-acp refused: " + "; ".join(proxied.denials))
    assert not differences, (
        f"{len(differences)} checks end differently through mcp-acp ({era}):\n  "
        + "\n  ".join(differences)
        + f"\n--- bridge log (proxy path) ---\n{proxied.bridge_log[-4000:]}"
    )
