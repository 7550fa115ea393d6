"""`mcp-acp approvals …`: see and decide requests that wait for a human, from a terminal (docs/approvals.md,
docs/cli.md; issue 7), and list or clear the approvals a proxy remembers.

Everything goes over each proxy's 0600 Unix socket, as the web UI's requests do through the
manager. `watch` follows the approval events live: while it runs, the proxies it follows count
as having a UI to ask, so a headless host can approve without a browser.

This module holds the command group; approvals_client.py talks to the proxies,
approvals_render.py describes an approval, approvals_watch.py runs the live flow.
"""

from __future__ import annotations

import asyncio
import json
import re

import click
import httpx
from rich.table import Table

from mcp_acp.cli.approvals_client import (
    approver_headers,
    cache_request,
    cached_approvals,
    checked_names,
    error_text,
    find_waiting,
    known_proxy,
    pending_of,
    proxy_request,
)
from mcp_acp.cli.approvals_render import (
    duration_text,
    effects_of,
    print_arguments,
    print_decide_commands,
    print_fields,
    remember_offer,
    remember_text,
    request_fields,
    size_text,
    target_of,
    what_of,
)
from mcp_acp.cli.approvals_watch import Watch
from mcp_acp.cli.output import console, err_console, fail, terminal_safe
from mcp_acp.config.store import load_proxy_config
from mcp_acp.localhttp.proxy_client import NotRunning

DECISIONS = {"approve": "approved", "allow-once": "allowed once", "deny": "denied"}
APPROVAL_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@click.group()
def approvals() -> None:
    """See and decide requests waiting for approval; list and clear remembered approvals."""


# --------------------------------------------------------------------------- pending


@approvals.command()
@click.option("--proxy", "-p", "name", help="Only this proxy (default: every running proxy).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of the waiting approvals.")
def pending(name: str | None, as_json: bool) -> None:
    """List the requests waiting for approval."""
    names = checked_names(name)
    running, waiting = pending_of(names)
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
            terminal_safe(target_of(approval)),
            terminal_safe(effects_of(approval)),
            terminal_safe(approval.get("subject_id") or "?"),
            duration_text(approval.get("expires_in_seconds")),
        )
    console.print(table)
    for approval in waiting:
        console.print(f"\n[bold]{terminal_safe(approval['id'])}[/] ({terminal_safe(what_of(approval))}):")
        print_arguments(approval, "  ")
        console.print(f"  remember   {terminal_safe(remember_text(approval))}")
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
    approval = find_waiting(approval_id, checked_names(name), name)
    if as_json:
        click.echo(json.dumps(approval, indent=2))
        return
    console.print(
        f"Approval [bold]{terminal_safe(approval['id'])}[/] waits on proxy "
        f"[bold]{terminal_safe(approval['proxy_name'])}[/] "
        f"(expires in {duration_text(approval.get('expires_in_seconds'))}):"
    )
    rows = [
        *request_fields(approval),
        ("server", approval.get("backend_id") or "?"),
        ("rule", approval.get("rule_id") or "?"),
        ("policy", approval.get("policy_version") or "?"),
        ("args hash", approval.get("args_hash") or "?"),
    ]
    print_fields(rows)
    console.print(f"  arguments  {size_text(approval)}, shown whole; secret-looking values redacted:")
    # Every key, item and character: JSON text, one terminal line per JSON line (nothing folded).
    for line in json.dumps(approval.get("arguments") or {}, indent=2, ensure_ascii=False).splitlines():
        console.print(f"    {terminal_safe(line)}")
    console.print(f"  remember   {terminal_safe(remember_text(approval))}")
    print_decide_commands(approval)


