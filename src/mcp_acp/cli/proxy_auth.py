"""`mcp-acp proxy auth set-key|delete-key`: the API key a proxy sends to its HTTP backend.

The key goes to the secret store (OS keychain, or its fallback) under `proxy:<name>:backend`;
config.json only gets that reference in `backend.http.credential_key` (admin/api_key.py, which
the web UI uses too). A running proxy keeps the key it started with: changes apply at its next
start.
"""

from __future__ import annotations

import click

from mcp_acp.admin.api_key import (
    ApiKeyError,
    delete_api_key,
    set_api_key,
    store_name,
    stored_key,
)
from mcp_acp.cli.output import console, fail, interactive
from mcp_acp.cli.secret_input import prompt_for_key, read_key_from_stdin, retired_key_option


@click.group()
def auth() -> None:
    """The API key a proxy sends to its HTTP backend (kept in the keychain)."""


@auth.command("set-key")
@click.option("--proxy", "-p", "name", required=True, help="Name of the proxy.")
@click.option(
    "--api-key-stdin",
    is_flag=True,
    help="Read the key from standard input; without it you are asked "
    "for it (input hidden). Never on the command line, where every local user could read it.",
)
@retired_key_option("--api-key", "-k")
def set_key(name: str, api_key_stdin: bool) -> None:
    """Store the backend API key (sent as 'Authorization: Bearer …')."""
    if api_key_stdin:
        api_key = read_key_from_stdin()
    elif interactive():
        api_key = prompt_for_key()
    else:
        fail(
            "the API key is required: pipe it in with --api-key-stdin, e.g. `printf '%s' \"$KEY\" | "
            "mcp-acp proxy auth set-key --proxy NAME --api-key-stdin` (no terminal to ask on)."
        )
    try:
        secret = set_api_key(name, api_key)
    except ApiKeyError as exc:
        fail(f"{exc}.")
    console.print(
        f"[green]✓[/] Stored the backend API key of proxy [bold]{name}[/] in {store_name()} as "
        f"{secret!r}; config.json refers to it."
    )
    console.print("  A running proxy keeps its old key until it restarts (restart its MCP client).")


@auth.command("delete-key")
@click.option("--proxy", "-p", "name", required=True, help="Name of the proxy.")
@click.option("--force", "-f", is_flag=True, help="Delete without asking.")
def delete_key(name: str, force: bool) -> None:
    """Remove the backend API key from the keychain and from config.json."""
    try:
        key, reference, stored = stored_key(name)
        if not stored and reference is None:
            console.print(f"Proxy [bold]{name}[/] has no backend API key; nothing to delete.")
            return
        if not force:
            if not interactive():
                fail("deleting the API key needs confirmation: pass --force (no terminal to ask on).")
            click.confirm(
                f"Delete the backend API key of proxy {name!r}? The backend may refuse it without one", abort=True
            )
        delete_api_key(name)
    except ApiKeyError as exc:
        fail(f"{exc}.")
    if stored:
        console.print(
            f"[green]✓[/] Deleted the backend API key of proxy [bold]{name}[/] from {store_name()}"
            f"{' and its reference from config.json' if reference else ''}."
        )
    else:
        console.print(
            f"[green]✓[/] Removed the reference to the missing API key {key!r} from proxy "
            f"[bold]{name}[/]'s config.json."
        )
    console.print("  A running proxy keeps sending its old key until it restarts.")
