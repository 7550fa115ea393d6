"""The control API's approval-cache endpoints and the events behind them, in process.

A real proxy cannot cache an approval yet (no approver exists before the approvals feature), so
cached entries are put in the real ApprovalCache directly and the real FastAPI app is called
through httpx's ASGI transport. The policy-reload events use the real reloader and audit log.
tests/integration/test_proxy_api.py covers the same API on a running proxy's socket.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from mcp_acp.audit.state import IntegrityState
from mcp_acp.audit.writer import AuditLog
from mcp_acp.identity.local import Identity
from mcp_acp.identity.provider import LocalIdentities
from mcp_acp.policy.context import build_context
from mcp_acp.policy.model import parse_policy
from mcp_acp.policy.protected import ProtectedPaths
from mcp_acp.proxy.api import build_app
from mcp_acp.proxy.approvals import ApprovalCache
from mcp_acp.proxy.control import ControlState
from mcp_acp.proxy.events import ProxyEvents
from mcp_acp.proxy.policy_reload import PolicyReloader

RULES = [{"id": "writes", "effect": "hitl", "conditions": {"tool_name": "write_file"}}]


def context(tool: str, path: str | None, request_id: int, arguments: dict | None = None):
    arguments = arguments if arguments is not None else {"path": path} if path else {}
    message = {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": tool, "arguments": arguments},
    }
    return build_context(message, Identity("alice", "local"), "fs")


@pytest.fixture
def proxy(tmp_path: Path):
    log_dir = tmp_path / "logs"
    audit = AuditLog(log_dir, IntegrityState.load(log_dir), None)
    policy_file = tmp_path / "policy.json"
    policy_file.write_text(json.dumps({"rules": RULES}))
    approvals = ApprovalCache(600)
    events, seen = ProxyEvents(), []
    events.sinks.append(lambda kind, payload: seen.append((kind, payload)))
    reloader = PolicyReloader(
        policy_file,
        parse_policy({"rules": RULES}),
        ProtectedPaths([tmp_path / "cfg"]),
        audit,
        approvals,
        "v1",
        events=events,
    )
    identity = Identity("alice", "local")
    control = ControlState(
        reloader, LocalIdentities(identity), approvals, "s1", identity, events=events, log_dir=log_dir
    )
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=build_app(control)), base_url="http://proxy")
    return control, client, seen, policy_file


async def test_list_delete_and_clear_cached_approvals(proxy, tmp_path):
    control, client, seen, _ = proxy
    target = tmp_path / "a.txt"
    control.approvals.remember(context("write_file", str(target), 7))
    control.approvals.remember(context("notify", None, 8))
    listing = (await client.get("/api/approvals/cached")).json()
    assert listing["count"] == 2 and listing["ttl_seconds"] == 600
    first = listing["approvals"][0]
    assert (first["subject_id"], first["tool_name"], first["path"], first["request_id"]) == (
        "alice",
        "write_file",
        str(target),
        "7",
    )
    assert 0 <= first["age_seconds"] < 5 and 595 < first["expires_in_seconds"] <= 600 and first["ttl_seconds"] == 600
    assert first["paths"] == [str(target)] and first["exact_arguments"] is False
    second = listing["approvals"][1]
    assert (second["tool_name"], second["path"], second["paths"], second["exact_arguments"]) == (
        "notify",
        None,
        [],
        True,
    )  # an unknown tool: the approval covers its exact arguments only

    missing = await client.delete(
        "/api/approvals/cached/entry", params={"subject_id": "bob", "tool_name": "write_file", "path": str(target)}
    )
    assert missing.status_code == 404 and missing.json()["detail"]["code"] == "CACHED_APPROVAL_NOT_FOUND"
    assert seen == []
    deleted = await client.delete(
        "/api/approvals/cached/entry", params={"subject_id": "alice", "tool_name": "write_file", "path": str(target)}
    )
    assert deleted.json() == {"deleted": True, "status": "ok"}
    assert [kind for kind, _ in seen] == ["cache_entry_deleted", "cached_snapshot"]
    assert seen[0][1]["tool_name"] == "write_file" and seen[1][1]["count"] == 1
    no_path = await client.delete("/api/approvals/cached/entry", params={"subject_id": "alice", "tool_name": "notify"})
    assert no_path.status_code == 200 and len(control.approvals) == 0

    control.approvals.remember(context("write_file", str(target), 9))
    seen.clear()
    assert (await client.delete("/api/approvals/cached")).json() == {"cleared": 1, "status": "ok"}
    assert [kind for kind, _ in seen] == ["cache_cleared", "cached_snapshot"]
    assert seen[0][1]["count"] == 1 and seen[1][1] == {**seen[1][1], "count": 0, "approvals": []}


async def test_reload_events(proxy, tmp_path):
    control, client, seen, policy_file = proxy
    control.approvals.remember(context("write_file", str(tmp_path / "a.txt"), 1))
    policy_file.write_text(json.dumps({"rules": [*RULES, {"effect": "deny", "conditions": {"tool_name": "x"}}]}))
    result = (await client.post("/api/control/reload-policy")).json()
    assert result["status"] == "success" and result["approvals_cleared"] == 1
    assert [kind for kind, _ in seen] == ["policy_reloaded", "cache_cleared", "cached_snapshot"]
    reloaded = seen[0][1]
    assert reloaded["severity"] == "success" and (reloaded["old_rules_count"], reloaded["new_rules_count"]) == (1, 2)
    assert reloaded["policy_version"] == result["policy_version"] and reloaded["approvals_cleared"] == 1

    seen.clear()
    policy_file.write_text('{"rules": [{"effect": "maybe"}]}')
    result = (await client.post("/api/control/reload-policy")).json()
    assert result["status"] == "error"
    assert [kind for kind, _ in seen] == ["policy_reload_failed"]
    failed = seen[0][1]
    assert failed["severity"] == "error" and failed["problems"] == result["problems"] and failed["problems"]


async def test_errors_are_structured(proxy):
    _, client, _, _ = proxy
    for method, path, status, code in [
        ("GET", "/api/nothing", 404, "NOT_FOUND"),
        ("GET", "/api/logs/decisions?limit=0", 422, "VALIDATION_ERROR"),
        ("GET", "/api/logs/decisions?time_range=2d", 422, "VALIDATION_ERROR"),
        ("GET", "/api/logs/decisions?before=yesterday", 422, "VALIDATION_ERROR"),
        ("DELETE", "/api/approvals/cached/entry", 422, "VALIDATION_ERROR"),
        ("GET", "/api/proxies/px_nope", 404, "PROXY_NOT_FOUND"),
    ]:
        response = await client.request(method, path)
        assert response.status_code == status, (path, response.text)
        assert response.json()["detail"]["code"] == code and response.json()["detail"]["message"], path


async def test_a_cached_move_lists_both_paths_and_is_deleted_by_its_first(proxy, tmp_path):
    control, client, _seen, _ = proxy
    source, dest = tmp_path / "a.txt", tmp_path / "out" / "b.txt"
    arguments = {"source": str(source), "destination": str(dest)}
    control.approvals.remember(context("move_file", None, 3, arguments), arguments)
    entry = (await client.get("/api/approvals/cached")).json()["approvals"][0]
    assert (entry["path"], entry["paths"]) == (str(source), [str(source), str(dest)])
    other = context("move_file", None, 4, {"source": str(source), "destination": str(tmp_path / "elsewhere")})
    assert not control.approvals.holds(other)  # another destination is not covered
    wrong = await client.delete(
        "/api/approvals/cached/entry", params={"subject_id": "alice", "tool_name": "move_file", "path": str(dest)}
    )
    assert wrong.status_code == 404
    deleted = await client.delete(
        "/api/approvals/cached/entry", params={"subject_id": "alice", "tool_name": "move_file", "path": str(source)}
    )
    assert deleted.json() == {"deleted": True, "status": "ok"} and len(control.approvals) == 0
