"""Scripted tour of mcp-acp (`python -m mcp_acp.demo [--auto-approve]`, what `make demo` runs).

Sets up a throwaway MCP_ACP_HOME (./.demo-home, recreated each run) with one proxy
in front of the bundled demo server, then plays a client session through
`mcp-acp start --proxy demo` and shows each request and its outcome. The proxy starts the
manager, whose web UI the demo opens (or prints the link to, without a display) while the
write waits for approval.

The demo policy allows reads in the demo folder and note-taking, denies secrets, asks a
human for writes, and shows that the proxy's own config is protected even where a rule
allows reads. Each step declares the outcome it expects, and the demo fails if any step
behaves differently.

The write waits for a human: the demo follows the proxy's approval stream (as the web UI or
`mcp-acp approvals watch` would), opens the web UI where the approval waits in the Pending
drawer, prints the other ways to decide, and waits. With `--auto-approve`, or when there is no
terminal to answer from (CI, `make demo` in a pipeline) or CI is set, it approves through the
proxy's real approval API itself, and stops the manager at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Self

import anyio
import httpx
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
HITL_TIMEOUT = 60  # the proxy's default wait for a human (config.json hitl.timeout_seconds)

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

# Reads anywhere in the demo home are allowed on purpose: the proxy's own config folder inside
# it stays protected all the same.
POLICY = {
    "rules": [
        {
            "id": "read-demo-home",
            "effect": "allow",
            "description": "Read and list files in the demo home",
            "conditions": {"tool_name": ["read_*", "list_*"], "path_pattern": f"{HOME}/**"},
        },
        {
            "id": "notes",
            "effect": "allow",
            "description": "Notes are harmless",
            "conditions": {"tool_name": ["add_note", "list_notes"]},
        },
        {
            "id": "no-secrets",
            "effect": "deny",
            "description": "Never read secrets",
            "conditions": {"path_pattern": ["**/secrets*", "**/.env"]},
        },
        {
            "id": "approve-writes",
            "effect": "hitl",
            "description": "A human approves every write",
            "conditions": {"operations": ["write", "delete"], "path_pattern": f"{SANDBOX}/**"},
        },
        {"id": "notes-resources", "effect": "allow", "conditions": {"resource_type": "resource", "scheme": "notes"}},
        {"id": "prompts", "effect": "allow", "conditions": {"mcp_method": "prompts/get"}},
    ]
}


def cli(*args: str) -> str:
    """Run the mcp-acp CLI against the demo home; stop the demo with its output on failure."""
    env = {**os.environ, "MCP_ACP_HOME": str(HOME)}
    proc = subprocess.run([CLI, *args], check=False, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        body = Text(f"$ mcp-acp {' '.join(args)}\n", style="bold") + Text(proc.stdout + proc.stderr)
        console.print(Panel(body, title=f"command failed (exit {proc.returncode})", border_style="red"))
        raise SystemExit(1)
    return proc.stdout


def ui_port(preferred: int = 8765) -> int:
    """The usual manager port, or any free one when something (another manager?) holds it."""
    for port in (preferred, 0):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return probe.getsockname()[1]
    raise RuntimeError("no free port on 127.0.0.1")


def stop_manager() -> None:
    """Stop the demo home's manager (a previous run's, or this run's when nobody is watching)."""
    subprocess.run(
        [CLI, "manager", "stop"],
        check=False,
        env={**os.environ, "MCP_ACP_HOME": str(HOME)},
        capture_output=True,
        stdin=subprocess.DEVNULL,
    )


