"""`mcp-acp audit verify|checkpoint|public-key|repair|key`: check and look after the tamper-evident audit trail.

Exit codes of `verify`: 0 passed (or nothing to verify yet), 1 tampering or damage (a broken
chain, a deleted file, a state that does not match, a damaged state, a checkpoint mismatch),
2 unable to verify (no proxies, unreadable files or key, a bad checkpoint file).
"""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table

from mcp_acp import secret_store
from mcp_acp.audit import checkpoint as checkpoints
from mcp_acp.audit import signing, trail
from mcp_acp.audit.files import PROTECTED
from mcp_acp.audit.keys import AuditKey, create_audit_key, load_audit_key
from mcp_acp.audit.repair import ProxyRunning, apply_repair, exclusive, plan_repair
from mcp_acp.audit.state import IntegrityState, StateError
from mcp_acp.audit.verify import verify_proxy, verify_settled
from mcp_acp.cli.audit_export import export
from mcp_acp.cli.audit_offline import verify_offline
from mcp_acp.cli.audit_report import file_json, print_proxy, verify_with_progress
from mcp_acp.cli.output import console, err_console, fail, interactive
from mcp_acp.config import paths
from mcp_acp.config.store import (
    ConfigError,
    list_proxy_names,
    load_gateway_config,
    load_manager_config,
    load_proxy_config,
    write_private_text,
)

FILE_CHOICES = [*PROTECTED, "all"]
UNABLE = 2


def _log_dir(name: str) -> Path:
    return paths.proxy_log_dir(load_manager_config().log_path, name)


def _key(name: str, exit_code: int = 1) -> AuditKey | None:
    try:
        return load_audit_key(name)
    except Exception as exc:
        fail(f"cannot read the audit key of proxy {name} from the {secret_store.backend_name()}: {exc}", exit_code)


def _known_proxy(name: str) -> str:
    load_proxy_config(name)  # a clear ConfigError when unknown
    return name


def _file_option(help_text: str):
    """`--file/-f`: one protected log, or all of them."""
    return click.option(
        "--file", "-f", "file", type=click.Choice(FILE_CHOICES), default="all", show_default=True, help=help_text
    )


def _selected(file: str) -> list[str]:
    return list(PROTECTED) if file == "all" else [file]


@click.group()
def audit() -> None:
    """Verify, checkpoint, repair and export the audit logs."""


audit.add_command(export)


# --------------------------------------------------------------------------- verify


@audit.command("verify")
@click.option("--proxy", "-p", "proxy", help="Proxy to verify (default: all).")
@_file_option("Which log to verify.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option(
    "--checkpoint",
    "checkpoint_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also check that every entry pinned by this checkpoint (from 'audit checkpoint') is unchanged.",
)
@click.option(
    "--replica",
    "replicas",
    multiple=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Offline: a replica's copied log folder (repeatable; pair each with --public-key). No config needed.",
)
@click.option(
    "--public-key",
    "public_keys",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Offline: the PEM public key of the --replica in the same position ('mcp-acp audit public-key').",
)
def verify(
    proxy: str | None,
    file: str,
    as_json: bool,
    checkpoint_path: Path | None,
    replicas: tuple[Path, ...],
    public_keys: tuple[Path, ...],
) -> None:
    """Check every log's hash chain against the integrity state (exit 0 ok, 1 tampered, 2 unable).

    With --replica/--public-key: check copied replicas' logs against their signed checkpoints,
    with only the public keys (no secret store, no config)."""
    if replicas or public_keys:
        if proxy or checkpoint_path or file != "all":
            fail("--replica verifies whole copied log folders: it takes no --proxy, --file or --checkpoint", UNABLE)
        click.get_current_context().exit(verify_offline(replicas, public_keys, as_json))
    try:
        pinned = checkpoints.load(checkpoint_path) if checkpoint_path else None
        names = [_known_proxy(proxy)] if proxy else list_proxy_names()
        if pinned and not proxy:  # a proxy deleted since the checkpoint still has to answer for it
            names += sorted(set(pinned) - set(names))
        if not names:
            fail("no proxies are configured, so there is nothing to verify. Add one with 'mcp-acp proxy add'.", UNABLE)
        log_root = load_manager_config().log_path
    except (ConfigError, checkpoints.CheckpointError) as exc:
        fail(str(exc), UNABLE)
    selected = _selected(file)
    damaged = unable = False
    output = {}
    for name in names:
        log_dir = paths.proxy_log_dir(log_root, name)
        key = _key(name, UNABLE)
        report = verify_with_progress(log_dir, key, name, as_json)
        files = [f for f in report.files if f.name in selected]
        checkpoint_errors = None
        if pinned is not None:
            pins = {rel: head for rel, head in pinned.get(name, {}).items() if file == "all" or rel == PROTECTED[file]}
            checks = {PROTECTED[f.name]: f.check for f in report.files}  # None: gone or unreadable
            checkpoint_errors = checkpoints.compare(pins, checks, log_dir)
            if name not in pinned and proxy:
                checkpoint_errors.append(f"the checkpoint has no entry for proxy {name}")
        proxy_damaged = bool(
            report.state_error
            or report.trail_errors
            or checkpoint_errors
            or any(f.status in ("broken", "missing") for f in files)
        )
        damaged |= proxy_damaged
        unable |= any(f.status == "error" for f in files)
        if proxy_damaged or any(f.status == "error" for f in files):
            overall = "failed"
        else:
            overall = "passed" if any(f.status == "protected" for f in files) else "no_files"
        output[name] = {
            "overall_status": overall,
            "log_dir": str(log_dir),
            "keyed": key is not None,
            "state_error": report.state_error,
            "trail_errors": report.trail_errors,
            "repairs": report.repairs,
            "files": [file_json(f) for f in files],
        }
        if checkpoint_errors is not None:
            output[name]["checkpoint_errors"] = checkpoint_errors
        if not as_json:
            print_proxy(name, log_dir, report, files, checkpoint_errors, key is not None)
    code = 1 if damaged else UNABLE if unable else 0
    if as_json:
        click.echo(json.dumps({"proxies": output}, indent=2))
    elif code == 1:
        console.print(
            "\n[bold red]✗ Verification failed:[/] the audit trail was changed or damaged. "
            "See what changed above; 'mcp-acp audit repair --proxy NAME' resets it "
            "(it keeps the damaged logs as backups)."
        )
    elif code == UNABLE:
        console.print("\n[bold red]✗ Could not verify everything:[/] some files could not be read (see above).")
    elif all(v["overall_status"] == "no_files" for v in output.values()):
        console.print("\n[green]✓[/] Nothing to verify yet: no chained logs have been written.")
    else:
        console.print("\n[bold green]✓ Verification passed.[/]")
    click.get_current_context().exit(code)


