"""`mcp-acp install mcp-json`: the snippet that points an MCP client at a proxy, optionally merged in."""

from __future__ import annotations

import difflib
import json

import click

from mcp_acp.admin.client_file import ClientFileError, Conflict, apply, plan_merge
from mcp_acp.admin.client_snippets import CLIENTS, config_file, servers_key, snippet
from mcp_acp.cli.output import console, fail
from mcp_acp.config.store import list_proxy_names, load_proxy_config


@click.group()
def install() -> None:
    """Connect MCP clients to your proxies."""


@install.command("mcp-json")
@click.option("--proxy", "-p", "name", help="Only this proxy (default: all configured proxies).")
@click.option("--client", type=click.Choice(CLIENTS), default="claude-desktop", show_default=True)
@click.option("--write", is_flag=True, help="Merge into the client's config file (backed up when it changes).")
@click.option(
    "--force", is_flag=True, help="With --write: replace entries of the same name that mcp-acp did not write."
)
def mcp_json(name: str | None, client: str, write: bool, force: bool) -> None:
    """Print (or write) the client configuration that launches the proxies."""
    if force and not write:
        fail("--force only applies with --write.")
    if name:
        load_proxy_config(name)  # fails clearly on an unknown proxy
        names = [name]
    else:
        names = list_proxy_names()
        if not names:
            fail("no proxies configured yet; add one with 'mcp-acp proxy add NAME'.")
    key = servers_key(client)
    entries = snippet(client, names)
    if not write:
        click.echo(json.dumps(entries, indent=2))
        return
    target = config_file(client)
    try:
        plan = plan_merge(target, client, key, entries[key], force=force)
    except (ClientFileError, OSError) as exc:
        fail(str(exc))
    if plan.conflicts and not force:
        for conflict in plan.conflicts:
            _show_conflict(conflict, target)
        names_taken = ", ".join(f"'{c.name}'" for c in plan.conflicts)
        fail(
            f"{target} already has {names_taken}, not written by mcp-acp. Nothing was changed. "
            "To replace it (the file is backed up first), run again with --force; "
            "or keep yours and give the proxy another name."
        )
    if plan.new_text is None:
        console.print(f"[green]✓[/] {target} already has {', '.join(names)}; nothing to change.")
        return
    try:
        backup = apply(plan)
    except OSError as exc:
        fail(f"could not write {target}: {exc}")
    if backup:
        console.print(f"Backed up {target} → {backup}")
    done = [f"added {', '.join(plan.added)}"] if plan.added else []
    done += [f"updated {', '.join(plan.replaced)}"] if plan.replaced else []
    console.print(f"[green]✓[/] In {target}: {'; '.join(done)}. Restart {client} to pick it up.")


def _show_conflict(conflict: Conflict, target: object) -> None:
    """A unified diff of the user's entry against the one mcp-acp would write."""
    current = json.dumps(conflict.current, indent=2).splitlines()
    wanted = json.dumps(conflict.wanted, indent=2).splitlines()
    click.echo(f"'{conflict.name}' in {target} is not an mcp-acp entry:", err=True)
    for line in difflib.unified_diff(current, wanted, "what is there", "what mcp-acp would write", lineterm=""):
        click.echo(line, err=True)
