"""The manager's auth router (manager/routes_auth.py) in local mode: the status it reports, and a
logout that tells the browsers."""

from __future__ import annotations

import json

from mcp_acp.localhttp.sse import Subscriber
from mcp_acp.manager import routes_auth
from tests.manager.test_routes_proxies import client_for

# --- auth (local mode) -----------------------------------------------------------------------------


def test_auth_in_local_mode(home, state):
    client = client_for(state, routes_auth)
    status = client.get("/api/manager/auth/status").json()
    assert status["configured"] is False and status["authenticated"] is False
    assert status["mode"] == "local" and status["provider"] is None and status["subject_id"] is None
    assert "encrypted file" in status["storage_backend"]
    for action in ("reload", "clear"):
        answer = client.post(f"/api/manager/auth/{action}").json()
        assert answer["ok"] is True and "local mode" in answer["message"]


def test_logout_tells_the_browsers(home, state):
    browser = Subscriber()
    state.hub.subscribers.add(browser)
    answer = client_for(state, routes_auth).post("/api/manager/auth/logout").json()
    assert answer["ok"] is True
    event = json.loads(browser.queue.get_nowait().removeprefix(b"data: "))
    assert event["type"] == "auth_logout"
