"""`mcp-acp logs list|show|tail`: find and read a proxy's log files."""

from __future__ import annotations

import contextlib
import json
import os
import time
from datetime import datetime
from pathlib import Path

import click
from rich.markup import escape

from mcp_acp.audit.files import DEBUG_FILES, LAST_CRASH, PROTECTED, SHUTDOWNS
from mcp_acp.cli.output import console, err_console, fail, format_size, terminal_safe
from mcp_acp.config import paths
from mcp_acp.config.store import list_proxy_names, load_manager_config, load_proxy_config

LOG_TYPES = {**PROTECTED, **DEBUG_FILES}
POLL_SECONDS = 0.25

# The fields worth a glance, per log type, after the time and the headline.
FIELDS = {
    "operations": ("tool_name", "file_path", "request_id", "session_id", "error_code", "message", "duration"),
    "decisions": ("final_rule", "mcp_method", "tool_name", "path", "subject_id", "request_id", "policy_total_ms"),
    "auth": ("status", "subject", "mcp_session_id", "end_reason", "message", "error_message"),
    "system": ("component", "message", "error_type", "error_message", "request_id"),
    "config-history": ("config_version", "previous_version", "change_type", "source", "checksum", "error_message"),
    "policy-history": (
        "policy_version",
        "previous_version",
        "change_type",
        "source",
        "checksum",
        "rule_id",
        "error_message",
    ),
    "client-wire": ("direction", "method", "request_id", "session_id", "duration_ms", "error"),
    "backend-wire": ("direction", "method", "request_id", "duration_ms", "payload_length", "error"),
}
STATUS_STYLE = {
    "success": "green",
    "allow": "green",
    "failure": "red",
    "deny": "red",
    "error": "red",
    "critical": "bold red",
    "warning": "yellow",
    "hitl": "yellow",
}


def _log_dir(name: str) -> Path:
    return paths.proxy_log_dir(load_manager_config().log_path, name)


def _proxy(name: str | None) -> str:
    if name:
        load_proxy_config(name)  # a clear error when unknown
        return name
    names = list_proxy_names()
    if len(names) == 1:
        return names[0]
    if not names:
        fail("no proxies are configured. Add one with 'mcp-acp proxy add'.")
    fail(f"say which proxy: --proxy NAME (configured: {', '.join(names)}).")


def _files_of(log_dir: Path) -> list[tuple[str, Path | None]]:
    """(relative name, path or None when absent) for every known log, then backups and crash artefacts."""
    rows: list[tuple[str, Path | None]] = []
    for rel in [*PROTECTED.values(), *DEBUG_FILES.values(), SHUTDOWNS, LAST_CRASH]:
        path = log_dir / rel
        rows.append((rel, path if path.exists() else None))
    extras = set()
    if log_dir.is_dir():
        for pattern in ("**/*.broken.*.jsonl", "**/*.torn.*", f"{LAST_CRASH}.*"):
            extras.update(log_dir.glob(pattern))
    rows += [(p.relative_to(log_dir).as_posix(), p) for p in sorted(extras)]
    return rows


@click.group()
def logs() -> None:
    """List, show and follow a proxy's log files."""


