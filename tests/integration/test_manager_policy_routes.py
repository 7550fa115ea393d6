"""The manager's policy routes (docs/manager.md#editing-a-proxy-from-the-api): a proxy's policy.json read and edited on disk,
validated by the real policy model, and reloaded by the proxy when it runs.

The manager app is served by FastAPI's TestClient over a real ManagerState; the running proxy
is a real `mcp-acp start --headless` subprocess in front of the fixture backend, registered
with that state by its real control socket, so reloads and the decisions after them are real.
"""

from __future__ import annotations

import asyncio
import json
import sys

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mcp_acp.config import paths
from mcp_acp.config.store import load_manager_config
from mcp_acp.manager import routes_policy
from mcp_acp.manager.registry import ProxyConnection
from mcp_acp.manager.state import ManagerState
from tests.support.config import ECHO_ONLY_POLICY, proxy_config_dir
from tests.support.processes import BACKEND
from tests.support.proxies import RawProxy

POLICY_DENIED = -32001


@pytest.fixture
def state(cli, acp_env, monkeypatch) -> ManagerState:
    """Proxy `fx` (fixture backend) allowing echo and denying add; this process shares its home."""
    for name in ("MCP_ACP_HOME", "HOME", "MCP_ACP_SECRET_BACKEND"):
        monkeypatch.setenv(name, acp_env[name])
    cli("proxy", "add", "fx", "--server-name", "fixture", "--command", sys.executable, "--arg", BACKEND, check=True)
    policy_file(acp_env).write_text(json.dumps(ECHO_ONLY_POLICY), encoding="utf-8")
    return ManagerState(config=load_manager_config())


@pytest.fixture
def client(state):
    app = FastAPI()
    app.include_router(routes_policy.router(state))
    with TestClient(app) as test_client:  # one event loop for the whole test (pooled proxy clients)
        yield test_client


def policy_file(env):
    return proxy_config_dir(env, "fx") / "policy.json"


def base(env) -> str:
    proxy_id = json.loads((proxy_config_dir(env, "fx") / "config.json").read_text())["proxy_id"]
    return f"/api/manager/proxies/{proxy_id}/policy"


def detail(response) -> dict:
    return response.json()["detail"]


def test_get_shows_the_policy_on_disk(client, acp_env):
    answer = client.get(base(acp_env))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["running"] is False and body["default_action"] == "deny" and body["version"] == "1"
    assert [r["id"] for r in body["rules"]] == ["echo-ok", "no-add"] and body["rules_count"] == 2
    assert body["policy_path"] == str(policy_file(acp_env))
    assert body["policy_version"] is None  # never loaded by a proxy


def test_unknown_proxy_is_404(client):
    for method, path in (("GET", ""), ("PUT", ""), ("GET", "/rules"), ("GET", "/schema")):
        answer = client.request(method, f"/api/manager/proxies/px_00000000:nope/policy{path}", json={})
        assert answer.status_code == 404 and detail(answer)["code"] == "PROXY_NOT_FOUND", answer.text


def test_put_replaces_keeps_a_backup_and_refuses_an_invalid_policy(client, acp_env):
    before = policy_file(acp_env).read_text()
    new = {"rules": [{"id": "reads", "effect": "allow", "conditions": {"tool_name": "read_*"}}]}
    answer = client.put(base(acp_env), json=new)
    assert answer.status_code == 200, answer.text
    assert answer.json()["reload"] is None and answer.json()["policy"]["rules_count"] == 1
    assert json.loads(policy_file(acp_env).read_text())["rules"][0]["id"] == "reads"
    assert (policy_file(acp_env).parent / "policy.json.bak").read_text() == before

    saved = policy_file(acp_env).read_text()
    bad = {
        "default_action": "allow",
        "rules": [
            {"effect": "maybe", "conditions": {"tool_nam": "x"}},
            {"id": "dup", "effect": "allow", "conditions": {"tool_name": "a"}},
            {"id": "dup", "effect": "deny", "conditions": {"tool_name": "b"}},
        ],
    }
    answer = client.put(base(acp_env), json=bad)
    assert answer.status_code == 400
    problem = detail(answer)
    assert problem["code"] == "POLICY_INVALID"
    errors = problem["validation_errors"]
    assert any("default_action" in e for e in errors), errors
    assert any("rule 0" in e and "effect" in e for e in errors), errors
    assert any("tool_nam" in e and "unknown field" in e for e in errors), errors
    assert any("'dup'" in e and "unique" in e for e in errors), errors
    assert "Fix" in problem["message"]
    assert policy_file(acp_env).read_text() == saved  # the last good policy stays


