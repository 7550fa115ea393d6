"""The manager daemon with real proxies (issue 6, docs/manager.md): registration, the event stream,
routing, disconnects and their causes, auto-start, restart, deletion, idle shutdown, metrics.

Every test has its own MCP_ACP_HOME and UI port. The manager is a real `mcp-acp manager _run`
process (started by the test or auto-started by a proxy); each proxy is a real
`mcp-acp start --proxy NAME` subprocess WITHOUT --headless, in front of the fixture backend, spoken
to in raw JSON-RPC over its STDIO. Browsers are played by an httpx client on 127.0.0.1 with the
API token; the CLI's view is the manager's Unix-socket API. No daemon outlives its test.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.audit import read_jsonl
from tests.support.config import proxy_log_dir
from tests.support.events import EVENT_TIMEOUT, EventStream
from tests.support.manager import MANAGER_TIMEOUT, ManagerHome
from tests.support.processes import wait_until, wait_until_async

AUDIT_FAILURE = 10
# Events that describe a proxy's state to a browser that just connected (docs/manager.md#events-get-apievents).
SNAPSHOT_TYPES = {"snapshot", "cached_snapshot", "stats_updated"}


@pytest.fixture
async def home(tmp_path):
    """A home with a free UI port; afterwards every proxy and manager of it is killed."""
    home = ManagerHome(tmp_path)
    try:
        yield home
    finally:
        await home.aclose()
        print(home.diagnostics())  # pytest shows it only when the test failed
    assert not home.manager_processes(), "a manager outlived its test"


def registered_event(events: EventStream, name: str):
    return events.wait_for(
        lambda e: e["type"] == "proxy_registered" and e["proxy_name"] == name, f"proxy_registered for {name}"
    )


async def wait_registered(home: ManagerHome, *names: str, timeout: float = MANAGER_TIMEOUT) -> dict:
    return await wait_until_async(home.registered(*names), timeout, f"exactly {list(names)} registered")


async def wait_routed(home: ManagerHome, name: str) -> dict:
    """GET /api/proxy/NAME/proxies once the proxy's own socket answers (it may register first)."""

    def ask():
        response = home.tcp("GET", f"/api/proxy/{name}/proxies")
        return response if response.status_code == 200 else None

    return (await wait_until_async(ask, MANAGER_TIMEOUT, f"{name}'s API through the manager")).json()


# --------------------------------------------------------------------------- registration and events


async def test_three_proxies_register_and_their_events_carry_their_names(home):
    names = ("p1", "p2", "p3")
    ids = {name: home.add_proxy(name) for name in names}
    home.start_manager()
    async with EventStream(home) as events:
        # With no proxy connected, a browser's stream starts with an empty snapshot.
        assert events.events[0] == {"type": "snapshot", "approvals": []}

        proxies = {name: await home.start_proxy(name) for name in names}
        for name in names:
            event = await registered_event(events, name)
            assert event["proxy_id"] == ids[name] and event["instance_id"]
        status = await wait_registered(home, *names)
        assert status["running"] and status["proxies_connected"] == 3

        cli_status = json.loads(home.cli("manager", "status", "--json", check=True).stdout)
        assert cli_status["running"] and cli_status["proxies"] == list(names)
        assert cli_status["pid"] == int(home.path("manager_pid_path").read_text())

        # Each proxy's own traffic shows up under its own name and id, and only there.
        for count, name in enumerate(names, start=1):
            for n in range(count):
                assert "result" in await proxies[name].call_tool("echo", {"text": f"{name}-{n}"})
        for count, name in enumerate(names, start=1):
            stats = await events.wait_for(
                lambda e, name=name, count=count: (
                    e["type"] == "stats_updated"
                    and e.get("proxy_name") == name
                    and e["stats"]["requests_allowed"] == count
                ),
                f"stats_updated from {name} with {count} allowed",
            )
            assert stats["proxy_id"] == ids[name]
            assert "by_method" not in stats["stats"]  # the per-method breakdown is for /metrics only

        # A policy reload of p2 is p2's event, not anyone else's.
        home.cli("policy", "reload", "--proxy", "p2", check=True)
        reloaded = await events.wait_for(lambda e: e["type"] == "policy_reloaded", "policy_reloaded")
        assert (reloaded["proxy_name"], reloaded["proxy_id"]) == ("p2", ids["p2"])
        # After the empty snapshot, every event names its proxy, with that proxy's id.
        assert all(ids.get(e.get("proxy_name")) == e.get("proxy_id") for e in events.events[1:]), events.events

    # A browser that connects now first gets every proxy's state, then live events.
    async with EventStream(home) as late:
        await late.wait_for(
            lambda e: e["type"] == "stats_updated" and e["proxy_name"] == "p3", "p3's stats in the snapshot"
        )
        leading = []
        for event in late.events:
            if event["type"] not in SNAPSHOT_TYPES:
                break
            leading.append(event)
        assert late.events[0]["type"] == "snapshot"
        for name in names:
            assert {"type": "snapshot", "approvals": [], "proxy_name": name, "proxy_id": ids[name]} in leading
            cached = [e for e in leading if e["type"] == "cached_snapshot" and e["proxy_name"] == name]
            assert cached and cached[0]["proxy_id"] == ids[name] and cached[0]["count"] == 0
        counts = {e["proxy_name"]: e["stats"]["requests_allowed"] for e in leading if e["type"] == "stats_updated"}
        assert counts == {"p1": 1, "p2": 2, "p3": 3}

    # Routing reaches each proxy: its own runtime info comes back through the manager.
    for name in names:
        [info] = await wait_routed(home, name)
        assert (info["proxy_name"], info["proxy_id"], info["pid"]) == (name, ids[name], proxies[name].process.pid)
        response = home.tcp("GET", f"/api/proxy/{name}/control/status")
        assert response.status_code == 200 and response.json()["running"] is True


