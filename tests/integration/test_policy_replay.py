"""`mcp-acp policy replay` over a real proxy's log (docs/policies.md#testing-a-policy-and-previewing-a-change).

A real `mcp-acp start` subprocess fronts the fixture backend; the mcp SDK client makes a known set
of calls; the proxy stops. A candidate policy that changes exactly three of those decisions is
replayed: the report counts exactly those, and names exactly their entries in decisions.jsonl.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mcp_acp.config.store import load_manager_config
from mcp_acp.manager import routes_policy_replay
from mcp_acp.manager.state import ManagerState
from tests.integration.conftest import Launcher, open_client
from tests.support.audit import read_jsonl
from tests.support.config import proxy_config_dir, proxy_log_dir
from tests.support.processes import BACKEND


def policy(data: Path, *, echo: bool, add: bool) -> dict:
    rules = [
        {"id": "read-data", "effect": "allow", "conditions": {"tool_name": "read_file", "path_pattern": f"{data}/**"}},
        {"id": "no-env", "effect": "deny", "conditions": {"path_pattern": "**/.env"}},
    ]
    if echo:
        rules.append({"id": "echo", "effect": "allow", "conditions": {"tool_name": "echo"}})
    if add:
        rules.append({"id": "add", "effect": "allow", "conditions": {"tool_name": "add"}})
    return {"rules": rules}


@pytest.fixture
def recorded(launcher: Launcher, tmp_path: Path) -> tuple[Launcher, Path]:
    """A proxy that served: echo twice and read_file in data (allowed), add, a read of data/.env
    and one outside data (denied); then stopped."""
    if pythonpath := os.environ.get("PYTHONPATH"):  # the proxy runs this checkout's code
        launcher.env["PYTHONPATH"] = pythonpath
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.txt").write_text("hello")
    params = launcher.proxy(sys.executable, [BACKEND], name="fx")
    (proxy_config_dir(launcher.env, "fx") / "policy.json").write_text(json.dumps(policy(data, echo=True, add=False)))
    return launcher, data, params


async def test_replay_reports_exactly_the_decisions_a_candidate_changes(recorded, tmp_path):
    launcher, data, params = recorded
    async with open_client(launcher, params, label="replay") as conn:
        session = conn.session

        async def refused(tool: str, arguments: dict) -> bool:
            try:
                return bool((await session.call_tool(tool, arguments)).is_error)
            except Exception as exc:  # the proxy's refusal is a JSON-RPC error
                return "Policy denied" in str(exc)

        assert not await refused("echo", {"text": "one"})
        assert not await refused("echo", {"text": "two"})
        assert not await refused("read_file", {"path": str(data / "a.txt")})
        assert await refused("add", {"a": 1, "b": 2})
        assert await refused("read_file", {"path": str(data / ".env")})
        assert await refused("read_file", {"path": "/etc/hostname"})
    decisions = read_jsonl(proxy_log_dir(launcher.env, "fx") / "audit" / "decisions.jsonl")
    calls = [e for e in decisions if e.get("mcp_method") == "tools/call"]
    assert [(e["tool_name"], e["decision"]) for e in calls] == [
        ("echo", "allow"),
        ("echo", "allow"),
        ("read_file", "allow"),
        ("add", "deny"),
        ("read_file", "deny"),
        ("read_file", "deny"),
    ]

    candidate = tmp_path / "candidate.json"  # echo no longer allowed, add now allowed: 3 changes
    candidate.write_text(json.dumps(policy(data, echo=False, add=True)))
    result = launcher.cli("policy", "replay", "--proxy", "fx", "--candidate", str(candidate), "--json")
    report = json.loads(result.stdout)

    others = len(decisions) - len(calls)  # the handshake, tools/list…: discovery, not the policy's
    assert (report["entries"], report["not_decided_by_policy"], report["not_redecidable"]) == (
        len(decisions),
        others,
        0,
    )
    assert (report["redecided"], report["changed"], report["unchanged"]) == (6, 3, 3)
    assert report["transitions"] == [
        {"from": "allow", "to": "allow", "count": 1},
        {"from": "allow", "to": "deny", "count": 2},
        {"from": "deny", "to": "allow", "count": 1},
        {"from": "deny", "to": "deny", "count": 2},
    ]
    changed = {(c["from"], c["to"]): c["examples"] for c in report["changes"]}
    assert set(changed) == {("allow", "deny"), ("deny", "allow")}

    def linked(entry: dict) -> tuple:
        return ("audit/decisions.jsonl", entry["sequence"], entry["request_id"], entry["time"], entry["tool_name"])

    def shown(example: dict) -> tuple:
        return (example["file"], example["sequence"], example["request_id"], example["time"], example["tool_name"])

    assert [shown(e) for e in changed[("allow", "deny")]] == [linked(calls[0]), linked(calls[1])]
    assert [shown(e) for e in changed[("deny", "allow")]] == [linked(calls[3])]
    assert [(e["old"]["rule"], e["new"]["rule"]) for e in changed[("allow", "deny")]] == [("echo", "default")] * 2
    assert changed[("deny", "allow")][0]["new"] == {"decision": "allow", "rule": "add", "reason": None}

    text = launcher.cli("policy", "replay", "--proxy", "fx", "--candidate", str(candidate)).stdout
    assert "3 would change" in text and "allow → deny: 2" in text and "deny → allow: 1" in text
    assert f"decisions.jsonl #{calls[3]['sequence']}" in text

    unchanged = launcher.cli(
        "policy",
        "replay",
        "--proxy",
        "fx",
        "--candidate",
        str(proxy_config_dir(launcher.env, "fx") / "policy.json"),
        "--json",
    )
    assert json.loads(unchanged.stdout)["changed"] == 0

    # The UI's preview: the manager's route answers the same report for the unsaved candidate.
    state = ManagerState(config=load_manager_config())
    app = FastAPI()
    app.include_router(routes_policy_replay.router(state))
    proxy_id = json.loads((proxy_config_dir(launcher.env, "fx") / "config.json").read_text())["proxy_id"]
    route = f"/api/manager/proxies/{proxy_id}/policy/replay"
    with TestClient(app) as client:
        answer = client.post(route, json=policy(data, echo=False, add=True))
        assert answer.status_code == 200, answer.text
        assert answer.json() == {**report, "candidate": None}
        assert client.post(route, params={"limit": 1}, json=policy(data, echo=False, add=True)).json()["changes"][0][
            "examples"
        ] == [changed[("allow", "deny")][0]]
        bad = client.post(route, json={"rules": [{"effect": "allow", "conditions": {}}]})
        assert bad.status_code == 400 and bad.json()["detail"]["code"] == "POLICY_INVALID"
        assert client.post(route, params={"since": "soon"}, json={}).status_code == 400
        assert client.post("/api/manager/proxies/px_00000000:nope/policy/replay", json={}).status_code == 404
