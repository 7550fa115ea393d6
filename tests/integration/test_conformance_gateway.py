"""The official conformance suite's SERVER scenarios against `mcp-acp serve`, in both eras, with
the requirement set each revision froze at its release (`--requirements 2025-11-25` and
`--requirements 2026-07-28`), differentially:

* direct:  suite -> the test server (tests/fixtures/conformance_server.py) serving streamable HTTP
  itself, through the mcp SDK's own transport;
* gateway: suite -> `mcp-acp serve` (loopback, no `auth`: the local user) -> the same test server
  over STDIO, a child of the gateway's pool, under CONFORMANCE_POLICY and HIGH_LIMITS.

Why the test server over HTTP and not behind the `mcp-proxy` bridge (as the STDIO differential
does): the bridge has faults of its own (it relays no server-to-client request and swallows
input_required), which would make the gateway look "different" wherever it is right. The SDK's
HTTP transport passes every scenario the test server implements, so the direct run is the test
server itself, and every difference is the gateway's.

Every graded check must end as it did direct, except those listed with a reason in
tests/conformance/expected-differences-gateway.yml (a listed one that no longer differs fails
too). `dns-rebinding-protection` must pass on the gateway itself. Select with `-m conformance`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import httpx
import pytest
from mcp_types import TextContent

from tests.support.conformance import (
    CONFORMANCE_DIR,
    ERAS,
    Check,
    HttpServer,
    denials,
    isolated_env,
    missing_tools,
    prepare_gateway_home,
    read_expected_failures,
    read_results,
    run_suite,
)
from tests.support.gateway import GatewayProcess, gateway_client

pytestmark = [pytest.mark.conformance, pytest.mark.timeout(600)]

PROXY = "conformance"
EXPECTED_DIFFERENCES = CONFORMANCE_DIR / "expected-differences-gateway.yml"
DNS_REBINDING = "dns-rebinding-protection"


@dataclass
class Run:
    label: str
    results: dict[str, dict[str, Check]]
    output: str
    log: str  # the server's or the gateway's own output
    denials: list[str]

    def summary(self) -> str:
        checks = [c for checks in self.results.values() for c in checks.values()]
        passed = sum(1 for c in checks if c.status == "SUCCESS")
        return f"{self.label}: {len(self.results)} scenarios, {passed}/{len(checks)} graded checks SUCCESS"


def _finish(label: str, root: Path, done, log: str, acp_home: Path | None) -> Run:
    results = read_results(root / "results")
    run = Run(label, results, done.stdout + done.stderr, log, denials(acp_home) if acp_home else [])
    if not results:
        pytest.fail(f"{label}: the suite wrote no results (exit {done.returncode})\n{run.output[-4000:]}")
    return run


@cache
def _direct(era: str, work: Path) -> Run:
    root = work / f"direct-{era}"
    root.mkdir(parents=True)
    env = isolated_env(root)
    server = HttpServer(env, root / "server.log")
    try:
        done = run_suite(server.url, era, root / "results", env, frozen=True)
    finally:
        server.stop()
    return _finish(f"direct {era}", root, done, server.log.read_text(errors="replace"), None)


@cache
def _gateway(era: str, work: Path) -> Run:
    """One gateway per era: a fresh pool, so the backend is spoken to in the suite's era only."""
    root = work / f"gateway-{era}"
    root.mkdir(parents=True)
    env = isolated_env(root)
    prepare_gateway_home(env, PROXY)
    with GatewayProcess(env, root / "gateway.log") as gateway:
        done = run_suite(gateway.endpoint(PROXY), era, root / "results", env, frozen=True)
    return _finish(f"mcp-acp serve {era}", root, done, gateway.output(), Path(env["MCP_ACP_HOME"]))


@pytest.fixture(scope="module")
def work_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    absent = missing_tools()
    if absent:
        pytest.skip(f"{', '.join(map(str, absent))} missing: run `make npm-deps`")
    return tmp_path_factory.mktemp("conformance-gateway")