def test_rule_crud(client, acp_env):
    rules = f"{base(acp_env)}/rules"
    assert [r["id"] for r in client.get(rules).json()] == ["echo-ok", "no-add"]

    created = client.post(
        rules, json={"effect": "hitl", "conditions": {"tool_name": "write_*"}, "cache_side_effects": ["fs_write"]}
    )
    assert created.status_code == 201, created.text
    new_id = created.json()["rule"]["id"]
    assert new_id.startswith("rule_") and created.json()["rules_count"] == 3
    assert created.json()["policy_version"] is None
    on_disk = json.loads(policy_file(acp_env).read_text())["rules"]
    assert on_disk[-1]["id"] == new_id and on_disk[-1]["cache_side_effects"] == ["fs_write"]

    same_again = client.post(rules, json={"effect": "hitl", "conditions": {"tool_name": "write_*"}})
    assert same_again.status_code == 409 and detail(same_again)["code"] == "POLICY_RULE_DUPLICATE"
    taken = client.post(rules, json={"id": "echo-ok", "effect": "deny", "conditions": {"tool_name": "x"}})
    assert taken.status_code == 409 and detail(taken)["code"] == "POLICY_RULE_DUPLICATE"
    invalid = client.post(rules, json={"effect": "allow", "conditions": {}})
    assert invalid.status_code == 400 and detail(invalid)["code"] == "POLICY_INVALID"
    assert any("at least one condition" in e for e in detail(invalid)["validation_errors"])
    bad_cache = client.post(
        rules, json={"effect": "allow", "conditions": {"tool_name": "z"}, "cache_side_effects": ["fs_read"]}
    )
    assert bad_cache.status_code == 400 and "only allowed when effect is 'hitl'" in bad_cache.text

    replaced = client.put(
        f"{rules}/no-add",
        json={"effect": "deny", "conditions": {"tool_name": ["add", "big"]}, "description": "no arithmetic"},
    )
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["rule"] == {
        "id": "no-add",
        "description": "no arithmetic",
        "effect": "deny",
        "conditions": {"tool_name": ["add", "big"]},
    }
    rename_clash = client.put(
        f"{rules}/no-add", json={"id": "echo-ok", "effect": "deny", "conditions": {"tool_name": "q"}}
    )
    assert rename_clash.status_code == 409
    missing = client.put(f"{rules}/nope", json={"effect": "deny", "conditions": {"tool_name": "q"}})
    assert missing.status_code == 404 and detail(missing)["code"] == "POLICY_RULE_NOT_FOUND"

    assert client.delete(f"{rules}/echo-ok").status_code == 204
    assert client.delete(f"{rules}/echo-ok").status_code == 404
    assert [r["id"] for r in json.loads(policy_file(acp_env).read_text())["rules"]] == ["no-add", new_id]


def test_schema_offers_the_model_values(client, acp_env):
    schema = client.get(f"{base(acp_env)}/schema").json()
    assert schema["effects"] == ["allow", "deny", "hitl"]
    assert schema["operations"] == ["read", "write", "delete"]
    assert "code_exec" in schema["side_effects"] and "email_send" in schema["side_effects"]
    assert schema["resource_types"] == ["tool", "resource", "prompt", "server"]
    assert {
        "tool_name",
        "path_pattern",
        "source_path",
        "dest_path",
        "operations",
        "extension",
        "scheme",
        "backend_id",
        "resource_type",
        "mcp_method",
        "subject_id",
        "side_effects",
        "tool_labels",
        "session_labels",
    } == set(schema["condition_keys"])
    assert "tools/list" in schema["discovery_methods"] and "tools/call" not in schema["discovery_methods"]


def test_a_broken_file_on_disk_is_reported_and_can_be_replaced(client, acp_env):
    policy_file(acp_env).write_text('{"rules": [{"effect": "allow"}]}')
    answer = client.get(base(acp_env))
    assert answer.status_code == 400 and detail(answer)["code"] == "POLICY_INVALID"
    assert any("conditions" in e for e in detail(answer)["validation_errors"])
    assert client.put(base(acp_env), json={}).status_code == 200
    assert client.get(base(acp_env)).json()["rules"] == []


