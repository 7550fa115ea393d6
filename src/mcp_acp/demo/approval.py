"""The demo's write that waits for a human: follow the proxy's approval stream (as the web UI
or `mcp-acp approvals watch` would), show every way to decide, then decide through the proxy's
real approval API (--auto-approve) or wait for the keyboard, the CLI or the web UI.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import sys
from typing import Any, Self

import anyio
import httpx
from mcp import ClientSession
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from mcp_acp.demo.home import CALL_TIMEOUT, HITL_TIMEOUT, HOME, PROXY, cli_command, console, open_web_ui
from mcp_acp.demo.steps import Outcome, Step, run_step


def proxy_socket() -> str:
    from mcp_acp.config import paths  # under MCP_ACP_HOME=HOME, set by main()

    return str(paths.proxy_socket_path(PROXY))


def proxy_client(**kwargs: Any) -> httpx.AsyncClient:
    """HTTP to the proxy's API over its 0600 Unix socket, as the CLI and the manager speak to it."""
    from mcp_acp.localhttp.proxy_client import async_proxy_client

    return async_proxy_client(proxy_socket(), **kwargs)


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
        from mcp_acp.localhttp import sse

        async for event in sse.follow(proxy_socket(), "/api/approvals/pending"):
            self.events.append(event)

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
