"""`mcp-acp tools diff|accept --proxy P`: review and accept changed tool definitions
(docs/tool-pinning.md, docs/cli.md#mcp-acp-tools).

Both work on the proxy's pin file (admin/tool_pins.py). A running proxy notices an accept on
the next call of the tool (it looks at the file again only for a changed tool) and audits it.
"""

from __future__ import annotations

import json

import click
from rich.markup import escape

from mcp_acp.admin.tool_pins import FilePinStore, accept, changed_tools, pin_path
from mcp_acp.cli.output import console, fail, terminal_safe
from mcp_acp.config.store import load_proxy_config
from mcp_acp.identity.local import local_identity


def _store(proxy: str) -> FilePinStore:
    load_proxy_config(proxy)  # a clear error for a proxy that does not exist
    return FilePinStore(pin_path(proxy))


DIFF_COLOURS = {"+": "green", "-": "red", "@": "cyan"}


def _print_diff(text: str) -> None:
    """A unified diff, line by line: what a server wrote is spelled out, never interpreted."""
    for line in text.splitlines():
        colour = "bold" if line.startswith(("+++", "---")) else DIFF_COLOURS.get(line[:1])
        shown = terminal_safe(line)
        console.print(f"  [{colour}]{shown}[/]" if colour else f"  {shown}")


@click.group("tools")
def tools() -> None:
    """Review tool definitions that changed since they were pinned (rug pulls), and accept them."""


@tools.command("diff")
@click.option("--proxy", "proxy", required=True, help="The proxy whose tools to compare.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def diff(proxy: str, as_json: bool) -> None:
    """Show exactly what changed in each tool since it was pinned (a unified diff of its definition)."""
    try:
        rows = changed_tools(_store(proxy).load())
    except ValueError as exc:
        fail(f"the pin file of '{proxy}' cannot be read: {exc}")
    if as_json:
        click.echo(json.dumps({"proxy": proxy, "changed": rows}, indent=2))
        return
    if not rows:
        console.print(f"No tool of '{proxy}' changed since it was pinned.")
        return
    for row in rows:
        title = f"[bold]{terminal_safe(row['tool'])}[/]"
        if row["renamed_from"]:
            title += f" — renamed from [bold]{terminal_safe(row['renamed_from'])}[/] (same definition)"
        else:
            title += " — definition changed"
        console.print(title + f" (seen {escape(str(row['seen_at']))})")
        if row["diff"]:
            _print_diff(row["diff"])
        else:
            console.print("  the definition is the same; only the name is new")
    console.print(f"Accept with: mcp-acp tools accept --proxy {proxy} --tool NAME (or --all)")


@tools.command("accept")
@click.option("--proxy", "proxy", required=True, help="The proxy whose tools to accept.")
@click.option("--tool", "names", multiple=True, help="A changed tool to re-pin as it is now (repeatable).")
@click.option("--all", "everything", is_flag=True, help="Re-pin every changed tool.")
def accept_command(proxy: str, names: tuple[str, ...], everything: bool) -> None:
    """Trust the new definition of changed tools: they are pinned as they are now."""
    if bool(names) == everything:
        fail("name the tools to accept with --tool NAME, or accept every change with --all")
    store = _store(proxy)
    try:
        state = store.load()
    except ValueError as exc:
        fail(f"the pin file of '{proxy}' cannot be read: {exc}")
    unknown = [name for name in names if name not in state.changes]
    if unknown:
        fail(f"no change is recorded for {', '.join(map(repr, unknown))}; see mcp-acp tools diff --proxy {proxy}")
    accepted = accept(state, None if everything else list(names), local_identity().subject_id)
    store.save(state)
    if not accepted:
        console.print(f"No tool of '{proxy}' had a change to accept.")
        return
    console.print(f"Accepted and re-pinned: {', '.join(terminal_safe(n) for n in accepted)}")
