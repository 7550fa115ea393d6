"""The loopback topology (tests/support/topology.py) itself: three gateway replicas behind haproxy
running deploy/haproxy.cfg, each keeping its state in process. 2026-07-28 requests are spread
over the replicas; a 2025 session sticks to the replica that created it (the stick table on
Mcp-Session-Id), and when that replica dies the client is told to initialize again."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp.shared.exceptions import MCPError
from mcp_types import TextContent

from tests.support.audit import read_jsonl
from tests.support.config import ECHO_ONLY_POLICY, proxy_log_dir, use_policy
from tests.support.gateway import gateway_client
from tests.support.processes import BACKEND, wait_until
from tests.support.topology import HAPROXY, Topology, loopback_haproxy_config


@pytest.fixture(autouse=True)
def haproxy_installed() -> None:
    # `make test` installs it (Makefile, system-deps): missing, the topology is untested, a failure.
    if not Path(HAPROXY).is_file():
        pytest.fail(
            f"haproxy is missing ({HAPROXY}): install haproxy (Debian: apt-get install haproxy; `make test` does)"
        )


@pytest.fixture
def topology(launcher: Any, tmp_path) -> Any:
    launcher.proxy(sys.executable, [BACKEND], name="files")
    use_policy(launcher.env, "files", ECHO_ONLY_POLICY)
    root = tmp_path / "topology"
    root.mkdir()
    with Topology(launcher.env, root, replicas=3) as running:
        yield running
        print(running.output())  # shown when the test fails


def echoes_per_replica(topology: Topology) -> Counter:
    """How many `echo` decisions each replica recorded in its own audit trail."""
    counts: Counter = Counter()
    for i, env in topology.envs.items():
        for path in proxy_log_dir(env, "files").rglob("decisions*.jsonl"):
            counts[i] += sum(1 for entry in read_jsonl(path) if entry.get("tool_name") == "echo")
    return +counts  # the replicas that recorded any


def text(result: Any) -> str:
    assert isinstance(result.content[0], TextContent)
    return result.content[0].text


def test_the_loopback_config_is_deploy_haproxy_cfg_with_only_addresses_changed() -> None:
    config = loopback_haproxy_config(9000, {"gw-1": 9001, "gw-2": 9002})
    assert "bind 127.0.0.1:9000" in config
    assert "server gw-1 127.0.0.1:9001" in config and "server gw-2 127.0.0.1:9002" in config
    assert "gw-3" not in config and "*:8080" not in config
    for rule in ("balance roundrobin", "stick store-response res.hdr(Mcp-Session-Id)", "option httpchk GET /healthz"):
        assert rule in config


async def test_2026_requests_through_haproxy_are_answered_by_several_replicas(topology: Topology) -> None:
    async with gateway_client(topology.url("files"), "2026-07-28") as client:
        for n in range(9):
            assert text(await client.call_tool("echo", {"text": f"call {n}"})) == f"call {n}"
    counts = echoes_per_replica(topology)
    assert sum(counts.values()) == 9
    assert len(counts) >= 2, f"every call landed on one replica: {counts}"
    for i in topology.envs:  # and each replica is reachable directly too
        assert httpx.get(topology.replica_url(i, "files").rsplit("/mcp/", 1)[0] + "/healthz").status_code == 200


async def test_a_2025_session_sticks_to_its_replica_and_its_death_asks_for_a_new_session(topology: Topology) -> None:
    async with gateway_client(topology.url("files"), "legacy") as client:
        for n in range(6):
            assert text(await client.call_tool("echo", {"text": f"legacy {n}"})) == f"legacy {n}"
        counts = echoes_per_replica(topology)
        assert list(counts.values()) == [6], f"the session's calls were spread: {counts}"
        (owner,) = counts
        topology.kill(owner)
        # haproxy redispatches to a live replica, which does not know the session (MCP: 404).
        with pytest.raises(MCPError, match="unknown or expired session: initialize again"):
            await client.call_tool("echo", {"text": "after the owner died"})
    # The other replicas are untouched: a new session works through haproxy.
    async with gateway_client(topology.url("files"), "legacy") as client:
        assert text(await client.call_tool("echo", {"text": "new session"})) == "new session"
    assert echoes_per_replica(topology)[owner] == 6
    topology.restart(owner)
    wait_until(
        lambda: httpx.get(topology.processes[owner].url + "/healthz").status_code == 200, 30, "the restarted replica"
    )
