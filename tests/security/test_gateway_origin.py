"""A loopback gateway accepts a browser request from its own origin (what a same-origin page
sends, and what the conformance suite's dns-rebinding-protection scenario expects) and nothing
near it: another port, another scheme, a rebound name, or its own origin with a foreign Host."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.support.conformance import isolated_env, prepare_gateway_home
from tests.support.gateway import GatewayProcess

DISCOVER = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "server/discover",
    "params": {
        "_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {},
        }
    },
}
HEADERS = {
    "MCP-Protocol-Version": "2026-07-28",
    "Mcp-Method": "server/discover",
    "Accept": "application/json, text/event-stream",
}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory):
    root: Path = tmp_path_factory.mktemp("gateway-origin")
    env = isolated_env(root)
    prepare_gateway_home(env, "conformance")
    with GatewayProcess(env, root / "gateway.log") as process:
        yield process


def post(gateway: GatewayProcess, **headers: str) -> httpx.Response:
    return httpx.post(gateway.endpoint("conformance"), json=DISCOVER, headers={**HEADERS, **headers}, timeout=30)


@pytest.mark.parametrize("name", ["127.0.0.1", "localhost"])
def test_its_own_origin_is_accepted(gateway: GatewayProcess, name: str) -> None:
    here = f"{name}:{gateway.port}"
    answer = post(gateway, Host=here, Origin=f"http://{here}")
    assert answer.status_code == 200, answer.text
    assert answer.json()["result"]


@pytest.mark.parametrize(
    "origin",
    [
        "http://127.0.0.1:{other}",  # another local service's page
        "http://localhost:{other}",
        "https://127.0.0.1:{port}",  # another scheme is another origin
        "http://evil.example:{port}",  # a rebound name
        "http://127.0.0.1.evil.example:{port}",
        "null",
    ],
)
def test_any_other_origin_is_refused(gateway: GatewayProcess, origin: str) -> None:
    other = gateway.port + 1 if gateway.port < 65535 else gateway.port - 1
    answer = post(gateway, Origin=origin.format(port=gateway.port, other=other))
    assert answer.status_code == 403, answer.text


def test_its_own_origin_does_not_excuse_a_foreign_host(gateway: GatewayProcess) -> None:
    answer = post(gateway, Host=f"evil.example:{gateway.port}", Origin=f"http://127.0.0.1:{gateway.port}")
    assert answer.status_code == 403, answer.text
