"""The first policy of a server `mcp-acp wrap` puts behind a proxy (docs/quickstart.md#govern-the-servers-you-already-have).

A well-known server (recognized by its package or command name) gets its shipped preset
(admin/starter_presets.py): reads allowed where its roots are, writes and shells asked, destructive
tools denied. Any other server gets a policy built from its own tools/list: a tool is allowed only
when it says it is read-only (`readOnlyHint`) and its name agrees; every other tool asks. When the
tools could not be listed, every tool asks. Whatever the policy does not name stays denied by the
zero-trust default. Pure: listing the tools is the caller's job."""

from __future__ import annotations

import os
import posixpath
import re
from dataclasses import dataclass, field
from typing import Any

from mcp_acp.admin.backend_tools import BackendTool
from mcp_acp.admin.starter_presets import PRESETS, Preset
from mcp_acp.policy.model import Policy
from mcp_acp.policy.roots import roots_from_command
from mcp_acp.policy.side_effects import operation_of, side_effects_of

# Words that say a tool does more than read, whatever its annotations claim.
_ACTING_WORDS = frozenset(
    [
        "write",
        "delete",
        "del",
        "remove",
        "rm",
        "drop",
        "truncate",
        "destroy",
        "purge",
        "erase",
        "wipe",
        "kill",
        "exec",
        "execute",
        "run",
        "eval",
        "shell",
        "bash",
        "sh",
        "cmd",
        "command",
        "spawn",
        "send",
        "post",
        "put",
        "patch",
        "upload",
        "push",
        "publish",
        "update",
        "create",
        "insert",
        "set",
        "edit",
        "modify",
        "move",
        "rename",
        "install",
        "uninstall",
        "commit",
        "merge",
        "reset",
        "revert",
        "deploy",
        "apply",
        "approve",
        "pay",
        "transfer",
        "sudo",
        "chmod",
        "chown",
        "format",
        "mkdir",
        "rmdir",
        "save",
        "append",
        "replace",
        "add",
        "toggle",
        "start",
        "stop",
        "restart",
        "trigger",
        "invoke",
        "submit",
        "email",
        "sms",
        "login",
        "logout",
        "grant",
        "revoke",
    ]
)
# Reads, but of what a model should not see unasked (a server's environment holds its tokens).
_SENSITIVE_WORDS = frozenset(
    [
        "env",
        "environ",
        "environment",
        "secret",
        "secrets",
        "password",
        "passwords",
        "token",
        "tokens",
        "credential",
        "credentials",
        "apikey",
        "cookie",
        "cookies",
        "keychain",
        "clipboard",
        "private",
    ]
)
_READ_EFFECTS = frozenset({"fs_read", "db_read"})
_VERSION = re.compile(r"(?<=.)@[^/@]*$|==.*$")  # `pkg@1.2.3`, `@scope/pkg@latest`, `pkg==1.0`


@dataclass(frozen=True)
class StarterPolicy:
    policy: Policy
    kind: str  # a preset key, "read-only-tools" or "ask-everything"
    summary: str  # one line for the wrap table
    notes: list[str] = field(default_factory=list)


def _normalized(word: str) -> set[str]:
    """The names a command-line word may stand for: itself without a version, and each path part."""
    word = _VERSION.sub("", word.strip().lower()).replace("_", "-")
    names = {word}
    parts = [part for part in word.split("/") if part]
    names.update(parts)
    names.update(re.sub(r"\.(js|mjs|cjs|py|exe)$", "", part) for part in parts)
    if len(parts) >= 2 and parts[-2].startswith("@"):
        names.add(f"{parts[-2]}/{parts[-1]}")
    return names


def recognize(command: str, args: list[str]) -> Preset | None:
    """The preset of a well-known server, from the first word of its command line that names one."""
    for word in [command, *args]:
        names = _normalized(word)
        for preset in PRESETS:
            if names & set(preset.packages):
                return preset
    return None


