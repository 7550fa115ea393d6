"""`mcp-acp audit export`: ship every proxy's audit trail to a SIEM (docs/audit.md, "Shipping
the audit trail to a SIEM"). Settings from gateway.json's `export`, or a file given with
--config (either an `export` object or a whole gateway.json)."""

from __future__ import annotations

import json
import logging
import signal
import socket
import sys
import threading
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError

from mcp_acp.audit.export.exporter import Exporter, state_dir, status
from mcp_acp.cli.output import console, fail
from mcp_acp.config import paths
from mcp_acp.config.export import ExportSettings
from mcp_acp.config.store import ConfigError, list_proxy_names, load_gateway_config, load_manager_config


def _settings(config: Path | None) -> tuple[ExportSettings, str]:
    """The export settings and the replica name the entries are sent under."""
    if config is None:
        gateway = load_gateway_config()
        if gateway.export is None:
            fail(
                f"no 'export' in {paths.gateway_config_path()}: add one (docs/audit.md, 'Shipping the audit "
                "trail to a SIEM') or give a settings file with --config"
            )
        return gateway.export, gateway.replica
    try:
        data: Any = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        fail(f"cannot read {config}: {exc}")
    replica = socket.gethostname()
    if isinstance(data, dict) and "export" in data:
        replica = str(data.get("replica_id") or replica)
        data = data["export"]
    try:
        return ExportSettings.model_validate(data), replica
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        fail(f"{config}: {where + ': ' if where else ''}{first['msg']}. See docs/audit.md.")


def build_exporter(config: Path | None, proxies: tuple[str, ...]) -> Exporter:
    settings, replica = _settings(config)
    try:
        log_root = load_manager_config().log_path
        names = list(proxies) or list_proxy_names()
    except ConfigError as exc:
        fail(str(exc))
    if not names:
        fail("no proxies are configured, so there is nothing to export. Add one with 'mcp-acp proxy add'.")
    sources = {name: paths.proxy_log_dir(log_root, name) for name in names}
    return Exporter(settings, sources, replica, state_dir(settings, log_root))


@click.command("export")
@click.option("--follow", is_flag=True, help="Keep shipping new entries until stopped (Ctrl-C, SIGTERM).")
@click.option("--status", "show_status", is_flag=True, help="Show how far each destination got, and its last error.")
@click.option("--json", "as_json", is_flag=True, help="With --status: machine-readable output.")
@click.option("--proxy", "-p", "proxies", multiple=True, help="Only this proxy (repeatable). Default: all.")
@click.option("--with-parent", "with_parent", is_flag=True, hidden=True, help="Stop when standard input closes.")
@click.option(
    "--config",
    "config",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Export settings (an 'export' object, or a gateway.json). Default: gateway.json's 'export'.",
)
def export(
    follow: bool, show_status: bool, as_json: bool, proxies: tuple[str, ...], config: Path | None, with_parent: bool
) -> None:
    """Send every audit entry to the SIEM (syslog RFC 5424 over TCP/TLS, OTLP logs)."""
    exporter = build_exporter(config, proxies)
    if show_status:
        _print_status(status(exporter), as_json)
        return
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="mcp-acp export: %(levelname)s %(message)s")
    if follow:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: exporter.stop_event.set())
    if with_parent:  # the gateway's child: its parent closing the pipe (or dying) stops it
        threading.Thread(target=_stop_at_eof, args=(exporter,), daemon=True).start()
    exporter.start(follow=follow)
    while any(thread.is_alive() for thread in exporter.threads):
        exporter.wait(0.5)
    if not exporter.wait():
        fail("the export did not complete (the error is above); run it again: it resumes where it stopped")
    if not follow:
        console.print("every audit entry was exported")


def _stop_at_eof(exporter: Exporter) -> None:
    while sys.stdin.buffer.read(4096):
        pass
    exporter.stop_event.set()


def _print_status(report: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({"destinations": report}, indent=2))
        return
    for destination in report:
        console.print(f"[bold]{destination['destination']}[/]  (cursor: {destination['cursor_file']})")
        if "error" in destination:
            console.print(f"  [red]{destination['error']}[/]")
            continue
        console.print(
            f"  behind by {destination['lag']} entries; last sent at {destination['last_sent_at'] or 'never'}"
        )
        if destination["last_error"]:
            console.print(f"  [red]last error ({destination['last_error_at']}):[/] {destination['last_error']}")
        for file in destination["files"]:
            if file["head"]:
                console.print(f"  {file['proxy']}/{file['file']}: sent {file['sent']} of {file['head']}")
