"""`mcp-acp start --proxy NAME`: run the proxy on STDIO (what an MCP client launches).

Start-up follows SPEC §1.5: configuration, then the audit trail (exclusive lock, full
verification, exit 10 on any doubt), config/policy history, the backend, then the relay.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from typing import NoReturn

import click

from mcp_acp import __version__
from mcp_acp.audit import auth_log, emergency
from mcp_acp.audit.chain import utc_now
from mcp_acp.audit.history import record_load
from mcp_acp.audit.monitor import watch
from mcp_acp.audit.opening import close_trail, open_trail
from mcp_acp.audit.shutdown import ShutdownCoordinator, append_fsynced
from mcp_acp.audit.system_log import SystemLogHandler
from mcp_acp.audit.verify import AuditFailure
from mcp_acp.audit.writer import AlreadyRunning, AuditLog, AuditWriteError
from mcp_acp.cli.output import err_console, fail
from mcp_acp.config import paths
from mcp_acp.config.private_modes import require_private_modes
from mcp_acp.config.store import (
    ConfigError,
    list_proxy_names,
    load_manager_config,
    load_policy,
    load_proxy_config,
    require_proxy_name,
)
from mcp_acp.event_loop import run_event_loop
from mcp_acp.identity.oidc import OidcError
from mcp_acp.identity.provider import (
    AuthenticationError,
    IdentityUnverifiable,
    LocalIdentities,
    OidcIdentities,
    startup_identity,
)
from mcp_acp.policy.protected import ProtectedPaths
from mcp_acp.proxy.approvals import ApprovalCache
from mcp_acp.proxy.backends import BackendError
from mcp_acp.proxy.control import ControlState
from mcp_acp.proxy.enforcement import Enforcer
from mcp_acp.proxy.gate import Gate
from mcp_acp.proxy.hitl import RoutingApprover
from mcp_acp.proxy.listing import LIST_CHANGED, Listing
from mcp_acp.proxy.operations import OperationsRecorder
from mcp_acp.proxy.pending import PendingApprovals
from mcp_acp.proxy.policy_reload import PolicyReloader
from mcp_acp.proxy.runner import choose_backend, relay_stdio
from mcp_acp.proxy.wire_log import WireLog

log = logging.getLogger("mcp_acp.start")
IDENTITY_FAILURE_EXIT = 12
AUTHENTICATION_FAILURE_EXIT = 13


def _record_bootstrap_failure(name: str, event: str, message: str, error_type: str, exit_code: int) -> None:
    """SPEC §4.4: startup failures go to the proxy's bootstrap.jsonl for later diagnosis."""
    if not paths.proxy_config_dir(name).is_dir():
        return
    entry = {
        "time": utc_now(),
        "event": event,
        "error_message": message,
        "error_type": error_type,
        "exit_code": exit_code,
        "component": "cli",
        "source": "cli_start",
    }
    with contextlib.suppress(OSError):
        append_fsynced(paths.bootstrap_log_path(name), entry)


def _refuse(name: str, event: str, exc: Exception, exit_code: int = 1) -> NoReturn:
    _record_bootstrap_failure(name, event, str(exc), type(exc).__name__, exit_code)
    fail(str(exc), exit_code)


