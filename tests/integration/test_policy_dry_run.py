"""The decision explorer, `POST /api/policy/evaluate` (docs/ui.md#why-was-this-denied, docs/policies.md#the-decision-context): a real proxy says what it
would decide for a request, with the rules and context behind it, and does nothing else -- no
forwarding, no approval, no counters, no decisions.jsonl entry.

The proxy is a real `mcp-acp start` subprocess in front of the fixture backend; its control API
is spoken to over its Unix socket as the CLI does, and once through the real manager daemon as
the browser does (Origin header, API token).
"""

from __future__ import annotations

import asyncio
import getpass
import json
import sys

import httpx
import pytest

from mcp_acp.config import paths
from tests.support.audit import read_jsonl
from tests.support.config import proxy_config_dir, proxy_log_dir
from tests.support.manager import MANAGER_TIMEOUT, ManagerHome
from tests.support.processes import BACKEND, wait_until_async
from tests.support.proxies import RawProxy


def policy_for(root) -> dict:
    project = f"{root}/proj"
    return {
        "rules": [
            {
                "id": "read-anywhere",
                "effect": "allow",
                "description": "reads are fine",
                "conditions": {"tool_name": "read_*", "path_pattern": "/**"},
            },
            {"id": "no-env", "effect": "deny", "conditions": {"path_pattern": "**/.env"}},
            {
                "id": "write-project",
                "effect": "hitl",
                "conditions": {"operations": ["write"], "path_pattern": f"{project}/**"},
                "cache_side_effects": ["fs_write"],
            },
            {"id": "alice-echo", "effect": "allow", "conditions": {"tool_name": "echo", "subject_id": "alice"}},
        ]
    }


@pytest.fixture
def proxy_env(cli, acp_env, monkeypatch, tmp_path):
    for name in ("MCP_ACP_HOME", "HOME", "MCP_ACP_SECRET_BACKEND"):
        monkeypatch.setenv(name, acp_env[name])
    cli("proxy", "add", "fx", "--server-name", "fixture", "--command", sys.executable, "--arg", BACKEND, check=True)
    (proxy_config_dir(acp_env, "fx") / "policy.json").write_text(json.dumps(policy_for(tmp_path)))
    return acp_env


async def control(method: str, path: str, **kwargs) -> httpx.Response:
    transport = httpx.AsyncHTTPTransport(uds=str(paths.proxy_socket_path("fx")))
    async with httpx.AsyncClient(transport=transport, base_url="http://proxy", timeout=30) as client:
        return await client.request(method, path, **kwargs)


async def running_proxy(env) -> RawProxy:
    proxy = await RawProxy.start(env, "fx")
    await proxy.initialize()
    for _ in range(400):
        if paths.proxy_socket_path("fx").exists():
            break
        await asyncio.sleep(0.05)
    return proxy


