"""`mcp-acp install mcp-json`: the snippet that points an MCP client at a proxy, optionally merged in."""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path

import click

from mcp_acp.admin.client_snippets import CLIENTS, config_file, servers_key, snippet
from mcp_acp.cli.output import console, fail
from mcp_acp.config.store import list_proxy_names, load_proxy_config, write_private_text


def _free_backup_path(target: Path) -> Path:
    """`<file>.bak.<timestamp>`, with a counter when that name is taken: a backup is never overwritten."""
    stem = f"{target.name}.bak.{datetime.now():%Y%m%d-%H%M%S}"
    candidate, n = target.with_name(stem), 1
    while candidate.exists():
        candidate, n = target.with_name(f"{stem}.{n}"), n + 1
    return candidate


@click.group()
def install() -> None:
    """Connect MCP clients to your proxies."""


@install.command("mcp-json")
@click.option("--proxy", "-p", "name", help="Only this proxy (default: all configured proxies).")
@click.option("--client", type=click.Choice(CLIENTS), default="claude-desktop", show_default=True)
@click.option("--write", is_flag=True, help="Merge into the client's config file (backed up first).")
def mcp_json(name: str | None, client: str, write: bool) -> None:
    """Print (or write) the client configuration that launches the proxies."""
    if name:
        load_proxy_config(name)  # fails clearly on an unknown proxy
        names = [name]
    else:
        names = list_proxy_names()
        if not names:
            fail("no proxies configured yet; add one with 'mcp-acp proxy add NAME'.")
    entries = snippet(client, names)
    if not write:
        click.echo(json.dumps(entries, indent=2))
        return
    target = config_file(client)
    existing: dict = {}
    if target.exists():
        try:
            existing = json.loads(target.read_text(encoding="utf-8") or "{}")
        except json.JSONDecodeError as exc:
            fail(f"{target} is not valid JSON (line {exc.lineno}: {exc.msg}); fix it first. Nothing was changed.")
        if not isinstance(existing, dict):
            fail(f"{target} does not hold a JSON object; fix it first. Nothing was changed.")
        backup = _free_backup_path(target)
        shutil.copy2(target, backup)
        console.print(f"Backed up {target} → {backup}")
    key = servers_key(client)
    servers = s if isinstance(s := existing.get(key), dict) else {}
    existing[key] = {**servers, **entries[key]}
    write_private_text(target, json.dumps(existing, indent=2) + "\n", own_folder=False)
    console.print(f"[green]✓[/] Wrote {', '.join(names)} into {target}. Restart {client} to pick it up.")
