"""Manager routes against real proxy processes (docs/manager.md#editing-a-proxy-from-the-api, docs/audit.md#mcp-acp-audit-verify): audit verify/repair on the
logs a real headless proxy wrote, repair refused while it runs, live stats over its control socket,
and creating a proxy for a live HTTP backend."""

from __future__ import annotations

import asyncio
import json
import sys

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mcp_acp.config import paths
from mcp_acp.config.store import load_manager_config
from mcp_acp.manager import routes_audit, routes_proxies
from mcp_acp.manager.registry import ProxyConnection
from mcp_acp.manager.state import ManagerState
from tests.support.config import allow_everything, proxy_config_dir, proxy_log_dir
from tests.support.processes import BACKEND
from tests.support.proxies import RawProxy


@pytest.fixture
def state(cli, acp_env, monkeypatch) -> ManagerState:
    """Proxy `fx` in front of the fixture backend, allowed everything; this process shares its home."""
    for name in ("MCP_ACP_HOME", "HOME", "MCP_ACP_SECRET_BACKEND"):
        monkeypatch.setenv(name, acp_env[name])
    cli("proxy", "add", "fx", "--server-name", "fixture", "--command", sys.executable, "--arg", BACKEND, check=True)
    allow_everything(acp_env, "fx")
    return ManagerState(config=load_manager_config())


def client_for(state: ManagerState, *modules) -> TestClient:
    app = FastAPI()
    for module in modules:
        app.include_router(module.router(state))
    return TestClient(app)


def proxy_id(env: dict) -> str:
    return json.loads((proxy_config_dir(env, "fx") / "config.json").read_text())["proxy_id"]


async def started(env: dict) -> RawProxy:
    proxy = await RawProxy.start(env, "fx")
    await proxy.initialize()
    return proxy


async def one_session(env: dict) -> None:
    proxy = await started(env)
    try:
        assert "result" in await proxy.call_tool("echo", {"text": "hello"})
        code, stderr = await proxy.finish()
        assert code == 0, stderr
    finally:
        await proxy.close()


async def test_verify_reports_tampering_and_repair_backs_up_the_broken_log(state, acp_env):
    await one_session(acp_env)
    client = client_for(state, routes_audit)
    verify = f"/api/manager/proxies/{proxy_id(acp_env)}/audit/verify"
    report = client.get(verify).json()
    assert report["overall_status"] == "passed" and report["state_file_present"] is True
    files = {f["name"]: f for f in report["files"]}
    operations = files["operations"]
    assert operations["status"] == "protected" and operations["errors"] == []
    assert operations["entry_count"] >= 3 and operations["last_sequence"] == operations["entry_count"]
    assert report["totals"]["protected"] >= 3

    log = proxy_log_dir(acp_env, "fx") / "audit" / "operations.jsonl"
    lines = log.read_text().splitlines(keepends=True)
    entry = json.loads(lines[1])
    entry["method"] = "tools/call-edited"
    lines[1] = json.dumps(entry) + "\n"
    log.write_text("".join(lines))
    report = client.get(verify).json()
    operations = next(f for f in report["files"] if f["name"] == "operations")
    assert report["overall_status"] == "failed"
    assert operations["status"] == "broken" and operations["errors"], operations
    assert report["totals"]["broken"] == 1

    repaired = client.post(f"/api/manager/proxies/{proxy_id(acp_env)}/audit/repair").json()
    actions = {r["name"]: r for r in repaired["results"]}
    assert repaired["success"] is True, repaired
    assert actions["operations"]["action"] == "backed_up" and ".broken." in actions["operations"]["message"]
    assert actions["decisions"]["action"] == "ok"
    report = client.get(verify).json()
    operations = next(f for f in report["files"] if f["name"] == "operations")
    assert report["overall_status"] == "passed"
    assert operations["status"] == "empty" and len(operations["backups"]) == 1
    assert operations["backups"][0].startswith("operations.broken.")
    await one_session(acp_env)  # the repaired trail lets the proxy start again


async def test_repair_refused_while_the_proxy_runs_unregistered(state, acp_env):
    proxy = await started(acp_env)
    try:
        answer = client_for(state, routes_audit).post(f"/api/manager/proxies/{proxy_id(acp_env)}/audit/repair")
        assert answer.status_code == 409
        assert answer.json()["detail"]["code"] == "PROXY_RUNNING"
    finally:
        await proxy.close()


async def test_running_proxy_stats_and_details_come_from_its_socket(state, acp_env):
    proxy = await started(acp_env)
    try:
        assert "result" in await proxy.call_tool("echo", {"text": "hi"})
        socket_path = paths.proxy_socket_path("fx")
        for _ in range(200):
            if socket_path.exists():
                break
            await asyncio.sleep(0.05)
        state.registry.add(
            ProxyConnection(
                proxy_name="fx",
                proxy_id=proxy_id(acp_env),
                instance_id="i-1",
                socket_path=str(socket_path),
                config_summary={"transport": "stdio"},
            )
        )

        def ask() -> tuple[list, dict]:
            client = client_for(state, routes_proxies)
            return (
                client.get("/api/manager/proxies").json(),
                client.get(f"/api/manager/proxies/{proxy_id(acp_env)}").json(),
            )

        listed, detail = await asyncio.to_thread(ask)  # the proxy's socket is served by its own process
        assert listed[0]["status"] == "running"
        assert listed[0]["stats"]["requests_allowed"] >= 1, listed[0]
        assert detail["client_id"] == "raw-test-client"
        assert detail["pending_approvals"] == [] and detail["cached_approvals"] == []
    finally:
        await proxy.close()


def test_create_proxy_for_a_live_http_backend(state, acp_env, http_backend):
    answer = client_for(state, routes_proxies).post(
        "/api/manager/proxies", json={"name": "web", "url": http_backend.url}
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["warnings"] == []
    config = json.loads((proxy_config_dir(acp_env, "web") / "config.json").read_text())
    assert config["backend"]["http"] == {"url": http_backend.url, "timeout": 30}
    assert config["backend"]["transport"] == "streamablehttp"
