"""`mcp-acp approvals …`: see and decide requests that wait for a human, from a terminal (SPEC §2.6,
§6; issue 7), and list or clear the approvals a proxy remembers.

Everything goes over each proxy's 0600 Unix socket, as the web UI's requests do through the
manager. `watch` follows the approval events live: while it runs, the proxies it follows count
as having a UI to ask, so a headless host can approve without a browser.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import shutil
import signal
import time
from collections.abc import Callable

import click
import httpx
from rich.table import Table

from mcp_acp.cli.output import console, err_console, executable_command, fail, terminal_safe
from mcp_acp.cli.proxy_api import NotRunning
from mcp_acp.config import paths
from mcp_acp.config.store import (
    ConfigError,
    list_proxy_names,
    load_manager_config,
    load_proxy_config,
)
from mcp_acp.proxy.argument_display import fold_lines

APPROVER_HEADER = "X-Approver-Token"
DECISIONS = {"approve": "approved", "allow-once": "allowed once", "deny": "denied"}
APPROVAL_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
RESCAN_SECONDS = 2.0
STREAM_TIMEOUT = httpx.Timeout(10.0, read=None)  # an event stream may stay quiet for a long time


# --------------------------------------------------------------------------- talking to proxies


def _proxy_request(
    name: str,
    method: str,
    path: str,
    *,
    json_body: object = None,
    headers: dict | None = None,
    params: dict | None = None,
    timeout: float = 10,
) -> httpx.Response:
    """One request over proxy `name`'s socket; NotRunning when nothing answers there."""
    transport = httpx.HTTPTransport(uds=str(paths.proxy_socket_path(name)))
    try:
        with httpx.Client(transport=transport, timeout=timeout) as client:
            return client.request(method, f"http://proxy{path}", json=json_body, headers=headers, params=params)
    except (httpx.ConnectError, FileNotFoundError, ConnectionRefusedError):
        raise NotRunning(name) from None


def _error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip() or f"HTTP {response.status_code}"
    detail = body.get("detail", body) if isinstance(body, dict) else body
    if isinstance(detail, dict):
        return str(detail.get("message") or detail.get("error") or detail)
    return str(detail)


def _get_json(name: str, path: str) -> dict | list:
    """GET `path` from a running proxy; an error answer ends the command with its message."""
    try:
        response = _proxy_request(name, "GET", path)
    except httpx.HTTPError as exc:
        fail(
            f"proxy '{name}' did not answer on {paths.proxy_socket_path(name)} ({exc}); is it still starting? "
            "Try again."
        )
    if response.status_code >= 400:
        fail(f"proxy '{name}' refused {path}: {_error_text(response)}")
    return response.json()


def _checked_names(name: str | None) -> list[str]:
    """The proxy asked for (which must exist), or every configured one."""
    if name is not None:
        load_proxy_config(name)  # an unknown name fails here, listing the configured ones
        return [name]
    return list_proxy_names()


def _pending_of(names: list[str]) -> tuple[list[str], list[dict]]:
    """(the running proxies among `names`, every approval waiting on them)."""
    running, waiting = [], []
    for proxy_name in names:
        try:
            approvals = _get_json(proxy_name, "/api/approvals/pending/list")
        except NotRunning:
            continue
        running.append(proxy_name)
        waiting.extend({**approval, "proxy_name": approval.get("proxy_name") or proxy_name} for approval in approvals)
    return running, waiting


def _target(approval: dict) -> str:
    if approval.get("source_path") or approval.get("dest_path"):
        return f"{approval.get('source_path') or '?'} → {approval.get('dest_path') or '?'}"
    return approval.get("path") or "-"


def _what(approval: dict) -> str:
    """The tool and what it touches ("write_file on /x/y"), or just the tool."""
    target = _target(approval)
    return f"{approval.get('tool_name') or '?'}{f' on {target}' if target != '-' else ''}"


def _effects(approval: dict) -> str:
    return ", ".join(approval.get("side_effects") or []) or "none known"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = max(0, round(seconds))
    if seconds < 120:
        return f"{seconds} s"
    return f"{seconds // 60} min" + (f" {seconds % 60} s" if seconds % 60 else "")


def _cli_prefix() -> str:
    """How to run this CLI again, as a user would type it (with this MCP_ACP_HOME, if one is set)."""
    program, extra = executable_command()
    found = shutil.which("mcp-acp")
    command = (
        "mcp-acp" if found and os.path.realpath(found) == os.path.realpath(program) else shlex.join([program, *extra])
    )
    home = os.environ.get("MCP_ACP_HOME")
    return f"MCP_ACP_HOME={shlex.quote(home)} {command}" if home else command