def trusted_read_only(tool: BackendTool) -> bool:
    """The server says the tool only reads, and nothing in its name says otherwise (nor that what
    it reads is a secret)."""
    hints: dict[str, Any] = tool.annotations
    if hints.get("readOnlyHint") is not True or hints.get("destructiveHint") is True:
        return False
    if operation_of(tool.name) in ("write", "delete"):
        return False
    effects = side_effects_of(tool.name)
    if effects and not effects <= _READ_EFFECTS:
        return False
    words = re.split(r"[^a-z0-9]+", re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", tool.name).lower())
    return not any(word in _ACTING_WORDS or word in _SENSITIVE_WORDS for word in words)


def _root_patterns(roots: list[str]) -> list[str]:
    """`root/**` for each root (and its real path when a link leads there); a root whose name has a
    glob character cannot be written as a pattern and is left out (its reads then ask)."""
    patterns: list[str] = []
    for root in roots:
        for folder in dict.fromkeys([root, os.path.realpath(root)]):
            if any(ch in folder for ch in "*?"):
                continue
            pattern = "/**" if folder == "/" else posixpath.join(folder, "**")
            patterns.append(pattern)
    return list(dict.fromkeys(patterns))


def _rule(rule_id: str, effect: str, description: str, **conditions: object) -> dict:
    return {"id": rule_id, "description": description, "effect": effect, "conditions": conditions}


def _resources_rules(allow: bool) -> list[dict]:
    effect, verb = ("allow", "allowed") if allow else ("hitl", "asked")
    return [
        _rule("starter-resources", effect, f"Reading the server's resources is {verb}", resource_type="resource"),
        _rule("starter-prompts", effect, f"Getting the server's prompts is {verb}", resource_type="prompt"),
    ]


def from_preset(
    preset: Preset, command: str, args: list[str], roots: tuple[str, ...] | list[str] = ()
) -> StarterPolicy:
    """The preset's policy for this command line (its roots come from it, and from `roots`)."""
    rules: list[dict] = []
    notes: list[str] = []
    if preset.ask_every_tool:
        rules.append(_rule("starter-ask", "hitl", f"Every tool of a {preset.label} asks first", tool_name="*"))
        rules += _resources_rules(allow=False)
        return StarterPolicy(_policy(rules), preset.key, f"{preset.label}: every tool asks", notes)
    all_roots = list(dict.fromkeys([*roots_from_command(command, args), *roots]))
    patterns = _root_patterns(all_roots)
    reads, asks = list(preset.reads), list(preset.asks)
    scope: dict[str, object] = {}
    if preset.path_scoped:
        if patterns:
            scope = {"path_pattern": patterns}
        else:
            # no root to allow reads in: asking is the safe side
            notes.append("no folder on its command line, so its reads ask too (declare roots to allow them)")
            asks, reads = [*reads, *asks], []
    if reads:
        where = f" in {', '.join(all_roots)}" if scope else ""
        rules.append(_rule("starter-read", "allow", f"Reads of the {preset.label}{where}", tool_name=reads, **scope))
    if preset.anywhere:
        rules.append(
            _rule(
                "starter-read-any",
                "allow",
                f"Tools of the {preset.label} that only read",
                tool_name=list(preset.anywhere),
            )
        )
    if asks:
        rules.append(_rule("starter-ask", "hitl", f"Changes by the {preset.label} ask first", tool_name=asks, **scope))
    if preset.denies:
        rules.append(
            _rule("starter-deny", "deny", f"The {preset.label} never destroys data", tool_name=list(preset.denies))
        )
    rules.append(
        _rule(
            "starter-deny-delete",
            "deny",
            "Tools whose name says they delete are refused",
            tool_name="*",
            operations=["delete"],
        )
    )
    rules += _resources_rules(allow=preset.allow_resources)
    summary = f"{preset.label}: reads allowed" + (f" in {', '.join(all_roots)}" if scope else "")
    summary += ", writes ask" if asks else ""
    summary += ", deletes denied" if preset.denies else ""
    if not reads and not preset.anywhere:
        summary = f"{preset.label}: every known tool asks"
    return StarterPolicy(_policy(rules), preset.key, summary, notes)


def from_tools(tools: list[BackendTool] | None, why_unlisted: str | None = None) -> StarterPolicy:
    """An unknown server's policy from its own tools (None: they could not be listed)."""
    if tools is None:
        rules = [_rule("starter-ask", "hitl", "The tools were not listed: every tool asks first", tool_name="*")]
        rules += _resources_rules(allow=False)
        notes = [f"its tools could not be listed ({why_unlisted or 'no answer'}), so every tool asks"]
        return StarterPolicy(_policy(rules), "ask-everything", "unknown server: every tool asks", notes)
    trusted = [tool.name for tool in tools if trusted_read_only(tool)]
    others = [tool.name for tool in tools if tool.name not in trusted]
    rules = []
    if trusted:
        rules.append(
            _rule("starter-read", "allow", "Tools the server marks read-only (readOnlyHint)", tool_name=trusted)
        )
    if others:
        rules.append(_rule("starter-ask", "hitl", "Every other tool asks first", tool_name=others))
    rules += _resources_rules(allow=False)
    summary = f"unknown server: {len(trusted)} read-only tool(s) allowed, {len(others)} ask"
    notes = ["a tool the server adds later is denied until a rule names it"]
    return StarterPolicy(_policy(rules), "read-only-tools", summary, notes)


def _policy(rules: list[dict]) -> Policy:
    return Policy.model_validate({"version": "1", "default_action": "deny", "rules": rules})
