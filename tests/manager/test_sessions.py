"""How the manager joins the answers of a proxy's sessions (manager/sessions.py). The routing of
a decision to the session that holds it is proven end to end in
tests/integration/test_several_clients.py."""

from __future__ import annotations

from mcp_acp.manager.sessions import merge


def test_pending_lists_are_joined():
    assert merge([[{"id": "a"}], [], [{"id": "b"}, {"id": "c"}]]) == [{"id": "a"}, {"id": "b"}, {"id": "c"}]


def test_cached_approvals_are_joined_and_counted():
    first = {"count": 1, "ttl_seconds": 600, "approvals": [{"tool_name": "read"}]}
    second = {"count": 2, "ttl_seconds": 600, "approvals": [{"tool_name": "a"}, {"tool_name": "b"}]}
    merged = merge([first, second])
    assert merged["count"] == 3 and merged["ttl_seconds"] == 600
    assert [a["tool_name"] for a in merged["approvals"]] == ["read", "a", "b"]


def test_clears_and_deletions_cover_every_session():
    assert merge([{"cleared": 2, "status": "ok"}, {"cleared": 1, "status": "ok"}])["cleared"] == 3
    assert merge([{"deleted": False}, {"deleted": True}])["deleted"] is True
    assert merge([{"deleted": False}, {"deleted": False}])["deleted"] is False