@click.command()
@click.option("--proxy", "-p", "name", help="Name of the proxy to run (see 'mcp-acp proxy list').")
@click.option("--headless", is_flag=True, help="Run without the manager daemon and web UI.")
def start(name: str | None, headless: bool) -> None:
    """Run a proxy on STDIO. MCP clients launch this as if it were the server."""
    if not name:
        known = ", ".join(list_proxy_names()) or "none; add one with 'mcp-acp proxy add'"
        fail(f"say which proxy to run: --proxy NAME (configured: {known}).")
    require_proxy_name(name)  # before the name is used in any path
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="mcp-acp[%(name)s] %(levelname)s: %(message)s")
    try:
        manager = load_manager_config()
        config = load_proxy_config(name)
        policy = load_policy(name)
        log_dir = paths.proxy_log_dir(manager.log_path, name)
        require_private_modes(paths.config_dir(), log_dir, paths.runtime_dir())  # 0700/0600, ours, at every start
    except ConfigError as exc:
        _refuse(name, "config_invalid", exc)
    try:
        lock = AuditLog.lock(log_dir)
    except AlreadyRunning as exc:
        _refuse(name, "startup_failed", exc)
    except AuditWriteError as exc:
        _refuse(name, "audit_failure", AuditFailure(str(exc)), AuditFailure.exit_code)
    try:
        opened = open_trail(name, log_dir, config)
    except AuditFailure as exc:
        _refuse(name, "audit_failure", exc, AuditFailure.exit_code)
    except OSError as exc:
        _refuse(name, "audit_failure", AuditFailure(f"cannot open the audit logs in {log_dir}: {exc}"), 10)
    audit, key, warnings = opened.audit, opened.key, opened.warnings

    identities, identity = _verified_identity(name, manager, audit)
    session_id = auth_log.new_bound_session_id(identity)
    shutdown = ShutdownCoordinator(log_dir, name, config.proxy_id)
    shutdown.audit = audit
    emergency.reserve()  # room for the records of last resort that a full disk cannot take
    shutdown.on_shutdown.append(
        lambda: auth_log.session_ended(
            audit,
            session_id,
            identity,
            "session_binding_violation" if shutdown.failure_type == "session_binding_violation" else "error",
        )
    )
    logging.getLogger().addHandler(SystemLogHandler(audit, shutdown, session_id))
    try:
        for warning in warnings:
            log.warning(warning)
        config_version = record_load(
            audit, "config", paths.proxy_config_path(name), paths.proxy_config_path(name).read_text(encoding="utf-8")
        )
        policy_version = record_load(
            audit, "policy", paths.proxy_policy_path(name), paths.proxy_policy_path(name).read_text(encoding="utf-8")
        )
        auth_log.session_started(audit, session_id, identity, manager.auth.mode)
    except AuditWriteError as exc:
        _refuse(name, "audit_failure", AuditFailure(f"cannot write the audit logs: {exc}"), AuditFailure.exit_code)

    err_console.print(
        f"mcp-acp {__version__} · proxy [bold]{name}[/] ({config.proxy_id}) → "
        f"backend [bold]{config.backend.server_name}[/]"
    )
    if manager.auth.mode == "local":
        err_console.print(
            f"  identity: local user '{identity.subject_id}' [yellow](unauthenticated single-user "
            "mode: no identity provider)[/]"
        )
    else:
        err_console.print(
            f"  identity: '{identity.subject_id}' via OIDC ({manager.auth.oidc_settings.issuer}), "
            "token verified on every request"
        )
    err_console.print(
        f"  audit: {log_dir} (hash-chained{', keyed' if key else ''}"
        f"{' with a key created now' if opened.key_created else ''}"
        f"{', fsync' if config.audit_durable else ''})"
    )

    gate, reloader, listing, control = _enforcement(
        name, manager, config, policy, policy_version, audit, shutdown, identities, identity, session_id
    )

    def make_recorder(backend) -> OperationsRecorder:
        return OperationsRecorder(
            audit,
            shutdown,
            session_id,
            identity,
            config.backend.server_name,
            backend.transport,
            config_version,
            stats=control.stats,
        )

    end_reason = "error"
    try:
        code = run_event_loop(
            _serve(name, config, make_recorder, audit, shutdown, gate, reloader, listing, control, headless)
        )
        end_reason = "normal" if code == 0 else "error"
    finally:
        if not shutdown.is_shutting_down:
            try:
                auth_log.session_ended(audit, session_id, identity, end_reason)
            except AuditWriteError as exc:  # nothing is lost: the entry goes to the fallback chain
                shutdown.record_with_fallback(
                    "auth",
                    {"event_type": "session_ended", "end_reason": end_reason, "bound_session_id": session_id},
                    str(exc),
                )
                err_console.print(f"[bold red]Error:[/] audit log failure at shutdown: {exc}")
                code = AuditFailure.exit_code
        close_trail(name, opened) if not shutdown.is_shutting_down else audit.close()
        lock.release()
    sys.exit(code)


