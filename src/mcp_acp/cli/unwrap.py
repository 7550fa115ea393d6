"""`mcp-acp unwrap --client X`: undo the last `mcp-acp wrap` of that client's file
(docs/cli.md#mcp-acp-unwrap---client-client, the work itself in admin/wrap_records.py)."""

from __future__ import annotations

from pathlib import Path

import click

from mcp_acp.admin.client_snippets import CLIENTS
from mcp_acp.admin.deletion import DeletionError, delete_proxy
from mcp_acp.admin.wrap import default_file, remove_secrets
from mcp_acp.admin.wrap_records import UnwrapError, latest
from mcp_acp.admin.wrap_records import unwrap as restore
from mcp_acp.cli.output import console, err_console, fail, interactive, terminal_safe


@click.command()
@click.option("--client", type=click.Choice(CLIENTS), required=True, help="The MCP client whose file to restore.")
@click.option(
    "--file", "file", type=click.Path(dir_okay=False, path_type=Path), help="Its config file, if not the usual one."
)
@click.option("--remove-proxies", is_flag=True, help="Also delete (archive) the proxies the wrap made.")
@click.option("--yes", "-y", is_flag=True, help="Do it without asking (needed when there is no terminal).")
def unwrap(client: str, file: Path | None, remove_proxies: bool, yes: bool) -> None:
    """Restore a client's file as it was before the last `mcp-acp wrap`."""
    target = file or default_file(client)
    try:
        record = latest(client, target)
    except UnwrapError as exc:
        fail(str(exc))
    names = ", ".join(record.proxies)
    console.print(f"The wrap of {terminal_safe(record.file)} on {record.at[:19]} rewrote: {terminal_safe(names)}.")
    if not yes:
        if not interactive():
            fail("no terminal to ask on: run again with --yes to restore the file.")
        question = f"Restore {record.file}" + (" and delete its proxies" if remove_proxies else "") + "?"
        if not click.confirm(question, default=True):
            fail("nothing was changed.")
    try:
        result = restore(record)
    except UnwrapError as exc:
        fail(str(exc))
    if result.exact:
        console.print(f"[green]✓[/] {terminal_safe(record.file)} is back, byte for byte, as it was before the wrap.")
    else:
        console.print(
            f"[green]✓[/] {terminal_safe(record.file)} changed since the wrap, so only its wrapped entries were put "
            f"back ({terminal_safe(', '.join(result.restored_entries)) or 'none still wrapped'}); the rest is kept."
        )
        if result.backup:
            console.print(f"Backed up the file as it was → {terminal_safe(result.backup)}")
    if not remove_proxies:
        console.print(
            f"The proxies stay ({terminal_safe(', '.join(record.proxies.values()))}); "
            "delete them with 'mcp-acp proxy delete NAME', or unwrap with --remove-proxies."
        )
        return
    for proxy in record.proxies.values():
        try:
            delete_proxy(proxy)
        except DeletionError as exc:
            err_console.print(f"[yellow]Proxy {terminal_safe(proxy)} kept:[/] {terminal_safe(exc)}")
            continue
        remove_secrets(proxy, record.secret_env.get(proxy, []))
        console.print(f"Deleted proxy {terminal_safe(proxy)} (archived; its audit logs are kept).")