def _remember(approval: dict) -> dict | None:
    """The "allow and remember" offer of `approval` when it is available, else None."""
    offer = approval.get("remember")
    if isinstance(offer, dict):
        return offer if offer.get("available") is True else None
    if approval.get("can_cache"):  # a proxy from before the `remember` field: say only how long
        ttl = approval.get("cache_ttl_seconds")
        return {
            "available": True,
            "ttl_seconds": ttl,
            "label": f"Allow and remember for {_duration(ttl)}" if ttl else "Allow and remember",
        }
    return None


def _decide_commands(approval: dict) -> list[tuple[str, str]]:
    """How to answer, the default first: allowing this one call. Remembering is offered only when
    the proxy may remember this approval, labelled with what it would cover and for how long."""
    base = f"{_cli_prefix()} approvals decide {approval['id']} --proxy {shlex.quote(approval['proxy_name'])}"
    commands = [("Allow once (this call only; the default answer)", f"{base} --allow-once")]
    remember = _remember(approval)
    if remember:
        commands.append((str(remember.get("label") or "Allow and remember"), f"{base} --approve"))
    commands.append(("Deny", f"{base} --deny"))
    return commands


def _remember_text(approval: dict) -> str:
    """What remembering would cover and for how long, or why it is not offered."""
    offer = approval.get("remember")
    if isinstance(offer, dict) and offer.get("label"):
        return str(offer["label"])
    remember = _remember(approval)
    return str(remember["label"]) if remember else "Not offered: this approval cannot be remembered"


def _size(approval: dict) -> str:
    size = approval.get("arguments_size")
    return f"{size:,} bytes of JSON" if isinstance(size, int) else "size unknown"


def _argument_lines(approval: dict) -> list[str]:
    """Every argument, long ones folded with their full size and the `approvals show` hint."""
    arguments = approval.get("arguments")
    if not arguments:
        return []
    return fold_lines(arguments, approval.get("id"))


def _print_arguments(approval: dict, indent: str) -> None:
    lines = _argument_lines(approval)
    if not lines:
        console.print(f"{indent}arguments  none")
        return
    console.print(f"{indent}arguments  {_size(approval)}, secret-looking values redacted:")
    for line in lines:
        console.print(f"{indent}  {terminal_safe(line)}")


@click.group()
def approvals() -> None:
    """See and decide requests waiting for approval; list and clear remembered approvals."""


# --------------------------------------------------------------------------- pending


@approvals.command()
@click.option("--proxy", "-p", "name", help="Only this proxy (default: every running proxy).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of the waiting approvals.")
def pending(name: str | None, as_json: bool) -> None:
    """List the requests waiting for approval."""
    names = _checked_names(name)
    running, waiting = _pending_of(names)
    if as_json:
        click.echo(json.dumps(waiting, indent=2))
        return
    if not running:
        where = f"Proxy '{name}' is not running" if name else "No proxy is running"
        console.print(f"{where}, so no request is waiting for approval.")
        return
    if not waiting:
        console.print(f"No request is waiting for approval (checked: {', '.join(running)}).")
        return
    table = Table(title="Waiting for approval", title_justify="left")
    table.add_column("proxy", overflow="fold")
    table.add_column("id", no_wrap=True, min_width=16)  # never shortened: it is what `decide` needs
    for column in ("tool", "path", "effects", "subject"):
        table.add_column(column, overflow="fold")
    table.add_column("expires in", no_wrap=True)
    for approval in waiting:
        table.add_row(
            terminal_safe(approval["proxy_name"]),
            terminal_safe(approval["id"]),
            terminal_safe(approval.get("tool_name") or "?"),
            terminal_safe(_target(approval)),
            terminal_safe(_effects(approval)),
            terminal_safe(approval.get("subject_id") or "?"),
            _duration(approval.get("expires_in_seconds")),
        )
    console.print(table)
    for approval in waiting:
        console.print(f"\n[bold]{terminal_safe(approval['id'])}[/] ({terminal_safe(_what(approval))}):")
        _print_arguments(approval, "  ")
        console.print(f"  remember   {terminal_safe(_remember_text(approval))}")
    console.print(
        "\nSee one whole with [bold]mcp-acp approvals show ID[/]; decide it with "
        "[bold]mcp-acp approvals decide ID --allow-once[/] (or --approve to remember it, --deny)."
    )