def _enforcement(name, manager, config, policy, policy_version, audit, shutdown, identities, identity, session_id):
    """The policy enforcement point and what it needs: engine (with reload), limits, approvals, the
    list hooks, and the state the control socket serves."""
    approvals = ApprovalCache(config.hitl.approval_ttl_seconds)
    protected = ProtectedPaths([paths.config_dir(), paths.product_log_root(manager.log_path), paths.runtime_dir()])
    reloader = PolicyReloader(paths.proxy_policy_path(name), policy, protected, audit, approvals, policy_version)
    pending = PendingApprovals(reloader.events, name, config.proxy_id, config.hitl.approval_ttl_seconds)
    reloader.on_reloaded.append(lambda: pending.withdraw_all("policy_changed"))
    approver = RoutingApprover(pending, ui_present=lambda: control.ui_present())
    enforcer = Enforcer(
        reloader,
        audit,
        shutdown,
        identities=identities,
        identity=identity,
        backend_id=config.backend.server_name,
        session_id=session_id,
        proxy_name=name,
        limits=config.limits,
        hitl=config.hitl,
        approver=approver,
        approvals=approvals,
        events=reloader.events,
        roots=config.server_roots(),
    )
    listing = Listing(reloader, identity, config.backend.server_name, config.discovery == "filter")
    err_console.print(
        f"  policy: {reloader.rules_count} rules ({policy_version}) from {reloader.path}"
        f"{'; lists filtered by policy' if listing.filtering else ''}"
    )

    def notification(message: dict) -> bool:
        if message.get("method") == "notifications/cancelled":  # the client gave up: so does its approval
            params = message.get("params") or {}
            if isinstance(params, dict) and "requestId" in params:
                pending.withdraw_request(str(params["requestId"]), "cancelled by the client")
        return enforcer.note_notification(message)

    if enforcer.roots:
        err_console.print(f"  roots: {', '.join(enforcer.roots)} (relative paths are judged against these)")
    gate = Gate(
        enforcer.check,
        notification,
        listing.hooks(),
        refused=enforcer.refused,
        client_answered=enforcer.client_answered,
    )
    # One set of counters (the enforcer's) and one event sink (the reloader's), shared with the
    # control API and, through `control.events`, the manager.
    control = ControlState(
        reloader,
        identities,
        approvals,
        session_id,
        identity,
        stats=enforcer.stats,
        events=reloader.events,
        info=ControlState.info_from(name, config),
        log_dir=audit.log_dir,
        debug_logs=config.log_level == "DEBUG",
        client_name=lambda: (enforcer.client_info or {}).get("name"),
        pending=pending,
        roots=enforcer.roots,
    )
    reloader.events.sinks.append(
        lambda event_type, data: control.hub.publish(
            {**data, "type": event_type, "proxy_name": name, "proxy_id": config.proxy_id}
        )
    )
    return gate, reloader, listing, control


def _verified_identity(name: str, manager, audit: AuditLog):
    """Who this session belongs to (SPEC §1.5 step 7): the OS user, or the verified OIDC user.
    No usable token refuses the start with exit 13; keys that cannot be fetched, exit 12."""
    if manager.auth.mode == "local":
        identities = LocalIdentities()
        return identities, identities.identity

    def record(event: dict) -> None:
        audit.write("auth", {**event, "method": "oidc"})

    try:
        identities = OidcIdentities(manager.auth.oidc, on_auth_event=record)
        return identities, startup_identity(identities)
    except (IdentityUnverifiable, OidcError) as exc:
        _refuse(name, "identity_verification_failed", exc, IDENTITY_FAILURE_EXIT)
    except AuthenticationError as exc:
        _refuse(name, "not_authenticated", exc, AUTHENTICATION_FAILURE_EXIT)


