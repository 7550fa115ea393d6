"""Every state-changing route of the manager's TCP API needs the manager's own `Origin` (with the
sign-in cookie) or the API token as a Bearer header (issue 16, class 8: the cookie without an
Origin was accepted on 18 routes; docs/manager.md says such a request needs the token).

The routes come from the app's own route table, so a route added later is covered without
anyone remembering to list it. Requests go to a real manager (`mcp-acp manager _run`) over TCP.
"""

from __future__ import annotations

import re

import pytest

from mcp_acp.config.models import ManagerConfig
from mcp_acp.manager.app import build_app
from mcp_acp.manager.security import MUTATIONS, NO_ORIGIN
from mcp_acp.manager.state import ManagerState
from tests.support.manager import ManagerHome


def routes_of(app) -> list[tuple[str, str]]:
    """(method, path) of every route, included routers too."""
    found: list[tuple[str, str]] = []

    def walk(routes) -> None:
        for route in routes:
            inner = getattr(route, "original_router", None)  # FastAPI's included router
            if inner is not None:
                walk(inner.routes)
            elif getattr(route, "methods", None):
                found.extend((method, route.path) for method in sorted(route.methods))
            elif getattr(route, "routes", None):
                walk(route.routes)

    walk(app.routes)
    return found


STATE_CHANGING = [
    (method, path) for method, path in routes_of(build_app(ManagerState(config=ManagerConfig()))) if method in MUTATIONS
]


def test_the_route_table_is_read_whole() -> None:
    """The walk finds every route, not only the app's own (most live in included routers)."""
    paths = {path for _, path in STATE_CHANGING}
    assert "/api/manager/proxies/{proxy_id}/policy" in paths and "/api/proxy/{name}/{path:path}" in paths
    assert len(STATE_CHANGING) >= 18


def concrete(path: str) -> str:
    """A path for the template, naming nothing that exists (so an accepted request changes nothing)."""
    return re.sub(r"\{(\w+)(:path)?\}", lambda m: "control/no-such" if m.group(2) else "no-such-proxy", path)


@pytest.fixture(scope="module")
def mgr(tmp_path_factory):
    home = ManagerHome(tmp_path_factory.mktemp("origin"))
    try:
        home.start_manager()
        yield home
    finally:
        home.cleanup()
        print(home.diagnostics())


def ids(route: tuple[str, str]) -> str:
    return f"{route[0]} {route[1]}"


@pytest.mark.parametrize("route", STATE_CHANGING, ids=ids)
def test_the_cookie_without_origin_is_refused(mgr: ManagerHome, route: tuple[str, str]) -> None:
    method, path = route
    response = mgr.tcp(method, concrete(path), token=None, json={}, headers={"Cookie": f"api_token={mgr.token}"})
    assert response.status_code == 403, (response.status_code, response.text)
    assert response.json() == {"error": NO_ORIGIN}
    assert "Origin" in NO_ORIGIN and "Authorization: Bearer" in NO_ORIGIN  # it says what to send instead


@pytest.mark.parametrize("route", STATE_CHANGING, ids=ids)
def test_the_cookie_with_a_foreign_origin_is_refused(mgr: ManagerHome, route: tuple[str, str]) -> None:
    method, path = route
    response = mgr.tcp(
        method,
        concrete(path),
        token=None,
        json={},
        headers={"Cookie": f"api_token={mgr.token}", "Origin": "http://evil.example"},
    )
    assert response.status_code == 403 and "cross-origin" in response.json()["error"], response.text


@pytest.mark.parametrize("route", STATE_CHANGING, ids=ids)
def test_the_bearer_token_without_origin_is_accepted(mgr: ManagerHome, route: tuple[str, str]) -> None:
    method, path = route
    response = mgr.tcp(method, concrete(path), json={})
    assert response.status_code not in (401, 403), (response.status_code, response.text)


def test_the_cookie_with_the_managers_own_origin_is_accepted(mgr: ManagerHome) -> None:
    """What the web UI does: the browser sends the cookie and its Origin."""
    for origin in (f"http://127.0.0.1:{mgr.port}", f"http://localhost:{mgr.port}"):
        response = mgr.tcp(
            "POST",
            "/api/manager/ui-login-code",
            token=None,
            headers={"Cookie": f"api_token={mgr.token}", "Origin": origin},
        )
        assert response.status_code == 200 and "/ui-login?code=" in response.json()["url"]