# --------------------------------------------------------------------------- checkpoint


@audit.command("checkpoint")
@click.option("--proxy", "-p", "proxy", help="Proxy to checkpoint (default: all).")
@click.option(
    "--output",
    "-o",
    "output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the checkpoint to this file (0600) instead of printing it.",
)
def checkpoint(proxy: str | None, output: Path | None) -> None:
    """Record the current end of every log, to store off this machine and check later."""
    names = [_known_proxy(proxy)] if proxy else list_proxy_names()
    if not names:
        fail("no proxies are configured, so there is nothing to checkpoint.")
    proxies = {}
    for name in names:
        log_dir = _log_dir(name)
        key = _key(name)
        report = verify_settled(log_dir, key, name)
        if report.overall == "failed":
            fail(
                f"the audit trail of proxy {name} does not verify, so it cannot be checkpointed. "
                f"Run 'mcp-acp audit verify --proxy {name}' to see why."
            )
        proxies[name] = checkpoints.heads(log_dir, key)
    text = json.dumps(checkpoints.document(proxies), indent=2) + "\n"
    if output is None:
        click.echo(text, nl=False)
        return
    output = output.expanduser().absolute()
    try:
        write_private_text(output, text, own_folder=False)
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror or exc}")
    count = sum(len(files) for files in proxies.values())
    console.print(f"[green]✓[/] Wrote a checkpoint of {count} log(s) to {escape(str(output))}")
    console.print(
        "  Store a copy somewhere this machine cannot change (another host, a ticket, a printout).\n"
        f"  Later: [bold]mcp-acp audit verify --checkpoint {escape(str(output))}[/]"
    )


# --------------------------------------------------------------------------- public-key


@audit.command("public-key")
@click.option(
    "--replica", "replica", help="Replica whose key to print (default: gateway.json's replica_id, else the host name)."
)
def public_key(replica: str | None) -> None:
    """Print this replica's checkpoint-signing public key (PEM), creating the key on first use."""
    try:
        replica = replica or load_gateway_config().replica
        signer = signing.load_or_create(replica)
        published = signing.publish(signer, paths.product_log_root(load_manager_config().log_path))
    except (ConfigError, signing.SigningError, OSError) as exc:
        fail(f"cannot get the signing key of replica {replica}: {exc}")
    click.echo(signing.public_pem(signer.public), nl=False)
    err_console.print(f"replica {escape(replica)} · key id {signer.key_id} · published at {escape(str(published))}")


# --------------------------------------------------------------------------- repair


ACTION_STYLE = {
    "ok": "green",
    "none": "grey50",
    "cleared": "cyan",
    "repaired": "cyan",
    "backed_up": "yellow",
    "failed": "red",
}