# --------------------------------------------------------------------------- show


@approvals.command()
@click.argument("approval_id")
@click.option("--proxy", "-p", "name", help="The proxy it waits on (default: look in every running proxy).")
@click.option("--json", "as_json", is_flag=True, help="Print the approval as JSON, exactly as the proxy serves it.")
def show(approval_id: str, name: str | None, as_json: bool) -> None:
    """Print the waiting request APPROVAL_ID whole: every argument, every character (secrets redacted)."""
    if not APPROVAL_ID.match(approval_id):
        fail(f"{approval_id!r} is not an approval id; 'mcp-acp approvals pending' lists them.", exit_code=2)
    approval = _find(approval_id, _checked_names(name), name)
    if as_json:
        click.echo(json.dumps(approval, indent=2))
        return
    console.print(
        f"Approval [bold]{terminal_safe(approval['id'])}[/] waits on proxy "
        f"[bold]{terminal_safe(approval['proxy_name'])}[/] "
        f"(expires in {_duration(approval.get('expires_in_seconds'))}):"
    )
    rows = [
        ("tool", approval.get("tool_name") or "?"),
        ("path", _target(approval)),
        ("effects", _effects(approval)),
        ("subject", approval.get("subject_id") or "?"),
        ("server", approval.get("backend_id") or "?"),
        ("rule", approval.get("rule_id") or "?"),
        ("policy", approval.get("policy_version") or "?"),
        ("args hash", approval.get("args_hash") or "?"),
    ]
    for label, value in rows:
        console.print(f"  {label:<10} {terminal_safe(value)}")
    console.print(f"  arguments  {_size(approval)}, shown whole; secret-looking values redacted:")
    # Every key, item and character: JSON text, one terminal line per JSON line (nothing folded).
    for line in json.dumps(approval.get("arguments") or {}, indent=2, ensure_ascii=False).splitlines():
        console.print(f"    {terminal_safe(line)}")
    console.print(f"  remember   {terminal_safe(_remember_text(approval))}")
    for label, command in _decide_commands(approval):
        console.print(f"  [dim]{terminal_safe(label)}:[/]")
        console.print(f"    {terminal_safe(command)}")


# --------------------------------------------------------------------------- decide


def _approver_headers() -> dict[str, str]:
    """In OIDC mode the decider proves who they are with their stored login (SPEC §2.6)."""
    try:
        manager = load_manager_config()
    except ConfigError:
        return {}  # no manager.json: local mode is all there can be; the proxy says otherwise if not
    if manager.auth.mode != "oidc":
        return {}
    from mcp_acp.identity import tokens

    stored = tokens.load()
    if stored is None:
        fail(
            "you are not signed in, and only the signed-in user who made a request may decide it. "
            "Run 'mcp-acp auth login', then decide again."
        )
    if stored.expires_in() <= 0:
        fail(
            "your login has expired. Run 'mcp-acp auth login' (or wait for a running proxy to renew it), "
            "then decide again."
        )
    return {APPROVER_HEADER: stored.access_token}


def _find(approval_id: str, names: list[str], only: str | None) -> dict:
    running, waiting = _pending_of(names)
    for approval in waiting:
        if approval.get("id") == approval_id:
            return approval
    if only and not running:
        fail(f"proxy '{only}' is not running, so no approval {approval_id} waits there.")
    if not running:
        fail(f"no proxy is running, so no approval {approval_id} is waiting.")
    where = f"on proxy '{only}'" if only else f"on any running proxy ({', '.join(running)})"
    fail(
        f"no approval {approval_id} is waiting {where}: it was decided, withdrawn or timed out. "
        "See what waits with 'mcp-acp approvals pending'."
    )


