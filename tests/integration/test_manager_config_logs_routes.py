"""The manager's config and log routes (docs/manager.md#the-managers-routes): a proxy's config.json read, merged, validated
and compared with what the running proxy loaded; its logs read from disk whether it runs or not.

The manager app is FastAPI's TestClient over a real ManagerState; the proxy is a real
`mcp-acp start --headless` subprocess in front of the fixture backend, and the logs read are
the ones it wrote.
"""

from __future__ import annotations

import asyncio
import json
import sys

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mcp_acp import secret_store
from mcp_acp.config import paths
from mcp_acp.config.store import load_manager_config
from mcp_acp.manager import routes_config, routes_logs, routes_proxies
from mcp_acp.manager.registry import ProxyConnection
from mcp_acp.manager.state import ManagerState
from tests.support.config import allow_everything, proxy_config_dir
from tests.support.processes import BACKEND
from tests.support.proxies import RawProxy

API_KEY = "sk-test-0123456789-never-shown"


@pytest.fixture
def state(cli, acp_env, monkeypatch) -> ManagerState:
    for name in ("MCP_ACP_HOME", "HOME", "MCP_ACP_SECRET_BACKEND"):
        monkeypatch.setenv(name, acp_env[name])
    cli("proxy", "add", "fx", "--server-name", "fixture", "--command", sys.executable, "--arg", BACKEND, check=True)
    allow_everything(acp_env, "fx")
    return ManagerState(config=load_manager_config())


@pytest.fixture
def client(state):
    app = FastAPI()
    for module in (routes_config, routes_logs, routes_proxies):
        app.include_router(module.router(state))
    with TestClient(app) as test_client:
        yield test_client


def config_file(env, name="fx"):
    return proxy_config_dir(env, name) / "config.json"


def proxy_id(env, name="fx") -> str:
    return json.loads(config_file(env, name).read_text())["proxy_id"]


def detail(response) -> dict:
    return response.json()["detail"]


async def started(env) -> RawProxy:
    proxy = await RawProxy.start(env, "fx")
    await proxy.initialize()
    return proxy


def register(state: ManagerState, env) -> None:
    state.registry.add(
        ProxyConnection(
            proxy_name="fx",
            proxy_id=proxy_id(env),
            instance_id="i-1",
            socket_path=str(paths.proxy_socket_path("fx")),
            config_summary={},
        )
    )


async def wait_for_socket() -> None:
    for _ in range(200):
        if paths.proxy_socket_path("fx").exists():
            return
        await asyncio.sleep(0.05)


# --- config ------------------------------------------------------------------------------------


