"""`mcp-acp proxy add|list|show`: configure proxies, one per backend MCP server."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import click
from rich.table import Table

from mcp_acp.cli.clients import snippet
from mcp_acp.cli.output import ask, console, err_console, fail, interactive
from mcp_acp.config import paths
from mcp_acp.config.models import (
    BackendConfig,
    HttpBackend,
    PolicyFile,
    ProxyConfig,
    StdioBackend,
    new_proxy_id,
    proxy_name_problem,
)
from mcp_acp.config.store import (
    ConfigError,
    list_proxy_names,
    load_manager_config,
    load_proxy_config,
    save_model,
)
from mcp_acp.proxy.backends import BackendError

TRANSPORTS = {"stdio": "stdio", "http": "streamablehttp", "auto": "auto"}


@click.group()
def proxy() -> None:
    """Add, list and inspect proxies."""


def _valid_new_name(name: str) -> str:
    if problem := proxy_name_problem(name):
        fail(problem)
    if paths.proxy_config_dir(name).exists():
        fail(f"a proxy named {name!r} already exists; choose another name "
             f"(see 'mcp-acp proxy show {name}').")
    return name


def _check_http(url: str, timeout: int) -> None:
    from mcp_acp.proxy.backends.http import probe  # the MCP SDK is slow to import; only HTTP needs it

    try:
        asyncio.run(probe(url, min(timeout, 10)))
        console.print(f"[green]✓[/] {url} answered the MCP handshake")
    except BackendError as exc:
        err_console.print(f"[yellow]Warning:[/] {url} did not answer the MCP handshake: {exc}")
        if interactive() and not click.confirm("Save this proxy anyway?", default=True):
            fail("nothing was saved.")


@proxy.command("add")
@click.argument("name", required=False)
@click.option("--name", "-n", "name_option", help="Proxy name (same as the NAME argument).")
@click.option("--server-name", help="A label for the backend server, e.g. 'filesystem'.")
@click.option("--command", help="Command that starts a STDIO backend.")
@click.option("--arg", "args", multiple=True, help="One argument for --command (repeat for more).")
@click.option("--url", help="URL of a streamable-HTTP backend (http:// or https://).")
@click.option("--connection-type", type=click.Choice(list(TRANSPORTS)),
              help="stdio, http, or auto (HTTP when reachable, else STDIO). Default: what you configured.")
@click.option("--timeout", type=click.IntRange(1, 300), default=30, show_default=True,
              help="HTTP backend timeout in seconds.")
def add(name, name_option, server_name, command, args, url, connection_type, timeout) -> None:
    """Add a proxy in front of an MCP server (STDIO command or HTTP URL)."""
    load_manager_config()  # `init` must have run; the error says so
    name = _valid_new_name(name or name_option or ask("Proxy name", "NAME"))
    if not server_name:
        server_name = click.prompt("Backend server name", default=name) if interactive() else name
    if not command and not url:
        if not interactive():
            fail("say how to reach the backend: pass --command CMD [--arg A]… or --url URL.")
        kind = click.prompt("Connection type", type=click.Choice(["stdio", "http"]), default="stdio")
        if kind == "stdio":
            command = ask("Command", "--command")
            args = tuple(click.prompt("Arguments (space-separated)", default="").split())
        else:
            url = ask("URL", "--url")
    if command and "/" in command:
        # MCP clients neither expand ~ nor launch us from this folder: store an absolute path.
        command = str(Path(command).expanduser().absolute())
    try:
        backend = BackendConfig(
            server_name=server_name,
            transport=TRANSPORTS[connection_type] if connection_type else
            ("auto" if command and url else "stdio" if command else "streamablehttp"),
            stdio=StdioBackend(command=command, args=list(args)) if command else None,
            http=HttpBackend(url=url, timeout=timeout) if url else None,
        )
        config = ProxyConfig(proxy_id=new_proxy_id(server_name), backend=backend)
    except ValueError as exc:
        fail(f"invalid proxy settings: {exc}")
    if url:
        _check_http(url, timeout)
    save_model(paths.proxy_config_path(name), config)
    save_model(paths.proxy_policy_path(name), PolicyFile())
    console.print(f"[green]✓[/] Added proxy [bold]{name}[/] ({config.proxy_id})")
    console.print(f"  config: {paths.proxy_config_path(name)}")
    console.print(f"  policy: {paths.proxy_policy_path(name)} (deny-all until you add rules)")
    console.print("\nAdd this to your MCP client's configuration (or run "
                  f"[bold]mcp-acp install mcp-json --proxy {name} --write[/]):")
    console.print_json(json.dumps(snippet("claude-desktop", [name])))


def _describe_backend(config: ProxyConfig) -> str:
    parts = []
    if config.backend.stdio:
        parts.append(" ".join([config.backend.stdio.command, *config.backend.stdio.args]))
    if config.backend.http:
        parts.append(config.backend.http.url)
    return " | ".join(parts)


@proxy.command("list")
def list_() -> None:
    """List configured proxies."""
    names = list_proxy_names()
    if not names:
        console.print("No proxies yet. Add one with [bold]mcp-acp proxy add NAME[/].")
        return
    table = Table("name", "proxy id", "server", "transport", "backend")
    for name in names:
        try:
            config = load_proxy_config(name)
            table.add_row(name, config.proxy_id, config.backend.server_name, config.backend.transport,
                          _describe_backend(config))
        except ConfigError as exc:
            table.add_row(name, "[red]invalid config[/]", "", "", str(exc))
    console.print(table)


def proxy_details(name: str) -> dict:
    config = load_proxy_config(name)
    log_dir = paths.proxy_log_dir(load_manager_config().log_path, name)
    return {
        "name": name,
        "proxy_id": config.proxy_id,
        "server_name": config.backend.server_name,
        "transport": config.backend.transport,
        "backend": config.backend.model_dump(exclude_none=True),
        "created_at": config.created_at,
        "config_path": str(paths.proxy_config_path(name)),
        "policy_path": str(paths.proxy_policy_path(name)),
        "log_dir": str(log_dir),
    }


@proxy.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def show(name: str, as_json: bool) -> None:
    """Show one proxy's settings and where its files are."""
    details = proxy_details(name)
    if as_json:
        click.echo(json.dumps(details, indent=2))
        return
    table = Table(show_header=False, box=None)
    for key in ("name", "proxy_id", "server_name", "transport", "created_at", "config_path",
                "policy_path", "log_dir"):
        table.add_row(f"[bold]{key}[/]", str(details[key]))
    table.add_row("[bold]backend[/]", _describe_backend(load_proxy_config(name)))
    console.print(table)