def _differences(direct: Run, gateway: Run) -> dict[str, str]:
    """{"scenario/check": what differs} over every graded check of either run."""
    found: dict[str, str] = {}
    for scenario in sorted(set(direct.results) | set(gateway.results)):
        mine, theirs = direct.results.get(scenario), gateway.results.get(scenario)
        if mine is None or theirs is None:
            found[f"{scenario}/*"] = f"ran {'only on the gateway' if mine is None else 'only direct'}"
            continue
        for check in sorted(set(mine) | set(theirs)):
            a, b = mine.get(check), theirs.get(check)
            if a is None or b is None or a.status != b.status:
                found[f"{scenario}/{check}"] = (
                    f"direct {a.status if a else 'absent'}, "
                    f"gateway {f'{b.status} {b.message[:300]}' if b else 'absent'}"
                )
    return found


@pytest.mark.parametrize("era", ERAS)
def test_each_check_on_the_gateway_ends_as_direct(era: str, work_root: Path) -> None:
    direct, gateway = _direct(era, work_root), _gateway(era, work_root)
    print(direct.summary())
    print(gateway.summary())
    listed = read_expected_failures(EXPECTED_DIFFERENCES).get(era, {})
    found = _differences(direct, gateway)
    problems = [f"{key}: {what}" for key, what in found.items() if key not in listed]
    problems += [
        f"{key}: listed ({listed[key]}) but ends as direct now: remove it" for key in listed if key not in found
    ]
    # The policy's refusals are shown, not failed on: a refusal that changes an outcome is a
    # difference above (the 2026-07-28 set calls tools of the tasks extension the test server
    # does not have, and those end as direct).
    assert not problems, (
        f"{len(problems)} checks end differently on the gateway ({era}):\n  "
        + "\n  ".join(problems)
        + "\n--- the gateway's policy refused ---\n  "
        + "\n  ".join(gateway.denials)
        + f"\n--- gateway log ---\n{gateway.log[-4000:]}"
    )


@pytest.mark.parametrize("era", ERAS)
def test_dns_rebinding_protection_passes_on_the_gateway_itself(era: str, work_root: Path) -> None:
    checks = _gateway(era, work_root).results.get(DNS_REBINDING)
    assert checks, f"the {era} requirement set ran no {DNS_REBINDING} scenario against the gateway"
    failing = [f"{c.check}: {c.status} {c.message}" for c in checks.values() if c.status != "SUCCESS"]
    assert not failing, "\n".join(failing)


async def test_both_eras_at_once_share_the_gateway_without_sharing_a_backend_connection(
    tmp_path: Path,
) -> None:
    """A server connection serves one era, fixed by its first request: the pool keeps one real
    backend per era, so a 2025 session and 2026-07-28 requests interleave on one gateway. A
    2026-07-28 `initialize` (no such method in that revision) is answered -32601, 404, and never
    reaches, or re-eras, the backend."""
    env = isolated_env(tmp_path)
    prepare_gateway_home(env, PROXY)
    with GatewayProcess(env, tmp_path / "gateway.log") as gateway:
        url = gateway.endpoint(PROXY)
        async with gateway_client(url, "legacy") as old, gateway_client(url, "2026-07-28") as new:
            for client in (old, new, old, new):
                done = await client.call_tool("test_simple_text", {})
                assert isinstance(done.content[0], TextContent) and done.content[0].text, gateway.output()
            meta = {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {},
            }
            answer = httpx.post(
                url,
                json={"jsonrpc": "2.0", "id": 7, "method": "initialize", "params": {"_meta": meta}},
                headers={
                    "MCP-Protocol-Version": "2026-07-28",
                    "Mcp-Method": "initialize",
                    "Accept": "application/json, text/event-stream",
                },
                timeout=30,
            )
            assert answer.status_code == 404 and answer.json()["error"]["code"] == -32601, answer.text
            for client in (old, new):  # both backends still serve their era
                assert {tool.name for tool in (await client.list_tools()).tools} >= {"test_simple_text"}
