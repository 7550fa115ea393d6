"""The manager's `GET /api/gateway` on a real daemon, with a real `mcp-acp serve` in the same home
(docs/gateway.md): `running: false` before, then the gateway's endpoints and the local user's
sessions and decisions after a call through it, the same figures `mcp-acp status` prints; behind
the API token and the Host check like every manager route, and it keeps nobody busy (polling)."""

from __future__ import annotations

import getpass
import json

import pytest

from tests.support.gateway import GatewayProcess, gateway_client
from tests.support.manager import ManagerHome


@pytest.fixture
async def home(tmp_path):
    home = ManagerHome(tmp_path)
    try:
        home.add_proxy("files")  # echo allowed, anything else denied
        home.start_manager()
        yield home
    finally:
        await home.aclose()
        print(home.diagnostics())  # pytest shows it only when the test failed


async def test_the_route_shows_the_running_gateway_and_each_principal(home: ManagerHome, tmp_path) -> None:
    assert home.tcp("GET", "/api/gateway").json() == {"running": False}
    with GatewayProcess(home.env, tmp_path / "gateway.log") as gateway:
        async with gateway_client(gateway.endpoint("files"), "legacy") as client:
            await client.call_tool("echo", {"text": "counted"})
            status = home.tcp("GET", "/api/gateway").json()
            assert status["running"] is True and status["base_url"] == gateway.url and status["auth"] is None
            [endpoint] = status["endpoints"]
            assert endpoint["url"] == gateway.endpoint("files") and endpoint["backend_mode"] == "shared"
            [row] = endpoint["principals"]
            assert (row["principal"], row["sessions"], row["allowed"] >= 1) == (getpass.getuser(), 1, True)
            cli = json.loads(home.cli("status", "--json", check=True).stdout)["gateway"]
            assert cli["endpoints"] == status["endpoints"]
            assert home.api("GET", "/api/gateway").json()["endpoints"] == status["endpoints"]  # the CLI's socket too
    assert home.tcp("GET", "/api/gateway").json() == {"running": False}


def test_the_route_is_protected_like_every_manager_route(home: ManagerHome) -> None:
    assert home.tcp("GET", "/api/gateway", token=None).status_code == 401
    assert home.tcp("GET", "/api/gateway", token="not-the-token").status_code == 401
    assert home.tcp("GET", "/api/gateway", headers={"Host": "evil.example"}).status_code in (400, 403, 421)
    assert home.tcp("POST", "/api/gateway", headers={"Origin": f"http://127.0.0.1:{home.port}"}).status_code == 404
