"""The manager's gateway route (manager/routes_gateway.py) under a temp MCP_ACP_HOME: `running: false`
when no gateway listens, the snapshot as the socket sends it, and a structured 502 when the socket
answers with something that is not a status. A real `mcp-acp serve` behind it:
tests/integration/test_manager_gateway.py and tests/e2e/test_ui_gateway.py."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from mcp_acp.config import paths
from mcp_acp.localhttp.errors import structured_errors
from mcp_acp.manager import routes_gateway, routing
from mcp_acp.manager.state import ManagerState


def app_for(state: ManagerState) -> httpx.AsyncClient:
    app = FastAPI()
    structured_errors(app, "manager API")
    app.include_router(routes_gateway.router(state))
    app.include_router(routing.router(state))  # last, as in manager/app.py
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://manager")


@asynccontextmanager
async def status_socket(status: int, body: bytes) -> AsyncIterator[None]:
    """Something listening on the gateway's status socket that always answers `status` with `body`."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        head = f"HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
        writer.write(head.encode() + body)
        await writer.drain()
        writer.close()

    path = paths.gateway_socket_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # private, as the gateway makes it
    server = await asyncio.start_unix_server(answer, path=str(path))
    try:
        yield
    finally:
        server.close()
        await server.wait_closed()
        path.unlink(missing_ok=True)


async def test_no_gateway_is_running_false(state: ManagerState) -> None:
    async with app_for(state) as client:
        response = await client.get("/api/gateway")
    assert response.status_code == 200 and response.json() == {"running": False}


async def test_the_snapshot_is_passed_on_with_running_true(state: ManagerState) -> None:
    snapshot = {"base_url": "http://127.0.0.1:8770", "auth": None, "tls": False, "uptime_seconds": 3, "endpoints": []}
    async with status_socket(200, json.dumps(snapshot).encode()), app_for(state) as client:
        response = await client.get("/api/gateway")
    assert response.status_code == 200 and response.json() == {"running": True, **snapshot}


async def test_a_socket_that_fails_or_answers_garbage_is_a_structured_502(state: ManagerState) -> None:
    for status, body in ((500, b'{"error": "boom"}'), (200, b"not json")):
        async with status_socket(status, body), app_for(state) as client:
            response = await client.get("/api/gateway")
        assert response.status_code == 502, (status, body)
        assert response.json()["detail"]["code"] == "GATEWAY_UNREADABLE"


async def test_the_gateway_paths_are_the_managers_and_never_reach_a_proxy(state: ManagerState) -> None:
    async with app_for(state) as client:
        for method, path in (("POST", "/api/gateway"), ("GET", "/api/gateway/endpoints")):
            response = await client.request(method, path)
            assert response.status_code == 404, (method, path, response.text)