@logs.command("list")
@click.option("--proxy", "-p", "proxy", help="Proxy whose logs to list (default: all).")
def list_(proxy: str | None) -> None:
    """List log files with their sizes, including backups made by 'audit repair'."""
    names = [_proxy(proxy)] if proxy else list_proxy_names()
    if not names:
        console.print("No proxies yet. Add one with [bold]mcp-acp proxy add NAME[/].")
        return
    for name in names:
        log_dir = _log_dir(name)
        console.print(f"[bold]{escape(name)}[/] ({escape(str(log_dir))})")
        for rel, path in _files_of(log_dir):
            if path is None:
                if rel in (LAST_CRASH,) or rel.startswith("debug/"):
                    continue  # absent unless something happened / DEBUG logging
                console.print(f"  {'—':>9}  {'':16}  [grey50]{escape(rel)} (not created)[/]")
                continue
            stat = path.stat()
            note = (
                " [yellow](repair backup)[/]"
                if ".broken." in path.name
                else " [yellow](torn line from a crash)[/]"
                if ".torn." in path.name
                else " [red](security shutdown)[/]"
                if rel == LAST_CRASH
                else " [yellow](old crash record)[/]"
                if rel.startswith(f"{LAST_CRASH}.")
                else ""
            )
            modified = datetime.fromtimestamp(stat.st_mtime).strftime("%Y-%m-%d %H:%M")
            console.print(f"  {format_size(stat.st_size):>9}  {modified:16}  {escape(rel)}{note}")
        bootstrap = paths.bootstrap_log_path(name)
        if bootstrap.exists():
            console.print(f"  start-up failures: {escape(str(bootstrap))} ({format_size(bootstrap.stat().st_size)})")
    emergency = paths.emergency_audit_path()
    if emergency.exists():
        console.print(
            f"[red]Emergency audit log (written when a proxy's own logs failed):[/] "
            f"{escape(str(emergency))} ({format_size(emergency.stat().st_size)})"
        )


def _short(value) -> str:
    if isinstance(value, dict):
        if "subject_id" in value:
            return str(value["subject_id"])
        if "duration_ms" in value:
            return f"{value['duration_ms']} ms"
        text = json.dumps(value, separators=(",", ":"))
    elif isinstance(value, list):
        text = json.dumps(value, separators=(",", ":"))
    else:
        text = str(value)
    return text if len(text) <= 80 else text[:77] + "…"


def _headline(kind: str, entry: dict) -> tuple[str, str]:
    """(headline, outcome) of an entry."""
    if kind == "operations":
        return str(entry.get("method", "?")), str(entry.get("status", ""))
    if kind == "decisions":
        return f"{entry.get('decision', '?')}", str(entry.get("hitl_outcome", ""))
    if kind == "auth":
        return str(entry.get("event_type", entry.get("event", "?"))), ""
    if kind == "system":
        return str(entry.get("event", "?")), str(entry.get("level", ""))
    if kind.endswith("-wire"):
        return str(entry.get("event", "?")), ""
    return str(entry.get("event", "?")), ""


def render(kind: str, raw: bytes) -> str:
    """One readable line (rich markup) for one JSONL line."""
    text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
    try:
        entry = json.loads(text)
    except ValueError:
        return f"[red](not JSON)[/] {terminal_safe(text[:200])}"
    if not isinstance(entry, dict):
        return terminal_safe(text[:200])
    when = str(entry.get("time", "")).replace("T", " ").removesuffix("Z")
    headline, outcome = _headline(kind, entry)
    style = STATUS_STYLE.get(headline.lower()) or STATUS_STYLE.get(outcome.lower(), "")
    head = f"[{style}]{terminal_safe(headline)}[/]" if style else f"[bold]{terminal_safe(headline)}[/]"
    if outcome:
        ostyle = STATUS_STYLE.get(outcome.lower(), "")
        head += f" [{ostyle}]{terminal_safe(outcome)}[/]" if ostyle else f" {terminal_safe(outcome)}"
    fields = [
        f"[grey50]{name}=[/]{terminal_safe(_short(entry[name]))}"
        for name in FIELDS.get(kind, ())
        if entry.get(name) not in (None, "", [], {})
    ]
    sequence = f"[grey50]#{entry['sequence']}[/] " if "sequence" in entry else ""
    return f"[cyan]{terminal_safe(when)}[/] {sequence}{head}  " + " ".join(fields)


def _last_lines(path: Path, limit: int) -> list[bytes]:
    """The last `limit` complete lines, read from the end (logs can be large)."""
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        position = handle.tell()
        data = b""
        while position > 0 and data.count(b"\n") <= limit:
            step = min(64 * 1024, position)
            position -= step
            handle.seek(position)
            data = handle.read(step) + data
    lines = data.split(b"\n")
    lines.pop()  # the part after the last newline: b"" or an incomplete line
    if position > 0:
        lines = lines[1:]  # the first one may be cut
    return [line for line in lines if line.strip()][-limit:] if limit > 0 else []


