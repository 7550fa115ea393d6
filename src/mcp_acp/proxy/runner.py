"""Runs one proxy: build the backend from config, relay until the client or the backend goes away."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from dataclasses import dataclass

from mcp_acp.backends import Backend, BackendError
from mcp_acp.backends.child_env import child_environment
from mcp_acp.backends.stdio import StdioBackend, resolve_command
from mcp_acp.config.models import ProxyConfig
from mcp_acp.proxy.gate import Gate
from mcp_acp.proxy.relay import Relay
from mcp_acp.proxy.stdio_front import open_stdio

log = logging.getLogger(__name__)

HEALTH_CHECK_DELAYS = (2.0, 4.0)  # docs/configuration.md#backends: three attempts, waiting 2 s then 4 s


@dataclass
class Outcome:
    exit_code: int
    reason: str | None = None  # why the proxy stopped, when that is an error


async def choose_backend(config: ProxyConfig, on_retry=None, proxy_name: str = "") -> Backend:
    """Pick the transport (docs/configuration.md#backends `auto`) and check it is usable before any client traffic.

    Trust checks come first and refuse to start (BackendError) rather than fall back: the HTTP
    backend's API key must be in the secret store and its mTLS files valid and unexpired; a
    STDIO backend's binary must pass its configured attestation before it is spawned.
    Certificate expiry warnings and skipped checks are logged as WARNINGs (stderr + system log).
    `proxy_name` names the proxy in messages that say which command fixes a problem."""
    backend = config.backend
    want_http = backend.http is not None and backend.transport in ("streamablehttp", "auto")
    if want_http:
        from mcp_acp.backends.credentials import auth_headers
        from mcp_acp.backends.http import HttpBackend
        from mcp_acp.backends.http_probe import BackendRejected, probe

        assert backend.http is not None  # want_http
        headers = auth_headers(config, proxy_name)
        verify, client_cert = _tls_settings(config)
        url = backend.http.url
        timeout = min(backend.http.timeout, 10)
        error: BackendError | None = None
        for attempt, delay in enumerate((*HEALTH_CHECK_DELAYS, None), start=1):
            try:
                era = await probe(
                    url, timeout, verify=verify, headers=headers, client_cert=client_cert, proxy_name=proxy_name
                )
                log.info("HTTP backend %s speaks the %s protocol era", url, era)
                return HttpBackend(
                    backend.server_name,
                    url,
                    backend.http.timeout,
                    headers=headers,
                    verify=verify,
                    client_cert=client_cert,
                    era=era,  # cached for the life of the proxy, as versioning.mdx suggests
                )
            except BackendRejected as exc:  # TLS or credentials: waiting will not change the answer
                error = exc
                break
            except BackendError as exc:
                error = exc
            if delay is not None:
                if on_retry:
                    on_retry(attempt, error, delay)
                await asyncio.sleep(delay)
        if backend.stdio is None or backend.transport == "streamablehttp":
            raise BackendError(
                f"cannot reach the HTTP backend at {url}: {error}"
                + (
                    ""
                    if isinstance(error, BackendRejected)
                    else ". Check that the server is running and the URL is right ('mcp-acp proxy show')."
                )
            )
        log.warning("HTTP backend %s unreachable (%s); falling back to STDIO", url, error)
    assert backend.stdio is not None
    await _attest(backend.stdio, proxy_name)
    resolve_command(backend.stdio.command)
    environment = child_environment(proxy_name, backend.stdio)
    return StdioBackend(backend.server_name, backend.stdio.command, backend.stdio.args, environment)


def _tls_settings(config: ProxyConfig):
    """(SSL context, client certificate path) for an https backend with mTLS, else (None, None).
    Refuses invalid or expired certificates; warns about ones that expire within 14 days."""
    if config.mtls is None:
        return None, None
    from mcp_acp.backends.tls import check_mtls, client_ssl_context, mtls_applies

    if not mtls_applies(config):
        log.warning(
            "mTLS is configured but the backend URL %s is not https://: no client certificate is used",
            config.backend.http.url if config.backend.http else "(none)",
        )
        return None, None
    status = check_mtls(config.mtls)
    if status.level in ("warning", "critical"):
        log.warning("%s", status.message)
    return client_ssl_context(mtls=config.mtls), config.mtls.client_cert_path


async def _attest(stdio, proxy_name: str | None) -> None:
    """Binary attestation before the child is spawned (hashing and codesign/gh run in a thread)."""
    if stdio.attestation is None:
        return
    from mcp_acp.backends.attestation import AttestationError, attest

    try:
        report = await asyncio.to_thread(attest, stdio.command, stdio.attestation)
    except AttestationError as exc:
        raise AttestationError(f"proxy '{proxy_name}': {exc}" if proxy_name else str(exc)) from None
    if report is None:
        return
    for check, result in report.checks.items():
        if result.startswith("skipped"):
            log.warning("backend attestation of %s: %s check %s", report.path, check, result)
        else:
            log.info("backend attestation of %s: %s check %s", report.path, check, result)


async def relay_stdio(backend: Backend, gate: Gate, recorder=None, wire=None, on_relay=None) -> Outcome:
    """Serve the MCP client on our stdin/stdout until it closes stdin or a signal arrives.
    `on_relay(relay)` is called once the relay exists (to send the proxy's own notifications)."""
    reader, writer = await open_stdio()

    async def write_to_client(data: bytes) -> None:
        writer.write(data)
        await writer.drain()

    relay = Relay(backend, gate, write_to_client, recorder, wire)
    if on_relay:
        on_relay(relay)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    async def pump_client() -> None:
        while line := await reader.readline():
            await relay.from_client(line)

    await relay.start()
    waits = {
        asyncio.create_task(pump_client()): "client",
        asyncio.create_task(stop.wait()): "signal",
        relay.fatal_backend_loss: "backend",
    }
    try:
        done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        # A lost backend wins over a client that hung up in the same moment: it is the real cause.
        if relay.fatal_backend_loss.done():
            return Outcome(
                relay.fatal_exit_code, f"backend '{backend.server_name}' stopped: {relay.fatal_backend_loss.result()}"
            )
        first = next(iter(done))
        if waits[first] == "client" and first.exception() is not None:
            return Outcome(1, f"reading from the client failed: {first.exception()}")
        return Outcome(0)
    finally:
        for task in waits:
            task.cancel()
        await relay.close()
        with contextlib.suppress(Exception):
            await writer.drain()
