"""The "client" the official conformance suite runs for its CLIENT scenarios: mcp-acp's HTTP leg.

    conformance client --scenario NAME --command "python tests/conformance/client.py"

The suite starts its scenario server and runs this script with the server's URL as the last
argument (and MCP_CONFORMANCE_SCENARIO, MCP_CONFORMANCE_PROTOCOL_VERSION, MCP_CONFORMANCE_CONTEXT
in the environment). The script sets up a throwaway mcp-acp home, adds a proxy for that URL
(`proxy add --url`, which probes it), starts `mcp-acp start --proxy NAME --headless` and drives
it over STDIO with the mcp SDK's Client doing what the scenario expects. What the suite checks
is what reaches its server: the proxy's HTTP leg.

The proxy runs under an ordinary policy (POLICY below): the scenario servers' tools, resources
and prompts, and nothing else. Discovery (server/discover, the lists) passes on its own, in both
eras.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
from asyncio.subprocess import PIPE
from pathlib import Path
from typing import Any

from mcp import Client
from mcp.client.stdio import StdioServerParameters

MCP_ACP = str(Path(sys.executable).parent / "mcp-acp")
PROXY = "conformance"
MODERN = "2026-07-28"
POLICY = {
    "rules": [
        {"id": "conformance-tools", "effect": "allow", "conditions": {"tool_name": "*"}},
        {"id": "conformance-resources", "effect": "allow", "conditions": {"mcp_method": "resources/read"}},
        {"id": "conformance-prompts", "effect": "allow", "conditions": {"mcp_method": "prompts/get"}},
    ]
}


def setup_home(root: Path, url: str) -> dict[str, str]:
    """An isolated mcp-acp home with one proxy for `url`; the environment to run mcp-acp in."""
    home = root / "home"
    home.mkdir()
    env = {
        **os.environ,
        "MCP_ACP_HOME": str(root / "mcp-acp-home"),
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_STATE_HOME": str(home / ".local" / "state"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_RUNTIME_DIR": str(root / "xdg-runtime"),
        "MCP_ACP_SECRET_BACKEND": "file",
        "NO_COLOR": "1",
    }
    for args in (["init", "--auth", "local"], ["proxy", "add", PROXY, "--server-name", PROXY, "--url", url]):
        done = subprocess.run([MCP_ACP, *args], env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            sys.exit(f"mcp-acp {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    folder = Path(env["MCP_ACP_HOME"]) / "config" / "proxies" / PROXY
    (folder / "policy.json").write_text(json.dumps(POLICY), encoding="utf-8")
    return env


def filler(schema: dict[str, Any]) -> dict[str, Any]:
    """Arguments that satisfy a simple input schema (a value per required property)."""
    values = {"string": "us-west1", "integer": 1, "number": 1.5, "boolean": True, "object": {}, "array": []}
    properties = schema.get("properties") or {}
    return {
        name: values.get(properties.get(name, {}).get("type"), "x")
        for name in schema.get("required") or list(properties)
    }


async def drive(client: Client, scenario: str, context: dict[str, Any]) -> None:
    """What each scenario expects a client to do."""
    tools = (await client.list_tools()).tools
    if scenario == "tools_call":
        await client.call_tool("add_numbers", {"a": 5, "b": 3})
    elif scenario == "http-custom-headers":
        for call in context.get("toolCalls", []):
            await client.call_tool(call["name"], call.get("arguments") or {})
    elif scenario == "http-standard-headers":
        for tool in tools:
            await client.call_tool(tool.name, {})
        resources = (await client.list_resources()).resources
        if resources:
            await client.read_resource(str(resources[0].uri))
        for prompt in (await client.list_prompts()).prompts:
            await client.get_prompt(prompt.name)
    elif scenario == "sse-retry":
        for tool in tools:
            await client.call_tool(tool.name, filler(tool.input_schema))


async def naive_client(params: StdioServerParameters) -> None:
    """A client that calls every tool the proxy lists, speaking JSON-RPC lines itself: the SDK's
    client drops tools with invalid x-mcp-header annotations on its own, which would hide whether
    the proxy did (http-invalid-tool-headers checks that no invalid tool is ever called)."""
    meta = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientInfo": {"name": "mcp-acp-conformance-naive", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    proxy = await asyncio.create_subprocess_exec(
        params.command, *params.args, env=params.env, stdin=PIPE, stdout=PIPE, limit=2**24
    )
    stdin, stdout = proxy.stdin, proxy.stdout
    assert stdin is not None and stdout is not None  # both piped
    ids = iter(range(1, 1000))

    async def ask(method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        request_id = next(ids)
        message = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": {**(params or {}), "_meta": meta}}
        stdin.write(json.dumps(message).encode() + b"\n")
        await stdin.drain()
        while line := await stdout.readline():
            answer = json.loads(line)
            if answer.get("id") == request_id and "method" not in answer:
                return answer
        sys.exit(f"the proxy closed its output before answering {method}")

    try:
        await ask("server/discover")
        listing = await ask("tools/list")
        for tool in listing.get("result", {}).get("tools", []):
            await ask("tools/call", {"name": tool["name"], "arguments": filler(tool.get("inputSchema") or {})})
    finally:
        stdin.close()
        await proxy.wait()


async def main() -> None:
    url = sys.argv[-1]
    scenario = os.environ.get("MCP_CONFORMANCE_SCENARIO", "")
    version = os.environ.get("MCP_CONFORMANCE_PROTOCOL_VERSION", "2025-11-25")
    context = json.loads(os.environ.get("MCP_CONFORMANCE_CONTEXT") or "{}")
    with tempfile.TemporaryDirectory(prefix="mcp-acp-conformance-") as root:
        env = setup_home(Path(root), url)
        params = StdioServerParameters(command=MCP_ACP, args=["start", "--proxy", PROXY, "--headless"], env=env)
        if scenario == "http-invalid-tool-headers":
            await naive_client(params)
            return
        async with Client(params, mode="auto" if version == MODERN else "legacy") as client:
            await drive(client, scenario, context)


if __name__ == "__main__":
    asyncio.run(main())
