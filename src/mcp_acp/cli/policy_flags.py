"""`policy add --allow|--deny|--ask --tool …`: a rule from flags, no JSON (docs/policies.md#rules-without-json).

The flags only build the rule's JSON; it is then validated exactly like a `--rule` one. A flag
given once is a single value, repeated it is a list (any of them matches).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, get_args

import click

from mcp_acp.policy.labels import LABELS
from mcp_acp.policy.side_effects import Operation, SideEffect

EFFECTS = {"allow": "allow", "deny": "deny", "ask": "hitl"}  # flag -> the policy's effect

# (flag, condition, help); every one may be repeated.
CONDITION_FLAGS: tuple[tuple[str, str, str], ...] = (
    ("--tool", "tool_name", "Tool name glob (* ?), e.g. 'read_*'."),
    ("--path", "path_pattern", "Path glob the request's paths must match, e.g. '~/src/**'."),
    ("--source-path", "source_path", "Path glob for the source of a copy/move."),
    ("--dest-path", "dest_path", "Path glob for the destination of a copy/move."),
    ("--operation", "operations", "read, write or delete (inferred from the tool name)."),
    ("--extension", "extension", "File extension, e.g. .env."),
    ("--scheme", "scheme", "URI scheme, e.g. file or https."),
    ("--backend", "backend_id", "Backend server name glob."),
    ("--resource-type", "resource_type", "tool, resource, prompt or server."),
    ("--method", "mcp_method", "MCP method glob, e.g. tools/call or resources/*."),
    ("--subject", "subject_id", "Exact user id (OIDC sub)."),
    ("--side-effect", "side_effects", "A side effect the tool has, e.g. fs_write."),
    ("--tool-label", "tool_labels", "An information-flow label the tool carries, e.g. egress."),
    ("--session-label", "session_labels", "A label this session touched before (all must have been)."),
)
LISTS = {"operations", "side_effects", "tool_labels", "session_labels"}  # conditions that are always lists
SINGLE = {"resource_type"}  # conditions that take one value
CHOICES: dict[str, list[str]] = {
    "operations": list(get_args(Operation)),
    "side_effects": list(get_args(SideEffect)),
    "resource_type": ["tool", "resource", "prompt", "server"],
    "tool_labels": list(LABELS),
    "session_labels": list(LABELS),
}


def rule_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add the effect, condition and id flags to `policy add`."""
    for flag, condition, help_text in reversed(CONDITION_FLAGS):
        kind = click.Choice(CHOICES[condition], case_sensitive=False) if condition in CHOICES else None
        command = click.option(flag, condition, multiple=True, type=kind, help=help_text)(command)
    for word in reversed(EFFECTS):
        what = "ask a human (hitl)" if word == "ask" else word
        command = click.option(f"--{word}", f"effect_{word}", is_flag=True, help=f"The rule's effect: {what}.")(command)
    command = click.option(
        "--cache-side-effect",
        "cache_side_effects",
        multiple=True,
        type=click.Choice(CHOICES["side_effects"]),
        help="--ask only: a side effect whose approvals may be cached.",
    )(command)
    command = click.option("--description", help="What the rule is for.")(command)
    command = click.option("--id", "rule_id", help="The rule's id (default: made from the rule, e.g. allow-read_any).")(
        command
    )
    return command


class FlagProblem(ValueError):
    """A flag combination that cannot make a rule; the message names the fix."""


def conditions_from(values: dict[str, tuple[str, ...]]) -> dict[str, Any]:
    conditions: dict[str, Any] = {}
    for flag, condition, _ in CONDITION_FLAGS:
        given = [value.lower() if condition in CHOICES else value for value in values.get(condition, ())]
        if not given:
            continue
        if condition in SINGLE and len(given) > 1:
            raise FlagProblem(f"{flag} takes one value; give it once.")
        conditions[condition] = given if condition in LISTS or len(given) > 1 else given[0]
    return conditions


def effect_from(chosen: dict[str, bool]) -> str | None:
    picked = [word for word in EFFECTS if chosen.get(word)]
    if len(picked) > 1:
        raise FlagProblem(f"a rule has one effect, not {' and '.join('--' + w for w in picked)}: keep one of them.")
    return EFFECTS[picked[0]] if picked else None


def rule_from_flags(
    effect: str | None,
    conditions: dict[str, Any],
    rule_id: str | None,
    description: str | None,
    cache_side_effects: tuple[str, ...],
    taken_ids: set[str],
) -> dict[str, Any]:
    if effect is None:
        raise FlagProblem("say what the rule does: add --allow, --deny or --ask.")
    if not conditions:
        raise FlagProblem(
            "a rule needs at least one condition: add --tool NAME (--tool '*' matches every tool), "
            "--path, --operation, … (see 'mcp-acp policy add --help')."
        )
    if cache_side_effects and effect != "hitl":
        raise FlagProblem("--cache-side-effect is only for --ask rules: drop it, or use --ask.")
    rule: dict[str, Any] = {"id": rule_id or readable_id(effect, conditions, taken_ids), "effect": effect}
    if description:
        rule["description"] = description
    rule["conditions"] = conditions
    if cache_side_effects:
        rule["cache_side_effects"] = list(cache_side_effects)
    return rule


def _slug(value: Any) -> str:
    text = " ".join(value) if isinstance(value, list) else str(value)
    text = text.replace("**", "any").replace("*", "any").replace("?", "x").lower()
    return re.sub(r"[^a-z0-9_.]+", "-", text).strip("-.")


def readable_id(effect: str, conditions: dict[str, Any], taken: set[str]) -> str:
    """`allow-read_any-src-any`: the effect and the conditions' values, unique in the policy."""
    word = next(flag for flag, value in EFFECTS.items() if value == effect)
    parts = [word, *(_slug(value) for value in conditions.values())]
    base = "-".join(part for part in parts if part)[:60].rstrip("-")
    candidate, number = base, 2
    while candidate in taken:
        candidate, number = f"{base}-{number}", number + 1
    return candidate
