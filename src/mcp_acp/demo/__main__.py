"""Scripted tour of mcp-acp (`python -m mcp_acp.demo`, what `make demo` runs).

Sets up a throwaway MCP_ACP_HOME (./.demo-home, recreated each run) with one proxy
in front of the bundled demo server, then plays a client session through
`mcp-acp start --proxy demo --headless` and shows each request and its outcome.

The demo policy allows reads in the demo folder and note-taking, denies secrets, asks a
human for writes (denied: no approver in this version), and shows that the proxy's own
config is protected even where a rule allows reads. Each step declares the outcome it
expects, and the demo fails if any step behaves differently.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import anyio
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.shared.exceptions import MCPError
from rich.console import Console, Group
from rich.panel import Panel
from rich.pretty import Pretty
from rich.table import Table
from rich.text import Text

PROXY = "demo"
HOME = Path(".demo-home").absolute()
SANDBOX = HOME / "sandbox"
CLI = str(Path(sys.executable).with_name("mcp-acp"))
CALL_TIMEOUT = 30  # seconds; a hung proxy should fail the demo, not freeze it

console = Console()

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


def sandboxed(name: str) -> str:
    return str(SANDBOX / name)


STEPS = [
    Step("See what is in the sandbox", "tool", "list_files", {"path": sandboxed(".")}),
    Step("Read a file", "tool", "read_file", {"path": sandboxed("README.txt")}),
    Step("Write a file (the policy asks a human)", "tool", "write_file",
         {"path": sandboxed("docs/todo.md"), "content": "- try a deny policy\n"}, expect="deny"),
    Step("Save a note", "tool", "add_note", {"text": "mcp-acp relays every call"}),
    Step("List notes", "tool", "list_notes"),
    Step("Read a secret (a deny rule)", "tool", "read_file", {"path": sandboxed("secrets.txt")}, expect="deny"),
    Step("Read outside the sandbox (no rule allows it)", "tool", "read_file", {"path": "/etc/passwd"}, expect="deny"),
    Step("Read the proxy's own policy (protected, whatever the rules say)", "tool", "read_file",
         {"path": str(HOME / "config" / "proxies" / PROXY / "policy.json")}, expect="deny"),
    Step("Escape the sandbox from inside it", "tool", "read_file", {"path": sandboxed("../../etc/passwd")},
         expect="deny"),
    Step("Read a resource", "resource", "notes://all"),
    Step("Get a prompt", "prompt", "summarize_notes", {"style": "one sentence"}),
]

# Reads anywhere in the demo home are allowed on purpose: the proxy's own config folder inside
# it stays protected all the same.
POLICY = {"rules": [
    {"id": "read-demo-home", "effect": "allow", "description": "Read and list files in the demo home",
     "conditions": {"tool_name": ["read_*", "list_*"], "path_pattern": f"{HOME}/**"}},
    {"id": "notes", "effect": "allow", "description": "Notes are harmless",
     "conditions": {"tool_name": ["add_note", "list_notes"]}},
    {"id": "no-secrets", "effect": "deny", "description": "Never read secrets",
     "conditions": {"path_pattern": ["**/secrets*", "**/.env"]}},
    {"id": "approve-writes", "effect": "hitl", "description": "A human approves every write",
     "conditions": {"operations": ["write", "delete"], "path_pattern": f"{SANDBOX}/**"}},
    {"id": "notes-resources", "effect": "allow", "conditions": {"resource_type": "resource", "scheme": "notes"}},
    {"id": "prompts", "effect": "allow", "conditions": {"mcp_method": "prompts/get"}},
]}


def cli(*args: str) -> str:
    """Run the mcp-acp CLI against the demo home; stop the demo with its output on failure."""
    env = {**os.environ, "MCP_ACP_HOME": str(HOME)}
    proc = subprocess.run([CLI, *args], check=False, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        body = Text(f"$ mcp-acp {' '.join(args)}\n", style="bold") + Text(proc.stdout + proc.stderr)
        console.print(Panel(body, title=f"command failed (exit {proc.returncode})", border_style="red"))
        raise SystemExit(1)
    return proc.stdout


def prepare() -> None:
    shutil.rmtree(HOME, ignore_errors=True)
    (SANDBOX / "docs").mkdir(parents=True)
    (SANDBOX / "README.txt").write_text("Welcome to the mcp-acp demo sandbox.\n", encoding="utf-8")
    (SANDBOX / "docs" / "plan.md").write_text("# Plan\n1. Proxy every call\n2. Log it\n", encoding="utf-8")
    cli("init", "--auth", "local")
    server = [sys.executable, "-m", "mcp_acp.demo.server", "--sandbox", str(SANDBOX)]
    extra = [part for arg in server[1:] for part in ("--arg", arg)]
    cli("proxy", "add", PROXY, "--server-name", "demo-files", "--command", server[0], *extra)
    (SANDBOX / "secrets.txt").write_text("api-key: not-for-agents\n", encoding="utf-8")
    policy_path = Path(cli("policy", "path", "--proxy", PROXY).strip())
    policy_path.write_text(json.dumps(POLICY, indent=2) + "\n", encoding="utf-8")
    cli("policy", "validate", "--proxy", PROXY)
    console.print(Text.from_ansi(cli("policy", "show", "--proxy", PROXY)))
    console.print(Panel(
        f"home     {HOME}\nsandbox  {SANDBOX}\nproxy    {PROXY} -> demo-files (STDIO)",
        title="[bold]mcp-acp demo[/] set up", border_style="cyan",
    ))


def content_text(blocks: list[Any]) -> str:
    """Text of MCP content blocks; non-text blocks are named by type."""
    return "\n".join(getattr(b, "text", None) or f"<{b.type} content>" for b in blocks)


async def run_step(session: ClientSession, step: Step) -> tuple[Outcome, str]:
    try:
        if step.kind == "tool":
            result = await session.call_tool(step.target, step.args, read_timeout_seconds=CALL_TIMEOUT)
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


async def tour() -> list[tuple[Step, Outcome]]:
    params = StdioServerParameters(
        command=CLI,
        args=["start", "--proxy", PROXY, "--headless"],
        env={"MCP_ACP_HOME": str(HOME)},
    )
    outcomes = []
    # The proxy's stderr goes to a file so it does not interleave with the panels.
    with (HOME / "proxy-stderr.log").open("w") as errlog, anyio.fail_after(120):
        async with stdio_client(params, errlog=errlog) as (read, write), ClientSession(read, write) as session:
            init = await session.initialize()
            server = init.server_info
            console.print(Panel(
                f"server [bold]{server.name}[/] {server.version}, protocol {init.protocol_version}",
                title="0. initialize (through the proxy)", title_align="left", border_style="green",
            ))
            tools = Table("tool", "description", title="tools/list", title_justify="left")
            for tool in (await session.list_tools()).tools:
                tools.add_row(tool.name, (tool.description or "").partition("\n")[0])
            console.print(tools)
            for n, step in enumerate(STEPS, start=1):
                got, detail = await run_step(session, step)
                show_step(n, step, got, detail)
                outcomes.append((step, got))
    return outcomes


def summary(outcomes: list[tuple[Step, Outcome]]) -> bool:
    table = Table("#", "step", "expected", "got", "", title="Summary", title_justify="left")
    for n, (step, got) in enumerate(outcomes, start=1):
        ok = got == step.expect
        table.add_row(str(n), step.title, step.expect, got, "[green]ok[/]" if ok else "[red]MISMATCH[/]")
    console.print(table)
    return all(got == step.expect for step, got in outcomes)


def find_key(data: Any, key: str) -> Any:
    """First value stored under `key` anywhere in nested JSON."""
    if isinstance(data, dict):
        if key in data:
            return data[key]
        data = list(data.values())
    if isinstance(data, list):
        for item in data:
            if (found := find_key(item, key)) is not None:
                return found
    return None


def audit_trail() -> None:
    """Show what the session left in the tamper-evident audit trail, and that it verifies."""
    verdict = json.loads(cli("audit", "verify", "--proxy", PROXY, "--json"))["proxies"][PROXY]
    rows = Table("file", "status", "entries")
    for item in verdict["files"]:
        colour = "green" if item["status"] == "protected" else "grey50"
        rows.add_row(item["name"], f"[{colour}]{item['status']}[/]", str(item["entries"]))
    recent = cli("logs", "show", "--proxy", PROXY, "--type", "operations", "-n", "3")
    console.print(Panel(Group(rows, Text(f"\noverall: {verdict['overall_status']}", style="bold"),
                              Text("\nlast operations entries:\n", style="bold"), Text.from_ansi(recent)),
                        title="Audit trail (mcp-acp audit verify)", border_style="cyan"))


def next_steps() -> None:
    # Spell out the full path when the venv's bin folder is not on PATH.
    command = "mcp-acp" if shutil.which("mcp-acp") == CLI else CLI
    log_dir = find_key(json.loads(cli("proxy", "show", PROXY, "--json")), "log_dir")
    console.print(Panel(
        f"Proxy log folder:   {log_dir}\n"
        f"Verify it any time: {command} audit verify --proxy {PROXY}   (with MCP_ACP_HOME={HOME})\n"
        f"Proxy stderr:       {HOME / 'proxy-stderr.log'}\n\n"
        "Connect a real MCP client to the same proxy:\n"
        f"  MCP_ACP_HOME={HOME} {command} install mcp-json --proxy {PROXY}\n"
        "and paste the printed entry into your client's MCP config.",
        title="Where to look next", border_style="cyan",
    ))


def main() -> None:
    prepare()
    try:
        outcomes = anyio.run(tour)
    except TimeoutError:
        console.print(f"[bold red]The proxy did not answer in time; see {HOME / 'proxy-stderr.log'}[/]")
        raise SystemExit(1) from None
    except Exception as exc:  # noqa: BLE001 - any failure here ends the demo with a pointer to the logs
        console.print(f"[bold red]The session through the proxy failed: {exc!r}[/]")
        console.print(f"Proxy stderr: {HOME / 'proxy-stderr.log'}")
        raise SystemExit(1) from None
    matched = summary(outcomes)
    audit_trail()
    next_steps()
    if not matched:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