async def test_edits_reload_a_running_proxy(state, client, acp_env):
    proxy = await RawProxy.start(acp_env, "fx")
    try:
        await proxy.initialize()
        assert (await proxy.call_tool("add", {"a": 1, "b": 2}))["error"]["code"] == POLICY_DENIED
        socket_path = paths.proxy_socket_path("fx")
        for _ in range(200):
            if socket_path.exists():
                break
            await asyncio.sleep(0.05)
        proxy_id = json.loads((proxy_config_dir(acp_env, "fx") / "config.json").read_text())["proxy_id"]
        state.registry.add(
            ProxyConnection(
                proxy_name="fx", proxy_id=proxy_id, instance_id="i-1", socket_path=str(socket_path), config_summary={}
            )
        )

        shown = (await asyncio.to_thread(client.get, base(acp_env))).json()
        assert shown["running"] is True and shown["policy_version"] == "v1"

        created = await asyncio.to_thread(
            client.post,
            f"{base(acp_env)}/rules",
            json={"id": "add-ok", "effect": "allow", "conditions": {"tool_name": "add"}},
        )
        assert created.status_code == 201, created.text
        body = created.json()
        assert body["reload"]["status"] == "success" and body["reload"]["new_rules_count"] == 3
        assert body["policy_version"] == "v2"
        # HITL/DENY outrank ALLOW: drop the deny so the new allow decides.
        deleted = await asyncio.to_thread(client.delete, f"{base(acp_env)}/rules/no-add")
        assert deleted.status_code == 204
        answer = await proxy.call_tool("add", {"a": 1, "b": 2})
        assert "result" in answer, answer

        replaced = await asyncio.to_thread(client.put, base(acp_env), json={})
        assert replaced.status_code == 200, replaced.text
        reload = replaced.json()["reload"]
        assert reload["status"] == "success" and reload["new_rules_count"] == 0
        assert replaced.json()["policy"]["running"] is True
        assert replaced.json()["policy"]["policy_version"] == reload["policy_version"]
        assert (await proxy.call_tool("echo", {"text": "x"}))["error"]["code"] == POLICY_DENIED
    finally:
        await proxy.close()


BROKEN = """{
  "rules": [
    {"id": "echo-ok", "effect": "allow", "conditions": {"tool_name": "echo"}},
    {
      "id": "typo",
      "effect": "alow",
      "conditions": {"tool_nam": "add"}
    }
  ]
}
"""


def test_a_broken_file_is_shown_raw_with_each_problem_at_its_line(client, acp_env):
    policy_file(acp_env).write_text(BROKEN, encoding="utf-8")
    assert client.get(base(acp_env)).json()["detail"]["code"] == "POLICY_INVALID"  # the parsed view refuses it
    raw = client.get(f"{base(acp_env)}/raw")
    assert raw.status_code == 200, raw.text
    body = raw.json()
    assert body["text"] == BROKEN and body["running"] is False and body["running_policy_version"] is None
    lines = {problem["line"]: problem["message"] for problem in body["problems"]}
    assert sorted(lines) == [6, 7], body["problems"]
    assert "'alow'" in lines[6] and "tool_nam" in lines[7] and "unknown field" in lines[7]

    fixed = BROKEN.replace('"alow"', '"allow"').replace('"tool_nam"', '"tool_name"')
    assert client.post(f"{base(acp_env)}/check", json={"text": fixed}).json() == {"problems": []}
    not_json = client.post(f"{base(acp_env)}/check", json={"text": fixed.replace('"id": "typo",', '"id": "typo"')})
    assert [(p["line"], p["message"][:14]) for p in not_json.json()["problems"]] == [(6, "not valid JSON")]
    assert client.post(f"{base(acp_env)}/check", json={"nope": 1}).status_code == 400
    assert policy_file(acp_env).read_text() == BROKEN  # checking never writes


def test_raw_of_a_valid_file_has_no_problems(client, acp_env):
    body = client.get(f"{base(acp_env)}/raw").json()
    assert body["problems"] == [] and json.loads(body["text"]) == ECHO_ONLY_POLICY
