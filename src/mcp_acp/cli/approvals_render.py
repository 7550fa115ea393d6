"""How the `mcp-acp approvals` commands describe a waiting approval in a terminal: what it
touches, how long it has, what remembering it would cover, and the commands that answer it.

Shared by the one-shot commands (`pending`, `show`, `decide`) and the live `watch`.
"""

from __future__ import annotations

import os
import shlex
import shutil

from mcp_acp.admin.client_snippets import executable_command
from mcp_acp.cli.output import console, terminal_safe
from mcp_acp.proxy.argument_display import fold_lines


def target_of(approval: dict) -> str:
    if approval.get("source_path") or approval.get("dest_path"):
        return f"{approval.get('source_path') or '?'} → {approval.get('dest_path') or '?'}"
    return approval.get("path") or "-"


def what_of(approval: dict) -> str:
    """The tool and what it touches ("write_file on /x/y"), or just the tool."""
    target = target_of(approval)
    return f"{approval.get('tool_name') or '?'}{f' on {target}' if target != '-' else ''}"


def effects_of(approval: dict) -> str:
    return ", ".join(approval.get("side_effects") or []) or "none known"


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = max(0, round(seconds))
    if seconds < 120:
        return f"{seconds} s"
    return f"{seconds // 60} min" + (f" {seconds % 60} s" if seconds % 60 else "")


def cli_prefix() -> str:
    """How to run this CLI again, as a user would type it (with this MCP_ACP_HOME, if one is set)."""
    program, extra = executable_command()
    found = shutil.which("mcp-acp")
    command = (
        "mcp-acp" if found and os.path.realpath(found) == os.path.realpath(program) else shlex.join([program, *extra])
    )
    home = os.environ.get("MCP_ACP_HOME")
    return f"MCP_ACP_HOME={shlex.quote(home)} {command}" if home else command


def remember_offer(approval: dict) -> dict | None:
    """The "allow and remember" offer of `approval` when it is available, else None."""
    offer = approval.get("remember")
    if isinstance(offer, dict):
        return offer if offer.get("available") is True else None
    if approval.get("can_cache"):  # a proxy from before the `remember` field: say only how long
        ttl = approval.get("cache_ttl_seconds")
        return {
            "available": True,
            "ttl_seconds": ttl,
            "label": f"Allow and remember for {duration_text(ttl)}" if ttl else "Allow and remember",
        }
    return None


def decide_commands(approval: dict) -> list[tuple[str, str]]:
    """How to answer, the default first: allowing this one call. Remembering is offered only when
    the proxy may remember this approval, labelled with what it would cover and for how long."""
    base = f"{cli_prefix()} approvals decide {approval['id']} --proxy {shlex.quote(approval['proxy_name'])}"
    commands = [("Allow once (this call only; the default answer)", f"{base} --allow-once")]
    remember = remember_offer(approval)
    if remember:
        commands.append((str(remember.get("label") or "Allow and remember"), f"{base} --approve"))
    commands.append(("Deny", f"{base} --deny"))
    return commands


def remember_text(approval: dict) -> str:
    """What remembering would cover and for how long, or why it is not offered."""
    offer = approval.get("remember")
    if isinstance(offer, dict) and offer.get("label"):
        return str(offer["label"])
    remember = remember_offer(approval)
    return str(remember["label"]) if remember else "Not offered: this approval cannot be remembered"


def size_text(approval: dict) -> str:
    size = approval.get("arguments_size")
    return f"{size:,} bytes of JSON" if isinstance(size, int) else "size unknown"


def argument_lines(approval: dict) -> list[str]:
    """Every argument, long ones folded with their full size and the `approvals show` hint."""
    arguments = approval.get("arguments")
    if not arguments:
        return []
    return fold_lines(arguments, approval.get("id"))


def print_arguments(approval: dict, indent: str) -> None:
    lines = argument_lines(approval)
    if not lines:
        console.print(f"{indent}arguments  none")
        return
    console.print(f"{indent}arguments  {size_text(approval)}, secret-looking values redacted:")
    for line in lines:
        console.print(f"{indent}  {terminal_safe(line)}")


def request_fields(approval: dict) -> list[tuple[str, str]]:
    """What every view of a waiting request shows first: the tool, its target, its effects, who asked."""
    return [
        ("tool", approval.get("tool_name") or "?"),
        ("path", target_of(approval)),
        ("effects", effects_of(approval)),
        ("subject", approval.get("subject_id") or "?"),
    ]


def print_fields(rows: list[tuple[str, str]]) -> None:
    """One indented `label value` line a field, the labels aligned."""
    for label, value in rows:
        console.print(f"  {label:<10} {terminal_safe(value)}")


def print_decide_commands(approval: dict) -> None:
    """Each way to answer `approval`, a dim label over the command to run."""
    for label, command in decide_commands(approval):
        console.print(f"  [dim]{terminal_safe(label)}:[/]")
        console.print(f"    {terminal_safe(command)}")
