"""`mcp-acp wrap --client X`: every MCP server the client already has, behind its own proxy
(docs/cli.md#mcp-acp-wrap---client-client, the work itself in admin/wrap.py)."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from mcp_acp.admin.client_snippets import CLIENTS
from mcp_acp.admin.starter_policy import recognize
from mcp_acp.admin.wrap import WrapError, WrapItem, WrapPlan, apply_wrap, plan_wrap
from mcp_acp.cli.output import console, err_console, fail, interactive, terminal_safe
from mcp_acp.config.store import load_manager_config


@click.command()
@click.option("--client", type=click.Choice(CLIENTS), required=True, help="The MCP client whose servers to wrap.")
@click.option(
    "--file", "file", type=click.Path(dir_okay=False, path_type=Path), help="Its config file, if not the usual one."
)
@click.option("--dry-run", is_flag=True, help="Show what would happen; change nothing anywhere.")
@click.option("--yes", "-y", is_flag=True, help="Do it without asking (needed when there is no terminal).")
def wrap(client: str, file: Path | None, dry_run: bool, yes: bool) -> None:
    """Put each MCP server of a client behind its own proxy, with a starter policy."""
    load_manager_config()  # `init` must have run; the error says so
    try:
        plan = plan_wrap(client, file)
    except WrapError as exc:
        fail(str(exc))
    console.print(f"MCP servers in [bold]{terminal_safe(plan.path)}[/]:")
    console.print(_plan_table(plan))
    for note in plan.notes:
        console.print(f"[yellow]Note:[/] {terminal_safe(note)}")
    if not plan.to_wrap:
        console.print("Nothing to wrap; nothing was changed.")
        return
    if dry_run:
        console.print("[dim]Dry run: nothing was changed (no proxy, no secret, no file).[/]")
        return
    if not yes:
        if not interactive():
            fail("no terminal to ask on: run again with --yes to wrap these servers (or --dry-run to look).")
        if not click.confirm(f"Wrap {len(plan.to_wrap)} server(s) and rewrite {plan.path}?", default=True):
            fail("nothing was changed.")
    try:
        result = apply_wrap(plan)
    except WrapError as exc:
        fail(str(exc))
    for item in result.failed:
        err_console.print(f"[yellow]Not wrapped:[/] {terminal_safe(item.entry)}: {terminal_safe(item.error)}")
    if not result.wrapped:
        fail("no proxy could be made; the client's file was not changed.")
    console.print(_result_table(result.wrapped))
    if result.backup:
        console.print(f"Backed up {terminal_safe(plan.path)} → {terminal_safe(result.backup)}")
        if any(item.secrets for item in result.wrapped):
            console.print(
                "[yellow]Note:[/] that backup still holds the secret values in plain text, as the file did; "
                "delete it once you are happy ('mcp-acp unwrap' keeps its own private copy)."
            )
    console.print(
        f"[green]✓[/] {len(result.wrapped)} server(s) now go through mcp-acp. Restart {client} to pick it up; "
        f"undo it with [bold]mcp-acp unwrap --client {client}"
        + (f" --file {terminal_safe(plan.path)}" if file else "")
        + "[/]."
    )


def _plan_table(plan: WrapPlan) -> Table:
    table = Table("Server", "What wrap does", "Proxy", "Env", "Starter policy")
    for item in plan.items:
        if item.skip:
            table.add_row(
                terminal_safe(item.entry), f"[yellow]left as it is[/]: {terminal_safe(item.skip)}", "", "", ""
            )
            continue
        what = (
            f"proxy → {terminal_safe(item.url)}"
            if item.url
            else "proxy → " + terminal_safe(" ".join([item.command or "", *item.args]))
        )
        table.add_row(terminal_safe(item.entry), what, terminal_safe(item.proxy), _env_text(item), _starter_text(item))
    return table


def _env_text(item: WrapItem) -> str:
    parts = [terminal_safe(name) for name in item.env]
    parts += [f"{terminal_safe(name)} [magenta](→ secret store)[/]" for name in item.secrets]
    return "\n".join(parts)


def _starter_text(item: WrapItem) -> str:
    preset = recognize(item.command, item.args) if item.command else None
    if preset:
        return f"{preset.label} preset"
    return "from its tools (listed when wrapping)"


def _result_table(items: list[WrapItem]) -> Table:
    table = Table("Server", "Proxy", "Starter policy")
    for item in items:
        assert item.starter is not None
        text = terminal_safe(item.starter.summary)
        text += "".join(f"\n[dim]{terminal_safe(note)}[/]" for note in item.starter.notes)
        table.add_row(terminal_safe(item.entry), terminal_safe(item.proxy), text)
    return table
