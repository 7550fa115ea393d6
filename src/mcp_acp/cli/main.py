"""Entry point of the `mcp-acp` command."""

from __future__ import annotations

import click

from mcp_acp import __version__
from mcp_acp.cli.approvals import approvals
from mcp_acp.cli.audit import audit
from mcp_acp.cli.auth import auth
from mcp_acp.cli.init import init
from mcp_acp.cli.install import install
from mcp_acp.cli.logs import logs
from mcp_acp.cli.manager import manager
from mcp_acp.cli.output import CliError
from mcp_acp.cli.policy import policy
from mcp_acp.cli.proxy import proxy
from mcp_acp.cli.start import start
from mcp_acp.cli.status import status
from mcp_acp.config.store import ConfigError


class Group(click.Group):
    """Turns expected errors (bad config, unreachable backend) into one-line messages."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            raise CliError(str(exc)) from None


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-v", prog_name="mcp-acp")
def cli() -> None:
    """mcp-acp: a zero-trust access-control proxy for MCP servers."""


for command in (init, auth, proxy, start, policy, install, audit, logs, manager, status):
    cli.add_command(command)
cli.add_command(approvals)


def main() -> None:
    cli()
