"""`mcp-acp proxy tools NAME`: the backend's real tools, their annotations, and what the policy decides
for each (docs/cli.md#mcp-acp-proxy-tools-name---json).

The tools come from the backend itself (admin/backend_tools.py). The verdict is a dry run of a
`tools/call` without arguments: asked of the running proxy when there is one (its engine, its
user), else judged here by the same engine from policy.json as the local user. A rule that
needs a path cannot match a call without one, so such rules are not shown as deciding.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import click
import httpx
from rich.markup import escape
from rich.table import Table

from mcp_acp.admin.backend_tools import BackendTool, BackendToolsError, list_backend_tools
from mcp_acp.cli.output import console, fail
from mcp_acp.config import paths
from mcp_acp.config.models import ProxyConfig
from mcp_acp.config.store import load_manager_config, load_proxy_config
from mcp_acp.identity.local import local_identity
from mcp_acp.localhttp.proxy_client import NotRunning, proxy_request
from mcp_acp.policy.context import build_context
from mcp_acp.policy.engine import PolicyEngine
from mcp_acp.policy.policy_file import read_policy
from mcp_acp.policy.protected import ProtectedPaths
from mcp_acp.policy.roots import server_roots

COLOURS = {"allow": "green", "deny": "red", "hitl": "yellow"}
SHOWN = {"hitl": "ask"}  # the word the CLI flags use


def _running_verdicts(name: str, tools: list[BackendTool]) -> list[dict[str, Any]] | None:
    """The running proxy's own answers, or None when it does not run."""
    verdicts = []
    for tool in tools:
        try:
            response = proxy_request(name, "POST", "/api/policy/evaluate", json={"tool_name": tool.name})
        except NotRunning:
            return None
        response.raise_for_status()
        answer = response.json()
        verdicts.append(
            {"decision": answer["decision"], "rule": answer["final_rule"], "policy_version": answer["policy_version"]}
        )
    return verdicts


def _local_verdicts(name: str, config: ProxyConfig, tools: list[BackendTool]) -> list[dict[str, Any]]:
    policy, _ = read_policy(paths.proxy_policy_path(name))
    manager = load_manager_config()
    engine = PolicyEngine(
        policy, ProtectedPaths([paths.config_dir(), paths.product_log_root(manager.log_path), paths.runtime_dir()])
    )
    identity = local_identity()
    verdicts = []
    for tool in tools:
        message = {"jsonrpc": "2.0", "id": "dry-run", "method": "tools/call", "params": {"name": tool.name}}
        ctx = build_context(
            message, identity, config.backend.server_name, proxy_name=name, roots=server_roots(config).snapshot()
        )
        decision = engine.evaluate(ctx)
        verdicts.append({"decision": decision.effect, "rule": decision.final_rule})
    return verdicts


def _hints(annotations: dict[str, Any]) -> str:
    return ", ".join(
        key.removesuffix("Hint") if value is True else f"{key.removesuffix('Hint')}={json.dumps(value)}"
        for key, value in annotations.items()
    )


@click.command("tools")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def tools(name: str, as_json: bool) -> None:
    """List the backend's real tools, their annotations and the policy's verdict for each.

    A STDIO backend is started for this and stopped again. The verdict is for a call without
    arguments (rules with --path conditions can still decide calls that carry paths)."""
    config = load_proxy_config(name)
    try:
        found = asyncio.run(list_backend_tools(config, name))
    except BackendToolsError as exc:
        fail(str(exc))
    try:
        verdicts = _running_verdicts(name, found)
        source = (
            "the running proxy"
            if verdicts is not None
            else f"policy.json, as local user {local_identity().subject_id!r}"
        )
    except httpx.HTTPError as exc:
        fail(f"could not ask proxy '{name}' for its decisions: {exc}. Is it still starting? Try again.")
    if verdicts is None:
        verdicts = _local_verdicts(name, config, found)
    rows = [
        {
            "name": tool.name,
            **({"title": tool.title} if tool.title else {}),
            **({"description": tool.description} if tool.description else {}),
            "annotations": tool.annotations,
            **verdict,
        }
        for tool, verdict in zip(found, verdicts, strict=True)
    ]
    if as_json:
        click.echo(json.dumps({"proxy": name, "decided_by": source, "tools": rows}, indent=2))
        return
    if not rows:
        console.print(f"The backend of '{name}' offers no tools.")
        return
    table = Table(title=f"Tools of '{name}' — verdicts from {source}", title_justify="left")
    for column in ("tool", "annotations", "verdict", "rule", "description"):
        table.add_column(column, overflow="fold")
    for row in rows:
        colour = COLOURS.get(row["decision"], "red")
        table.add_row(
            escape(row["name"]),
            escape(_hints(row["annotations"])),
            f"[{colour}]{SHOWN.get(row['decision'], row['decision'])}[/]",
            escape(row["rule"]),
            escape((row.get("description") or "").splitlines()[0] if row.get("description") else ""),
        )
    console.print(table)
    console.print(f"Add a rule without JSON: mcp-acp policy add --proxy {name} --allow --tool NAME")
