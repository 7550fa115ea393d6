"""`mcp-acp audit verify --replica DIR --public-key FILE ...`: replicas' copied log folders
checked with only their public keys (audit/offline.py), one table per replica."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from mcp_acp.audit.offline import ProxyResult, ReplicaResult, verify_replica
from mcp_acp.audit.signing import SigningError, load_public_key
from mcp_acp.cli.output import console, fail

UNABLE = 2


def verify_offline(replicas: tuple[Path, ...], keys: tuple[Path, ...], as_json: bool) -> int:
    """0 when every replica passes, 1 on any failure, 2 when the arguments cannot be used."""
    if len(replicas) != len(keys):
        fail(
            f"give one --public-key per --replica, in the same order ({len(replicas)} replica(s), {len(keys)} key(s))",
            UNABLE,
        )
    results: list[ReplicaResult] = []
    for folder, key_path in zip(replicas, keys, strict=True):
        try:
            public = load_public_key(key_path)
        except SigningError as exc:
            fail(str(exc), UNABLE)
        results.append(verify_replica(folder, public))
    if as_json:
        click.echo(json.dumps({"replicas": [_json(r) for r in results]}, indent=2))
    else:
        for result, key_path in zip(results, keys, strict=True):
            _print(result, key_path)
        failed = [r for r in results if not r.ok]
        if failed:
            console.print(
                f"\n[bold red]✗ Verification failed[/] for {len(failed)} of {len(results)} replica(s): "
                "see what failed above. A failed signature or checkpoint chain means the checkpoints were "
                "altered or not signed by that key; TRUNCATED or REWRITTEN means the log no longer holds "
                "what a signed checkpoint pinned."
            )
        else:
            console.print(f"\n[bold green]✓ Verification passed[/] for {len(results)} replica(s).")
    return 1 if any(not r.ok for r in results) else 0


def _print(result: ReplicaResult, key_path: Path) -> None:
    verdict = "[green]passed[/]" if result.ok else "[bold red]FAILED[/]"
    console.print(
        f"\n[bold]Replica {escape(str(result.folder))}[/] (key {result.key_id} from {escape(str(key_path))}): {verdict}"
    )
    for error in result.errors:
        console.print(f"  [red]✗[/] {escape(error)}")
    for proxy in result.proxies:
        _print_proxy(proxy)


def _print_proxy(proxy: ProxyResult) -> None:
    table = Table(
        title=f"proxy {escape(proxy.proxy)} · replica {escape(proxy.replica or '?')} · "
        f"{proxy.checkpoints} checkpoint(s), last {escape(proxy.last_checkpoint_time or '-')}",
        title_justify="left",
    )
    for column in ("log", "entries", "hash recomputed", "keyed (pins only)", "signed up to", "after last", "status"):
        table.add_column(column)
    for file in proxy.files:
        status = "[green]ok[/]" if not file.errors else "[bold red]FAILED[/]"
        table.add_row(
            file.rel,
            str(file.entries),
            str(file.recomputed),
            str(file.keyed),
            str(file.pinned),
            str(file.uncovered),
            status,
        )
    console.print(table)
    for error in proxy.errors:
        console.print(f"  [red]✗ checkpoints:[/] {escape(error)}")
    for file in proxy.files:
        for error in file.errors:
            console.print(f"  [red]✗ {escape(file.rel)}:[/] {escape(error)}")
    for warning in proxy.warnings:
        console.print(f"  [yellow]![/] {escape(warning)}")


def _json(result: ReplicaResult) -> dict[str, Any]:
    return {
        "folder": str(result.folder),
        "key_id": result.key_id,
        "ok": result.ok,
        "errors": result.errors,
        "proxies": [
            {
                "folder": str(p.folder),
                "proxy": p.proxy,
                "replica": p.replica,
                "checkpoints": p.checkpoints,
                "last_checkpoint_time": p.last_checkpoint_time,
                "ok": p.ok,
                "errors": p.errors,
                "warnings": p.warnings,
                "files": [
                    {
                        "file": f.rel,
                        "entries": f.entries,
                        "recomputed": f.recomputed,
                        "keyed": f.keyed,
                        "pinned": f.pinned,
                        "after_last_checkpoint": f.uncovered,
                        "errors": f.errors,
                    }
                    for f in p.files
                ],
            }
            for p in result.proxies
        ],
    }
