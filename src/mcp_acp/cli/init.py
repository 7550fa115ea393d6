"""`mcp-acp init`: write manager.json, choosing local single-user mode or OIDC."""

from __future__ import annotations

import click
from pydantic import ValidationError

from mcp_acp.cli.output import ask, console, fail, interactive
from mcp_acp.config import paths
from mcp_acp.config.models import AuthConfig, ManagerConfig, OIDCConfig
from mcp_acp.config.store import save_model


@click.command()
@click.option(
    "--auth",
    "auth_mode",
    type=click.Choice(["local", "oidc"]),
    help="local: single user, no identity provider. oidc: users sign in with your IdP.",
)
@click.option("--oidc-issuer", help="OIDC issuer URL (https://…).")
@click.option("--oidc-client-id", help="OIDC client id of mcp-acp at your IdP.")
@click.option("--oidc-audience", help="Audience (API identifier) tokens must be issued for.")
@click.option("--force", is_flag=True, help="Overwrite an existing manager.json.")
@click.option("--non-interactive", is_flag=True, help="Never prompt; fail on anything missing.")
def init(auth_mode, oidc_issuer, oidc_client_id, oidc_audience, force, non_interactive) -> None:
    """Create the global configuration (manager.json)."""
    path = paths.manager_config_path()
    prompting = interactive() and not non_interactive
    if (path.exists() and not force) and (
        not prompting or not click.confirm(f"{path} already exists. Overwrite it?", default=False)
    ):
        fail(f"{path} already exists; pass --force to overwrite it.")

    def need(value: str | None, prompt: str, flag: str) -> str:
        if value:
            return value
        if not prompting:
            fail(f"{prompt} is required: pass {flag}.")
        return ask(prompt, flag)

    if auth_mode is None:
        if not prompting:
            fail("choose an authentication mode: pass --auth local (single user) or --auth oidc.")
        auth_mode = click.prompt("Authentication", type=click.Choice(["local", "oidc"]), default="local")

    try:
        if auth_mode == "oidc":
            oidc = OIDCConfig(
                issuer=need(oidc_issuer, "OIDC issuer URL", "--oidc-issuer"),
                client_id=need(oidc_client_id, "OIDC client id", "--oidc-client-id"),
                audience=need(oidc_audience, "OIDC audience", "--oidc-audience"),
            )
            auth = AuthConfig(mode="oidc", oidc=oidc)
        else:
            auth = AuthConfig(mode="local")
    except ValidationError as exc:
        fail(
            "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg'].removeprefix('Value error, ')}" for e in exc.errors())
        )

    config = ManagerConfig(auth=auth)
    save_model(path, config)
    console.print(f"[green]✓[/] Wrote {path}")
    if auth_mode == "local":
        console.print("  Mode: [bold]local[/] — single user, no identity provider; requests run as your OS user.")
    else:
        console.print(
            f"  Mode: [bold]oidc[/] — issuer {auth.oidc_settings.issuer}. Sign in with [bold]mcp-acp auth login[/]."
        )
    console.print(f"  Logs: {paths.product_log_root(config.log_path)}")
    console.print(
        "\nNext: add a proxy in front of an MCP server, e.g.\n"
        "  [bold]mcp-acp proxy add files --server-name filesystem "
        "--command npx --arg -y --arg @modelcontextprotocol/server-filesystem --arg ~/Documents[/]"
    )
