"""`mcp-acp serve` as a subprocess for the gateway suites, and clients that reach it."""

from __future__ import annotations

import json
import os
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.support.processes import MCP_ACP, ListeningProcess, free_port


def write_gateway_config(env: dict, settings: dict) -> Path:
    path = Path(env["MCP_ACP_HOME"]) / "config" / "gateway.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(settings))
    path.chmod(0o600)
    return path


class GatewayProcess(ListeningProcess):
    """`mcp-acp serve` on a free loopback port; its output is kept for the failure message."""

    stop_timeout = 30.0

    def __init__(self, env: dict, log: Path, *args: str, port: int | None = None) -> None:
        port = port or free_port()
        self.url = f"http://127.0.0.1:{port}"
        super().__init__([MCP_ACP, "serve", "--port", str(port), *args], port, log, {**os.environ, **env})

    def endpoint(self, proxy: str) -> str:
        return f"{self.url}/mcp/{proxy}"

    def __enter__(self) -> GatewayProcess:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


@asynccontextmanager
async def gateway_client(url: str, mode: str, token: str | None = None):
    """The mcp SDK's Client over streamable HTTP, in `mode` ("legacy": the 2025 handshake, "2026-07-28", or "auto")."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    http = httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=60))
    async with http, Client(streamable_http_client(url, http_client=http), mode=mode) as client:  # type: ignore[arg-type]
        yield client
