"""MCP client formats: the server entry each client expects (the command that runs this CLI), and
where its config file lives. Shared by `mcp-acp install` and the manager's config-snippet route."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from mcp_acp.config.paths import HOME_ENV

CLIENTS = ("claude-desktop", "claude-code", "cursor", "vscode")


def executable_command() -> tuple[str, list[str]]:
    """The absolute command that runs this CLI, for client snippets."""
    script = Path(sys.argv[0])
    if script.name in ("mcp-acp", "mcp-acp.exe"):
        found = shutil.which(str(script)) or str(script)
        return str(Path(found).absolute()), []
    installed = shutil.which("mcp-acp")
    if installed:
        return str(Path(installed).absolute()), []
    return sys.executable, ["-m", "mcp_acp"]


def server_entry(client: str, proxy_name: str) -> dict:
    command, prefix = executable_command()
    entry: dict = {"command": command, "args": [*prefix, "start", "--proxy", proxy_name]}
    if home := os.environ.get(HOME_ENV):  # a non-default home must reach the proxy the client starts
        entry["env"] = {HOME_ENV: str(Path(home).expanduser().absolute())}
    if client in ("claude-code", "vscode"):
        entry = {"type": "stdio", **entry}
    return entry


def servers_key(client: str) -> str:
    return "servers" if client == "vscode" else "mcpServers"


def snippet(client: str, proxy_names: list[str]) -> dict:
    return {servers_key(client): {name: server_entry(client, name) for name in proxy_names}}


def config_file(client: str) -> Path:
    """The file `install mcp-json --write` merges into (project files live in the current folder)."""
    home = Path.home()
    if client == "claude-desktop":
        if sys.platform == "darwin":
            return home / "Library" / "Application Support" / "Claude" / "claude_desktop_config.json"
        if sys.platform == "win32":
            return Path(os.environ.get("APPDATA", home)) / "Claude" / "claude_desktop_config.json"
        return Path(os.environ.get("XDG_CONFIG_HOME", home / ".config")) / "Claude" / "claude_desktop_config.json"
    if client == "claude-code":
        return Path.cwd() / ".mcp.json"
    if client == "cursor":
        return home / ".cursor" / "mcp.json"
    return Path.cwd() / ".vscode" / "mcp.json"