def test_get_and_merge_config(client, acp_env):
    url = f"/api/manager/proxies/{proxy_id(acp_env)}/config"
    shown = client.get(url).json()
    assert shown["proxy_id"] == proxy_id(acp_env) and shown["backend"]["stdio"]["args"] == [BACKEND]
    assert shown["hitl"]["timeout_seconds"] == 60

    answer = client.put(url, json={"hitl": {"timeout_seconds": 120}, "log_level": "DEBUG"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["restart_required"] is False
    saved = json.loads(config_file(acp_env).read_text())
    assert saved["hitl"] == {"timeout_seconds": 120, "default_on_timeout": "deny", "approval_ttl_seconds": 600}
    assert saved["log_level"] == "DEBUG"
    assert saved["backend"]["stdio"]["command"] == sys.executable  # untouched by the merge
    assert saved["limits"] == shown["limits"]

    before = config_file(acp_env).read_text()
    bad = client.put(
        url, json={"hitl": {"timeout_seconds": 1}, "backend": {"transport": "carrier-pigeon"}, "api_key": "x"}
    )
    assert bad.status_code == 400
    problem = detail(bad)
    assert problem["code"] == "CONFIG_INVALID"
    errors = problem["validation_errors"]
    assert any("hitl.timeout_seconds" in e and "5" in e for e in errors), errors
    assert any("backend.transport" in e for e in errors), errors
    assert any("api_key" in e and "unknown field" in e for e in errors), errors
    assert config_file(acp_env).read_text() == before

    fixed = client.put(url, json={"proxy_id": "px_12345678:other"})
    assert fixed.status_code == 400 and detail(fixed)["code"] == "CONFIG_INVALID" and "proxy_id" in fixed.text
    assert client.get("/api/manager/proxies/px_00000000:none/config").status_code == 404


def test_config_of_an_http_proxy_names_its_credential_not_the_key(client, acp_env, http_backend):
    created = client.post("/api/manager/proxies", json={"name": "web", "url": http_backend.url, "api_key": API_KEY})
    assert created.status_code == 201, created.text
    answer = client.get(f"/api/manager/proxies/{created.json()['proxy_id']}/config")
    assert answer.status_code == 200
    assert answer.json()["backend"]["http"]["credential_key"]
    assert API_KEY not in answer.text and API_KEY not in config_file(acp_env, "web").read_text()


async def test_compare_shows_the_loaded_config_beside_the_saved_one(state, client, acp_env):
    url = f"/api/manager/proxies/{proxy_id(acp_env)}/config"
    idle = client.get(f"{url}/compare").json()
    assert idle["running"] is None and idle["differs"] is False and idle["saved"]["proxy_id"] == proxy_id(acp_env)

    proxy = await started(acp_env)
    try:
        await wait_for_socket()
        register(state, acp_env)
        same = (await asyncio.to_thread(client.get, f"{url}/compare")).json()
        assert same["differs"] is False and same["running"] == same["saved"], same
        assert same["running_info"]["proxy_name"] == "fx" and same["running_config_version"] == "v1"

        changed = await asyncio.to_thread(client.put, url, json={"hitl": {"approval_ttl_seconds": 900}})
        assert changed.json()["restart_required"] is True
        after = (await asyncio.to_thread(client.get, f"{url}/compare")).json()
        assert after["differs"] is True
        assert after["running"]["hitl"]["approval_ttl_seconds"] == 600
        assert after["saved"]["hitl"]["approval_ttl_seconds"] == 900
    finally:
        await proxy.close()


# --- logs --------------------------------------------------------------------------------------


async def test_logs_are_read_from_disk_after_the_proxy_stopped(client, acp_env):
    proxy = await started(acp_env)
    try:
        assert "result" in await proxy.call_tool("echo", {"text": "hello"})
        code, stderr = await proxy.finish()
        assert code == 0, stderr
    finally:
        await proxy.close()
    logs = f"/api/manager/proxies/{proxy_id(acp_env)}/logs"

    decisions = client.get(f"{logs}/decisions").json()
    calls = [e for e in decisions["entries"] if e.get("tool_name") == "echo"]
    assert len(calls) == 1 and calls[0]["decision"] == "allow"
    assert decisions["log_file"].endswith("decisions.jsonl") and decisions["has_more"] is False

    discovery = client.get(f"{logs}/decisions", params={"decision": "allow", "limit": 1, "time_range": "all"}).json()
    assert discovery["total_returned"] == 1 and discovery["has_more"] is True
    assert discovery["filters_applied"] == {"time_range": "all", "decision": "allow"}
    older = client.get(
        f"{logs}/decisions", params={"time_range": "all", "before": discovery["entries"][0]["time"]}
    ).json()
    assert all(e["time"] < discovery["entries"][0]["time"] for e in older["entries"]) and older["entries"]
    assert client.get(f"{logs}/decisions", params={"decision": "deny"}).json()["entries"] == []
    assert client.get(f"{logs}/policy_history", params={"time_range": "all"}).json()["entries"][0]["policy_version"]

    meta = client.get(f"{logs}/metadata").json()
    files = {f["name"]: f for folder in meta["folders"] for f in folder["files"]}
    assert files["decisions"]["exists"] and files["decisions"]["size_bytes"] > 0
    assert meta["debug_enabled"] is False and "client_wire" not in files
    assert meta["available_policy_versions"] == ["v1"] and meta["available_config_versions"] == ["v1"]

    for log_type, code in (("client_wire", "LOG_NOT_AVAILABLE"), ("nonsense", "NOT_FOUND")):
        answer = client.get(f"{logs}/{log_type}")
        assert answer.status_code == 404 and detail(answer)["code"] == code
    bad = client.get(f"{logs}/decisions", params={"before": "yesterday"})
    assert bad.status_code == 422 and detail(bad)["code"] == "VALIDATION_ERROR"
    assert client.get(f"{logs}/decisions", params={"limit": 0}).status_code == 422
    assert client.get("/api/manager/proxies/px_00000000:none/logs/decisions").status_code == 404


async def test_logs_are_read_while_the_proxy_runs(client, acp_env):
    proxy = await started(acp_env)
    try:
        assert "result" in await proxy.call_tool("echo", {"text": "live"})
        answer = await asyncio.to_thread(client.get, f"/api/manager/proxies/{proxy_id(acp_env)}/logs/operations")
        assert answer.status_code == 200
        assert any(e.get("method") == "tools/call" for e in answer.json()["entries"]), answer.json()
    finally:
        await proxy.close()


def test_api_key_goes_to_the_secret_store_and_config_only_names_it(client, cli, acp_env, http_backend) -> None:
    cli("proxy", "add", "web", "--url", http_backend.url, check=True)
    web = f"/api/manager/proxies/{proxy_id(acp_env, 'web')}/config/api-key"

    stored = client.put(web, json={"api_key": API_KEY})
    assert stored.status_code == 200, stored.text
    config = json.loads(config_file(acp_env, "web").read_text())
    assert config["backend"]["http"]["credential_key"] == stored.json()["credential_key"] == "proxy:web:backend"
    assert API_KEY not in config_file(acp_env, "web").read_text()
    assert secret_store.get("proxy:web:backend") == API_KEY

    bad = client.put(web, json={"api_key": "two words"})
    assert bad.status_code == 400 and secret_store.get("proxy:web:backend") == API_KEY  # the old key stays
    stdio = client.put(f"/api/manager/proxies/{proxy_id(acp_env)}/config/api-key", json={"api_key": API_KEY})
    assert stdio.status_code == 400 and "no HTTP backend" in detail(stdio)["message"]

    assert client.delete(web).status_code == 200
    assert secret_store.get("proxy:web:backend") is None
    assert "credential_key" not in json.loads(config_file(acp_env, "web").read_text())["backend"]["http"]
    assert client.delete(web).status_code == 404
