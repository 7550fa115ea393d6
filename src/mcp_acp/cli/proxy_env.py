"""`mcp-acp proxy env NAME`: a STDIO backend's own environment (admin/backend_env.py).

The backend gets a minimal base environment (PATH, HOME, locale …) plus what is set here, and
nothing else of its client's environment. Plain values go to config.json; secret values are
asked for (input hidden) or read from standard input, and go to the secret store only.
"""

from __future__ import annotations

import click
from rich.table import Table

from mcp_acp.admin.api_key import store_name
from mcp_acp.admin.backend_env import BackendEnvError, list_env, parse_assignment, set_env, set_secret_env, unset_env
from mcp_acp.backends.child_env import BASE_PREFIXES, BASE_VARIABLES
from mcp_acp.cli.output import console, fail, terminal_safe
from mcp_acp.cli.secret_input import read_secret_env_value
from mcp_acp.config.store import ConfigError, load_proxy_config

ENV_HELP = "A value for the backend's environment, KEY=VALUE (repeat for more). Kept in config.json."
SECRET_ENV_HELP = (
    "A secret value for the backend's environment, by name only (repeat for more): you are asked for "
    "the value (input hidden), or it is read from standard input, one line per --secret-env. Kept in "
    "the OS keychain (or its encrypted fallback), never in config.json or on the command line."
)
BASE_NOTE = f"plus the base environment: {', '.join(BASE_VARIABLES)}, {'*, '.join(BASE_PREFIXES)}* (when set)"


def sentence(exc: Exception) -> str:
    return str(exc).rstrip(".") + "."


def env_options(function):
    """--env and --secret-env, shared by `proxy add` and `proxy env`."""
    function = click.option("--secret-env", "secret_names", multiple=True, metavar="KEY", help=SECRET_ENV_HELP)(
        function
    )
    return click.option("--env", "assignments", multiple=True, metavar="KEY=VALUE", help=ENV_HELP)(function)


def parse_env(assignments: tuple[str, ...]) -> dict[str, str]:
    """--env KEY=VALUE… as a dict, or a clear error before anything changes."""
    env: dict[str, str] = {}
    for text in assignments:
        try:
            variable, value = parse_assignment(text)
        except BackendEnvError as exc:
            fail(sentence(exc))
        env[variable] = value
    return env


def read_secret_env(names: tuple[str, ...], command: str) -> dict[str, str]:
    """The value of each --secret-env KEY, read once each (names checked before any is asked for)."""
    from mcp_acp.admin.backend_env import env_name_problem

    for variable in names:
        if problem := env_name_problem(variable):
            fail(f"--secret-env: {problem}.")
    if len(set(names)) != len(names):
        fail("--secret-env names a variable twice: give each once.")
    return {variable: read_secret_env_value(variable, command) for variable in names}


def print_env(name: str) -> None:
    try:
        listing = list_env(name)
    except (BackendEnvError, ConfigError) as exc:
        fail(sentence(exc))
    if not listing.env and not listing.secret_env:
        console.print(
            f"Proxy [bold]{name}[/]'s backend gets no environment values of its own ({BASE_NOTE}). "
            f"Add some with [bold]mcp-acp proxy env {name} --env KEY=VALUE[/] or [bold]--secret-env KEY[/]."
        )
        return
    table = Table("variable", "kind", "value")
    for variable, value in listing.env.items():
        table.add_row(variable, "plain", terminal_safe(value))
    for variable, stored in listing.secret_env.items():
        shown = (
            f"(hidden, in {terminal_safe(store_name())})"
            if stored
            else f"[red]missing from the secret store[/]: set it with 'mcp-acp proxy env {name} --secret-env {variable}'"
        )
        table.add_row(variable, "secret", shown)
    console.print(table)
    console.print(f"[dim]{BASE_NOTE}[/]")


@click.command("env")
@click.argument("name")
@env_options
@click.option("--unset", "unset_names", multiple=True, metavar="KEY", help="Remove a variable, plain or secret.")
@click.option("--list", "show_list", is_flag=True, help="List the variables (secret values are never shown).")
def env(
    name: str, assignments: tuple[str, ...], secret_names: tuple[str, ...], unset_names: tuple[str, ...], show_list
) -> None:
    """Set, remove or list the environment of proxy NAME's STDIO backend."""
    values = parse_env(assignments)
    if not (values or secret_names or unset_names):
        print_env(name)
        return
    try:
        load_proxy_config(name)  # an unknown proxy is named before any secret is asked for
    except ConfigError as exc:
        fail(sentence(exc))
    secrets = read_secret_env(secret_names, f"mcp-acp proxy env {name}")
    done: list[str] = []
    try:
        for variable in unset_names:
            kind = unset_env(name, variable)
            done.append(f"removed {'secret ' if kind == 'secret_env' else ''}{variable}")
        for variable, value in values.items():
            set_env(name, variable, value)
            done.append(f"set {variable}")
        for variable, value in secrets.items():
            set_secret_env(name, variable, value)
            done.append(f"stored secret {variable} in {store_name()}")
    except (BackendEnvError, ConfigError) as exc:
        if done:
            console.print(f"[green]✓[/] {terminal_safe('; '.join(done))}")
        fail(sentence(exc))
    console.print(f"[green]✓[/] Proxy [bold]{name}[/]: {terminal_safe('; '.join(done))}.")
    console.print("  A running proxy keeps its backend's old environment until it restarts (restart its MCP client).")
    if show_list:
        print_env(name)
