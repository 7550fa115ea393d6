"""`mcp-acp policy …`: show, validate, edit, add to and reload a proxy's policy (docs/cli.md#mcp-acp-policy-).

Edits are checked before they are saved: an invalid policy never reaches the file, the old
one is kept as `policy.json.bak`, and a running proxy picks the change up by itself (it watches
the file); `policy reload` asks it to right away and reports what it did.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

import click
import httpx
from rich.table import Table

from mcp_acp.cli.output import console, err_console, fail, interactive
from mcp_acp.cli.policy_flags import EFFECTS, FlagProblem, conditions_from, effect_from, rule_from_flags, rule_options
from mcp_acp.config import paths
from mcp_acp.config.store import ConfigError, list_proxy_names, load_proxy_config, write_private_text
from mcp_acp.localhttp.proxy_client import NotRunning, call_sessions
from mcp_acp.policy.model import Policy, PolicyInvalid, parse_policy
from mcp_acp.policy.policy_file import read_policy

RULE_TEMPLATE = {
    "id": "my-rule",
    "description": "What this rule is for",
    "effect": "allow",
    "conditions": {"tool_name": "read_*", "path_pattern": "/home/me/project/**"},
}
RULE_HELP = (
    "effect: allow | deny | hitl.  conditions (all must hold; a list means any of): tool_name, "
    "path_pattern, source_path, dest_path, operations, extension, scheme, backend_id, resource_type, "
    "mcp_method, subject_id, side_effects, tool_labels, session_labels (all of).  See docs/policies.md."
)


def _proxy_option(required: bool = True):
    return click.option("--proxy", "-p", "name", required=required, help="The proxy whose policy to use.")


def _policy_path(name: str) -> Path:
    load_proxy_config(name)  # a clear error for an unknown proxy
    return paths.proxy_policy_path(name)


def _conditions_text(conditions: dict) -> str:
    return "\n".join(
        f"{key} = {', '.join(value) if isinstance(value, list) else value}" for key, value in conditions.items()
    )


@click.group()
def policy() -> None:
    """Show, check, edit and reload access policies."""


@policy.command()
@_proxy_option()
@click.option("--json", "as_json", is_flag=True, help="Print the policy as JSON.")
def show(name: str, as_json: bool) -> None:
    """Print a proxy's rules."""
    current, _ = read_policy(_policy_path(name))
    data = current.model_dump(exclude_none=True)
    if as_json:
        console.print_json(json.dumps(data))
        return
    table = Table(title=f"Policy of '{name}' — default: deny", title_justify="left")
    for column in ("#", "id", "effect", "conditions", "description"):
        table.add_column(column, overflow="fold")
    colours = {"allow": "green", "deny": "red", "hitl": "yellow"}
    for index, rule in enumerate(data["rules"]):
        effect = rule["effect"]
        table.add_row(
            str(index),
            rule["id"],
            f"[{colours[effect]}]{effect}[/]",
            _conditions_text(rule["conditions"]),
            rule.get("description", ""),
        )
    console.print(table if data["rules"] else f"Policy of '{name}' has no rules: every request is denied.")


@policy.command()
@_proxy_option(required=False)
def validate(name: str | None) -> None:
    """Check one policy, or all of them; list every problem found."""
    names = [name] if name else list_proxy_names()
    if not names:
        fail("no proxies are configured yet. Add one with 'mcp-acp proxy add'.")
    bad = 0
    for proxy_name in names:
        path = _policy_path(proxy_name)
        try:
            current, _ = read_policy(path)
        except ConfigError as exc:
            bad += 1
            err_console.print(f"[bold red]✗[/] {proxy_name}: {path} is invalid:")
            for problem in exc.problems:
                err_console.print(f"    • {problem}")
            continue
        console.print(f"[green]✓[/] {proxy_name}: {len(current.rules)} rules, valid ({path})")
    if bad:
        fail(f"{bad} of {len(names)} policies are invalid; fix the problems listed above.")


@policy.command("path")
@_proxy_option(required=False)
def path_command(name: str | None) -> None:
    """Print where policy files live."""
    for proxy_name in [name] if name else list_proxy_names():
        console.print(str(_policy_path(proxy_name)))


def _editor() -> list[str]:
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    return shlex.split(editor)


def _edit_until_valid(path: Path, initial: str, check) -> str:
    """Open `initial` in the user's editor until `check(text)` accepts it; returns the accepted text."""
    if not interactive():
        fail("editing needs a terminal. Edit the file directly, or use 'mcp-acp policy add --rule JSON'.")
    if not shutil.which(_editor()[0]):
        fail(f"editor {_editor()[0]!r} not found. Set $EDITOR (or $VISUAL) to your editor.")
    with tempfile.TemporaryDirectory(prefix="mcp-acp-") as folder:
        draft = Path(folder) / path.name
        draft.write_text(initial, encoding="utf-8")
        while True:
            subprocess.run([*_editor(), str(draft)], check=False)
            text = draft.read_text(encoding="utf-8")
            try:
                check(text)
                return text
            except (PolicyInvalid, ValueError) as exc:
                problems = getattr(exc, "problems", [str(exc)])
                err_console.print("[bold red]That is not valid:[/]")
                for problem in problems:
                    err_console.print(f"    • {problem}")
                if not click.confirm("Edit again?", default=True, err=True):
                    fail("nothing was saved.")