# --------------------------------------------------------------------------- routing


async def test_routing_with_zero_one_and_several_proxies(home):
    for name in ("p1", "p2"):
        home.add_proxy(name)
    home.start_manager()

    none = home.tcp("GET", "/api/stats")
    assert none.status_code == 503 and none.json()["error"] == "No proxies connected"

    p1 = await home.start_proxy("p1")
    await wait_registered(home, "p1")
    assert "result" in await p1.call_tool("echo", {"text": "one"})
    stats = await wait_until_async(
        lambda: (r := home.tcp("GET", "/api/stats")).status_code == 200 and r.json(),
        MANAGER_TIMEOUT,
        "/api/stats forwarded to the only proxy",
    )
    assert set(stats) >= {"requests_total", "requests_allowed", "requests_denied", "requests_hitl"}

    await home.start_proxy("p2")
    await wait_registered(home, "p1", "p2")
    several = home.tcp("GET", "/api/stats")
    assert several.status_code == 400 and several.json()["error"] == "Multiple proxies available"
    assert "p1, p2" in several.json()["detail"] and "/api/proxy/" in several.json()["detail"]

    for name in ("p1", "p2"):
        [info] = await wait_routed(home, name)
        assert info["proxy_name"] == name
    unknown = home.tcp("GET", "/api/proxy/nope/control/status")
    assert unknown.status_code == 404 and "nope" in unknown.json()["error"]
    # Manager paths are never forwarded to a proxy.
    assert home.tcp("GET", "/api/manager/nothing-here").status_code == 404


# --------------------------------------------------------------------------- disconnects


async def test_kill_and_security_shutdown_give_disconnects_with_their_causes(home):
    for name in ("p1", "p2"):
        home.add_proxy(name)
    home.start_manager()
    async with EventStream(home) as events:
        p1, p2 = await home.start_proxy("p1"), await home.start_proxy("p2")
        first = await registered_event(events, "p1")
        await registered_event(events, "p2")

        # kill -9: no shutdown was recorded, so there is no reason to tell.
        os.kill(p1.process.pid, signal.SIGKILL)
        gone = await events.wait_for(
            lambda e: e["type"] == "proxy_disconnected" and e["proxy_name"] == "p1", "p1's disconnect"
        )
        assert gone["disconnect_reason"] is None
        assert (gone["proxy_id"], gone["instance_id"]) == (first["proxy_id"], first["instance_id"])

        # A security shutdown: the audit log disappears, the next request makes p2 stop (exit 10).
        assert "result" in await p2.call_tool("echo", {"text": "before"})
        (proxy_log_dir(home.env, "p2") / "audit" / "operations.jsonl").unlink()
        answer = await p2.call_tool("echo", {"text": "after"})
        assert "result" not in answer, answer
        code = await asyncio.wait_for(p2.process.wait(), EVENT_TIMEOUT)
        assert code == AUDIT_FAILURE, p2.stderr_text()
        crashed = await events.wait_for(
            lambda e: e["type"] == "proxy_disconnected" and e["proxy_name"] == "p2", "p2's disconnect"
        )
        reason = crashed["disconnect_reason"]
        [recorded] = read_jsonl(proxy_log_dir(home.env, "p2") / "shutdowns.jsonl")
        assert reason is not None, crashed
        assert reason["exit_code"] == AUDIT_FAILURE and reason["failure_type"] == recorded["failure_type"]
        assert reason["reason"] and reason["time"] == recorded["time"]
        assert crashed["severity"] == "error"
    await wait_registered(home)  # nobody left


