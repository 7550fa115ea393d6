"""`mcp-acp proxy add|list|show|auth`: configure proxies, one per backend MCP server."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import click
from rich.table import Table

from mcp_acp.cli.clients import snippet
from mcp_acp.cli.output import ask, console, err_console, fail, interactive
from mcp_acp.cli.proxy_auth import auth, store_api_key
from mcp_acp.config import paths
from mcp_acp.config.models import (
    Attestation,
    BackendConfig,
    HttpBackend,
    MTLSConfig,
    PolicyFile,
    ProxyConfig,
    StdioBackend,
    new_proxy_id,
    proxy_name_problem,
)
from mcp_acp.config.store import (
    ConfigError,
    list_proxy_names,
    load_manager_config,
    load_proxy_config,
    save_model,
)
from mcp_acp.proxy.backends import BackendError
from mcp_acp.proxy.backends.credentials import api_key_problem, credential_key

TRANSPORTS = {"stdio": "stdio", "http": "streamablehttp", "auto": "auto"}


@click.group()
def proxy() -> None:
    """Add, list and inspect proxies."""


proxy.add_command(auth)


def _valid_new_name(name: str) -> str:
    if problem := proxy_name_problem(name):
        fail(problem)
    if paths.proxy_config_dir(name).exists():
        fail(f"a proxy named {name!r} already exists; choose another name "
             f"(see 'mcp-acp proxy show {name}').")
    return name


def _check_http(url: str, timeout: int, mtls: MTLSConfig | None = None, api_key: str | None = None,
                name: str | None = None) -> None:
    """An MCP handshake with the settings the proxy will use (client certificate, API key)."""
    from mcp_acp.proxy.backends.http import probe  # the MCP SDK is slow to import; only HTTP needs it
    from mcp_acp.proxy.backends.tls import client_ssl_context

    headers = {"Authorization": f"Bearer {api_key}"} if api_key else None
    try:
        verify = client_ssl_context(mtls=mtls) if mtls else None
        asyncio.run(probe(url, min(timeout, 10), verify=verify, headers=headers,
                          client_cert=mtls.client_cert_path if mtls else None, proxy_name=name))
        console.print(f"[green]✓[/] {url} answered the MCP handshake")
    except BackendError as exc:
        err_console.print(f"[yellow]Warning:[/] {url} did not answer the MCP handshake: {exc}")
        if interactive() and not click.confirm("Save this proxy anyway?", default=True):
            fail("nothing was saved.")


def _mtls_settings(cert: str | None, key: str | None, ca: str | None, url: str | None) -> MTLSConfig | None:
    """All three files or none; paths stored absolute; checked now as they will be at start."""
    from mcp_acp.proxy.backends.tls import MTLSError, check_mtls, expand

    given = [value for value in (cert, key, ca) if value]
    if not given:
        return None
    if len(given) != 3:
        fail("--mtls-cert, --mtls-key and --mtls-ca go together: pass all three or none.")
    if not url:
        fail("mTLS is for HTTP backends: pass --url https://… with --mtls-cert/--mtls-key/--mtls-ca.")
    if not url.lower().startswith("https://"):
        fail(f"mTLS only applies to https:// URLs, and {url} is not one: use https:// or drop the --mtls-* flags.")
    mtls = MTLSConfig(client_cert_path=expand(cert), client_key_path=expand(key), ca_bundle_path=expand(ca))
    try:
        status = check_mtls(mtls)
    except MTLSError as exc:
        fail(str(exc))
    if status.level in ("warning", "critical"):
        err_console.print(f"[yellow]Warning:[/] {status.message}")
    else:
        console.print(f"[green]✓[/] client certificate {status.subject}, valid until "
                      f"{status.not_after:%Y-%m-%d} ({status.days_left} days)")
    return mtls


def _attestation_settings(sha256: str | None, slsa_owner: str | None, require_signature: bool,
                          command: str | None) -> Attestation | None:
    from mcp_acp.proxy.backends.attestation import AttestationError, resolve_binary, sha256_file

    if not (sha256 or slsa_owner or require_signature):
        return None
    if not command:
        fail("attestation checks a STDIO backend's binary: pass --command with the --attestation-* flags.")
    try:
        attestation = Attestation(expected_sha256=sha256, slsa_owner=slsa_owner, require_signature=require_signature)
    except ValueError as exc:
        fail(f"invalid attestation settings: {exc}")
    if attestation.expected_sha256:
        try:
            path = resolve_binary(command)
            actual = sha256_file(path)
        except AttestationError:
            err_console.print(f"[yellow]Warning:[/] {command!r} is not installed yet, so its hash was not "
                              "checked; the proxy checks it at every start.")
        else:
            if actual != attestation.expected_sha256:
                fail(f"{path} does not match --attestation-sha256: expected {attestation.expected_sha256}, "
                     f"actual {actual}.")
            console.print(f"[green]✓[/] {path} matches the expected SHA-256")
    if attestation.slsa_owner and shutil.which("gh") is None:
        err_console.print("[yellow]Warning:[/] --attestation-slsa-owner needs the GitHub CLI 'gh', which is not "
                          "installed: the proxy will refuse to start until it is.")
    return attestation


@proxy.command("add")
@click.argument("name", required=False)
@click.option("--name", "-n", "name_option", help="Proxy name (same as the NAME argument).")
@click.option("--server-name", help="A label for the backend server, e.g. 'filesystem'.")
@click.option("--command", help="Command that starts a STDIO backend.")
@click.option("--arg", "args", multiple=True, help="One argument for --command (repeat for more).")
@click.option("--url", help="URL of a streamable-HTTP backend (http:// or https://).")
@click.option("--connection-type", type=click.Choice(list(TRANSPORTS)),
              help="stdio, http, or auto (HTTP when reachable, else STDIO). Default: what you configured.")
@click.option("--timeout", type=click.IntRange(1, 300), default=30, show_default=True,
              help="HTTP backend timeout in seconds.")
@click.option("--api-key", help="API key the HTTP backend requires, sent as 'Authorization: Bearer'. "
              "Kept in the OS keychain (or its fallback), never in config.json.")
@click.option("--mtls-cert", help="mTLS client certificate (PEM) for an https:// backend.")
@click.option("--mtls-key", help="mTLS client key (PEM, unencrypted).")
@click.option("--mtls-ca", help="CA bundle (PEM) that verifies the https:// backend's certificate.")
@click.option("--attestation-sha256", help="SHA-256 the STDIO backend's binary must have (64 hex digits).")
@click.option("--attestation-slsa-owner", help="GitHub owner whose SLSA provenance the binary must carry (needs gh).")
@click.option("--attestation-require-signature/--no-attestation-require-signature", default=False,
              help="Require a valid code signature (macOS codesign; skipped on other systems).")
def add(name, name_option, server_name, command, args, url, connection_type, timeout, api_key,
        mtls_cert, mtls_key, mtls_ca, attestation_sha256, attestation_slsa_owner,
        attestation_require_signature) -> None:
    """Add a proxy in front of an MCP server (STDIO command or HTTP URL)."""
    load_manager_config()  # `init` must have run; the error says so
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
    if command and "/" in command:
        # MCP clients neither expand ~ nor launch us from this folder: store an absolute path.
        command = str(Path(command).expanduser().absolute())
    if api_key is not None:
        if not url:
            fail("--api-key is for HTTP backends: pass --url too.")
        if problem := api_key_problem(api_key):
            fail(f"{problem}.")
    mtls = _mtls_settings(mtls_cert, mtls_key, mtls_ca, url)
    attestation = _attestation_settings(attestation_sha256, attestation_slsa_owner, attestation_require_signature,
                                        command)
    try:
        backend = BackendConfig(
            server_name=server_name,
            transport=TRANSPORTS[connection_type] if connection_type else
            ("auto" if command and url else "stdio" if command else "streamablehttp"),
            stdio=StdioBackend(command=command, args=list(args), attestation=attestation) if command else None,
            http=HttpBackend(url=url, timeout=timeout,
                             credential_key=credential_key(name) if api_key else None) if url else None,
        )
        config = ProxyConfig(proxy_id=new_proxy_id(server_name), backend=backend, mtls=mtls)
    except ValueError as exc:
        fail(f"invalid proxy settings: {exc}")
    if url:
        _check_http(url, timeout, mtls, api_key, name)
    if api_key:
        store_api_key(name, api_key)
    save_model(paths.proxy_config_path(name), config)
    save_model(paths.proxy_policy_path(name), PolicyFile())
    console.print(f"[green]✓[/] Added proxy [bold]{name}[/] ({config.proxy_id})")
    console.print(f"  config: {paths.proxy_config_path(name)}")
    console.print(f"  policy: {paths.proxy_policy_path(name)} (deny-all until you add rules)")
    if api_key:
        console.print(f"  API key: in the secret store as {credential_key(name)!r}")
    console.print("\nAdd this to your MCP client's configuration (or run "
                  f"[bold]mcp-acp install mcp-json --proxy {name} --write[/]):")
    console.print_json(json.dumps(snippet("claude-desktop", [name])))


def _describe_backend(config: ProxyConfig) -> str:
    parts = []
    if config.backend.stdio:
        parts.append(" ".join([config.backend.stdio.command, *config.backend.stdio.args]))
    if config.backend.http:
        parts.append(config.backend.http.url)
    return " | ".join(parts)


@proxy.command("list")
def list_() -> None:
    """List configured proxies."""
    names = list_proxy_names()
    if not names:
        console.print("No proxies yet. Add one with [bold]mcp-acp proxy add NAME[/].")
        return
    table = Table("name", "proxy id", "server", "transport", "backend")
    for name in names:
        try:
            config = load_proxy_config(name)
            table.add_row(name, config.proxy_id, config.backend.server_name, config.backend.transport,
                          _describe_backend(config))
        except ConfigError as exc:
            table.add_row(name, "[red]invalid config[/]", "", "", str(exc))
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
    for key in ("name", "proxy_id", "server_name", "transport", "created_at", "config_path",
                "policy_path", "log_dir"):
        table.add_row(f"[bold]{key}[/]", str(details[key]))
    config = load_proxy_config(name)
    table.add_row("[bold]backend[/]", _describe_backend(config))
    if config.backend.http and config.backend.http.credential_key:
        table.add_row("[bold]api key[/]", f"secret store entry {config.backend.http.credential_key!r}")
    if config.mtls:
        table.add_row("[bold]mtls[/]", f"cert {config.mtls.client_cert_path}, key {config.mtls.client_key_path}, "
                                       f"CA {config.mtls.ca_bundle_path}")
    if config.backend.stdio and config.backend.stdio.attestation:
        table.add_row("[bold]attestation[/]", config.backend.stdio.attestation.model_dump_json(exclude_none=True))
    console.print(table)

