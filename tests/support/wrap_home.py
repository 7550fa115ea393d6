"""A user's whole world for `mcp-acp wrap` tests: a home folder, a project, a data folder and
MCP_ACP_HOME under one temp folder, the CLI run as a subprocess against them, and a real MCP
session started exactly as a client starts an entry of its config file."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.shared.exceptions import MCPError

from tests.support.processes import MCP_ACP

CLI_TIMEOUT = 120
SESSION_TIMEOUT = 90


class World:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.home, self.project, self.data = root / "home", root / "project", root / "data"
        for folder in (self.home, self.project, self.data):
            folder.mkdir()
        # no display: an approval nobody can be asked for is refused at once
        hidden = ("DISPLAY", "WAYLAND_DISPLAY", "XDG_RUNTIME_DIR")
        self.env = {key: value for key, value in os.environ.items() if key not in hidden}
        self.env.update(
            {
                "HOME": str(self.home),
                "XDG_CONFIG_HOME": str(self.home / ".config"),
                "XDG_DATA_HOME": str(self.home / ".local" / "share"),
                "XDG_STATE_HOME": str(self.home / ".local" / "state"),
                "XDG_CACHE_HOME": str(self.home / ".cache"),
                "MCP_ACP_HOME": str(root / "acp"),
                "MCP_ACP_SECRET_BACKEND": "file",
                "COLUMNS": "200",
            }
        )

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [str(MCP_ACP), *args],
            env=self.env,
            cwd=self.project,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT,
        )
        if check and proc.returncode != 0:
            pytest.fail(f"mcp-acp {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc

    def session(self, entry: dict, calls: list[tuple[str, dict]]) -> dict[str, Any]:
        """Start `entry` (from the client's file) as the client would; list the tools, then make
        each call: its text, or ("refused", error data) when the proxy refuses it."""
        return anyio.run(self._session, entry, calls)

    async def _session(self, entry: dict, calls: list[tuple[str, dict]]) -> dict[str, Any]:
        params = StdioServerParameters(
            command=entry["command"],
            args=entry.get("args", []),
            env={**self.env, **entry.get("env", {})},
            cwd=str(self.project),
        )
        seen: dict[str, Any] = {}
        with anyio.fail_after(SESSION_TIMEOUT):
            async with Client(stdio_client(params), read_timeout_seconds=SESSION_TIMEOUT) as client:
                seen["tools"] = {tool.name for tool in (await client.list_tools()).tools}
                for index, (tool, arguments) in enumerate(calls):
                    try:
                        result = await client.call_tool(tool, arguments)
                        text = "".join(getattr(block, "text", "") for block in result.content)
                        seen[f"{index}:{tool}"] = ("error", text) if result.is_error else text
                    except MCPError as exc:
                        seen[f"{index}:{tool}"] = ("refused", exc.error.data)
        return seen