@approvals.command()
@click.argument("approval_id")
@click.option("--allow-once", is_flag=True, help="Allow this one call only.")
@click.option(
    "--approve",
    is_flag=True,
    help="Allow it, and remember that for a while when the proxy offers that ('approvals show ID' says "
    "what it covers); otherwise the same as --allow-once.",
)
@click.option("--deny", is_flag=True, help="Refuse it.")
@click.option("--proxy", "-p", "name", help="The proxy it waits on (default: look in every running proxy).")
def decide(approval_id: str, approve: bool, allow_once: bool, deny: bool, name: str | None) -> None:
    """Approve, allow once or deny the waiting request APPROVAL_ID."""
    chosen = [decision for decision, flag in (("approve", approve), ("allow-once", allow_once), ("deny", deny)) if flag]
    if len(chosen) != 1:
        fail("give exactly one of --approve, --allow-once or --deny.", exit_code=2)
    decision = chosen[0]
    if not APPROVAL_ID.match(approval_id):
        fail(f"{approval_id!r} is not an approval id; 'mcp-acp approvals pending' lists them.", exit_code=2)
    headers = _approver_headers()  # no usable login: say so before looking for anything
    approval = _find(approval_id, _checked_names(name), name)
    proxy_name = approval["proxy_name"]
    binding = {"args_hash": approval.get("args_hash"), "policy_version": approval.get("policy_version")}
    try:
        response = _proxy_request(
            proxy_name, "POST", f"/api/approvals/pending/{approval_id}/{decision}", json_body=binding, headers=headers
        )
    except NotRunning:
        fail(f"proxy '{proxy_name}' stopped before the decision reached it; the request it waited on is gone.")
    except httpx.HTTPError as exc:
        fail(f"proxy '{proxy_name}' did not answer ({exc}); see 'mcp-acp approvals pending' for what still waits.")
    if response.status_code == 404:
        fail(f"approval {approval_id} is no longer waiting (decided, withdrawn or timed out meanwhile).")
    if response.status_code == 401:
        fail(
            f"proxy '{proxy_name}' did not accept your login ({_error_text(response)}). "
            "Run 'mcp-acp auth login', then decide again."
        )
    if response.status_code == 403:
        fail(f"refused: {_error_text(response)}. Sign in as the user who made the request ('mcp-acp auth login').")
    if response.status_code == 409:
        fail(
            "the waiting request is no longer the one listed (its arguments or the policy changed). "
            "List them again with 'mcp-acp approvals pending'."
        )
    if response.status_code >= 400:
        fail(f"proxy '{proxy_name}' refused the decision: {_error_text(response)}")
    colour = "red" if decision == "deny" else "green"
    console.print(
        f"[bold {colour}]{DECISIONS[decision].capitalize()}[/]: {terminal_safe(_what(approval))} "
        f"(proxy '{terminal_safe(proxy_name)}', approval {approval_id})."
    )
    remember = _remember(approval)
    if decision == "approve" and remember:
        scope = remember.get("scope") or f"{approval.get('tool_name') or '?'}"
        console.print(
            f"Remembered for {_duration(remember.get('ttl_seconds'))}: {terminal_safe(scope)}, for the same "
            f"user (see 'mcp-acp approvals cache --proxy {terminal_safe(proxy_name)}')."
        )


# --------------------------------------------------------------------------- cached approvals


def _known_proxy(name: str) -> str:
    load_proxy_config(name)  # an unknown name fails here, listing the configured ones
    return name


def _cache_request(name: str, method: str, path: str, params: dict | None = None) -> httpx.Response:
    try:
        return _proxy_request(name, method, path, params=params)
    except NotRunning:
        fail(
            f"proxy '{name}' is not running; a proxy remembers approvals only while it runs, so there is "
            "nothing to show or clear."
        )
    except httpx.HTTPError as exc:
        fail(
            f"proxy '{name}' did not answer on {paths.proxy_socket_path(name)} ({exc}); is it still starting? "
            "Try again."
        )


def _cached(name: str) -> dict:
    response = _cache_request(name, "GET", "/api/approvals/cached")
    if response.status_code >= 400:
        fail(f"proxy '{name}' refused to list its remembered approvals: {_error_text(response)}")
    return response.json()


@approvals.command()
@click.option("--proxy", "-p", "name", required=True, help="The proxy whose remembered approvals to list.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list; each entry has its number.")
def cache(name: str, as_json: bool) -> None:
    """List the approvals a running proxy remembers, numbered, with their expiry."""
    cached = _cached(_known_proxy(name))
    entries = [{"entry": number, **item} for number, item in enumerate(cached.get("approvals") or [], start=1)]
    if as_json:
        click.echo(json.dumps(entries, indent=2))
        return
    if not entries:
        console.print(f"Proxy '{terminal_safe(name)}' remembers no approvals.")
        return
    table = Table(
        "#",
        "subject",
        "tool",
        "path",
        "age",
        "expires in",
        title=f"Approvals remembered by '{terminal_safe(name)}' (TTL {_duration(cached.get('ttl_seconds'))})",
        title_justify="left",
    )
    for item in entries:
        table.add_row(
            str(item["entry"]),
            terminal_safe(item.get("subject_id") or "?"),
            terminal_safe(item.get("tool_name") or "?"),
            terminal_safe(item.get("path") or "-"),
            _duration(item.get("age_seconds")),
            _duration(item.get("expires_in_seconds")),
        )
    console.print(table)
    console.print(
        f"Forget one with [bold]mcp-acp approvals clear --proxy {terminal_safe(name)} --entry N[/], or all with --all."
    )


