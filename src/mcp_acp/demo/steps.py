"""The demo's scripted steps: what each one asks of the proxy, what it expects, how it is played
through an MCP client session, and how its outcome is shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from mcp import ClientSession
from mcp.shared.exceptions import MCPError
from rich.panel import Panel
from rich.pretty import Pretty
from rich.table import Table
from rich.text import Text

from mcp_acp.demo.home import CALL_TIMEOUT, HOME, PROXY, SANDBOX, console

# allow: a normal result. tool_error: the backend answered with isError (e.g. the
# sandbox refused a path). deny: the request was answered with a JSON-RPC error
# instead of a result, which is how the proxy refuses a call.
Outcome = Literal["allow", "tool_error", "deny"]


@dataclass
class Step:
    title: str
    kind: Literal["tool", "resource", "prompt"]
    target: str  # tool name, resource URI or prompt name
    args: dict[str, Any] = field(default_factory=dict)
    expect: Outcome = "allow"
    approval: bool = False  # a human (or --auto-approve) decides it while it waits


def sandboxed(name: str) -> str:
    return str(SANDBOX / name)


STEPS = [
    Step("See what is in the sandbox", "tool", "list_files", {"path": sandboxed(".")}),
    Step("Read a file", "tool", "read_file", {"path": sandboxed("README.txt")}),
    Step(
        "Write a file (the policy asks a human)",
        "tool",
        "write_file",
        {"path": sandboxed("docs/todo.md"), "content": "- try a deny policy\n"},
        approval=True,
    ),
    Step("Save a note", "tool", "add_note", {"text": "mcp-acp relays every call"}),
    Step("List notes", "tool", "list_notes"),
    Step("Read a secret (a deny rule)", "tool", "read_file", {"path": sandboxed("secrets.txt")}, expect="deny"),
    Step("Read outside the sandbox (no rule allows it)", "tool", "read_file", {"path": "/etc/passwd"}, expect="deny"),
    Step(
        "Read the proxy's own policy (protected, whatever the rules say)",
        "tool",
        "read_file",
        {"path": str(HOME / "config" / "proxies" / PROXY / "policy.json")},
        expect="deny",
    ),
    Step(
        "Escape the sandbox from inside it", "tool", "read_file", {"path": sandboxed("../../etc/passwd")}, expect="deny"
    ),
    Step("Read a resource", "resource", "notes://all"),
    Step("Get a prompt", "prompt", "summarize_notes", {"style": "one sentence"}),
]


def content_text(blocks: list[Any]) -> str:
    """Text of MCP content blocks; non-text blocks are named by type."""
    return "\n".join(getattr(b, "text", None) or f"<{b.type} content>" for b in blocks)


async def run_step(session: ClientSession, step: Step, read_timeout: float = CALL_TIMEOUT) -> tuple[Outcome, str]:
    try:
        if step.kind == "tool":
            result = await session.call_tool(step.target, step.args, read_timeout_seconds=read_timeout)
            return ("tool_error" if result.is_error else "allow"), content_text(result.content)
        if step.kind == "resource":
            result = await session.read_resource(step.target)
            return "allow", "\n".join(getattr(c, "text", "<binary>") for c in result.contents)
        result = await session.get_prompt(step.target, step.args)
        return "allow", "\n".join(f"[{m.role}] {content_text([m.content])}" for m in result.messages)
    except MCPError as err:
        return "deny", f"JSON-RPC error {err.code}: {err.message}"


def show_step(n: int, step: Step, got: Outcome, detail: str) -> None:
    method = {"tool": "tools/call", "resource": "resources/read", "prompt": "prompts/get"}[step.kind]
    colour = {"allow": "green", "tool_error": "yellow", "deny": "red"}[got]
    body = Table.grid(padding=(0, 1))
    body.add_row("[dim]request[/]", Text(f"{method} {step.target}", style="bold"))
    if step.args:
        body.add_row("[dim]args[/]", Pretty(step.args))
    body.add_row("[dim]outcome[/]", Text(got, style=f"bold {colour}"))
    body.add_row("[dim]result[/]", Text(detail if len(detail) < 600 else detail[:600] + " ..."))
    mark = "" if got == step.expect else f"  [bold red](expected {step.expect})[/]"
    console.print(Panel(body, title=f"{n}. {step.title}{mark}", title_align="left", border_style=colour))
