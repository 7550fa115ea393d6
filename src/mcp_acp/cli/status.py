"""`mcp-acp status [--proxy NAME] [--json]`: which proxies run, and how one of them is doing.

A proxy runs when one of its control sockets answers (docs/cli.md#mcp-acp-status---proxy-p-name---json): each MCP client using it
runs its own process, a session with its own socket. The details come from the first session's
`/api/control/status`. Nothing here starts or changes anything.
"""

from __future__ import annotations

import json

import click
import httpx
from rich.table import Table

from mcp_acp.cli.output import console, fail
from mcp_acp.config.store import ConfigError, list_proxy_names, load_proxy_config
from mcp_acp.localhttp.gateway_client import gateway_status
from mcp_acp.localhttp.proxy_client import NotRunning, call_sessions, running_sessions


def _manager() -> dict:
    from mcp_acp.localhttp.manager_client import ManagerNotRunning, call_manager

    try:
        answer = call_manager("GET", "/api/manager/status", timeout=3.0)
    except (ManagerNotRunning, httpx.HTTPError):
        return {"running": False}
    connected = answer.get("proxies_connected") if isinstance(answer, dict) else None
    return {
        "running": True,
        "pid": answer.get("pid") if isinstance(answer, dict) else None,
        "proxies_connected": len(connected) if isinstance(connected, list) else connected,
    }


def _all_proxies() -> dict:
    proxies = []
    for name in list_proxy_names():
        try:
            config = load_proxy_config(name)
            proxy_id, server = config.proxy_id, config.backend.server_name
        except ConfigError:
            proxy_id, server = None, None
        proxies.append(
            {
                "name": name,
                "proxy_id": proxy_id,
                "server_name": server,
                "running": bool(sessions := running_sessions(name)),
                "sessions": sessions,
            }
        )
    return {"manager": _manager(), "proxies": proxies, "gateway": _gateway()}


def _gateway() -> dict | None:
    try:
        return gateway_status()
    except httpx.HTTPError as exc:
        return {"error": str(exc)}


def _one_proxy(name: str) -> dict:
    config = load_proxy_config(name)  # an unknown name fails here, listing the configured ones
    details = {"name": name, "proxy_id": config.proxy_id}
    try:
        answers = call_sessions(name, "GET", "/api/control/status", timeout=5)
    except NotRunning:
        return {**details, "running": False}
    except httpx.HTTPError as exc:
        fail(
            f"proxy {name!r} answered its control socket with an error ({exc}); "
            f"see 'mcp-acp logs show --proxy {name} --type system'."
        )
    # One session per MCP client using the proxy, each its own process; the first one speaks for the policy.
    return {**details, **answers[0][1], "running": True, "sessions": len(answers)}


def _print_all(report: dict) -> None:
    manager = report["manager"]
    if manager["running"]:
        count = manager.get("proxies_connected")
        console.print(f"manager: [green]running[/]{f' ({count} proxies connected)' if count is not None else ''}")
    else:
        console.print("manager: not running (start it with [bold]mcp-acp manager start[/])")
    if not report["proxies"]:
        console.print("No proxies yet. Add one with [bold]mcp-acp proxy add NAME[/].")
        return
    table = Table("proxy", "proxy id", "server", "running")
    for proxy in report["proxies"]:
        count = proxy["sessions"]
        table.add_row(
            proxy["name"],
            proxy["proxy_id"] or "[red]invalid config[/]",
            proxy["server_name"] or "",
            ("[green]yes[/]" + (f" ({count} clients)" if count > 1 else "")) if proxy["running"] else "no",
        )
    console.print(table)
    if report.get("gateway"):
        _print_gateway(report["gateway"])


def _print_gateway(gateway: dict) -> None:
    if "error" in gateway:
        console.print(f"gateway: [red]not answering its status socket[/] ({gateway['error']})")
        return
    auth = gateway["auth"]
    who = f"OAuth tokens from {auth['issuer']}" if auth else "local user only"
    console.print(f"gateway: [green]running[/] at {gateway['base_url']} ({who})")
    table = Table("endpoint", "principal", "2025 sessions", "requests", "allowed", "denied", "asked")
    for endpoint in gateway["endpoints"]:
        if not endpoint["principals"]:
            table.add_row(endpoint["url"], "[dim]nobody yet[/]", "", "", "", "", "")
        for row in endpoint["principals"]:
            table.add_row(
                endpoint["url"],
                row["principal"],
                *(str(row[key]) for key in ("sessions", "requests", "allowed", "denied", "asked")),
            )
    console.print(table)


def _print_one(report: dict) -> None:
    name = report["name"]
    if not report["running"]:
        console.print(
            f"Proxy [bold]{name}[/] ({report['proxy_id']}) is not running. "
            "Its MCP client starts it (see 'mcp-acp install mcp-json')."
        )
        return
    table = Table(show_header=False, box=None)
    rows = {
        "proxy": f"{name} ({report['proxy_id']})",
        "running": "[green]yes[/]",
        "uptime": f"{report.get('uptime_seconds', 0):.0f} s",
        "policy version": report.get("policy_version"),
        "rules": report.get("policy_rules_count"),
        "reloads": report.get("reload_count"),
        "last reload": report.get("last_reload_at") or "never",
        "sessions": report.get("sessions"),
    }
    for key, value in rows.items():
        table.add_row(f"[bold]{key}[/]", "?" if value is None else str(value))
    console.print(table)


@click.command()
@click.option("--proxy", "-p", "name", help="Show one proxy in detail (default: all, in brief).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(name: str | None, as_json: bool) -> None:
    """Show which proxies are running (and the manager), or one proxy's details."""
    report = _one_proxy(name) if name else _all_proxies()
    if as_json:
        click.echo(json.dumps(report, indent=2))
    elif name:
        _print_one(report)
    else:
        _print_all(report)
