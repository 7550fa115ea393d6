"""`mcp-acp proxy add|list|show|auth`: configure proxies, one per backend MCP server."""

from __future__ import annotations

import json

import click
from rich.markup import escape
from rich.table import Table

from mcp_acp.admin.client_snippets import snippet
from mcp_acp.admin.proxy_setup import (
    TRANSPORTS,
    BackendUnreachable,
    ProxySetupError,
    check_new_name,
    create_proxy,
)
from mcp_acp.backends.credentials import credential_key
from mcp_acp.cli.output import ask, console, err_console, fail, interactive, terminal_safe
from mcp_acp.cli.proxy_auth import auth
from mcp_acp.cli.proxy_env import env, env_options, parse_env, read_secret_env
from mcp_acp.cli.proxy_tools import tools
from mcp_acp.cli.secret_input import prompt_for_key, read_key_from_stdin, retired_key_option
from mcp_acp.config import paths
from mcp_acp.config.models import ProxyConfig
from mcp_acp.config.store import (
    ConfigError,
    list_proxy_names,
    load_manager_config,
    load_proxy_config,
)
from mcp_acp.policy.roots import server_roots


@click.group()
def proxy() -> None:
    """Add, list and inspect proxies."""


proxy.add_command(auth)
proxy.add_command(env)
proxy.add_command(tools)

from mcp_acp.cli.proxy_delete import delete, print_archives, purge  # noqa: E402

proxy.add_command(delete)
proxy.add_command(purge)


def _valid_new_name(name: str) -> str:
    try:
        check_new_name(name)  # before the prompts: no point asking the rest for an unusable name
    except ProxySetupError as exc:
        fail(str(exc))
    return name


def _api_key(url: str | None, from_stdin: bool) -> str | None:
    """The backend's API key, never from an argument (anyone can read those in `ps`): standard input
    when asked to, else a hidden prompt for an HTTP backend in a terminal; None for no key."""
    if from_stdin:
        return read_key_from_stdin()
    if url and interactive():
        return prompt_for_key(optional=True) or None
    return None


def _print_notes(notes: list[tuple[str, str]]) -> None:
    for level, text in notes:
        if level == "ok":
            console.print(f"[green]✓[/] {escape(text)}")
        else:
            err_console.print(f"[yellow]Warning:[/] {escape(text)}")