def prepare() -> None:
    if HOME.exists():
        stop_manager()
    shutil.rmtree(HOME, ignore_errors=True)
    (SANDBOX / "docs").mkdir(parents=True)
    (SANDBOX / "README.txt").write_text("Welcome to the mcp-acp demo sandbox.\n", encoding="utf-8")
    (SANDBOX / "docs" / "plan.md").write_text("# Plan\n1. Proxy every call\n2. Log it\n", encoding="utf-8")
    cli("init", "--auth", "local")
    manager_config = HOME / "config" / "manager.json"
    config = json.loads(manager_config.read_text(encoding="utf-8"))
    config["ui_port"] = ui_port()
    manager_config.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    server = [sys.executable, "-m", "mcp_acp.demo.server", "--sandbox", str(SANDBOX)]
    extra = [part for arg in server[1:] for part in ("--arg", arg)]
    cli("proxy", "add", PROXY, "--server-name", "demo-files", "--command", server[0], *extra)
    (SANDBOX / "secrets.txt").write_text("api-key: not-for-agents\n", encoding="utf-8")
    policy_path = Path(cli("policy", "path", "--proxy", PROXY).strip())
    policy_path.write_text(json.dumps(POLICY, indent=2) + "\n", encoding="utf-8")
    cli("policy", "validate", "--proxy", PROXY)
    console.print(Text.from_ansi(cli("policy", "show", "--proxy", PROXY)))
    console.print(
        Panel(
            f"home     {HOME}\nsandbox  {SANDBOX}\nproxy    {PROXY} -> demo-files (STDIO)",
            title="[bold]mcp-acp demo[/] set up",
            border_style="cyan",
        )
    )


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


def cli_command() -> str:
    """How the reader runs the CLI: `mcp-acp` when the venv is on PATH, else its full path."""
    return "mcp-acp" if shutil.which("mcp-acp") == CLI else CLI


def proxy_socket() -> str:
    from mcp_acp.config import paths  # under MCP_ACP_HOME=HOME, set by main()

    return str(paths.proxy_socket_path(PROXY))


def proxy_client(**kwargs: Any) -> httpx.AsyncClient:
    """HTTP to the proxy's API over its 0600 Unix socket, as the CLI and the manager speak to it."""
    return httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(uds=proxy_socket()), base_url="http://proxy", **kwargs)


class ApprovalStream:
    """The proxy's own approval events (`GET /api/approvals/pending`). While the demo follows it,
    the proxy counts it as a UI to ask, so a request that needs approval waits for a decision
    instead of being denied at once."""

    def __init__(self) -> None:
        self.events: list[dict] = []
        self._task: asyncio.Task | None = None

    async def __aenter__(self) -> Self:
        # The proxy opens its API socket alongside the session: give it a moment on a cold start.
        with anyio.fail_after(CALL_TIMEOUT):
            while True:
                self._task = asyncio.create_task(self._follow())
                if (
                    await self.wait_for(lambda event: event.get("type") == "snapshot", CALL_TIMEOUT, quiet=True)
                    is not None
                ):
                    return self  # subscribed: from now on the proxy asks us
                await anyio.sleep(0.2)

    async def __aexit__(self, *exc_info: object) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task

    async def _follow(self) -> None:
        async with (
            proxy_client(timeout=httpx.Timeout(10, read=None)) as client,
            client.stream("GET", "/api/approvals/pending") as response,
        ):
            response.raise_for_status()
            async for line in response.aiter_lines():
                if line.startswith("data:"):
                    self.events.append(json.loads(line[5:]))

    async def wait_for(self, predicate, timeout: float, stop=lambda: False, quiet: bool = False) -> dict | None:
        """The first event matching `predicate`; None when `stop()` holds, or (quiet) the stream failed."""
        task = self._task
        assert task is not None  # following since __aenter__
        with anyio.fail_after(timeout):
            while True:
                for event in list(self.events):
                    if predicate(event):
                        return event
                if task.done():
                    if quiet:
                        if not task.cancelled():
                            task.exception()  # retrieved: no warning later
                        return None
                    task.result()  # raises what ended it
                    raise RuntimeError("the proxy's approval stream ended")
                if stop():
                    return None
                await anyio.sleep(0.05)


async def decide(approval: dict, decision: str) -> dict:
    """Decide through the proxy's real approval API, bound to the request that was shown."""
    async with proxy_client(timeout=CALL_TIMEOUT) as client:
        response = await client.post(
            f"/api/approvals/pending/{approval['id']}/{decision}",
            json={"args_hash": approval["args_hash"], "policy_version": approval["policy_version"]},
        )
        response.raise_for_status()
        return response.json()


