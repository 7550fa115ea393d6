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
import json
import os
import sys
from typing import Any

import anyio
from mcp import ClientSession, StdioServerParameters, stdio_client
from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from mcp_acp.demo.approval import run_approval_step
from mcp_acp.demo.gateway import gateway_tour
from mcp_acp.demo.home import CLI, HITL_TIMEOUT, HOME, PROXY, cli, cli_command, console, prepare, stop_manager
from mcp_acp.demo.steps import STEPS, Outcome, Step, run_step, show_step


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
    return outcomes + await gateway_tour(len(STEPS) + 1)


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
    command = cli_command()  # the full path when the venv's bin folder is not on PATH
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