async def _serve(
    name,
    config,
    make_recorder,
    audit: AuditLog,
    shutdown: ShutdownCoordinator,
    gate: Gate,
    reloader: PolicyReloader,
    listing: Listing,
    control: ControlState,
    headless: bool,
) -> int:
    def on_retry(attempt: int, error: Exception, delay: float) -> None:
        err_console.print(f"[yellow]Backend not reachable (attempt {attempt}): {error}; retrying in {delay:g} s[/]")

    try:
        backend = await choose_backend(config, on_retry, proxy_name=name)
    except BackendError as exc:
        log.error("backend start failed: %s", exc)
        _refuse(name, "backend_connection_failed", exc)
    err_console.print(f"  transport: {backend.transport}")
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(reloader.reload("sighup")))
    background = [
        asyncio.create_task(watch(audit, shutdown)),
        asyncio.create_task(reloader.watch_file()),
        asyncio.create_task(_serve_control_api(name, control)),
    ]
    control.info["backend_transport"] = backend.transport
    if not headless:
        background += _manager_tasks(name, config, control, shutdown)
    wire = WireLog(audit.log_dir, config.include_payloads) if config.log_level == "DEBUG" else None

    def on_relay(relay) -> None:
        if listing.filtering:  # what the model may see changed with the policy: tell the client
            reloader.on_reloaded.append(
                lambda: [loop.create_task(relay.notify_client(method)) for method in LIST_CHANGED.values()]
            )

    err_console.print("Proxy server ready - listening on STDIO")
    try:
        outcome = await relay_stdio(backend, gate, make_recorder(backend), wire, on_relay)
    except BackendError as exc:
        log.error("backend start failed: %s", exc)
        _refuse(name, "backend_connection_failed", exc)
    finally:
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        if wire:
            wire.close()
    if outcome.reason:
        err_console.print(f"[bold red]Error:[/] {outcome.reason}", soft_wrap=True)
    return outcome.exit_code


def _manager_tasks(name: str, config, control: ControlState, shutdown: ShutdownCoordinator) -> list[asyncio.Task]:
    """Register with the manager (starting it if needed) and keep it informed; the proxy never
    waits for any of this."""
    from mcp_acp.manager.client import ManagerClient
    from mcp_acp.metrics.stats import publish_stats

    identities = control.identities
    oidc = isinstance(identities, OidcIdentities)

    def token_cleared() -> None:  # a logout: no token, no identity, no cached approvals
        assert isinstance(identities, OidcIdentities)  # registered in OIDC mode only
        identities.use_manager_tokens(None)
        control.clear_approvals("logout")

    def detached() -> None:  # renew on our own again until the manager is back
        assert isinstance(identities, OidcIdentities)  # registered in OIDC mode only
        identities.managed = False

    client = ManagerClient(
        name,
        config.proxy_id,
        control.events,
        {"backend_id": config.backend.server_name, "transport": control.info["backend_transport"], "api_port": None},
        on_token=identities.use_manager_tokens if oidc else None,
        on_token_cleared=token_cleared if oidc else None,
        on_detached=detached if oidc else None,
    )
    shutdown.on_shutdown.append(
        lambda: control.events.emit(
            "critical_shutdown",
            severity="critical",
            message=shutdown.reason,
            failure_type=shutdown.failure_type,
            exit_code=shutdown.exit_code,
        )
    )
    control.manager = client
    return [asyncio.create_task(client.run()), asyncio.create_task(publish_stats(control.stats, control.events))]


async def _serve_control_api(name: str, control: ControlState) -> None:
    """The control socket (policy reload, status). Imported here: FastAPI is slow to import and the
    client should not wait for it."""
    try:
        from mcp_acp.proxy.api import build_app, serve_api

        await serve_api(build_app(control), paths.proxy_socket_path(name))
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # the proxy works without it; reload still has SIGHUP and the file watch
        log.warning("control socket unavailable (%s); 'mcp-acp policy reload' will not reach this proxy", exc)