@audit.command("repair")
@click.option("--proxy", "-p", "proxy", required=True, help="Proxy whose audit trail to repair.")
@_file_option("Which log to repair.")
@click.option("--yes", "-y", is_flag=True, hidden=True, help="Move broken logs aside without asking.")
def repair(proxy: str, file: str, yes: bool) -> None:
    """Reset the integrity state after damage; broken logs are kept as .broken.<time>.jsonl backups."""
    _known_proxy(proxy)
    log_dir = _log_dir(proxy)
    key = _key(proxy)
    try:
        with exclusive(log_dir, proxy):
            plan = plan_repair(log_dir, key, _selected(file), proxy)
            if plan.state_problem:
                console.print(
                    f"[yellow]The integrity state is unreadable[/] ({escape(plan.state_problem)}); "
                    "rebuilding it from the logs whose chains hold."
                )
            if plan.destructive and not yes:
                for action in plan.destructive:
                    console.print(f"[yellow]{escape(action.file)}:[/] {escape(action.detail)}")
                if not interactive():
                    fail(
                        f"{len(plan.destructive)} log(s) have a broken chain and would be moved aside as "
                        ".broken.<time>.jsonl backups. Nothing was changed; re-run in a terminal to confirm, "
                        "or pass --yes."
                    )
                if not click.confirm("Move these logs aside (kept as backups) and start them afresh?", default=False):
                    fail("nothing was changed.")
            apply_repair(plan)
    except ProxyRunning as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"could not save the integrity state in {log_dir}: {exc.strerror or exc}")
    table = Table("file", "action", title=f"[bold]{escape(proxy)}[/] ({escape(str(log_dir))})", title_justify="left")
    table.add_column("detail", overflow="fold")
    for action in plan.actions:
        style = ACTION_STYLE.get(action.action, "")
        table.add_row(escape(action.file), f"[{style}]{action.action}[/]", escape(action.detail))
    console.print(table)
    failed = [a for a in plan.actions if a.action == "failed"]
    if failed:
        fail(f"{len(failed)} log(s) could not be repaired (see above).")
    if plan.changes:
        console.print(f"[green]✓[/] Repaired. Check with [bold]mcp-acp audit verify --proxy {escape(proxy)}[/].")
    else:
        console.print("[green]✓[/] Nothing to repair.")


# --------------------------------------------------------------------------- key


@audit.group("key")
def key_group() -> None:
    """The optional HMAC key that makes the chain unforgeable without it."""


@key_group.command("show")
@click.option("--proxy", "-p", "proxy", required=True, help="Proxy whose audit key to describe.")
def key_show(proxy: str) -> None:
    """Say whether the proxy's logs are keyed and where the key is stored."""
    _known_proxy(proxy)
    key = _key(proxy)
    where = secret_store.backend_name()
    if key is None:
        console.print(
            f"Proxy [bold]{escape(proxy)}[/] has no audit key: its chain uses plain SHA-256. "
            f"Create one with [bold]mcp-acp audit key create --proxy {escape(proxy)}[/]."
        )
        console.print(f"  (it would be stored in the {escape(where)})")
        return
    console.print(f"Proxy [bold]{escape(proxy)}[/] has an audit key (HMAC-SHA256), stored in the {escape(where)}.")
    for rel in PROTECTED.values():
        console.print(f"  {escape(rel)}: keyed from entry {key.since.get(rel, 1)}")


@key_group.command("create")
@click.option("--proxy", "-p", "proxy", required=True, help="Proxy whose logs to key.")
def key_create(proxy: str) -> None:
    """Create the HMAC key: from now on nobody without it can forge or re-chain entries."""
    _known_proxy(proxy)
    log_dir = _log_dir(proxy)
    if _key(proxy) is not None:
        fail(f"proxy {proxy} already has an audit key (see 'mcp-acp audit key show --proxy {proxy}').")
    try:
        with exclusive(log_dir, proxy):
            report = verify_proxy(log_dir, None)
            if report.overall == "failed":
                fail(
                    f"the audit trail of proxy {proxy} does not verify; a key would vouch for a damaged log. "
                    f"Run 'mcp-acp audit verify --proxy {proxy}' (and repair) first."
                )
            since = {}
            for file in report.files:
                rel = PROTECTED[file.name]
                last = file.check.last_sequence if file.check is not None and file.check.entries else 0
                since[rel] = (last or 0) + 1
            try:
                state = IntegrityState.load(log_dir)
            except StateError as exc:  # verify just read it; only a race gets here
                fail(str(exc))
            key = create_audit_key(proxy, since)
            if state.exists:
                state.key = key.key  # the state now carries the key's signature too
                try:
                    state.save()
                finally:
                    state.close()
                trail.save(proxy, key, state)  # the record outside the folder is now keyed too
    except ProxyRunning as exc:
        fail(str(exc))
    console.print(
        f"[green]✓[/] Created the audit key of proxy [bold]{escape(proxy)}[/], stored in the "
        f"{escape(secret_store.backend_name())}."
    )
    console.print(
        "  From now on every entry is keyed (HMAC-SHA256): a log edited and re-chained without the key "
        "fails 'mcp-acp audit verify'. Entries written before now keep their plain hashes:"
    )
    for rel, first in since.items():
        console.print(f"  {escape(rel)}: keyed from entry {first}")
