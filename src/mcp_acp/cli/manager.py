"""`mcp-acp manager start|stop|status|open`: the daemon that ties the proxies together (docs/manager.md)."""

from __future__ import annotations

import json
import webbrowser
from datetime import UTC, datetime
from pathlib import Path

import click
import httpx
from rich.table import Table

from mcp_acp.cli.output import console, err_console, fail
from mcp_acp.config import paths
from mcp_acp.config.store import ConfigError, load_manager_config
from mcp_acp.localhttp import manager_process
from mcp_acp.localhttp.manager_client import ManagerNotRunning, call_manager

CONFIG_ERROR_EXIT = 16


def _config(port: int | None):
    try:
        config = load_manager_config()
    except ConfigError as exc:
        fail(f"{exc}", CONFIG_ERROR_EXIT)
    return config, port or config.ui_port


@click.group()
def manager() -> None:
    """Run and inspect the manager daemon (web UI, approvals, proxy registry)."""


@manager.command("start")
@click.option("--port", "-p", type=click.IntRange(1024, 65535), help="UI port (default: ui_port in manager.json).")
@click.option("--foreground", "-f", is_flag=True, help="Run in this terminal instead of in the background.")
def start(port: int | None, foreground: bool) -> None:
    """Start the manager (proxies start it on their own when needed)."""
    config, port = _config(port)
    if manager_process.is_running():
        console.print(f"The manager is already running (pid {manager_process.recorded_pid()}).")
        return
    if foreground:
        _run_daemon(config, port, open_browser=True, foreground=True)
        return
    log_path = paths.manager_log_path(config.log_path)
    since = datetime.now(UTC).isoformat()
    with console.status("Starting the manager…"):  # under the same lock as proxies' auto-start
        ready = manager_process.ensure_running(("--port", str(port), "--open-browser"))
    if not ready:
        why = _error_since(log_path, since) or f"it did not answer within {manager_process.READY_TIMEOUT:g} s"
        fail(f"the manager did not start: {why}. Its log: {log_path}; or run 'mcp-acp manager start --foreground'.")
    console.print(
        f"[green]✓[/] Manager running on http://127.0.0.1:{port}/ (pid {manager_process.recorded_pid()}). "
        "Open the UI with [bold]mcp-acp manager open[/]."
    )


def _error_since(log_path: Path, since: str) -> str | None:
    """The daemon's last error logged after `since`: a detached daemon has no terminal to say it."""
    try:
        lines = log_path.read_text(encoding="utf-8").splitlines()[-20:]
    except OSError:
        return None
    for line in reversed(lines):
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("time", "") >= since and entry.get("level") in ("ERROR", "CRITICAL"):
            return entry.get("message")
    return None


@manager.command("_run", hidden=True)
@click.option("--port", type=click.IntRange(1024, 65535))
@click.option("--idle-grace", type=float, default=60.0)
@click.option("--idle-interval", type=float, default=30.0)
@click.option("--idle-timeout", type=float, default=300.0)
@click.option("--open-browser/--no-browser", default=False)
def run_(port: int | None, idle_grace: float, idle_interval: float, idle_timeout: float, open_browser: bool) -> None:
    """The daemon's entry point (what auto-start spawns)."""
    from mcp_acp.manager.daemon import IdlePolicy

    config, port = _config(port)
    _run_daemon(config, port, open_browser, idle=IdlePolicy(idle_grace, idle_interval, idle_timeout))


def _run_daemon(config, port: int, open_browser: bool, foreground: bool = False, idle=None) -> None:
    from mcp_acp.manager.daemon import IdlePolicy, ManagerStartError, run

    try:
        run(config, port, idle or IdlePolicy(), open_browser=open_browser, foreground=foreground)
    except ManagerStartError as exc:
        fail(str(exc))


@manager.command("stop")
def stop() -> None:
    """Stop the manager (proxies keep working and reconnect when it starts again)."""
    with console.status("Stopping the manager…"):
        stopped = manager_process.stop()
    if stopped is None:
        console.print("The manager is not running.")
    elif stopped:
        console.print("[green]✓[/] Manager stopped.")
    else:
        fail(
            f"the manager (pid {manager_process.recorded_pid()}) is still running after SIGTERM; stop it with "
            "'kill -9 PID' if it hangs."
        )


@manager.command("status")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(as_json: bool) -> None:
    """Is the manager running, where, and which proxies are connected."""
    try:
        info = call_manager("GET", "/api/manager/status")
    except (ManagerNotRunning, httpx.HTTPError):
        info = {"running": False, "pid": None, "proxies_connected": 0, "proxies": []}
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    if not info["running"]:
        console.print(
            "Manager: [yellow]not running[/] (start it with [bold]mcp-acp manager start[/]; "
            "proxies started without --headless start it themselves)."
        )
        return
    table = Table(show_header=False, box=None)
    table.add_row("[bold]status[/]", "[green]running[/]")
    table.add_row("[bold]pid[/]", str(info["pid"]))
    table.add_row("[bold]web UI[/]", f"{info['ui_url']} (sign in with 'mcp-acp manager open')")
    table.add_row(
        "[bold]proxies[/]",
        f"{info['proxies_connected']} connected" + (f": {', '.join(info['proxies'])}" if info["proxies"] else ""),
    )
    table.add_row("[bold]browsers[/]", str(info["subscribers"]))
    console.print(table)


@manager.command("open")
@click.option("--print", "print_only", is_flag=True, help="Print the sign-in link instead of opening a browser.")
def open_ui(print_only: bool) -> None:
    """Open the web UI, signed in (a one-time link, valid for two minutes)."""
    try:
        link = call_manager("POST", "/api/manager/ui-login-code")["url"]
    except ManagerNotRunning:
        fail("the manager is not running; start it with 'mcp-acp manager start'.")
    if print_only or not manager_process.can_open_browser() or not webbrowser.open(link):
        console.print(link)
    else:
        err_console.print("Opened the web UI in your browser.")
