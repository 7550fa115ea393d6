"""Entry point of the `mcp-acp` command."""

from __future__ import annotations

import importlib

import click

from mcp_acp import __version__
from mcp_acp.cli.output import CliError
from mcp_acp.config.store import ConfigError

# Each command's module is imported only when that command runs: every MCP client starts a
# proxy with `mcp-acp start`, and it should not load (and keep in memory) the whole CLI.
COMMANDS = {
    name: f"mcp_acp.cli.{name}"
    for name in (
        "approvals",
        "audit",
        "auth",
        "init",
        "install",
        "logs",
        "manager",
        "policy",
        "proxy",
        "serve",
        "start",
        "status",
        "tools",  # issue 22: pinned tool definitions
        "unwrap",
        "wrap",
    )
}


class Group(click.Group):
    """Loads subcommands on demand, and turns expected errors (bad config, unreachable backend)
    into one-line messages."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        return getattr(importlib.import_module(COMMANDS[cmd_name]), cmd_name)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            raise CliError(str(exc)) from None


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-v", prog_name="mcp-acp")
def cli() -> None:
    """mcp-acp: a zero-trust access-control proxy for MCP servers."""


def main() -> None:
    cli()