# --------------------------------------------------------------------------- lifecycle


async def test_two_proxies_starting_at_once_make_exactly_one_manager(home):
    for name in ("p1", "p2"):
        home.add_proxy(name)
    assert home.status() is None and not home.manager_processes()

    await asyncio.gather(home.start_proxy("p1"), home.start_proxy("p2"))
    status = await wait_registered(home, "p1", "p2")

    # A manager that lost a start-up race would exit at once (its port is taken): wait for that,
    # then there must be exactly one, the one in the PID file, serving both proxies.
    [manager] = await wait_until_async(
        lambda: len(found := home.manager_processes()) == 1 and found, MANAGER_TIMEOUT, "exactly one manager process"
    )
    assert manager.pid == int(home.path("manager_pid_path").read_text()) == status["pid"]
    assert home.registered("p1", "p2")()


async def test_proxies_work_without_the_manager_and_reregister_after_a_restart(home):
    for name in ("p1", "p2"):
        home.add_proxy(name)
    p1, p2 = await home.start_proxy("p1"), await home.start_proxy("p2")  # they auto-start the manager
    await wait_registered(home, "p1", "p2")

    stopped = home.cli("manager", "stop", check=True)
    assert "stopped" in stopped.stdout.lower()
    assert home.status() is None and not home.manager_processes()
    assert not home.path("manager_pid_path").exists()

    # Without a manager the proxies work exactly the same.
    for proxy in (p1, p2):
        assert "result" in await proxy.call_tool("echo", {"text": "no manager"})
        assert "error" in await proxy.call_tool("add", {"a": 1, "b": 2})

    started = home.cli("manager", "start", "--port", str(home.port), check=True, timeout=90)
    assert str(home.port) in started.stdout
    # docs/manager.md#starting-and-stopping: the proxies register again when the manager is back (5 s allowed).
    await wait_registered(home, "p1", "p2", timeout=5)
    assert "result" in await p1.call_tool("echo", {"text": "manager is back"})


async def test_a_proxy_works_when_the_manager_cannot_start_and_registers_once_it_runs(home):
    home.add_proxy("p1")
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", home.port))  # the UI port is taken: auto-start fails
    blocker.listen()
    try:
        p1 = await home.start_proxy("p1")
        for n in range(3):
            assert "result" in await p1.call_tool("echo", {"text": f"alone {n}"})
        assert home.status() is None
    finally:
        blocker.close()
    home.start_manager()
    await wait_registered(home, "p1")
    assert "result" in await p1.call_tool("echo", {"text": "together"})


def test_manager_start_on_a_taken_port_says_why(tmp_path):
    home = ManagerHome(tmp_path)
    try:
        with socket.socket() as blocker:
            blocker.bind(("127.0.0.1", home.port))
            blocker.listen()
            result = home.cli("manager", "start", "--port", str(home.port))
        assert result.returncode != 0
        assert "in use" in result.stderr, (result.stdout, result.stderr)
        assert any("in use" in entry["message"] for entry in read_jsonl(home.manager_log))
    finally:
        home.cleanup()


async def test_idle_manager_stops_by_itself_and_cleans_up(home):
    manager = home.start_manager("--idle-grace", "0.5", "--idle-interval", "0.2", "--idle-timeout", "1", wait=False)
    code = await asyncio.wait_for(asyncio.to_thread(manager.wait), MANAGER_TIMEOUT)
    assert code == 0
    assert any("idle" in entry["message"] for entry in read_jsonl(home.manager_log))  # not a crash
    for leftover in ("manager_pid_path", "manager_socket_path", "manager_api_socket_path"):
        assert not home.path(leftover).exists(), leftover


async def test_idle_manager_stays_up_while_a_proxy_is_registered(home):
    home.add_proxy("p1")
    p1 = await home.start_proxy("p1")
    await wait_registered(home, "p1")
    home.cli("manager", "stop", check=True)

    grace = 4.0
    manager = home.start_manager("--idle-grace", str(grace), "--idle-interval", "0.2", "--idle-timeout", "1")

    # Keep it busy (any API call but status is activity) until the proxy is back.
    def busy_until_registered():
        home.api("GET", "/metrics")
        return home.registered("p1")()

    registered = await wait_until_async(busy_until_registered, MANAGER_TIMEOUT, "p1 to re-register")
    assert registered["uptime_seconds"] < grace, "the proxy came back too late for this test to mean anything"

    # Now only the registration keeps it: it must outlive grace + idle timeout several times over.
    await wait_until_async(
        lambda: (s := home.status()) is None or s["uptime_seconds"] >= grace + 3,
        MANAGER_TIMEOUT,
        "the manager to pass its idle deadline",
    )
    assert manager.poll() is None and home.registered("p1")(), "the manager stopped with a proxy connected"

    # When the proxy goes, nothing keeps it.
    code, stderr = await p1.finish()
    assert code == 0, stderr
    assert await asyncio.wait_for(asyncio.to_thread(manager.wait), MANAGER_TIMEOUT) == 0
    assert not home.path("manager_pid_path").exists()