@proxy.command("add")
@click.argument("name", required=False)
@click.option("--name", "-n", "name_option", help="Proxy name (same as the NAME argument).")
@click.option("--server-name", help="A label for the backend server, e.g. 'filesystem'.")
@click.option("--command", help="Command that starts a STDIO backend.")
@click.option("--arg", "args", multiple=True, help="One argument for --command (repeat for more).")
@click.option("--url", help="URL of a streamable-HTTP backend (http:// or https://).")
@click.option(
    "--connection-type",
    type=click.Choice(list(TRANSPORTS)),
    help="stdio, http, or auto (HTTP when reachable, else STDIO). Default: what you configured.",
)
@click.option(
    "--timeout", type=click.IntRange(1, 300), default=30, show_default=True, help="HTTP backend timeout in seconds."
)
@click.option(
    "--api-key-stdin",
    is_flag=True,
    help="Read the API key the HTTP backend requires (sent as "
    "'Authorization: Bearer') from standard input. In a terminal you are asked for it instead (input "
    "hidden). Kept in the OS keychain (or its fallback), never in config.json or on the command line.",
)
@retired_key_option("--api-key")
@click.option("--mtls-cert", help="mTLS client certificate (PEM) for an https:// backend.")
@click.option("--mtls-key", help="mTLS client key (PEM, unencrypted).")
@click.option("--mtls-ca", help="CA bundle (PEM) that verifies the https:// backend's certificate.")
@click.option("--attestation-sha256", help="SHA-256 the STDIO backend's binary must have (64 hex digits).")
@click.option("--attestation-slsa-owner", help="GitHub owner whose SLSA provenance the binary must carry (needs gh).")
@click.option(
    "--root",
    "roots",
    multiple=True,
    help="A folder the server resolves relative paths against "
    "(repeat for more); the official filesystem server's folders are found without this.",
)
@click.option(
    "--attestation-require-signature/--no-attestation-require-signature",
    default=False,
    help="Require a valid code signature (macOS codesign; skipped on other systems).",
)
@env_options
def add(
    name,
    name_option,
    server_name,
    command,
    args,
    url,
    connection_type,
    timeout,
    api_key_stdin,
    mtls_cert,
    mtls_key,
    mtls_ca,
    attestation_sha256,
    attestation_slsa_owner,
    attestation_require_signature,
    roots,
    assignments,
    secret_names,
) -> None:
    """Add a proxy in front of an MCP server (STDIO command or HTTP URL).

    With --api-key-stdin and --secret-env both, standard input holds the API key on its first
    line, then one line per --secret-env."""
    load_manager_config()  # `init` must have run; the error says so
    env_values = parse_env(assignments)  # a typo shows before any question is asked
    name = _valid_new_name(name or name_option or ask("Proxy name", "NAME"))
    if not server_name:
        server_name = click.prompt("Backend server name", default=name) if interactive() else name
    if not command and not url:
        if not interactive():
            fail("say how to reach the backend: pass --command CMD [--arg A]… or --url URL.")
        kind = click.prompt("Connection type", type=click.Choice(["stdio", "http"]), default="stdio")
        if kind == "stdio":
            command = ask("Command", "--command")
            args = tuple(click.prompt("Arguments (space-separated)", default="").split())
        else:
            url = ask("URL", "--url")
    api_key = _api_key(url, api_key_stdin)
    if (env_values or secret_names) and not command:
        fail(
            "--env and --secret-env set a STDIO backend's environment: pass --command too (an HTTP "
            "backend's API key goes in with --api-key-stdin)."
        )
    secret_values = read_secret_env(secret_names, f"mcp-acp proxy add {name} …")
    settings = {
        "name": name,
        "server_name": server_name,
        "command": command,
        "args": args,
        "url": url,
        "transport": connection_type,
        "timeout": timeout,
        "api_key": api_key,
        "mtls_cert": mtls_cert,
        "mtls_key": mtls_key,
        "mtls_ca": mtls_ca,
        "attestation_sha256": attestation_sha256,
        "attestation_slsa_owner": attestation_slsa_owner,
        "attestation_require_signature": attestation_require_signature,
        "roots": roots,
        "env": env_values,
        "secret_env": secret_values,
    }
    try:
        try:
            created = create_proxy(**settings)
        except BackendUnreachable as exc:
            # Unlike the API, the CLI saves an unreachable backend after a warning (it may not run yet).
            err_console.print(f"[yellow]Warning:[/] {escape(str(exc))}")
            if interactive() and not click.confirm("Save this proxy anyway?", default=True):
                fail("nothing was saved.")
            created = create_proxy(**settings, skip_health_check=True)
    except ProxySetupError as exc:
        fail(str(exc))
    _print_notes(created.notes)
    console.print(f"[green]✓[/] Added proxy [bold]{name}[/] ({created.config.proxy_id})")
    console.print(f"  config: {created.config_path}")
    console.print(f"  policy: {created.policy_path} (deny-all until you add rules)")
    if api_key:
        console.print(f"  API key: in the secret store as {credential_key(name)!r}")
    if env_values:
        console.print(f"  environment: {terminal_safe(', '.join(env_values))} (in config.json)")
    if secret_values:
        console.print(f"  secret environment: {terminal_safe(', '.join(secret_values))} (in the secret store)")
    console.print(
        "\nAdd this to your MCP client's configuration (or run "
        f"[bold]mcp-acp install mcp-json --proxy {name} --write[/]):"
    )
    console.print_json(json.dumps(snippet("claude-desktop", [name])))


