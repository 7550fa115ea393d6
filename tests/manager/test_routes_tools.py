"""The backend's tools for the rule editor (manager/routes_tools.py): the real fixture backend is
spawned and asked with a real MCP client, the answer is kept for a while, and a backend that cannot
answer gives a clear error, not a hang."""

from __future__ import annotations

import sys

from mcp_acp.admin.proxy_setup import create_proxy
from mcp_acp.manager import routes_tools
from tests.manager.test_routes_proxies import client_for, config_of
from tests.support.processes import BACKEND


def test_lists_the_backends_real_tools_and_caches_them(home, state):
    create_proxy("fx", "fixture", command=sys.executable, args=[BACKEND])
    client = client_for(state, routes_tools)
    route = f"/api/manager/proxies/{config_of(home, 'fx')['proxy_id']}/tools"
    first = client.get(route)
    assert first.status_code == 200, first.text
    names = [tool["name"] for tool in first.json()["tools"]]
    assert {"echo", "add", "write_file"} <= set(names) and first.json()["cached"] is False
    assert client.get(route).json()["cached"] is True
    assert client.get(route, params={"refresh": "true"}).json()["cached"] is False


def test_a_backend_that_cannot_answer_and_an_unknown_proxy(home, state):
    create_proxy("dead", "dead", command="/bin/false")
    client = client_for(state, routes_tools)
    answer = client.get(f"/api/manager/proxies/{config_of(home, 'dead')['proxy_id']}/tools")
    assert answer.status_code == 502 and answer.json()["detail"]["code"] == "BACKEND_TOOLS_UNAVAILABLE", answer.text
    assert "did not list its tools" in answer.json()["detail"]["message"]
    missing = client.get("/api/manager/proxies/px_00000000:nope/tools")
    assert missing.status_code == 404
