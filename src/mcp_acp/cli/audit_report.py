"""How `mcp-acp audit verify` shows what it found: one proxy's report as a terminal table or as
JSON, and a progress bar while a big trail is read.

Kept apart from the commands, which decide what to verify and the exit code.
"""

from __future__ import annotations

import json
from pathlib import Path

from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from mcp_acp.audit.files import PROTECTED
from mcp_acp.audit.keys import AuditKey
from mcp_acp.audit.state import STATE_FILE
from mcp_acp.audit.verify import FileReport, ProxyReport, verify_settled
from mcp_acp.cli.output import console

PROGRESS_ABOVE = 200_000  # entries on record before verify shows a progress bar
STATUS_STYLE = {
    "protected": "green",
    "unprotected": "grey50",
    "not_created": "grey50",
    "empty": "grey50",
    "broken": "red",
    "missing": "red",
    "error": "red",
}


def file_json(report) -> dict:
    return {
        "name": report.name,
        "path": str(report.path),
        "status": report.status,
        "entries": report.entries,
        "errors": report.errors,
        "warnings": report.warnings,
        "backups": report.backups,
    }


def print_proxy(
    name: str,
    log_dir: Path,
    report: ProxyReport,
    files: list[FileReport],
    checkpoint_errors: list[str] | None,
    keyed: bool,
) -> None:
    table = Table(title=f"[bold]{escape(name)}[/] ({escape(str(log_dir))})", title_justify="left")
    table.add_column("file", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("entries", justify="right", no_wrap=True)
    for file in files:
        style = STATUS_STYLE.get(file.status, "")
        table.add_row(escape(PROTECTED.get(file.name, file.name)), f"[{style}]{file.status}[/]", str(file.entries))
    console.print(table)
    for file in files:
        if file.backups:
            console.print(f"  [grey50]{escape(file.name)} backups:[/] {escape(', '.join(file.backups))}")
    if report.state_error:
        console.print(f"  [red]integrity state:[/] {escape(report.state_error)}")
    for error in report.trail_errors:
        console.print(f"  [red]trail record:[/] {escape(error)}")
    for done in report.repairs:
        lost = f", {done['entries_lost']} entries lost" if done.get("entries_lost") else ""
        console.print(
            f"  [yellow]repaired {escape(str(done.get('time', '?')))}:[/] "
            f"{escape(str(done.get('file') or 'trail record'))} {escape(str(done.get('action')))}{lost}"
        )
    for file in files:
        for error in file.errors:
            console.print(f"  [red]{escape(file.name)}:[/] {escape(error)}")
        for warning in file.warnings:
            console.print(f"  [yellow]{escape(file.name)}:[/] {escape(warning)}")
    for error in checkpoint_errors or []:
        console.print(f"  [red]checkpoint:[/] {escape(error)}")
    if checkpoint_errors is not None and not checkpoint_errors:
        console.print("  [green]checkpoint:[/] every pinned entry is still in place")
    console.print(f"  audit key: {'on (HMAC-SHA256)' if keyed else 'off (plain SHA-256 chain)'}")


def verify_with_progress(log_dir: Path, key: AuditKey | None, name: str, quiet: bool) -> ProxyReport:
    """A full verification reads every rotated segment: a progress bar, in entries, when it is big."""
    total = entries_on_record(log_dir)
    if quiet or total < PROGRESS_ABOVE or not console.is_terminal:
        return verify_settled(log_dir, key, name)
    with Progress(
        TextColumn(f"verifying {escape(name)}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("entries"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("verify", total=total)
        return verify_settled(log_dir, key, name, progress=lambda done: progress.advance(task, done))


def entries_on_record(log_dir: Path) -> int:
    """How many entries the integrity state says the logs hold (0 when it cannot say)."""
    try:
        files = json.loads((log_dir / STATE_FILE).read_bytes())["files"]
        return sum(int(f["last_sequence"]) for f in files.values())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return 0
