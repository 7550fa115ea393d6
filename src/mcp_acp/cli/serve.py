"""`mcp-acp serve`: the gateway (docs/gateway.md). Every configured proxy (or the ones named) is
served to remote MCP clients as a streamable-HTTP endpoint, `/mcp/<proxy>`, with the same
enforcement, approvals and audit trail as `mcp-acp start`."""

from __future__ import annotations

import logging
import sys

import click
from filelock import FileLock, Timeout

from mcp_acp.cli.output import console, err_console, fail
from mcp_acp.config import paths
from mcp_acp.config.private_dir import private_dir
from mcp_acp.config.store import list_proxy_names, load_gateway_config, require_proxy_name
from mcp_acp.event_loop import run_event_loop


@click.command()
@click.option("--proxy", "-p", "names", multiple=True, help="Serve only this proxy (repeatable). Default: all.")
@click.option("--host", help="Address to listen on (default from gateway.json: 127.0.0.1).")
@click.option("--port", type=int, help="Port to listen on (default from gateway.json: 8770).")
def serve(names: tuple[str, ...], host: str | None, port: int | None) -> None:
    """Serve proxies to remote MCP clients over streamable HTTP (OAuth 2.1 bearer tokens)."""
    from pydantic import ValidationError

    from mcp_acp.gateway.service import open_endpoints
    from mcp_acp.gateway.service import serve as run

    config = load_gateway_config()
    try:
        config = config.model_validate({**config.model_dump(exclude_unset=True), **_overrides(host, port)})
    except ValidationError as exc:
        fail(f"gateway settings: {exc.errors()[0]['msg']}. See docs/gateway.md.")
    for name in names:
        require_proxy_name(name)
    wanted = list(names) or sorted(config.proxies) or list_proxy_names()
    if not wanted:
        fail("no proxies to serve: add one with 'mcp-acp proxy add NAME'.")
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="mcp-acp[%(name)s] %(levelname)s: %(message)s")
    lock = FileLock(private_dir(paths.runtime_dir()) / "gateway.lock", mode=0o600)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        fail("a gateway is already running for this user ('mcp-acp status' shows it); stop it first.")
    served = open_endpoints(config, wanted)
    for name, refused in served.refused.items():
        err_console.print(f"[bold red]Not serving {name}:[/] {refused}")
    if not served.endpoints:
        fail("no proxy could be opened; nothing to serve.", max(r.exit_code for r in served.refused.values()))
    console.print(f"mcp-acp gateway on {config.base_url}")
    sys.exit(run_event_loop(run(config, served, console.print)))


def _overrides(host: str | None, port: int | None) -> dict:
    return {key: value for key, value in (("host", host), ("port", port)) if value is not None}