# --------------------------------------------------------------------------- decide


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
    headers = approver_headers()  # no usable login: say so before looking for anything
    approval = find_waiting(approval_id, checked_names(name), name)
    proxy_name = approval["proxy_name"]
    binding = {"args_hash": approval.get("args_hash"), "policy_version": approval.get("policy_version")}
    try:
        response = proxy_request(
            proxy_name,
            "POST",
            f"/api/approvals/pending/{approval_id}/{decision}",
            json=binding,
            headers=headers,
            slot=approval.get("session", 0),  # the client's process that holds the request
        )
    except NotRunning:
        fail(f"proxy '{proxy_name}' stopped before the decision reached it; the request it waited on is gone.")
    except httpx.HTTPError as exc:
        fail(f"proxy '{proxy_name}' did not answer ({exc}); see 'mcp-acp approvals pending' for what still waits.")
    if response.status_code == 404:
        fail(f"approval {approval_id} is no longer waiting (decided, withdrawn or timed out meanwhile).")
    if response.status_code == 401:
        fail(
            f"proxy '{proxy_name}' did not accept your login ({error_text(response)}). "
            "Run 'mcp-acp auth login', then decide again."
        )
    if response.status_code == 403:
        fail(f"refused: {error_text(response)}. Sign in as the user who made the request ('mcp-acp auth login').")
    if response.status_code == 409:
        fail(
            "the waiting request is no longer the one listed (its arguments or the policy changed). "
            "List them again with 'mcp-acp approvals pending'."
        )
    if response.status_code >= 400:
        fail(f"proxy '{proxy_name}' refused the decision: {error_text(response)}")
    colour = "red" if decision == "deny" else "green"
    console.print(
        f"[bold {colour}]{DECISIONS[decision].capitalize()}[/]: {terminal_safe(what_of(approval))} "
        f"(proxy '{terminal_safe(proxy_name)}', approval {approval_id})."
    )
    remember = remember_offer(approval)
    if decision == "approve" and remember:
        scope = remember.get("scope") or f"{approval.get('tool_name') or '?'}"
        console.print(
            f"Remembered for {duration_text(remember.get('ttl_seconds'))}: {terminal_safe(scope)}, for the same "
            f"user (see 'mcp-acp approvals cache --proxy {terminal_safe(proxy_name)}')."
        )


# --------------------------------------------------------------------------- cached approvals


@approvals.command()
@click.option("--proxy", "-p", "name", required=True, help="The proxy whose remembered approvals to list.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list; each entry has its number.")
def cache(name: str, as_json: bool) -> None:
    """List the approvals a running proxy remembers, numbered, with their expiry."""
    cached = cached_approvals(known_proxy(name))
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
        title=f"Approvals remembered by '{terminal_safe(name)}' (TTL {duration_text(cached.get('ttl_seconds'))})",
        title_justify="left",
    )
    for item in entries:
        table.add_row(
            str(item["entry"]),
            terminal_safe(item.get("subject_id") or "?"),
            terminal_safe(item.get("tool_name") or "?"),
            terminal_safe(item.get("path") or "-"),
            duration_text(item.get("age_seconds")),
            duration_text(item.get("expires_in_seconds")),
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
    known_proxy(name)
    if clear_all:
        response = cache_request(name, "DELETE", "/api/approvals/cached")
        if response.status_code >= 400:
            fail(f"proxy '{name}' refused to clear its approvals: {error_text(response)}")
        cleared = response.json().get("cleared", 0)
        console.print(
            f"Cleared {cleared} remembered approval{'s' if cleared != 1 else ''} of proxy '{terminal_safe(name)}'."
        )
        return
    items = cached_approvals(name).get("approvals") or []
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
    response = cache_request(name, "DELETE", "/api/approvals/cached/entry", params=params)
    if response.status_code == 404:
        fail(
            f"entry {entry} is already gone (it expired or was cleared); see 'mcp-acp approvals cache --proxy {name}'."
        )
    if response.status_code >= 400:
        fail(f"proxy '{name}' refused to forget entry {entry}: {error_text(response)}")
    console.print(
        f"Forgot entry {entry}: {terminal_safe(item['tool_name'])} on {terminal_safe(item.get('path') or '-')} "
        f"for {terminal_safe(item['subject_id'])} (proxy '{terminal_safe(name)}')."
    )


# --------------------------------------------------------------------------- watch


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
        asyncio.run(Watch(name).run())
    except (KeyboardInterrupt, asyncio.CancelledError):
        err_console.print("Stopped watching.")
