"""The proxy's control API (proxy/api.py) in process: the approval-cache endpoints and the events
behind them, policy reload, structured errors.

Cached entries are put in the real ApprovalCache directly and the real FastAPI app is called
through httpx's ASGI transport. The policy-reload events use the real reloader and audit log.
tests/integration/test_proxy_api.py covers the same API on a running proxy's socket."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from mcp_acp.identity.local import Identity
from mcp_acp.policy.context import build_context
from mcp_acp.proxy.api import build_app
from tests.support.proxy_session import build_session

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
    session = build_session(tmp_path, RULES)
    seen = []
    session.events.sinks.append(lambda kind, payload: seen.append((kind, payload)))
    control = session.control
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=build_app(control)), base_url="http://proxy")
    return control, client, seen, tmp_path / "policy.json"


async def test_list_delete_and_clear_cached_approvals(proxy, tmp_path):
    control, client, seen, _ = proxy
    target = tmp_path / "a.txt"
    control.approvals.remember(context("write_file", str(target), 7))
    control.approvals.remember(context("notify", None, 8))
    # The cache announces every change itself: a snapshot after each approval remembered.
    assert [kind for kind, _ in seen] == ["cached_snapshot", "cached_snapshot"] and seen[1][1]["count"] == 2
    seen.clear()
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
    seen.clear()
    policy_file.write_text(json.dumps({"rules": [*RULES, {"effect": "deny", "conditions": {"tool_name": "x"}}]}))
    result = (await client.post("/api/control/reload-policy")).json()
    assert result["status"] == "success" and result["approvals_cleared"] == 1
    assert [kind for kind, _ in seen] == ["policy_reloaded", "cache_cleared", "cached_snapshot"]
    reloaded = seen[0][1]
    assert reloaded["severity"] == "success" and (reloaded["old_rules_count"], reloaded["new_rules_count"]) == (1, 2)
    assert reloaded["policy_version"] == result["policy_version"] and reloaded["approvals_cleared"] == 1
    assert seen[1][1]["message"] == "1 cached approvals cleared by a policy reload" and seen[1][1]["count"] == 1

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


async def test_clearing_an_empty_cache(proxy):
    """A clear someone asked for is announced even when nothing was cached; a policy reload's
    clear only when it removed some."""
    _, client, seen, policy_file = proxy
    assert (await client.delete("/api/approvals/cached")).json() == {"cleared": 0, "status": "ok"}
    assert [kind for kind, _ in seen] == ["cache_cleared", "cached_snapshot"]
    assert seen[0][1]["message"] == "0 cached approvals cleared" and seen[0][1]["reason"] == "api"
    seen.clear()
    policy_file.write_text(json.dumps({"rules": RULES}))
    assert (await client.post("/api/control/reload-policy")).json()["approvals_cleared"] == 0
    assert [kind for kind, _ in seen] == ["policy_reloaded"]