# --------------------------------------------------------------------------- deletion


async def test_delete_is_refused_while_running_then_archives(home):
    proxy_id = home.add_proxy("p1")
    home.start_manager()
    async with EventStream(home) as events:
        p1 = await home.start_proxy("p1")
        await registered_event(events, "p1")
        assert "result" in await p1.call_tool("echo", {"text": "keep me"})

        refused = home.tcp("DELETE", f"/api/manager/proxies/{proxy_id}")
        assert refused.status_code == 409, refused.text
        assert refused.json()["detail"]["code"] == "PROXY_RUNNING"
        assert (home.home / "config" / "proxies" / "p1" / "config.json").exists()

        code, stderr = await p1.finish()
        assert code == 0, stderr
        await events.wait_for(
            lambda e: e["type"] == "proxy_disconnected" and e["proxy_name"] == "p1", "p1's disconnect"
        )

        deleted = home.tcp("DELETE", f"/api/manager/proxies/{proxy_id}")
        assert deleted.status_code == 200, deleted.text
        result = deleted.json()
        assert result["archived"] and result["archive_name"].startswith("p1_")
        notice = await events.wait_for(lambda e: e["type"] == "proxy_deleted", "proxy_deleted")
        assert (notice["proxy_name"], notice["proxy_id"], notice["archive_name"]) == (
            "p1",
            proxy_id,
            result["archive_name"],
        )

    archive = home.home / "config" / "archive" / result["archive_name"]
    assert (archive / "metadata.json").is_file() and (archive / "README.txt").is_file()
    assert json.loads((archive / "config" / "config.json").read_text())["proxy_id"] == proxy_id
    assert (archive / "logs" / "audit" / "operations.jsonl").is_file()
    assert not (home.home / "config" / "proxies" / "p1").exists()
    assert home.tcp("DELETE", f"/api/manager/proxies/{proxy_id}").status_code == 404


# --------------------------------------------------------------------------- metrics


def samples(home: ManagerHome) -> dict[tuple[str, tuple], float]:
    response = home.tcp("GET", "/metrics")
    assert response.status_code == 200, response.text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


async def test_metrics_report_requests_by_proxy_decision_and_method(home):
    home.add_proxy("p1")
    home.start_manager()
    assert home.tcp("GET", "/metrics", token=None).status_code == 401
    p1 = await home.start_proxy("p1")
    await wait_registered(home, "p1")
    for n in range(3):
        assert "result" in await p1.call_tool("echo", {"text": str(n)})
    assert "error" in await p1.call_tool("add", {"a": 1, "b": 2})

    def key(decision: str, method: str = "tools/call"):
        labels = (("decision", decision), ("method", method), ("proxy", "p1"), ("session", "0"))
        return ("mcp_acp_requests_total", labels)

    found = await wait_until_async(
        lambda: (s := samples(home)).get(key("deny")) == 1 and s, MANAGER_TIMEOUT, "p1's denied call in /metrics"
    )
    assert found[key("allow")] == 3
    assert found[("mcp_acp_connected_proxies", ())] == 1
    assert found[("mcp_acp_pending_approvals", (("proxy", "p1"), ("session", "0")))] == 0
    started = time.monotonic()
    code, _ = await p1.finish()
    assert code == 0
    await wait_until_async(
        lambda: samples(home)[("mcp_acp_connected_proxies", ())] == 0,
        MANAGER_TIMEOUT - (time.monotonic() - started),
        "the disconnect in /metrics",
    )


def test_sigterm_is_a_graceful_stop(tmp_path):
    """SIGTERM: the manager exits 0 and removes its PID file and sockets; its log is manager/system.jsonl."""
    home = ManagerHome(tmp_path)
    try:
        manager = home.start_manager()
        os.kill(manager.pid, signal.SIGTERM)
        assert manager.wait(MANAGER_TIMEOUT) == 0
        assert not home.path("manager_pid_path").exists()
        assert not home.path("manager_socket_path").exists()
        assert home.manager_log.exists()
    finally:
        home.cleanup()
    wait_until(lambda: not home.manager_processes(), 10, "no manager left")
