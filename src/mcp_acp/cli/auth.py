"""`mcp-acp auth …`: sign in with the identity provider, sign out, and see who you are (docs/cli.md#mcp-acp-auth-, docs/auth.md)."""

from __future__ import annotations

import json
import os
import sys
import time
import webbrowser

import click
from rich.table import Table

from mcp_acp import secret_store
from mcp_acp.admin.auth_status import auth_status, mtls_status_by_proxy, unverified_claims
from mcp_acp.cli.output import console, err_console, fail
from mcp_acp.config.models import ManagerConfig
from mcp_acp.config.store import list_proxy_names, load_manager_config, load_proxy_config
from mcp_acp.identity import tokens as token_store
from mcp_acp.identity.oidc import OidcClient, OidcError
from mcp_acp.localhttp.manager_client import notify_manager
from mcp_acp.localhttp.proxy_client import NotRunning, call_proxy, notify_running_proxies


def _oidc_settings(manager: ManagerConfig):
    if manager.auth.mode != "oidc":
        fail(
            "this installation runs in local mode (single user, no identity provider), so there is "
            "nothing to sign in to. To use an identity provider: 'mcp-acp init --auth oidc …'."
        )
    return manager.auth.oidc_settings


@click.group()
def auth() -> None:
    """Sign in with your identity provider, sign out, and check your session."""


@auth.command()
@click.option("--no-browser", is_flag=True, help="Only print the URL; do not open a browser.")
def login(no_browser: bool) -> None:
    """Sign in with the device flow: open the URL shown, confirm the code, done."""
    settings = _oidc_settings(load_manager_config())
    client = OidcClient(settings)
    try:
        code = client.start_device_login()
    except OidcError as exc:
        fail(str(exc))
    url = code.verification_uri_complete or code.verification_uri
    err_console.print(
        f"To sign in, open [bold]{code.verification_uri}[/] and enter the code [bold cyan]{code.user_code}[/]"
    )
    if code.verification_uri_complete:
        err_console.print(f"(or open {code.verification_uri_complete} directly)")
    if not no_browser and (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or sys.platform == "darwin"):
        webbrowser.open(url)
    try:
        with err_console.status("Waiting for you to confirm in the browser…"):
            tokens = client.wait_for_login(code)
    except OidcError as exc:
        fail(str(exc))
    token_store.save(tokens)
    claims = unverified_claims(tokens.id_token) or unverified_claims(tokens.access_token)
    who = claims.get("email") or claims.get("name") or claims.get("sub")
    console.print(f"[green]Signed in[/] as [bold]{who}[/]; tokens stored in {secret_store.backend_name()}.")
    notify_manager("/api/manager/auth/reload")  # it hands the new tokens to every proxy and renews them
    if reached := notify_running_proxies(list_proxy_names(), "/api/auth/notify-login"):
        console.print(f"Running proxies picked up the new session: {', '.join(reached)}.")


@auth.command()
@click.option("--federated", is_flag=True, help="Also sign out at the identity provider (opens its logout page).")
def logout(federated: bool) -> None:
    """Sign out: delete the stored tokens; running proxies deny requests from the next one on."""
    manager = load_manager_config()
    token_store.delete()
    notify_manager("/api/manager/auth/clear")
    reached = notify_running_proxies(list_proxy_names(), "/api/auth/notify-logout")
    console.print(
        "[green]Signed out[/]: stored tokens deleted"
        + (f"; running proxies told: {', '.join(reached)}." if reached else ".")
    )
    if federated:
        url = OidcClient(_oidc_settings(manager)).logout_url()
        if url:
            console.print(f"Sign out at the identity provider too: {url}")
            webbrowser.open(url)
        else:
            err_console.print("[yellow]The identity provider offers no logout page (no end_session_endpoint).[/]")


@auth.command()
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def status(as_json: bool) -> None:
    """Who you are signed in as, until when, and where the tokens are kept."""
    info = auth_status(load_manager_config())
    info["mtls"] = mtls_status_by_proxy()
    if as_json:
        console.print_json(json.dumps(info))
        return
    table = Table(show_header=False, box=None)
    table.add_row("mode", info["mode"])
    colour = "green" if info.get("authenticated") else "yellow"
    table.add_row("status", f"[{colour}]{info['message']}[/]")
    if user := info.get("user"):
        table.add_row("user", ", ".join(f"{k}={v}" for k, v in user.items()))
        expiry = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info["expires_at"]))
        table.add_row("token expires", f"{expiry} (in {info['expires_in_seconds']} s)")
        table.add_row("refresh token", "yes" if info["refresh_token"] else "no")
    if oidc := info.get("oidc"):
        table.add_row("provider", f"{oidc['issuer']} (client {oidc['client_id']}, audience {oidc['audience']})")
    table.add_row("storage", info["storage"])
    for proxy_name, cert in info["mtls"].items():
        table.add_row(f"mTLS ({proxy_name})", cert.get("message", str(cert)))
    console.print(table)


@auth.group()
def sessions() -> None:
    """Sessions of running proxies."""


@sessions.command("list")
@click.option("--proxy", "-p", "name", required=True, help="The proxy to ask.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def sessions_list(name: str, as_json: bool) -> None:
    """The sessions a running proxy holds (the user each is bound to)."""
    load_proxy_config(name)
    try:
        found = call_proxy(name, "GET", "/api/auth-sessions")
    except NotRunning:
        fail(f"proxy '{name}' is not running.")
    if as_json:
        console.print_json(json.dumps(found))
        return
    table = Table("session", "user", "started", "expires")
    for item in found:
        table.add_row(item["session_id"], item["user_id"], item["started_at"], item["expires_at"])
    console.print(table)


@auth.command()
@click.option("--subject", required=True, help="The principal (the token's 'sub') whose gateway access ends now.")
def revoke(subject: str) -> None:
    """Refuse every gateway token SUBJECT holds now, on every replica (docs/scale.md#logout-and-revocation)."""
    import asyncio

    from mcp_acp.config.store import load_gateway_config
    from mcp_acp.gateway.revocations import Revocations
    from mcp_acp.state import open_state
    from mcp_acp.state.base import StateUnavailable

    config = load_gateway_config()
    if config.state.url is None:
        fail(
            "gateway.json has no shared state (state.url): a revocation would live only in this command. "
            "Configure state.url (Redis or Valkey), or stop the gateway to end every session."
        )

    async def run() -> None:
        state = open_state(config.state.url, f"cli-{os.getpid()}")
        try:
            await Revocations(state).revoke_subject(subject)
        finally:
            await state.close()

    try:
        asyncio.run(run())
    except StateUnavailable as exc:
        fail(f"the revocation was not recorded: {exc}")
    console.print(
        f"[green]Revoked[/] every token of [bold]{subject}[/] issued until now, on every replica. "
        "A new sign-in gets a token that works."
    )
