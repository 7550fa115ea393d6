"""The demo's gateway step: the same proxy served over streamable HTTP by `mcp-acp serve`, and a
2026-07-28 client (no handshake, no session) reaching it there. The same policy decides, the
same trail records, and `mcp-acp status` shows who is calling."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time

import anyio
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from mcp_acp.demo.home import CALL_TIMEOUT, CLI, HOME, PROXY, cli, console
from mcp_acp.demo.steps import Outcome, Step, content_text, sandboxed, show_step

STEPS = [
    Step("Over HTTP: read a file", "tool", "read_file", {"path": sandboxed("README.txt")}),
    Step(
        "Over HTTP: read a secret (the same deny rule)",
        "tool",
        "read_file",
        {"path": sandboxed("secrets.txt")},
        expect="deny",
    ),
]
START_TIMEOUT = 30


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(port: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline and process.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"the gateway did not start; see {HOME / 'gateway.log'}")


async def _call(client: Client, step: Step) -> tuple[Outcome, str]:
    try:
        result = await client.call_tool(step.target, step.args)
    except MCPError as err:
        return "deny", f"JSON-RPC error {err.code}: {err.message}"
    return ("tool_error" if result.is_error else "allow"), content_text(result.content)


async def gateway_tour(first: int) -> list[tuple[Step, Outcome]]:
    port = _free_port()
    url = f"http://127.0.0.1:{port}/mcp/{PROXY}"
    with (HOME / "gateway.log").open("w") as log:
        process = subprocess.Popen(
            [CLI, "serve", "--proxy", PROXY, "--port", str(port)],
            env={**os.environ, "MCP_ACP_HOME": str(HOME)},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    outcomes = []
    try:
        _wait_for(port, process)
        console.print(
            Panel(
                Text.assemble(
                    ("mcp-acp serve --proxy demo", "bold"),
                    f" serves the same proxy at {url} to remote MCP clients (streamable HTTP, both protocol "
                    "eras). Here it listens on loopback for you alone; with an issuer in gateway.json it accepts "
                    "OAuth bearer tokens and decides every request for the person who made it (docs/gateway.md).",
                ),
                title="The gateway: the same proxy over HTTP",
                title_align="left",
                border_style="cyan",
            )
        )
        async with Client(streamable_http_client(url), mode="2026-07-28") as client:  # type: ignore[arg-type]
            for n, step in enumerate(STEPS, start=first):
                with anyio.fail_after(CALL_TIMEOUT):
                    got, detail = await _call(client, step)
                show_step(n, step, got, detail)
                outcomes.append((step, got))
            console.print(who_called())
    finally:
        process.terminate()
        process.wait(START_TIMEOUT)
    return outcomes


def who_called() -> Panel:
    """The gateway's part of `mcp-acp status --json`: each principal and what was decided for them."""
    gateway = json.loads(cli("status", "--json"))["gateway"] or {"endpoints": []}
    table = Table("endpoint", "principal", "requests", "allowed", "denied")
    for endpoint in gateway["endpoints"]:
        for row in endpoint["principals"]:
            table.add_row(endpoint["url"], row["principal"], *(str(row[k]) for k in ("requests", "allowed", "denied")))
    return Panel(table, title="mcp-acp status: who called the gateway", title_align="left", border_style="cyan")
