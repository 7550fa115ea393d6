"""Helpers for tests that drive real processes: the CLI, the fixture backend, a raw JSON-RPC client."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MCP_ACP = str(Path(sys.executable).parent / "mcp-acp")
BACKEND = str(ROOT / "tests" / "fixtures" / "backend.py")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port}")


class HttpBackendServer:
    """The fixture backend serving streamable HTTP on a loopback port; can be stopped and restarted."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/mcp"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen([sys.executable, BACKEND, "--http", str(self.port)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


class RawProxy:
    """`mcp-acp start` as a subprocess, spoken to in raw JSON-RPC lines, as a client would."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self._next_id = 0

    @classmethod
    async def start(cls, env: dict[str, str], name: str) -> RawProxy:
        process = await asyncio.create_subprocess_exec(
            MCP_ACP, "start", "--proxy", name, "--headless", env=env,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            limit=64 * 1024 * 1024,
        )
        return cls(process)

    async def send(self, message: dict | bytes) -> None:
        data = message if isinstance(message, bytes) else json.dumps(message).encode() + b"\n"
        self.process.stdin.write(data)
        await self.process.stdin.drain()

    async def receive(self, timeout: float = 20) -> dict:
        line = await asyncio.wait_for(self.process.stdout.readline(), timeout)
        if not line:
            raise EOFError("the proxy closed its stdout")
        return json.loads(line)

    async def response_to(self, request_id: Any, timeout: float = 20) -> dict:
        """The response for `request_id`, skipping notifications and other traffic."""
        while True:
            message = await self.receive(timeout)
            if message.get("id") == request_id and "method" not in message:
                return message

    async def request(self, method: str, params: dict | None = None, timeout: float = 20) -> dict:
        self._next_id += 1
        request_id = self._next_id
        await self.send({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params or {}})
        return await self.response_to(request_id, timeout)

    async def initialize(self) -> dict:
        answer = await self.request("initialize", {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "raw-test-client", "version": "1"}})
        await self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return answer

    async def call_tool(self, name: str, arguments: dict, timeout: float = 20) -> dict:
        return await self.request("tools/call", {"name": name, "arguments": arguments}, timeout)

    async def finish(self, timeout: float = 20) -> tuple[int, str]:
        """Close stdin (how a client disconnects) and return (exit code, stderr)."""
        if not self.process.stdin.is_closing():
            self.process.stdin.close()
        stderr = await asyncio.wait_for(self.process.stderr.read(), timeout)
        code = await asyncio.wait_for(self.process.wait(), timeout)
        return code, stderr.decode()

    async def close(self) -> None:
        """Kill and reap the proxy, so no pipe outlives the test's event loop."""
        if self.process.returncode is None:
            self.process.kill()
        await self.process.wait()
        self.process._transport.close()


# Tests of the relay and the audit trail are about transport, not policy: they run their proxy
# under a policy that allows every method, with limits high enough for load tests.
ALLOW_ALL_POLICY = {"rules": [{"id": "test-allow-all", "effect": "allow", "conditions": {"mcp_method": "*"}}]}
HIGH_LIMITS = {"requests_per_second": 100000, "burst": 1000000, "tool_calls_per_window": 1000000}


def allow_everything(env: dict, name: str, limits: bool = True) -> None:
    folder = Path(env["MCP_ACP_HOME"]) / "config" / "proxies" / name
    (folder / "policy.json").write_text(json.dumps(ALLOW_ALL_POLICY), encoding="utf-8")
    if limits:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        config["limits"] = HIGH_LIMITS
        (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")


def proxy_config_dir(env: dict, name: str) -> Path:
    return Path(env["MCP_ACP_HOME"]) / "config" / "proxies" / name


def proxy_log_dir(env: dict, name: str) -> Path:
    return Path(env["MCP_ACP_HOME"]) / "logs" / "mcp-acp" / "proxies" / name


def read_jsonl(path: Path) -> list[dict]:
    """The entries of a JSONL log; none when it does not exist yet."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
