"""`mcp-acp approvals watch`'s live flow: follow the approval events of the manager and of each
running proxy, print each request with the commands that decide it, and say when it ends.

While a watch follows a proxy, that proxy counts as having a UI to ask, so a headless host can
approve without a browser. Sources are re-checked every RESCAN_SECONDS, so proxies (and a manager)
that start later are picked up.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable

import httpx

from mcp_acp.cli.approvals_render import (
    duration_text,
    print_arguments,
    print_decide_commands,
    print_fields,
    remember_text,
    request_fields,
    what_of,
)
from mcp_acp.cli.output import console, terminal_safe
from mcp_acp.config import paths
from mcp_acp.config.store import list_proxy_names
from mcp_acp.localhttp import sse
from mcp_acp.localhttp.proxy_client import NotRunning, session_slots

RESCAN_SECONDS = 2.0


class Printer:
    """Turns approval events into terminal lines; remembers what waits, to name it when it ends."""

    def __init__(self) -> None:
        self.waiting: dict[str, dict] = {}

    def event(self, event: dict, proxy_name: str | None = None) -> None:
        kind = event.get("type")
        proxy_name = event.get("proxy_name") or proxy_name
        if kind == "snapshot":
            for approval in event.get("approvals") or []:
                self.created({**approval, "proxy_name": approval.get("proxy_name") or proxy_name})
        elif kind == "pending_created" and isinstance(event.get("approval"), dict):
            self.created({**event["approval"], "proxy_name": event["approval"].get("proxy_name") or proxy_name})
        elif kind == "pending_resolved":
            decision = str(event.get("decision") or "?")
            text = {"approve": "approved", "allow": "approved", "allow_once": "allowed once", "deny": "denied"}.get(
                decision, decision
            )
            colour = "red" if text == "denied" else "green"
            by = f" by {event['approver_id']}" if event.get("approver_id") else ""
            self.ended(event, f"[bold {colour}]{text}[/]{terminal_safe(by)}")
        elif kind == "pending_timeout":
            self.ended(event, "[bold yellow]timed out[/] (denied)")
        elif kind == "pending_cancelled":
            self.ended(event, f"[yellow]withdrawn[/] ({terminal_safe(str(event.get('reason') or 'cancelled'))})")
        elif kind == "proxy_disconnected" and proxy_name:
            self.proxy_gone(proxy_name)

    def created(self, approval: dict) -> None:
        if not approval.get("id") or approval["id"] in self.waiting:
            return
        self.waiting[approval["id"]] = approval
        stamp = time.strftime("%H:%M:%S")
        console.print(
            f"\n[dim]{stamp}[/] [bold yellow]Approval needed[/] on proxy "
            f"[bold]{terminal_safe(approval['proxy_name'] or '?')}[/]: id [bold]{terminal_safe(approval['id'])}[/]"
        )
        rows = [*request_fields(approval), ("rule", approval.get("rule_id") or "?")]
        expires = approval.get("expires_in_seconds", approval.get("timeout_seconds"))
        print_fields(rows)
        print_arguments(approval, "  ")
        console.print(f"  remember   {terminal_safe(remember_text(approval))}")
        console.print(f"  expires in {duration_text(expires)}")
        print_decide_commands(approval)

    def ended(self, event: dict, how: str) -> None:
        approval = self.waiting.pop(str(event.get("approval_id")), None)
        what = f" ({what_of(approval)})" if approval else ""
        console.print(
            f"[dim]{time.strftime('%H:%M:%S')}[/] approval {terminal_safe(str(event.get('approval_id')))}"
            f"{terminal_safe(what)}: {how}"
        )

    def proxy_gone(self, proxy_name: str) -> None:
        for approval_id in [key for key, value in self.waiting.items() if value.get("proxy_name") == proxy_name]:
            self.waiting.pop(approval_id)


async def follow_events(
    socket_path: str, url_path: str, on_event: Callable[[dict], None], on_open: Callable[[], None] = lambda: None
) -> None:
    """Follow one SSE stream over a Unix socket until it ends; NotRunning when nothing answers.
    `on_open` runs at the first event: the server counts us as following from then on."""
    opened = False
    async for event in sse.follow(socket_path, url_path):
        if not opened:
            opened = True
            on_open()
        on_event(event)


def socket_answers(path) -> bool:
    from mcp_acp.localhttp.server import socket_accepts

    return socket_accepts(path)


def manager_proxies() -> list[str] | None:
    """The proxies registered with the running manager; None when no manager runs."""
    from mcp_acp.localhttp.manager_client import ManagerNotRunning, call_manager

    try:
        status = call_manager("GET", "/api/manager/status", timeout=3.0)
    except (ManagerNotRunning, httpx.HTTPError):
        return None
    names = status.get("proxies") if isinstance(status, dict) else None
    return [str(item) for item in names] if isinstance(names, list) else []


class Watch:
    """Every source of approval events: the manager's stream for the proxies registered with it,
    each other running proxy's own stream; re-checked every RESCAN_SECONDS, so proxies (and a
    manager) that start later are picked up."""

    def __init__(self, only: str | None) -> None:
        self.only = only
        self.printer = Printer()
        self.tasks: dict[str, asyncio.Task] = {}  # "manager" or "proxy:NAME:SESSION"
        self.said_waiting = False

    def _direct(self) -> set[str]:
        return {key.split(":")[1] for key in self.tasks if key.startswith("proxy:")}

    def _from_manager(self, event: dict) -> None:
        if event.get("proxy_name") not in self._direct():  # a proxy followed directly speaks for itself
            self.printer.event(event)

    def _start(self, key: str, socket_path, url_path: str, on_event: Callable[[dict], None], what: str) -> None:
        def opened() -> None:
            console.print(f"[dim]{time.strftime('%H:%M:%S')}[/] following {what}")

        self.tasks[key] = asyncio.create_task(follow_events(str(socket_path), url_path, on_event, opened))

    def _reap(self) -> None:
        for key, task in list(self.tasks.items()):
            if not task.done():
                continue
            del self.tasks[key]
            error = None if task.cancelled() else task.exception()
            quiet = (NotRunning, httpx.RemoteProtocolError, httpx.ReadError)  # it stopped: no more to say
            reason = "" if error is None or isinstance(error, quiet) else f": {error}"
            if key == "manager":
                console.print(f"[dim]{time.strftime('%H:%M:%S')} the manager's event stream ended{reason}[/]")
            else:
                proxy_name = key.split(":")[1]
                if proxy_name in self._direct():
                    continue  # another client's session of it still runs
                self.printer.proxy_gone(proxy_name)
                console.print(
                    f"[dim]{time.strftime('%H:%M:%S')} proxy '{terminal_safe(proxy_name)}' stopped{reason}[/]"
                )

    def _probe(self) -> tuple[list[str] | None, list[tuple[str, int]]]:
        """(the proxies registered with a running manager, or None; the (proxy, session) whose
        socket answers: each MCP client runs its own session). Blocking: run in a thread, so
        events keep flowing meanwhile."""
        managed = manager_proxies() if self.only is None else None
        names = [self.only] if self.only else list_proxy_names()
        return managed, [
            (name, slot)
            for name in names
            for slot in session_slots(name)
            if socket_answers(paths.proxy_socket_path(name, slot))
        ]

    async def _scan(self) -> None:
        managed, answering = await asyncio.to_thread(self._probe)
        self._reap()
        if managed is not None and "manager" not in self.tasks:
            self._start(
                "manager",
                paths.manager_api_socket_path(),
                "/api/events",
                self._from_manager,
                "the manager's events (every proxy registered with it)",
            )
        for proxy_name, slot in answering:
            key = f"proxy:{proxy_name}:{slot}"
            if key in self.tasks or ("manager" in self.tasks and proxy_name in (managed or [])):
                continue

            def on_event(event: dict, proxy_name: str = proxy_name) -> None:
                self.printer.event(event, proxy_name)

            self._start(
                key,
                paths.proxy_socket_path(proxy_name, slot),
                "/api/approvals/pending",
                on_event,
                f"proxy '{terminal_safe(proxy_name)}'",
            )
        if not self.tasks and not self.said_waiting:
            what = f"proxy '{terminal_safe(self.only)}' to start" if self.only else "a proxy to start"
            console.print(f"[dim]Nothing to follow yet: waiting for {what}.[/]")
        self.said_waiting = not self.tasks

    async def run(self) -> None:
        # SIGTERM ends the watch as Ctrl-C does: quietly, with exit code 0.
        task = asyncio.current_task()
        assert task is not None  # run() is awaited inside asyncio.run
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        try:
            while True:
                await self._scan()
                await asyncio.sleep(RESCAN_SECONDS)
        finally:
            for task in self.tasks.values():
                task.cancel()
            await asyncio.gather(*self.tasks.values(), return_exceptions=True)
