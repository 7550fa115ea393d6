"""Serving a proxy session: the backend, the relay on STDIO, and what runs beside it (the audit
monitor, the policy file watch, the control socket and, unless headless, the manager link).

A backend that cannot be reached refuses the start (StartupRefused, exit 1). The proxy never
waits for the control socket or the manager: without them it still relays and enforces.
"""

from __future__ import annotations

import asyncio
import logging
import signal

from mcp_acp.audit.monitor import watch
from mcp_acp.backends import BackendError
from mcp_acp.config import paths
from mcp_acp.event_names import Event
from mcp_acp.identity.provider import OidcIdentities
from mcp_acp.proxy.listing import LIST_CHANGED
from mcp_acp.proxy.runner import choose_backend, relay_stdio
from mcp_acp.proxy.session import ProxySession
from mcp_acp.proxy.startup import Say, StartupRefused
from mcp_acp.proxy.wire_log import WireLog

log = logging.getLogger("mcp_acp.start")


async def serve(session: ProxySession, headless: bool, say: Say) -> int:
    """Relay until the client or the backend goes away; the exit code."""
    inputs, control, reloader = session.inputs, session.control, session.reloader
    name, config, audit = inputs.name, inputs.config, inputs.audit

    def on_retry(attempt: int, error: Exception, delay: float) -> None:
        say(f"[yellow]Backend not reachable (attempt {attempt}): {error}; retrying in {delay:g} s[/]")

    try:
        backend = await choose_backend(config, on_retry, proxy_name=name)
    except BackendError as exc:
        log.error("backend start failed: %s", exc)
        raise StartupRefused("backend_connection_failed", exc) from None
    say(f"  transport: {backend.transport}")
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(reloader.reload("sighup")))
    background = [
        asyncio.create_task(watch(audit, inputs.shutdown)),
        asyncio.create_task(reloader.watch_file()),
        asyncio.create_task(_serve_control_api(session)),
    ]
    control.info["backend_transport"] = backend.transport
    if not headless:
        background += _manager_tasks(session)
    wire = WireLog(audit.log_dir, config.include_payloads) if config.log_level == "DEBUG" else None

    def on_relay(relay) -> None:
        if session.listing.filtering:  # what the model may see changed with the policy: tell the client
            reloader.on_reloaded.append(
                lambda: [loop.create_task(relay.notify_client(method)) for method in LIST_CHANGED.values()]
            )

    say("Proxy server ready - listening on STDIO")
    try:
        outcome = await relay_stdio(backend, session.gate, session.recorder(backend.transport), wire, on_relay)
    except BackendError as exc:
        log.error("backend start failed: %s", exc)
        raise StartupRefused("backend_connection_failed", exc) from None
    finally:
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        if wire:
            wire.close()
    if outcome.reason:
        say(f"[bold red]Error:[/] {outcome.reason}", soft_wrap=True)
    return outcome.exit_code


def _manager_tasks(session: ProxySession) -> list[asyncio.Task]:
    """Register with the manager (starting it if needed) and keep it informed; the proxy never
    waits for any of this."""
    from mcp_acp.metrics.stats import publish_stats
    from mcp_acp.proxy.manager_link import ManagerClient

    control, config, shutdown = session.control, session.inputs.config, session.inputs.shutdown
    callbacks = {}
    if isinstance(identities := session.inputs.identities, OidcIdentities):
        oidc = identities

        def token_cleared() -> None:  # a logout: no token, no identity, no cached approvals
            oidc.use_manager_tokens(None)
            control.clear_approvals("logout")

        def detached() -> None:  # renew on our own again until the manager is back
            oidc.managed = False

        callbacks = {"on_token": oidc.use_manager_tokens, "on_token_cleared": token_cleared, "on_detached": detached}
    client = ManagerClient(
        session.inputs.name,
        config.proxy_id,
        session.events,
        {"backend_id": config.backend.server_name, "transport": control.info["backend_transport"], "api_port": None},
        slot=session.inputs.slot,
        **callbacks,
    )
    shutdown.on_shutdown.append(
        lambda: session.events.emit(
            Event.CRITICAL_SHUTDOWN,
            severity="critical",
            message=shutdown.reason,
            failure_type=shutdown.failure_type,
            exit_code=shutdown.exit_code,
        )
    )
    control.manager = client
    return [asyncio.create_task(client.run()), asyncio.create_task(publish_stats(control.stats, session.events))]


async def _serve_control_api(session: ProxySession) -> None:
    """The control socket (policy reload, status). Imported here: FastAPI is slow to import and the
    client should not wait for it."""
    try:
        from mcp_acp.proxy.api import build_app, serve_api

        await serve_api(build_app(session.control), paths.proxy_socket_path(session.inputs.name, session.inputs.slot))
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # the proxy works without it; reload still has SIGHUP and the file watch
        log.warning("control socket unavailable (%s); 'mcp-acp policy reload' will not reach this proxy", exc)