def show_approval(n: int, step: Step, approval: dict, auto: bool) -> None:
    """What a human is asked, and every way to answer."""
    body = Table.grid(padding=(0, 1))
    body.add_row("[dim]request[/]", Text(f"tools/call {step.target}", style="bold"))
    body.add_row("[dim]path[/]", Text(str(approval.get("path") or "-")))
    body.add_row("[dim]effects[/]", Text(", ".join(approval.get("side_effects") or []) or "none known"))
    body.add_row("[dim]rule[/]", Text(str(approval.get("rule_id"))))
    body.add_row("[dim]approval id[/]", Text(approval["id"], style="bold"))
    console.print(
        Panel(body, title=f"{n}. {step.title}: waiting for approval", title_align="left", border_style="yellow")
    )
    # Outside the panel, so a long command is never wrapped and can be copied as it is.
    console.print("Decide it from another terminal with the CLI:")
    console.print(
        Text(f"  MCP_ACP_HOME={HOME} {cli_command()} approvals decide {approval['id']} --approve"), soft_wrap=True
    )
    console.print("  (or --allow-once, --deny; 'approvals pending' lists what waits, 'approvals watch' follows it)")
    console.print(f"or in the web UI, where it waits in the Pending drawer: {open_web_ui()}", soft_wrap=True)
    if auto:
        console.print("[cyan]--auto-approve[/]: the demo approves it itself, through the proxy's approval API:")
    else:
        console.print(
            f"Or type [bold]a[/] (approve), [bold]o[/] (allow once) or [bold]d[/] (deny) and Enter here. "
            f"No answer within {HITL_TIMEOUT} s denies it."
        )


def open_web_ui() -> str:
    """`mcp-acp manager open`: a browser where there is a display, else its one-time link."""
    env = {**os.environ, "MCP_ACP_HOME": str(HOME)}
    proc = subprocess.run(
        [CLI, "manager", "open"], check=False, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL
    )
    link = proc.stdout.strip()
    if proc.returncode != 0:
        return f"not available ({proc.stderr.strip() or 'manager open failed'})"
    return f"{link} (one-time sign-in link, valid 2 minutes)" if link else "opened in your browser"


@contextlib.contextmanager
def keyboard_decisions(approval: dict, decided: list[asyncio.Task]):
    """While the approval waits, a/o/d + Enter on this terminal decides it through the API."""
    loop = asyncio.get_running_loop()
    choices = {"a": "approve", "o": "allow-once", "d": "deny"}

    def on_input() -> None:
        answer = sys.stdin.readline().strip().lower()[:1]
        if answer in choices and not decided:
            decided.append(asyncio.ensure_future(decide(approval, choices[answer])))
        elif not decided:
            console.print("Type a, o or d, then Enter.")

    loop.add_reader(sys.stdin.fileno(), on_input)
    try:
        yield
    finally:
        loop.remove_reader(sys.stdin.fileno())


async def run_approval_step(session: ClientSession, n: int, step: Step, auto: bool) -> tuple[Step, Outcome, str]:
    """Call a tool that needs approval while following the approval stream, show how to decide,
    decide it (--auto-approve) or wait for a human; the step expects what the decision implies."""
    async with ApprovalStream() as stream:
        call = asyncio.ensure_future(run_step(session, step, read_timeout=HITL_TIMEOUT + CALL_TIMEOUT))
        created = await stream.wait_for(
            lambda event: event.get("type") == "pending_created" and event["approval"].get("tool_name") == step.target,
            CALL_TIMEOUT,
            stop=call.done,
        )
        if created is None:  # answered without asking anyone: show it as it is
            got, detail = await call
            return step, got, detail
        approval = created["approval"]
        show_approval(n, step, approval, auto)
        decided: list[asyncio.Task] = []
        if auto:
            answer = await decide(approval, "approve")
            console.print(
                f"  POST /api/approvals/pending/{approval['id']}/approve on {proxy_socket()} -> {answer['status']}"
            )
            ended = await stream.wait_for(lambda e: e.get("approval_id") == approval["id"], CALL_TIMEOUT)
        else:
            with keyboard_decisions(approval, decided):
                ended = await stream.wait_for(
                    lambda e: e.get("approval_id") == approval["id"] and e.get("type") != "pending_not_found",
                    HITL_TIMEOUT + CALL_TIMEOUT,
                )
            await asyncio.gather(*decided, return_exceptions=True)
        got, detail = await call
    assert ended is not None  # wait_for without stop() or quiet returns an event or raises
    outcome = {
        "pending_resolved": f"{ended.get('decision')} (by {ended.get('approver_id')})",
        "pending_timeout": "no answer: timed out",
    }.get(ended["type"], ended["type"])
    console.print(f"  decision: [bold]{outcome}[/]")
    allowed = ended["type"] == "pending_resolved" and ended.get("decision") in ("approve", "allow_once")
    return dataclasses.replace(step, expect="allow" if allowed else "deny"), got, detail


