"""The per-proxy API (docs/manager.md#a-proxys-own-api) on a running proxy's Unix socket.

`mcp-acp start --headless` runs as a subprocess in front of the fixture backend; a raw JSON-RPC
client makes allowed and denied calls on its STDIO, then the test asks the proxy's socket what
it saw: counters, runtime info, the decision log with filters, log metadata, cached approvals.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.config import proxy_config_dir
from tests.support.processes import BACKEND
from tests.support.proxies import RawProxy

NAME = "fx"
POLICY = {
    "rules": [
        {"id": "echo-ok", "effect": "allow", "conditions": {"tool_name": "echo"}},
        {"id": "no-add", "effect": "deny", "conditions": {"tool_name": "add"}},
    ]
}


@pytest.fixture
def fx(cli, acp_env, monkeypatch) -> Path:
    """Proxy `fx` in front of the fixture backend; returns its socket path, computed as the CLI does."""
    cli("proxy", "add", NAME, "--server-name", "fixture", "--command", sys.executable, "--arg", BACKEND, check=True)
    (proxy_config_dir(acp_env, NAME) / "policy.json").write_text(json.dumps(POLICY), encoding="utf-8")
    monkeypatch.setenv("MCP_ACP_HOME", acp_env["MCP_ACP_HOME"])
    from mcp_acp.config import paths

    return paths.proxy_socket_path(NAME)


def configure(env: dict, **changes) -> None:
    path = proxy_config_dir(env, NAME) / "config.json"
    path.write_text(json.dumps({**json.loads(path.read_text(encoding="utf-8")), **changes}), encoding="utf-8")


class Api:
    """HTTP over the proxy's socket, as the CLI and the manager speak to it."""

    def __init__(self, socket_path: Path) -> None:
        self.client = httpx.AsyncClient(
            transport=httpx.AsyncHTTPTransport(uds=str(socket_path)), base_url="http://proxy", timeout=30
        )

    async def get(self, path: str, status: int = 200, **params) -> dict | list:
        response = await self.client.get(path, params=params)
        assert response.status_code == status, response.text
        return response.json()

    async def wait_ready(self, proxy: RawProxy, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            assert proxy.process.returncode is None, "the proxy exited"
            try:
                if (await self.client.get("/api/control/status")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the proxy's socket never answered"
            await asyncio.sleep(0.1)


async def running(env: dict, socket_path: Path) -> tuple[RawProxy, Api]:
    proxy = await RawProxy.start(env, NAME)
    api = Api(socket_path)
    try:
        await proxy.initialize()
        await api.wait_ready(proxy)
    except BaseException:
        await proxy.close()
        raise
    return proxy, api


async def test_stats_info_logs_and_approvals(fx, acp_env) -> None:
    proxy, api = await running(acp_env, fx)
    try:
        await proxy.request("tools/list")
        for n in range(2):
            assert "result" in await proxy.call_tool("echo", {"text": f"hi {n}"})
        assert (await proxy.call_tool("add", {"a": 1, "b": 2}))["error"]["data"]["final_rule"] == "no-add"
        assert (await proxy.call_tool("big", {"size_bytes": 3}))["error"]["data"]["final_rule"] == "default"

        # The socket is only for its owner.
        assert stat.S_IMODE(os.stat(fx).st_mode) == 0o600

        # Counters: initialize, notifications/initialized and tools/list bypass the policy.
        # Latency: the two echo results are timed, all four evaluated calls have a policy time.
        deadline = time.monotonic() + 10
        while (stats := await api.get("/api/stats"))["latency"]["sample_count"]["proxy_latency"] < 2:
            assert time.monotonic() < deadline, stats  # the answer is recorded just after it is sent
            await asyncio.sleep(0.05)
        latency = stats.pop("latency")
        assert stats == {"requests_total": 7, "requests_allowed": 2, "requests_denied": 2, "requests_hitl": 0}
        assert latency["sample_count"] == {"proxy_latency": 2, "policy_eval": 4, "hitl_wait": 0}
        assert latency["proxy_latency_ms"] > 0 and latency["policy_eval_ms"] > 0 and latency["hitl_wait_ms"] is None

        config = json.loads((proxy_config_dir(acp_env, NAME) / "config.json").read_text())
        [info] = await api.get("/api/proxies")
        assert info["id"] == info["proxy_id"] == config["proxy_id"] and info["proxy_name"] == NAME
        assert (info["status"], info["pid"], info["backend_id"]) == ("running", proxy.process.pid, "fixture")
        assert (info["command"], info["args"], info["url"]) == (sys.executable, [BACKEND], None)
        assert (info["client_transport"], info["mtls_enabled"], info["client_id"]) == (
            "stdio",
            False,
            "raw-test-client",
        )
        assert info["backend_transport"] in ("stdio", "auto") and info["uptime_seconds"] >= 0 and info["started_at"]
        assert info["stats"]["requests_total"] == 7 and info["stats"]["by_method"]["tools/call"] == {
            "allow": 2,
            "deny": 2,
        }
        assert (await api.get(f"/api/proxies/{config['proxy_id']}"))["pid"] == proxy.process.pid
        missing = await api.get("/api/proxies/px_00000000:other", 404)
        assert missing["detail"]["code"] == "PROXY_NOT_FOUND"

        # The decision log, newest first, filtered and paged.
        denied = await api.get("/api/logs/decisions", decision="deny")
        assert [e["final_rule"] for e in denied["entries"]] == ["default", "no-add"]
        assert denied["total_returned"] == 2 and not denied["has_more"]
        assert denied["filters_applied"] == {"time_range": "5m", "decision": "deny"}
        assert denied["log_file"].endswith(os.path.join("audit", "decisions.jsonl"))
        page = await api.get("/api/logs/decisions", limit=3, time_range="1h")
        assert page["has_more"] and len(page["entries"]) == 3
        times = [e["time"] for e in page["entries"]]
        assert times == sorted(times, reverse=True)
        rest = await api.get("/api/logs/decisions", limit=1000, time_range="all", before=times[-1])
        assert all(e["time"] < times[-1] for e in rest["entries"]) and rest["entries"]
        one = await api.get("/api/logs/decisions", request_id=denied["entries"][1]["request_id"])
        assert [e["final_rule"] for e in one["entries"]] == ["no-add"]
        session = denied["entries"][0]["session_id"]
        assert len((await api.get("/api/logs/operations", session_id=session, time_range="all"))["entries"]) >= 4
        assert (await api.get("/api/logs/auth", event_type="session_started"))["total_returned"] == 1
        assert (await api.get("/api/logs/policy_history", policy_version="v1", time_range="all"))["entries"]

        # Wire logs are written only with log_level DEBUG; unknown types are unknown.
        refused = await api.get("/api/logs/client_wire", 404)
        assert refused["detail"]["code"] == "LOG_NOT_AVAILABLE"
        for bogus in ("nothing", "..%2F..%2Fconfig", "decisions.jsonl"):
            assert (await api.get(f"/api/logs/{bogus}", 404))["detail"]["code"] == "NOT_FOUND"
        assert (await api.get("/api/logs/decisions", 422, limit=5000))["detail"]["code"] == "VALIDATION_ERROR"

        meta = await api.get("/api/logs/metadata")
        assert meta["debug_enabled"] is False and meta["available_policy_versions"] == ["v1"]
        assert meta["available_config_versions"] == ["v1"]
        files = {f["name"]: f for folder in meta["folders"] for f in folder["files"]}
        assert [folder["name"] for folder in meta["folders"]] == ["audit", "system"]
        assert files["decisions"]["exists"] and files["decisions"]["size_bytes"] > 0
        assert files["decisions"]["backups"] == []

        # Approvals: nothing cached (no approver yet), nothing pending.
        assert await api.get("/api/approvals/cached") == {"count": 0, "ttl_seconds": 600, "approvals": []}
        gone = await api.client.delete(
            "/api/approvals/cached/entry", params={"subject_id": "nobody", "tool_name": "echo", "path": "/x"}
        )
        assert gone.status_code == 404 and gone.json()["detail"]["code"] == "CACHED_APPROVAL_NOT_FOUND"
        cleared = await api.client.delete("/api/approvals/cached")
        assert cleared.json() == {"cleared": 0, "status": "ok"}
        assert await api.get("/api/approvals/pending/list") == []

        # The endpoints that were there before still answer.
        assert (await api.get("/api/control/status"))["policy_rules_count"] == 2
        assert (await api.get("/api/policy"))["rules_count"] == 2
        assert (await api.get("/api/auth-sessions"))[0]["session_id"] == session
    finally:
        await api.client.aclose()
        await proxy.close()


async def test_wire_logs_readable_with_debug(fx, acp_env) -> None:
    configure(acp_env, log_level="DEBUG")
    proxy, api = await running(acp_env, fx)
    try:
        assert "result" in await proxy.call_tool("echo", {"text": "wire"})
        wire = await api.get("/api/logs/client_wire")
        assert wire["entries"] and wire["log_file"].endswith(os.path.join("debug", "client_wire.jsonl"))
        meta = await api.get("/api/logs/metadata")
        assert meta["debug_enabled"] is True and meta["folders"][-1]["name"] == "debug"
    finally:
        await api.client.aclose()
        await proxy.close()