def _parse_text(text: str) -> Policy:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    return parse_policy(data)


def _save(name: str, path: Path, text: str) -> None:
    if path.exists():
        shutil.copy2(path, path.with_name(path.name + ".bak"))
    write_private_text(path, text if text.endswith("\n") else text + "\n")
    console.print(f"[green]Saved[/] {path} (previous version in {path.name}.bak).")
    console.print(f"A running proxy picks this up by itself; 'mcp-acp policy reload --proxy {name}' applies it now.")


@policy.command()
@_proxy_option()
def edit(name: str) -> None:
    """Edit a policy in $EDITOR; it is saved only if it is valid."""
    path = _policy_path(name)
    current = path.read_text(encoding="utf-8") if path.exists() else "{}\n"
    text = _edit_until_valid(path, current, _parse_text)
    if text == current:
        console.print("No changes.")
        return
    _save(name, path, text)


@policy.command()
@_proxy_option()
@click.option(
    "--rule", "rule_json", help='The rule as JSON, e.g. \'{"effect":"allow","conditions":{"tool_name":"read_*"}}\'.'
)
@rule_options
def add(name: str, rule_json: str | None, rule_id: str | None, description: str | None, **flags) -> None:
    """Add one rule to a policy: from flags (--allow --tool 'read_*' --path '~/src/**'), from --rule JSON,
    or written in $EDITOR from a template.

    \b
    Examples:
      mcp-acp policy add -p fs --allow --tool 'read_*' --path '~/src/**'
      mcp-acp policy add -p fs --deny --extension .env --extension .pem
      mcp-acp policy add -p fs --ask --operation write --id writes-ask
    """
    path = _policy_path(name)
    current, _ = read_policy(path)
    data = current.model_dump(exclude_none=True)
    rule_json = _rule_from_flags(rule_json, rule_id, description, flags, {rule["id"] for rule in data["rules"]})

    def with_rule(text: str) -> Policy:
        try:
            rule = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"the rule is not valid JSON (line {exc.lineno}: {exc.msg})") from None
        return parse_policy({**data, "rules": [*data["rules"], rule]})

    if rule_json is None:
        err_console.print(RULE_HELP)
        rule_json = _edit_until_valid(path, json.dumps(RULE_TEMPLATE, indent=2) + "\n", with_rule)
    try:
        updated = with_rule(rule_json)
    except (PolicyInvalid, ValueError) as exc:
        raise ConfigError(f"the rule was not added: {exc}", getattr(exc, "problems", None)) from None
    _save(name, path, updated.model_dump_json(indent=2, exclude_none=True))
    added = updated.rules[-1]
    console.print(f"Added rule '{added.id}' ({added.effect}): {json.dumps(added.conditions.given())}.")


def _rule_from_flags(
    rule_json: str | None, rule_id: str | None, description: str | None, flags: dict, taken: set[str]
) -> str | None:
    """The flags' rule as JSON, or `rule_json` unchanged when no rule flag was given."""
    effects = {word: flags.pop(f"effect_{word}") for word in EFFECTS}
    cache = flags.pop("cache_side_effects")
    given = any(effects.values()) or any(flags.values()) or cache or rule_id or description
    if not given:
        return rule_json
    if rule_json is not None:
        fail("give the rule either as --rule JSON or with flags (--allow/--deny/--ask, --tool, …), not both.")
    try:
        rule = rule_from_flags(effect_from(effects), conditions_from(flags), rule_id, description, cache, taken)
    except FlagProblem as exc:
        fail(f"the rule was not added: {exc}")
    return json.dumps(rule)


@policy.command()
@_proxy_option()
def reload(name: str) -> None:
    """Make a running proxy load its policy file now."""
    path = _policy_path(name)
    try:
        # Every session (one process per MCP client) reloads; the first one's result is reported.
        result = call_sessions(name, "POST", "/api/control/reload-policy")[0][1]
    except NotRunning:
        err_console.print(f"[yellow]Proxy '{name}' is not running[/]; it will load {path} when it starts.")
        return
    except httpx.HTTPError as exc:
        fail(
            f"could not reach proxy '{name}' on {paths.proxy_socket_path(name)}: {exc}. "
            "Is it still starting? Try again."
        )
    if result.get("status") != "success":
        err_console.print(f"[bold red]Reload failed[/]; policy {result.get('policy_version')} stays active:")
        for problem in result.get("problems") or [result.get("error")]:
            err_console.print(f"    • {problem}")
        fail("fix the policy file, then reload again.")
    console.print(
        f"[green]Policy reloaded[/]: {result['old_rules_count']} → {result['new_rules_count']} rules, "
        f"version {result['policy_version']}, {result['approvals_cleared']} cached approvals cleared."
    )


# `policy test` and `policy replay` live in their own module (issue 22).
from mcp_acp.cli.policy_check import replay_command, test_command  # noqa: E402

policy.add_command(test_command)
policy.add_command(replay_command)