def _target(proxy: str | None, kind: str) -> tuple[str, Path]:
    name = _proxy(proxy)
    return name, _log_dir(name) / LOG_TYPES[kind]


@logs.command("show")
@click.option("--proxy", "-p", "proxy", help="Proxy whose log to show (may be omitted when only one exists).")
@click.option("--type", "-t", "kind", type=click.Choice(list(LOG_TYPES)), required=True, help="Which log.")
@click.option(
    "--limit", "-n", type=click.IntRange(min=1), default=50, show_default=True, help="How many of the latest entries."
)
@click.option("--json", "as_json", is_flag=True, help="Print the raw JSON lines.")
def show(proxy: str | None, kind: str, limit: int, as_json: bool) -> None:
    """Show the latest entries of one log, newest last."""
    name, path = _target(proxy, kind)
    try:
        lines = _last_lines(path, limit)
    except FileNotFoundError:
        hint = " (wire logs are written only with log_level DEBUG)" if kind.endswith("-wire") else ""
        fail(f"{path} does not exist yet: proxy {name} has not written its {kind} log{hint}.")
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror}")
    if as_json:
        for line in lines:
            click.echo(line.decode("utf-8", errors="replace"))
        return
    if not lines:
        console.print(f"[grey50]{escape(str(path))} is empty.[/]")
        return
    for line in lines:
        console.print(render(kind, line))


@logs.command("tail")
@click.option("--proxy", "-p", "proxy", help="Proxy whose log to follow (may be omitted when only one exists).")
@click.option("--type", "-t", "kind", type=click.Choice(list(LOG_TYPES)), required=True, help="Which log.")
@click.option(
    "--lines",
    "-n",
    "initial",
    type=click.IntRange(min=0),
    default=10,
    show_default=True,
    help="Latest entries to print before following.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the raw JSON lines.")
def tail(proxy: str | None, kind: str, initial: int, as_json: bool) -> None:
    """Follow one log, printing entries as they are written, until Ctrl-C."""
    _, path = _target(proxy, kind)

    def emit(line: bytes) -> None:
        if as_json:
            click.echo(line.decode("utf-8", errors="replace"))
        else:
            console.print(render(kind, line))

    with contextlib.suppress(KeyboardInterrupt):
        _follow(path, initial, emit)


def _follow(path: Path, initial: int, emit) -> None:
    handle = None
    identity = None
    pending = b""
    waiting_said = False
    try:
        while True:
            if handle is None:
                try:
                    handle = open(path, "rb")  # noqa: SIM115 - kept open while following
                except FileNotFoundError:
                    if not waiting_said:
                        err_console.print(f"[grey50]Waiting for {escape(str(path))} to be created… (Ctrl-C to stop)[/]")
                        waiting_said = True
                    time.sleep(POLL_SECONDS)
                    continue
                stat = os.fstat(handle.fileno())
                if not waiting_said:  # it existed: show the latest entries, then follow
                    for line in _last_lines(path, initial):
                        emit(line)
                    handle.seek(0, os.SEEK_END)
                err_console.print(f"[grey50]Following {escape(str(path))}… (Ctrl-C to stop)[/]")
                identity = (stat.st_dev, stat.st_ino)
                pending = b""
            chunk = handle.read()
            if chunk:
                pending += chunk
                *complete, pending = pending.split(b"\n")
                for line in complete:
                    if line.strip():
                        emit(line)
                continue
            time.sleep(POLL_SECONDS)
            # Replaced, deleted (repair, rotation) or truncated: start over on the new file.
            try:
                stat = os.stat(path)
            except FileNotFoundError:
                continue
            if (stat.st_dev, stat.st_ino) != identity or stat.st_size < handle.tell():
                err_console.print(f"[yellow]{escape(str(path))} was replaced or truncated; following the new file.[/]")
                handle.close()
                handle = None
                waiting_said = True  # read the new file from its start
    finally:
        if handle is not None:
            handle.close()
