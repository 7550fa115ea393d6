"""Running the gateway: open each served proxy (its trail verified, as any proxy start does),
build its resource server, and serve them all with uvicorn until a signal arrives.

A proxy that cannot be opened (a broken trail, a bad policy) is not served, and says why; the
others are. With nothing to serve, the gateway does not start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field

import uvicorn

from mcp_acp.audit.export.exporter import start_in_background
from mcp_acp.audit.monitor import watch
from mcp_acp.audit.opening import Checkpointing
from mcp_acp.config.gateway import GatewayConfig, GatewayProxy
from mcp_acp.gateway.app import Gateway, build_app, follow_revocations
from mcp_acp.gateway.endpoint import Endpoint, gateway_identity
from mcp_acp.gateway.front import Front
from mcp_acp.gateway.resource_server import ResourceServer, metadata_path
from mcp_acp.gateway.status import serve_status
from mcp_acp.identity.provider import LocalIdentities
from mcp_acp.manager.http_limits import tcp_settings
from mcp_acp.proxy.startup import Started, StartupRefused, open_proxy, record_refusal
from mcp_acp.state import open_state

log = logging.getLogger(__name__)

Say = Callable[..., object]


def _as_gateway(manager, audit):
    identity = gateway_identity()
    return LocalIdentities(identity), identity


@dataclass
class Served:
    endpoints: dict[str, Endpoint] = field(default_factory=dict)
    refused: dict[str, StartupRefused] = field(default_factory=dict)


def open_endpoints(config: GatewayConfig, names: list[str]) -> Served:
    served = Served()
    checkpointing = Checkpointing(config.replica, config.checkpoints)  # signed checkpoints per replica
    for name in names:
        try:
            started = open_proxy(name, identify=_as_gateway, checkpointing=checkpointing)
        except StartupRefused as refused:
            record_refusal(name, refused)
            served.refused[name] = refused
            continue
        settings = config.proxies.get(name) or GatewayProxy()
        served.endpoints[name] = Endpoint(started, settings, approval_ui=f"{config.base_url}/approvals")
    return served


def resource_servers(config: GatewayConfig, names: list[str]) -> dict[str, ResourceServer]:
    if config.auth is None:
        return {}
    return {
        name: ResourceServer(config.auth, config.resource_url(name), config.base_url + metadata_path(name))
        for name in names
    }


class _Server(uvicorn.Server):
    """uvicorn re-raises the stop signal (SIGTERM, SIGINT) once it has stopped serving, which
    killed the process before each proxy's finish() (the trail record, the final signed
    checkpoint). Here the signal only stops the server; serve() returns and finish() runs."""

    @contextlib.contextmanager
    def capture_signals(self):
        with super().capture_signals():
            yield
            self._captured_signals.clear()


def uvicorn_config(config: GatewayConfig, app) -> uvicorn.Config:
    limits = config.limits
    tls = {}
    if config.tls:
        tls = {"ssl_certfile": config.tls.cert_file, "ssl_keyfile": config.tls.key_file}
        if config.tls.client_ca_file:
            tls |= {"ssl_ca_certs": config.tls.client_ca_file, "ssl_cert_reqs": ssl.CERT_REQUIRED}
    return uvicorn.Config(
        app,
        host=config.host,
        port=config.port,
        log_level="warning",
        access_log=False,
        server_header=False,
        proxy_headers=False,  # audience and metadata come from public_url, never from X-Forwarded-*
        lifespan="on",
        **tls,
        **tcp_settings(limits.max_connections, limits.header_timeout_seconds, limits.body_timeout_seconds),
    )


async def serve(config: GatewayConfig, served: Served, say: Say) -> int:
    endpoints = served.endpoints
    fronts = {name: Front(endpoint) for name, endpoint in endpoints.items()}
    state = open_state(config.state.url, config.replica)
    gateway = Gateway(config, fronts, state, resource_servers(config, list(endpoints)))

    @contextlib.asynccontextmanager
    async def lifespan(app):
        tasks = [asyncio.create_task(front.expire_sessions()) for front in fronts.values()]
        exporter = start_in_background(config.export, list(endpoints))  # audit to the SIEM, in a child process
        tasks.append(asyncio.create_task(serve_status(config, fronts)))
        tasks.append(asyncio.create_task(gateway.shared.follow()))
        tasks.append(asyncio.create_task(follow_revocations(gateway)))
        for endpoint in endpoints.values():
            started: Started = endpoint.started
            tasks += [
                asyncio.create_task(endpoint.watch_policy()),
                asyncio.create_task(watch(started.audit, started.shutdown)),
            ]
        try:
            yield
        finally:
            if exporter is not None:
                exporter.stop(timeout=5)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for front in fronts.values():
                await front.close()
            for endpoint in endpoints.values():
                await endpoint.close()
            await state.close()

    server = _Server(uvicorn_config(config, build_app(gateway, lifespan)))
    for name in endpoints:
        say(f"  [bold]{name}[/]: {config.resource_url(name)}")
    say(
        "  auth: "
        + (
            f"OAuth 2.1 bearer tokens from {config.auth.issuer}"
            if config.auth
            else "[yellow]the local user (loopback only, no tokens)[/]"
        )
    )
    await server.serve()
    codes = [endpoint.started.finish(0, say) for endpoint in endpoints.values()]
    return max(codes, default=0)
