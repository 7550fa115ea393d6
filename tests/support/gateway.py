"""`mcp-acp serve` as a subprocess for the gateway suites, and clients that reach it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from tests.support.processes import MCP_ACP, free_port, wait_for_port

STOP_TIMEOUT = 30.0


def write_gateway_config(env: dict, settings: dict) -> Path:
    path = Path(env["MCP_ACP_HOME"]) / "config" / "gateway.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(settings))
    path.chmod(0o600)
    return path


class GatewayProcess:
    """`mcp-acp serve` on a free loopback port; its output is kept for the failure message."""

    def __init__(self, env: dict, log: Path, *args: str, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        with open(log, "wb") as out:
            self.process = subprocess.Popen(
                [MCP_ACP, "serve", "--port", str(self.port), *args],
                env={**os.environ, **env},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            wait_for_port(self.port, timeout=60)
        except AssertionError:
            self.stop()
            raise AssertionError(f"the gateway never listened:\n{self.output()}") from None

    def endpoint(self, proxy: str) -> str:
        return f"{self.url}/mcp/{proxy}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT)
        return self.process.returncode

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
