"""`mcp-acp start --proxy NAME`: run the proxy on STDIO (what an MCP client launches).

Start-up follows docs/architecture.md#inside-the-proxy-process (proxy/startup.py): configuration, then the audit trail (exclusive
lock, full verification, exit 10 on any doubt), the user's identity, config/policy history, the
backend, then the relay (proxy/session.py, proxy/serving.py). Any refusal to start is recorded
in the proxy's bootstrap.jsonl and ends the command with its exit code.
"""

from __future__ import annotations

import logging
import sys
from typing import NoReturn

import click

from mcp_acp.cli.output import err_console, fail
from mcp_acp.config.store import list_proxy_names, require_proxy_name
from mcp_acp.event_loop import run_event_loop
from mcp_acp.proxy.serving import serve
from mcp_acp.proxy.session import ProxySession
from mcp_acp.proxy.startup import StartupRefused, open_proxy, record_refusal


def _refuse(name: str, refused: StartupRefused) -> NoReturn:
    record_refusal(name, refused)
    fail(str(refused), refused.exit_code)


@click.command()
@click.option("--proxy", "-p", "name", help="Name of the proxy to run (see 'mcp-acp proxy list').")
@click.option("--headless", is_flag=True, help="Run without the manager daemon and web UI.")
def start(name: str | None, headless: bool) -> None:
    """Run a proxy on STDIO. MCP clients launch this as if it were the server."""
    if not name:
        known = ", ".join(list_proxy_names()) or "none; add one with 'mcp-acp proxy add'"
        fail(f"say which proxy to run: --proxy NAME (configured: {known}).")
    require_proxy_name(name)  # before the name is used in any path
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="mcp-acp[%(name)s] %(levelname)s: %(message)s")
    try:
        started = open_proxy(name)
    except StartupRefused as refused:
        _refuse(name, refused)
    for line in started.banner():
        err_console.print(line)
    session = ProxySession(started.inputs())
    for line in session.summary():
        err_console.print(line)
    code = None
    try:
        code = run_event_loop(serve(session, headless, err_console.print))
    except StartupRefused as refused:
        _refuse(name, refused)
    finally:
        code = started.finish(code, err_console.print)
    sys.exit(code)
