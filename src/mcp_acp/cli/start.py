"""`mcp-acp start --proxy NAME`: run the proxy on STDIO (what an MCP client launches)."""

from __future__ import annotations

import asyncio
import json
import os
import logging
import sys
from datetime import UTC, datetime

import click

from mcp_acp import __version__
from mcp_acp.cli.output import err_console, fail
from mcp_acp.config import paths
from mcp_acp.identity.local import local_identity
from mcp_acp.config.store import (
    ConfigError,
    ensure_private_dir,
    list_proxy_names,
    load_manager_config,
    load_policy,
    load_proxy_config,
    require_proxy_name,
)
from mcp_acp.proxy.backends import BackendError
from mcp_acp.proxy.gate import Gate
from mcp_acp.proxy.runner import choose_backend, relay_stdio


def _record_bootstrap_failure(name: str, event: str, message: str, error_type: str, exit_code: int) -> None:
    """SPEC §4.4: startup failures go to the proxy's bootstrap.jsonl for later diagnosis."""
    path = paths.bootstrap_log_path(name)
    if not path.parent.is_dir():
        return
    entry = {
        "time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "event": event, "error_message": message, "error_type": error_type, "exit_code": exit_code,
        "component": "cli", "source": "cli_start",
    }
    try:
        with open(path, "a", encoding="utf-8", opener=lambda p, f: os.open(p, f, 0o600)) as handle:
            handle.write(json.dumps(entry) + "\n")
    except OSError:
        pass


@click.command()
@click.option("--proxy", "-p", "name", help="Name of the proxy to run (see 'mcp-acp proxy list').")
@click.option("--headless", is_flag=True, help="Run without the manager daemon and web UI.")
def start(name: str | None, headless: bool) -> None:
    """Run a proxy on STDIO. MCP clients launch this as if it were the server."""
    if not name:
        known = ", ".join(list_proxy_names()) or "none; add one with 'mcp-acp proxy add'"
        fail(f"say which proxy to run: --proxy NAME (configured: {known}).")
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING,
                        format="mcp-acp[%(name)s] %(levelname)s: %(message)s")
    require_proxy_name(name)  # before the name is used in any path
    try:
        manager = load_manager_config()
        config = load_proxy_config(name)
        load_policy(name)
    except ConfigError as exc:
        _record_bootstrap_failure(name, "config_invalid", str(exc), "ConfigError", 1)
        raise
    ensure_private_dir(paths.proxy_log_dir(manager.log_path, name))
    err_console.print(f"mcp-acp {__version__} · proxy [bold]{name}[/] ({config.proxy_id}) → "
                      f"backend [bold]{config.backend.server_name}[/]")
    if manager.auth.mode == "local":
        err_console.print(f"  identity: local user '{local_identity().subject_id}' "
                          "(single-user mode, no identity provider)")
    else:
        err_console.print(f"  identity: OIDC via {manager.auth.oidc.issuer} "
                          "[yellow](token checks are not active in this version)[/]")
    sys.exit(run_event_loop(_serve(name, config)))


def run_event_loop(main) -> int:
    """uvloop where it exists: it halves the event loop's share of every relayed message."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


async def _serve(name, config) -> int:
    def on_retry(attempt: int, error: Exception, delay: float) -> None:
        err_console.print(f"[yellow]Backend not reachable (attempt {attempt}): {error}; retrying in {delay:g} s[/]")

    try:
        backend = await choose_backend(config, on_retry)
    except BackendError as exc:
        _record_bootstrap_failure(name, "backend_connection_failed", str(exc), "BackendError", 1)
        fail(str(exc))
    gate = Gate()
    err_console.print(f"  transport: {backend.transport}")
    if not gate.enforcing:
        err_console.print("  [yellow]Policy enforcement is not active in this version: every request is "
                          "forwarded unchanged (pass-through).[/]")
    err_console.print("Proxy server ready - listening on STDIO")
    try:
        outcome = await relay_stdio(backend, gate)
    except BackendError as exc:
        _record_bootstrap_failure(name, "backend_connection_failed", str(exc), "BackendError", 1)
        fail(str(exc))
    if outcome.reason:
        err_console.print(f"[bold red]Error:[/] {outcome.reason}", soft_wrap=True)
    return outcome.exit_code