@approvals.command()
@click.option("--proxy", "-p", "name", required=True, help="The proxy whose remembered approvals to clear.")
@click.option("--all", "clear_all", is_flag=True, help="Forget every remembered approval.")
@click.option("--entry", type=int, help="Forget entry N of 'mcp-acp approvals cache'.")
def clear(name: str, clear_all: bool, entry: int | None) -> None:
    """Forget remembered approvals: all of them, or one entry; the next such call asks again."""
    if clear_all == (entry is not None):
        fail("give exactly one of --all or --entry N (N from 'mcp-acp approvals cache --proxy NAME').", exit_code=2)
    _known_proxy(name)
    if clear_all:
        response = _cache_request(name, "DELETE", "/api/approvals/cached")
        if response.status_code >= 400:
            fail(f"proxy '{name}' refused to clear its approvals: {_error_text(response)}")
        cleared = response.json().get("cleared", 0)
        console.print(
            f"Cleared {cleared} remembered approval{'s' if cleared != 1 else ''} of proxy '{terminal_safe(name)}'."
        )
        return
    items = _cached(name).get("approvals") or []
    assert entry is not None  # exactly one of --all and --entry, checked above
    if not 1 <= entry <= len(items):
        fail(
            f"proxy '{name}' has no entry {entry} ({len(items)} remembered approvals); "
            f"see 'mcp-acp approvals cache --proxy {name}'."
        )
    item = items[entry - 1]
    params = {"subject_id": item["subject_id"], "tool_name": item["tool_name"]}
    if item.get("path"):
        params["path"] = item["path"]
    response = _cache_request(name, "DELETE", "/api/approvals/cached/entry", params=params)
    if response.status_code == 404:
        fail(
            f"entry {entry} is already gone (it expired or was cleared); see 'mcp-acp approvals cache --proxy {name}'."
        )
    if response.status_code >= 400:
        fail(f"proxy '{name}' refused to forget entry {entry}: {_error_text(response)}")
    console.print(
        f"Forgot entry {entry}: {terminal_safe(item['tool_name'])} on {terminal_safe(item.get('path') or '-')} "
        f"for {terminal_safe(item['subject_id'])} (proxy '{terminal_safe(name)}')."
    )


# --------------------------------------------------------------------------- watch


class _Printer:
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
        rows = [
            ("tool", approval.get("tool_name") or "?"),
            ("path", _target(approval)),
            ("effects", _effects(approval)),
            ("subject", approval.get("subject_id") or "?"),
            ("rule", approval.get("rule_id") or "?"),
        ]
        expires = approval.get("expires_in_seconds", approval.get("timeout_seconds"))
        for label, value in rows:
            console.print(f"  {label:<10} {terminal_safe(value)}")
        _print_arguments(approval, "  ")
        console.print(f"  remember   {terminal_safe(_remember_text(approval))}")
        console.print(f"  expires in {_duration(expires)}")
        for label, command in _decide_commands(approval):
            console.print(f"  [dim]{terminal_safe(label)}:[/]")
            console.print(f"    {terminal_safe(command)}")

    def ended(self, event: dict, how: str) -> None:
        approval = self.waiting.pop(str(event.get("approval_id")), None)
        what = f" ({_what(approval)})" if approval else ""
        console.print(
            f"[dim]{time.strftime('%H:%M:%S')}[/] approval {terminal_safe(str(event.get('approval_id')))}"
            f"{terminal_safe(what)}: {how}"
        )

    def proxy_gone(self, proxy_name: str) -> None:
        for approval_id in [key for key, value in self.waiting.items() if value.get("proxy_name") == proxy_name]:
            self.waiting.pop(approval_id)


