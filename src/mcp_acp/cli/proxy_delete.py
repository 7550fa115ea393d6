"""`mcp-acp proxy delete|purge` and `proxy list --deleted`: retire a proxy, keeping its audit trail.

The work is done by admin/deletion.py and admin/archives.py, which the manager's routes share;
this module asks, explains and reports.
"""

from __future__ import annotations

import click
from rich.markup import escape
from rich.table import Table

from mcp_acp.admin import deletion
from mcp_acp.admin.archives import AmbiguousArchive, ArchiveError, find_archive, list_archives, purge_archive
from mcp_acp.admin.deletion import DeletionError, proxy_running
from mcp_acp.cli.output import console, err_console, fail, format_size, interactive
from mcp_acp.config import paths
from mcp_acp.config.store import list_proxy_names, load_manager_config, require_proxy_name


def _confirm(what: str, question: str, yes: bool) -> None:
    if yes:
        return
    if not interactive():
        fail(f"{what} needs confirmation: pass --yes (no terminal to ask on).")
    click.confirm(question, abort=True)


@click.command("delete")
@click.option("--proxy", "-p", "name", required=True, help="Name of the proxy to delete.")
@click.option("--purge", is_flag=True, help="Delete everything for good instead of archiving config and audit logs.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
def delete(name: str, purge: bool, yes: bool) -> None:
    """Delete a proxy: its config and audit trail go to the archive (or, with --purge, are deleted)."""
    require_proxy_name(name)  # before the name is used in any path
    if not paths.proxy_config_dir(name).is_dir():
        fail(
            f"no proxy named {name!r} (configured: {', '.join(list_proxy_names()) or 'none'}); "
            "deleted proxies are listed by 'mcp-acp proxy list --deleted'."
        )
    log_dir = load_manager_config().log_path
    if proxy_running(name, log_dir):
        fail(f"proxy {name!r} is running; stop it first (close the MCP client that runs it), then retry.")
    if purge:
        console.print(f"Proxy [bold]{name}[/] will be deleted for good: config, policy, audit and system logs.")
    else:
        console.print(
            f"Proxy [bold]{name}[/] will be deleted. Its config and audit trail are kept in "
            f"{paths.archive_dir()}; debug logs and its backend API key, if any, are deleted."
        )
    console.print(
        f"[yellow]Remember:[/] remove '{name}' from your MCP client's configuration, "
        "or the client will keep trying to start it."
    )
    _confirm(f"deleting proxy {name!r}", f"Delete proxy {name!r}{' permanently' if purge else ''}?", yes)
    try:
        result = deletion.delete_proxy(name, purge=purge, deleted_by="cli", log_dir=log_dir)
    except DeletionError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(
            f"deleting proxy {name!r} failed: {exc}. See where things stand with 'mcp-acp proxy list' and "
            "'mcp-acp proxy list --deleted', fix the cause (permissions, disk space) and retry."
        )
    for warning in result.warnings:
        err_console.print(f"[yellow]Warning:[/] {escape(warning)}")
    if result.archive_name:
        console.print(
            f"[green]✓[/] Archived proxy [bold]{name}[/] ({format_size(result.archived_size)}): "
            f"{', '.join(result.archived)}"
        )
        console.print(f"  archive: {paths.archive_dir() / result.archive_name} (see README.txt there)")
    if result.deleted:
        console.print(f"[green]✓[/] Deleted ({format_size(result.deleted_size)}): {', '.join(result.deleted)}")
    if result.archive_name:
        console.print(f"  Delete the archive for good with [bold]mcp-acp proxy purge {result.archive_name}[/].")
    from mcp_acp.localhttp.manager_client import notify_manager  # fire-and-forget: the UI drops its card

    notify_manager(
        "/api/manager/proxies/notify-deleted",
        {"proxy_id": result.proxy_id or "", "proxy_name": name, "archive_name": result.archive_name},
    )


@click.command("purge")
@click.argument("name_or_archive")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
def purge(name_or_archive: str, yes: bool) -> None:
    """Permanently delete an archived proxy (by proxy name or archive name)."""
    try:
        info = find_archive(name_or_archive)
    except AmbiguousArchive as exc:
        fail(
            f"{name_or_archive!r} has several archives: {', '.join(exc.matches)}; "
            f"pass the full archive name, e.g. 'mcp-acp proxy purge {exc.matches[-1]}'."
        )
    except ArchiveError as exc:
        fail(str(exc))
    console.print(
        f"Archive [bold]{info.archive_name}[/] of proxy [bold]{info.original_name}[/] "
        f"({format_size(info.size)}, deleted {info.deleted_at or 'at an unknown time'}) will be "
        "deleted for good, audit trail included."
    )
    _confirm(f"purging {info.archive_name!r}", f"Purge {info.archive_name}?", yes)
    try:
        result = purge_archive(info.archive_name)
    except (ArchiveError, OSError) as exc:
        fail(f"could not purge {info.archive_name}: {exc}")
    console.print(f"[green]✓[/] Purged {result.archive_name} ({format_size(result.size)}).")


def print_archives() -> None:
    """`proxy list --deleted`."""
    archives = list_archives()
    if not archives:
        console.print(f"No deleted proxies (archive: {paths.archive_dir()}).")
        return
    table = Table("archive", "proxy", "deleted at", "by", "size")
    for info in archives:
        table.add_row(
            info.archive_name,
            info.original_name,
            info.deleted_at or "?",
            info.deleted_by or "?",
            format_size(info.size),
        )
    console.print(table)