def _describe_backend(config: ProxyConfig) -> str:
    parts = []
    if config.backend.stdio:
        parts.append(" ".join([config.backend.stdio.command, *config.backend.stdio.args]))
    if config.backend.http:
        parts.append(config.backend.http.url)
    return " | ".join(parts)


@proxy.command("list")
@click.option("--deleted", is_flag=True, help="List deleted (archived) proxies instead.")
def list_(deleted: bool) -> None:
    """List configured proxies and whether they run (or, with --deleted, the archives)."""
    from mcp_acp.localhttp.proxy_client import running_sessions

    if deleted:
        print_archives()
        return
    names = list_proxy_names()
    if not names:
        console.print("No proxies yet. Add one with [bold]mcp-acp proxy add NAME[/].")
        return
    table = Table("name", "proxy id", "server", "transport", "backend", "running")
    for name in names:
        clients = running_sessions(name)
        running = ("[green]yes[/]" + (f" ({clients} clients)" if clients > 1 else "")) if clients else "no"
        try:
            config = load_proxy_config(name)
            table.add_row(
                name,
                config.proxy_id,
                config.backend.server_name,
                config.backend.transport,
                _describe_backend(config),
                running,
            )
        except ConfigError as exc:
            table.add_row(name, "[red]invalid config[/]", "", "", str(exc), running)
    console.print(table)


def proxy_details(name: str) -> dict:
    config = load_proxy_config(name)
    log_dir = paths.proxy_log_dir(load_manager_config().log_path, name)
    return {
        "name": name,
        "proxy_id": config.proxy_id,
        "server_name": config.backend.server_name,
        "transport": config.backend.transport,
        "backend": config.backend.model_dump(exclude_none=True),
        **({"mtls": config.mtls.model_dump()} if config.mtls else {}),
        "created_at": config.created_at,
        "config_path": str(paths.proxy_config_path(name)),
        "policy_path": str(paths.proxy_policy_path(name)),
        "log_dir": str(log_dir),
        "roots": list(server_roots(config)),
    }


@proxy.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def show(name: str, as_json: bool) -> None:
    """Show one proxy's settings and where its files are."""
    details = proxy_details(name)
    if as_json:
        click.echo(json.dumps(details, indent=2))
        return
    table = Table(show_header=False, box=None)
    table.add_column(no_wrap=True)
    table.add_column(overflow="fold")  # long paths wrap, never cut
    for key in ("name", "proxy_id", "server_name", "transport", "created_at", "config_path", "policy_path", "log_dir"):
        table.add_row(f"[bold]{key}[/]", str(details[key]))
    config = load_proxy_config(name)
    table.add_row("[bold]backend[/]", _describe_backend(config))
    if config.backend.http and config.backend.http.credential_key:
        table.add_row("[bold]api key[/]", f"secret store entry {config.backend.http.credential_key!r}")
    if config.mtls:
        table.add_row(
            "[bold]mtls[/]",
            f"cert {config.mtls.client_cert_path}, key {config.mtls.client_key_path}, CA {config.mtls.ca_bundle_path}",
        )
    if config.backend.stdio and config.backend.stdio.env:
        table.add_row("[bold]env[/]", terminal_safe(", ".join(f"{k}={v}" for k, v in config.backend.stdio.env.items())))
    if config.backend.stdio and config.backend.stdio.secret_env:
        table.add_row(
            "[bold]secret env[/]",
            f"{terminal_safe(', '.join(config.backend.stdio.secret_env))} (values in the secret store; "
            f"'mcp-acp proxy env {name} --list')",
        )
    if config.backend.stdio and config.backend.stdio.attestation:
        table.add_row("[bold]attestation[/]", config.backend.stdio.attestation.model_dump_json(exclude_none=True))
    roots = server_roots(config)
    table.add_row(
        "[bold]roots[/]",
        ", ".join(roots) if roots else 'none known: relative paths are refused (add "roots" to config.json)',
    )
    console.print(table)
