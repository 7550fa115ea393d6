"""A proxy process spoken to as a client would: raw JSON-RPC lines over its stdio, headless or registered with the manager."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from tests.support.processes import MCP_ACP


class RawProxy:
    """`mcp-acp start` as a subprocess, spoken to in raw JSON-RPC lines, as a client would."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self._next_id = 0

    @classmethod
    async def start(cls, env: dict[str, str], name: str) -> RawProxy:
        process = await asyncio.create_subprocess_exec(
            MCP_ACP,
            "start",
            "--proxy",
            name,
            "--headless",
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
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
        answer = await self.request(
            "initialize",
            {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "raw-test-client", "version": "1"},
            },
        )
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


class LiveProxy(RawProxy):
    """`mcp-acp start --proxy NAME` WITHOUT --headless: it registers with the manager (starting
    one when none runs) and pushes its events there. Its stderr goes to a file."""

    name: str
    log_path: Path

    @classmethod
    async def start(cls, env: dict[str, str], name: str, log_path: Path | None = None) -> LiveProxy:
        log_path = log_path or Path(env["MCP_ACP_HOME"]).parent / f"proxy-{name}.log"
        with open(log_path, "ab") as log:
            process = await asyncio.create_subprocess_exec(
                MCP_ACP,
                "start",
                "--proxy",
                name,
                env=env,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                limit=64 * 1024 * 1024,
            )
        proxy = cls(process)
        proxy.name = name
        proxy.log_path = log_path
        return proxy

    # A cold proxy and backend on a loaded CI box can take a while to answer the first request.
    async def request(self, method: str, params: dict | None = None, timeout: float = 90) -> dict:
        return await super().request(method, params, timeout)

    async def call_tool(self, name: str, arguments: dict, timeout: float = 90) -> dict:
        return await self.request("tools/call", {"name": name, "arguments": arguments}, timeout)

    def stderr_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def finish(self, timeout: float = 20) -> tuple[int, str]:
        if not self.process.stdin.is_closing():
            self.process.stdin.close()
        code = await asyncio.wait_for(self.process.wait(), timeout)
        return code, self.stderr_text()
