"""`mcp-acp proxy auth set-key|delete-key`: the API key a proxy sends to its HTTP backend.

The key goes to the secret store (OS keychain, or its fallback) under `proxy:<name>:backend`;
config.json only gets that reference in `backend.http.credential_key`. A running proxy keeps
the key it started with: changes apply at its next start.
"""

from __future__ import annotations

import json

import click

from mcp_acp.cli.output import console, fail, interactive
from mcp_acp.config import paths
from mcp_acp.config.models import ProxyConfig
from mcp_acp.config.store import ConfigError, load_proxy_config, read_json, write_private_text
from mcp_acp.proxy.backends.credentials import api_key_problem, credential_key


def _secret_store():
    from mcp_acp import secret_store

    return secret_store


def _where() -> str:
    try:
        return _secret_store().backend_name()
    except Exception:
        return "the secret store"


def store_api_key(name: str, api_key: str) -> None:
    """Put a proxy's backend API key in the secret store, or fail saying why."""
    try:
        _secret_store().put(credential_key(name), api_key)
    except Exception as exc:  # keyring and file-store failures vary by platform
        fail(f"cannot store the API key in the secret store ({type(exc).__name__}: {exc}).")


def _set_reference(name: str, reference: str | None) -> None:
    """Set or clear `backend.http.credential_key`, leaving the rest of the file as it is."""
    path = paths.proxy_config_path(name)
    data, _ = read_json(path, f"Re-create it with 'mcp-acp proxy add {name}'.")
    http = data["backend"]["http"]
    if reference is None:
        http.pop("credential_key", None)
    else:
        http["credential_key"] = reference
    try:
        ProxyConfig.model_validate(data)
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    write_private_text(path, json.dumps(data, indent=2) + "\n")


@click.group()
def auth() -> None:
    """The API key a proxy sends to its HTTP backend (kept in the keychain)."""


@auth.command("set-key")
@click.option("--proxy", "-p", "name", required=True, help="Name of the proxy.")
@click.option("--api-key", "-k", help="The key; without it you are asked for it (input hidden).")
def set_key(name: str, api_key: str | None) -> None:
    """Store the backend API key (sent as 'Authorization: Bearer …')."""
    config = load_proxy_config(name)
    if config.backend.http is None:
        fail(f"proxy {name!r} has no HTTP backend (backend.http.url): an API key is only sent to HTTP backends.")
    if api_key is None:
        if not interactive():
            fail("the API key is required: pass --api-key KEY (no terminal to ask on).")
        api_key = click.prompt("API key", hide_input=True)
    api_key = api_key.strip()
    if problem := api_key_problem(api_key):
        fail(f"{problem}; nothing was stored.")
    store_api_key(name, api_key)
    _set_reference(name, credential_key(name))
    console.print(f"[green]✓[/] Stored the backend API key of proxy [bold]{name}[/] in {_where()} as "
                  f"{credential_key(name)!r}; config.json refers to it.")
    console.print("  A running proxy keeps its old key until it restarts (restart its MCP client).")


@auth.command("delete-key")
@click.option("--proxy", "-p", "name", required=True, help="Name of the proxy.")
@click.option("--force", "-f", is_flag=True, help="Delete without asking.")
def delete_key(name: str, force: bool) -> None:
    """Remove the backend API key from the keychain and from config.json."""
    config = load_proxy_config(name)
    reference = config.backend.http.credential_key if config.backend.http else None
    key = reference or credential_key(name)
    store = _secret_store()
    try:
        stored = store.get(key) is not None
    except Exception as exc:
        fail(f"cannot read the secret store ({type(exc).__name__}: {exc}).")
    if not stored and reference is None:
        console.print(f"Proxy [bold]{name}[/] has no backend API key; nothing to delete.")
        return
    if not force:
        if not interactive():
            fail("deleting the API key needs confirmation: pass --force (no terminal to ask on).")
        click.confirm(f"Delete the backend API key of proxy {name!r}? The backend may refuse it without one",
                      abort=True)
    try:
        store.delete(key)
    except Exception as exc:
        fail(f"cannot delete {key!r} from the secret store ({type(exc).__name__}: {exc}).")
    if reference is not None:
        _set_reference(name, None)
    if stored:
        console.print(f"[green]✓[/] Deleted the backend API key of proxy [bold]{name}[/] from {_where()}"
                      f"{' and its reference from config.json' if reference else ''}.")
    else:
        console.print(f"[green]✓[/] Removed the reference to the missing API key {key!r} from proxy "
                      f"[bold]{name}[/]'s config.json.")
    console.print("  A running proxy keeps sending its old key until it restarts.")