async def test_dry_run_decides_like_the_proxy_and_records_nothing(proxy_env, tmp_path):
    proxy = await running_proxy(proxy_env)
    try:
        decisions_log = proxy_log_dir(proxy_env, "fx") / "audit" / "decisions.jsonl"
        # initialize and notifications/initialized are logged (discovery); the second may lag behind.
        await wait_until_async(lambda: len(read_jsonl(decisions_log)) == 2, 30, "the handshake's two decisions")
        logged_before = len(read_jsonl(decisions_log))
        stats_before = (await control("GET", "/api/stats")).json()

        async def evaluate(body: dict) -> dict:
            answer = await control("POST", "/api/policy/evaluate", json=body)
            assert answer.status_code == 200, answer.text
            return answer.json()

        allowed = await evaluate({"tool_name": "read_file", "arguments": {"path": f"{tmp_path}/proj/a.py"}})
        assert allowed["decision"] == "allow" and allowed["final_rule"] == "read-anywhere"
        assert allowed["matched_rules"] == [
            {
                "id": "read-anywhere",
                "effect": "allow",
                "description": "reads are fine",
                "conditions": {"tool_name": "read_*", "path_pattern": "/**"},
            }
        ]
        assert allowed["protected_path"] is False and allowed["policy_version"] == "v1"
        context = allowed["context"]
        assert context["subject"]["id"] == getpass.getuser() and context["subject"]["provenance"] == "local"
        assert context["action"] == {
            "mcp_method": "tools/call",
            "name": "tools.call",
            "intent": None,
            "category": "action",
        }
        resource = context["resource"]
        assert resource["tool_name"] == "read_file" and resource["side_effects"] == ["fs_read"]
        assert resource["path"] == f"{tmp_path}/proj/a.py" and resource["extension"] == ".py"
        assert resource["server_id"] == "fixture" and resource["operation"] == "read"
        assert context["environment"]["proxy_instance"] == "fx"
        assert context["environment"]["mcp_client_name"] == "raw-test-client"

        denied = await evaluate({"tool_name": "read_file", "arguments": {"path": f"{tmp_path}/proj/.env"}})
        assert denied["decision"] == "deny" and denied["final_rule"] == "no-env"
        assert {r["id"] for r in denied["matched_rules"]} == {"read-anywhere", "no-env"}

        unmatched = await evaluate({"tool_name": "add", "arguments": {"a": 1, "b": 2}})
        assert unmatched["decision"] == "deny" and unmatched["final_rule"] == "default"
        assert unmatched["matched_rules"] == []

        asked = await evaluate(
            {"tool_name": "write_file", "arguments": {"path": f"{tmp_path}/proj/b.txt", "content": "x"}}
        )
        assert asked["decision"] == "hitl" and asked["final_rule"] == "write-project"

        config = proxy_config_dir(proxy_env, "fx") / "config.json"
        protected = await evaluate({"tool_name": "read_file", "arguments": {"path": str(config)}})
        assert protected["decision"] == "deny" and protected["protected_path"] is True
        assert protected["final_rule"] == "built_in_protected_path" and str(config) in protected["reason"]

        as_bob = await evaluate({"tool_name": "echo", "arguments": {"text": "hi"}, "subject_id": "bob"})
        as_alice = await evaluate({"tool_name": "echo", "arguments": {"text": "hi"}, "subject_id": "alice"})
        assert as_bob["decision"] == "deny" and as_alice["decision"] == "allow"
        assert as_alice["context"]["subject"]["id"] == "alice" and as_alice["final_rule"] == "alice-echo"

        listing = await evaluate({"method": "tools/list"})
        assert listing["decision"] == "allow" and listing["final_rule"] == "discovery_bypass"
        resource_read = await evaluate({"method": "resources/read", "uri": f"file://{tmp_path}/notes.md"})
        assert resource_read["context"]["resource"]["type"] == "resource"
        assert resource_read["context"]["resource"]["scheme"] == "file"
        assert resource_read["context"]["action"]["intent"] == "read"

        for body, field in (
            ({"arguments": {}}, "tool_name"),
            ({"tool_name": "x", "arguments": [1]}, "arguments"),
            ({"tool_name": "x", "bogus": 1}, "bogus"),
            ({"tool_name": "  "}, "tool_name"),
        ):
            answer = await control("POST", "/api/policy/evaluate", json=body)
            assert answer.status_code == 422, answer.text
            problem = answer.json()["detail"]
            assert problem["code"] == "VALIDATION_ERROR" and field in problem["message"], problem

        assert len(read_jsonl(decisions_log)) == logged_before  # the dry runs left no trace
        stats_after = (await control("GET", "/api/stats")).json()
        counters = ("requests_total", "requests_allowed", "requests_denied", "requests_hitl")
        assert [stats_after[c] for c in counters] == [stats_before[c] for c in counters]
        # ... while a real call is decided and logged as the dry run said.
        answer = await proxy.call_tool("add", {"a": 1, "b": 2})
        assert answer["error"]["data"]["final_rule"] == "default"
        assert len(read_jsonl(decisions_log)) == logged_before + 1

        schema = (await control("GET", "/api/policy/schema")).json()
        assert schema["effects"] == ["allow", "deny", "hitl"] and "fs_write" in schema["side_effects"]
    finally:
        await proxy.close()


async def test_the_browser_reaches_the_dry_run_through_the_manager(tmp_path):
    home = ManagerHome(tmp_path)
    try:
        home.add_proxy("p1", policy_for(tmp_path))
        home.start_manager()
        await home.start_proxy("p1")
        origin = {"Origin": f"http://127.0.0.1:{home.port}"}

        def ask():
            answer = home.tcp(
                "POST",
                "/api/proxy/p1/policy/evaluate",
                token=True,
                headers=origin,
                json={"tool_name": "read_file", "arguments": {"path": f"{tmp_path}/proj/.env"}},
            )
            return answer if answer.status_code == 200 else None

        answer = (await wait_until_async(ask, MANAGER_TIMEOUT, "the dry run through the manager")).json()
        assert answer["decision"] == "deny" and answer["final_rule"] == "no-env"
        assert answer["context"]["environment"]["proxy_instance"] == "p1"

        no_origin = home.tcp("POST", "/api/proxy/p1/policy/evaluate", token=None, json={"tool_name": "x"})
        assert no_origin.status_code in (401, 403)
    finally:
        await home.aclose()
