"""The gateway's status client: None when no gateway runs (nothing listens on the socket)."""

from __future__ import annotations

import pytest

from mcp_acp.localhttp.gateway_client import gateway_status, gateway_status_async


@pytest.fixture(autouse=True)
def empty_home(tmp_path, monkeypatch):
    monkeypatch.setenv("MCP_ACP_HOME", str(tmp_path))


def test_no_gateway_is_none() -> None:
    assert gateway_status() is None


async def test_no_gateway_is_none_async() -> None:
    assert await gateway_status_async() is None