async def tour(auto_approve: bool) -> list[tuple[Step, Outcome]]:
    params = StdioServerParameters(
        command=CLI,
        args=["start", "--proxy", PROXY],  # not headless: it starts the manager and its web UI
        env={"MCP_ACP_HOME": str(HOME)},
    )
    outcomes = []
    # The proxy's stderr goes to a file so it does not interleave with the panels.
    with (HOME / "proxy-stderr.log").open("w") as errlog, anyio.fail_after(120 + HITL_TIMEOUT):
        async with stdio_client(params, errlog=errlog) as (read, write), ClientSession(read, write) as session:
            init = await session.initialize()
            server = init.server_info
            console.print(
                Panel(
                    f"server [bold]{server.name}[/] {server.version}, protocol {init.protocol_version}",
                    title="0. initialize (through the proxy)",
                    title_align="left",
                    border_style="green",
                )
            )
            tools = Table("tool", "description", title="tools/list", title_justify="left")
            for tool in (await session.list_tools()).tools:
                tools.add_row(tool.name, (tool.description or "").partition("\n")[0])
            console.print(tools)
            for n, step in enumerate(STEPS, start=1):
                if step.approval:
                    step, got, detail = await run_approval_step(session, n, step, auto_approve)
                else:
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
    console.print(
        Panel(
            Group(
                rows,
                Text(f"\noverall: {verdict['overall_status']}", style="bold"),
                Text("\nlast operations entries:\n", style="bold"),
                Text.from_ansi(recent),
            ),
            title="Audit trail (mcp-acp audit verify)",
            border_style="cyan",
        )
    )


def next_steps() -> None:
    # Spell out the full path when the venv's bin folder is not on PATH.
    command = "mcp-acp" if shutil.which("mcp-acp") == CLI else CLI
    log_dir = find_key(json.loads(cli("proxy", "show", PROXY, "--json")), "log_dir")
    console.print(
        Panel(
            f"Proxy log folder:   {log_dir}\n"
            f"Verify it any time: {command} audit verify --proxy {PROXY}   (with MCP_ACP_HOME={HOME})\n"
            f"Proxy stderr:       {HOME / 'proxy-stderr.log'}\n\n"
            "Connect a real MCP client to the same proxy:\n"
            f"  MCP_ACP_HOME={HOME} {command} install mcp-json --proxy {PROXY}\n"
            "and paste the printed entry into your client's MCP config.",
            title="Where to look next",
            border_style="cyan",
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m mcp_acp.demo", description=(__doc__ or "").partition("\n")[0])
    parser.add_argument(
        "--auto-approve",
        action="store_true",
        help="approve the write that asks a human through the approval API, without waiting "
        "(the default when stdin is not a terminal or CI is set)",
    )
    args = parser.parse_args()
    auto_approve = args.auto_approve or not sys.stdin.isatty() or bool(os.environ.get("CI"))
    os.environ["MCP_ACP_HOME"] = str(HOME)  # this process speaks to the demo proxy's socket too
    prepare()
    if auto_approve and not args.auto_approve:
        console.print(
            "[dim]No terminal to answer from (or CI is set): the demo approves the write itself (--auto-approve).[/]"
        )
    try:
        outcomes = anyio.run(tour, auto_approve)
    except TimeoutError:
        stop_manager()
        console.print(f"[bold red]The proxy did not answer in time; see {HOME / 'proxy-stderr.log'}[/]")
        raise SystemExit(1) from None
    except Exception as exc:
        stop_manager()
        console.print(f"[bold red]The session through the proxy failed: {exc!r}[/]")
        console.print(f"Proxy stderr: {HOME / 'proxy-stderr.log'}")
        raise SystemExit(1) from None
    matched = summary(outcomes)
    audit_trail()
    next_steps()
    if auto_approve:
        stop_manager()  # nobody is watching: leave no daemon behind
    else:
        console.print(
            f"The manager keeps serving the web UI (logs, audit, policy) until it has been idle for "
            f"5 minutes; stop it now with: MCP_ACP_HOME={HOME} {cli_command()} manager stop",
            soft_wrap=True,
        )
    if not matched:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