async def _follow(
    socket_path: str, url_path: str, on_event: Callable[[dict], None], on_open: Callable[[], None] = lambda: None
) -> None:
    """Follow one SSE stream over a Unix socket until it ends; NotRunning when nothing answers.
    `on_open` runs at the first event: the server counts us as following from then on."""
    transport = httpx.AsyncHTTPTransport(uds=socket_path)
    opened = False
    try:
        async with (
            httpx.AsyncClient(transport=transport, timeout=STREAM_TIMEOUT) as client,
            client.stream("GET", f"http://local{url_path}", headers={"Accept": "text/event-stream"}) as response,
        ):
            if response.status_code != 200:
                raise httpx.HTTPStatusError(f"HTTP {response.status_code}", request=response.request, response=response)
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue
                try:
                    event = json.loads(line[5:])
                except ValueError:
                    continue
                if not opened:
                    opened = True
                    on_open()
                if isinstance(event, dict):
                    on_event(event)
    except (httpx.ConnectError, FileNotFoundError, ConnectionRefusedError):
        raise NotRunning(socket_path) from None


def _socket_answers(path) -> bool:
    from mcp_acp.manager.deletion import socket_accepts

    return socket_accepts(path)


def _manager_proxies() -> list[str] | None:
    """The proxies registered with the running manager; None when no manager runs."""
    from mcp_acp.manager.api_client import ManagerNotRunning, call_manager

    try:
        status = call_manager("GET", "/api/manager/status", timeout=3.0)
    except (ManagerNotRunning, httpx.HTTPError):
        return None
    names = status.get("proxies") if isinstance(status, dict) else None
    return [str(item) for item in names] if isinstance(names, list) else []


class _Watch:
    """Every source of approval events: the manager's stream for the proxies registered with it,
    each other running proxy's own stream; re-checked every RESCAN_SECONDS, so proxies (and a
    manager) that start later are picked up."""

    def __init__(self, only: str | None) -> None:
        self.only = only
        self.printer = _Printer()
        self.tasks: dict[str, asyncio.Task] = {}  # "manager" or "proxy:NAME"
        self.said_waiting = False

    def _direct(self) -> set[str]:
        return {key.removeprefix("proxy:") for key in self.tasks if key.startswith("proxy:")}

    def _from_manager(self, event: dict) -> None:
        if event.get("proxy_name") not in self._direct():  # a proxy followed directly speaks for itself
            self.printer.event(event)

    def _start(self, key: str, socket_path, url_path: str, on_event: Callable[[dict], None], what: str) -> None:
        def opened() -> None:
            console.print(f"[dim]{time.strftime('%H:%M:%S')}[/] following {what}")

        self.tasks[key] = asyncio.create_task(_follow(str(socket_path), url_path, on_event, opened))

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
                proxy_name = key.removeprefix("proxy:")
                self.printer.proxy_gone(proxy_name)
                console.print(
                    f"[dim]{time.strftime('%H:%M:%S')} proxy '{terminal_safe(proxy_name)}' stopped{reason}[/]"
                )

    def _probe(self) -> tuple[list[str] | None, list[str]]:
        """(the proxies registered with a running manager, or None; the proxies whose socket answers).
        Blocking: run in a thread, so events keep flowing meanwhile."""
        managed = _manager_proxies() if self.only is None else None
        names = [self.only] if self.only else list_proxy_names()
        return managed, [name for name in names if _socket_answers(paths.proxy_socket_path(name))]

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
        for proxy_name in answering:
            key = f"proxy:{proxy_name}"
            if key in self.tasks or ("manager" in self.tasks and proxy_name in (managed or [])):
                continue

            def on_event(event: dict, proxy_name: str = proxy_name) -> None:
                self.printer.event(event, proxy_name)

            self._start(
                key,
                paths.proxy_socket_path(proxy_name),
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


@approvals.command()
@click.option("--proxy", "-p", "name", help="Only this proxy (default: every running proxy).")
def watch(name: str | None) -> None:
    """Follow approval requests live and print how to decide each one (Ctrl-C to stop).

    While this runs, the proxies it follows ask here instead of denying at once: decide from
    another terminal with the 'mcp-acp approvals decide' commands it prints."""
    if name is not None:
        load_proxy_config(name)
    console.print(
        f"Watching for approval requests{f' on proxy {terminal_safe(name)!r}' if name else ''} (Ctrl-C to stop)."
    )
    try:
        asyncio.run(_Watch(name).run())
    except (KeyboardInterrupt, asyncio.CancelledError):
        err_console.print("Stopped watching.")
