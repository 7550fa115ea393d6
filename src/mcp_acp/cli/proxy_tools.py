"""`mcp-acp proxy tools NAME`: the backend's real tools, their annotations, and what the policy decides
for each (docs/cli.md#mcp-acp-proxy-tools-name---json).

The tools come from the backend itself (admin/backend_tools.py). The verdict is a dry run of a
`tools/call` without arguments: asked of the running proxy when there is one (its engine, its
user), else judged here by the same engine from policy.json as the local user. A rule with a
condition on paths, extensions or schemes cannot match a call without arguments: such rules
are listed beside the verdict ("with paths/URIs"), since they decide the calls that carry one.
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
from mcp_acp.config.store import ConfigError, load_manager_config, load_proxy_config
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


def _local_engine(name: str) -> PolicyEngine:
    policy, _ = read_policy(paths.proxy_policy_path(name))
    manager = load_manager_config()
    return PolicyEngine(
        policy, ProtectedPaths([paths.config_dir(), paths.product_log_root(manager.log_path), paths.runtime_dir()])
    )


def _local_verdicts(name: str, config: ProxyConfig, engine: PolicyEngine, tools: list[BackendTool]) -> list[dict]:
    """Each tool's verdict for a call without arguments, and the rules that may decide its calls
    that carry paths or URIs (their conditions on the arguments are not known here)."""
    identity = local_identity()
    verdicts = []
    for tool in tools:
        message = {"jsonrpc": "2.0", "id": "dry-run", "method": "tools/call", "params": {"name": tool.name}}
        ctx = build_context(
            message, identity, config.backend.server_name, proxy_name=name, roots=server_roots(config).snapshot()
        )
        decision = engine.evaluate(ctx)
        with_arguments = [
            {"id": rule.id, "effect": rule.effect}
            for rule in engine.candidates(ctx).rules
            if rule.resource_match is not None or rule.needs_path
        ]
        verdicts.append({"decision": decision.effect, "rule": decision.final_rule, "with_arguments": with_arguments})
    return verdicts


def _verdicts(name: str, config: ProxyConfig, found: list[BackendTool]) -> tuple[list[dict[str, Any]], str]:
    try:
        running = _running_verdicts(name, found)
    except httpx.HTTPError as exc:
        fail(f"could not ask proxy '{name}' for its decisions: {exc}. Is it still starting? Try again.")
    if running is None:
        local = _local_verdicts(name, config, _local_engine(name), found)
        return local, f"policy.json, as local user {local_identity().subject_id!r}"
    try:  # the rules that depend on arguments, from the file (normally what the proxy has loaded)
        local = _local_verdicts(name, config, _local_engine(name), found)
    except ConfigError:
        local = [{"with_arguments": []} for _ in found]
    return [
        {**answer, "with_arguments": extra["with_arguments"]} for answer, extra in zip(running, local, strict=True)
    ], "the running proxy"


def _hints(annotations: dict[str, Any]) -> str:
    return "\n".join(
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
    verdicts, source = _verdicts(name, config, found)
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
    for column in ("tool", "annotations", "verdict", "rule", "with paths/URIs"):
        table.add_column(column, overflow="fold", min_width=16 if column == "annotations" else None)
    table.add_column("description", overflow="fold", ratio=1)  # the column that gives way
    for row in rows:
        colour = COLOURS.get(row["decision"], "red")
        table.add_row(
            escape(row["name"]),
            escape(_hints(row["annotations"])),
            f"[{colour}]{SHOWN.get(row['decision'], row['decision'])}[/]",
            escape(row["rule"]),
            "\n".join(
                f"[{COLOURS.get(r['effect'], 'red')}]{SHOWN.get(r['effect'], r['effect'])}[/] {escape(r['id'])}"
                for r in row["with_arguments"]
            ),
            escape((row.get("description") or "").splitlines()[0] if row.get("description") else ""),
        )
    console.print(table)
    console.print(f"Add a rule without JSON: mcp-acp policy add --proxy {name} --allow --tool NAME")
