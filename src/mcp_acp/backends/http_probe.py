"""The health check of a streamable-HTTP backend, which also finds out the backend's protocol era:
a modern `server/discover` first, an initialize handshake on a throwaway session if the backend
is not modern; and what to tell the user when the backend refuses our credentials.

Used before a proxy starts and when one is added; the real session lives in `http.HttpBackend`.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from mcp_acp import __version__
from mcp_acp.backends import BackendError, BackendUnavailable
from mcp_acp.backends.http import HttpBackend
from mcp_acp.backends.http_wire import (
    CLIENT_CAPABILITIES_META_KEY,
    CLIENT_INFO_META_KEY,
    LEGACY,
    MODERN,
    MODERN_ERRORS,
    MODERN_VERSIONS,
    PROTOCOL_VERSION_META_KEY,
    UNSUPPORTED_PROTOCOL_VERSION,
)

METHOD_NOT_FOUND = -32601


class BackendRejected(BackendError):
    """The backend is reachable but refuses us (TLS or credentials): retrying will not help."""


def credential_hint(http_error: str | None, sent_key: bool, proxy_name: str | None = None) -> str:
    """What to do about a 401/403 answer."""
    if not http_error or http_error.split()[1:2] not in (["401"], ["403"]):
        return ""
    command = f"'mcp-acp proxy auth set-key --proxy {proxy_name or 'NAME'}'"
    if sent_key:
        return f" The backend rejected the API key mcp-acp sent; store the right one with {command}."
    return f" The backend requires credentials and no API key is configured; store one with {command}."


DISCOVER_ID = "mcp-acp-probe"


def discover_request(version: str) -> dict[str, Any]:
    """A modern `server/discover`, with the per-request _meta every modern request carries."""
    return {
        "jsonrpc": "2.0",
        "id": DISCOVER_ID,
        "method": "server/discover",
        "params": {
            "_meta": {
                PROTOCOL_VERSION_META_KEY: version,
                CLIENT_INFO_META_KEY: {"name": "mcp-acp-health-check", "version": __version__},
                CLIENT_CAPABILITIES_META_KEY: {},
            }
        },
    }


INITIALIZE = {
    "jsonrpc": "2.0",
    "id": DISCOVER_ID,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "mcp-acp-health-check", "version": __version__},
    },
}


def discover_verdict(answer: dict[str, Any], status: int | None) -> tuple[str, str | None]:
    """What a server/discover answer says about the backend's era (basic/versioning.mdx,
    transports/streamable-http.mdx#backward-compatibility): (MODERN, None); ("retry", version)
    when a modern server named a modern version we speak; or (LEGACY, None): anything that is not
    a recognized modern answer means an initialize-era server."""
    result = answer.get("result")
    if isinstance(result, dict):
        supported = result.get("supportedVersions")
        if isinstance(supported, list) and any(v in MODERN_VERSIONS for v in supported):
            return MODERN, None
        return LEGACY, None  # e.g. a legacy server's empty result for a method it does not know
    failure = answer.get("error")
    code = failure.get("code") if isinstance(failure, dict) else None
    if code == UNSUPPORTED_PROTOCOL_VERSION:
        data = failure.get("data") if isinstance(failure, dict) else None
        supported = data.get("supported") if isinstance(data, dict) else None
        ours = [v for v in MODERN_VERSIONS if isinstance(supported, list) and v in supported]
        return ("retry", ours[0]) if ours else (LEGACY, None)
    if code in MODERN_ERRORS or (code == METHOD_NOT_FOUND and status == 404):
        return MODERN, None
    return LEGACY, None


async def probe(
    url: str,
    timeout: float,
    ca_bundle: str | None = None,
    *,
    verify: ssl.SSLContext | None = None,
    headers: dict[str, str] | None = None,
    client_cert: str | None = None,
    proxy_name: str | None = None,
) -> str:
    """Health check, and which era the backend speaks (MODERN or LEGACY): a `server/discover`, then,
    if the backend does not answer it as a modern server, an initialize handshake on a throwaway
    session (docs/auth.md#mtls-to-http-backends). Sent with the same TLS settings and headers (API
    key) as the real session."""

    async def ask(message: dict[str, Any], era: str) -> tuple[dict[str, Any], HttpBackend]:
        backend = HttpBackend(
            "probe", url, timeout, ca_bundle, headers, verify=verify, client_cert=client_cert, era=era
        )
        return await _exchange(backend, message, timeout), backend

    version, answer = MODERN_VERSIONS[0], {}
    for _ in range(2):  # a modern server may name another version: one retry with it
        answer, backend = await ask(discover_request(version), MODERN)
        if backend.rejected:
            _refuse(answer, backend, headers, proxy_name)
        verdict, retry_with = discover_verdict(answer, backend.last_status)
        if verdict == MODERN:
            return MODERN
        if verdict == LEGACY:
            break
        assert retry_with is not None  # the "retry" verdict names the version
        version = retry_with
    else:
        raise BackendError(f"the backend refused every modern protocol version we offered: {answer.get('error')}")
    answer, backend = await ask(INITIALIZE, LEGACY)
    if "result" not in answer:
        _refuse(answer, backend, headers, proxy_name)
    return LEGACY


async def _exchange(backend: HttpBackend, message: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Send one request on a throwaway backend and return its answer (an error answer included)."""
    got_answer: asyncio.Future = asyncio.get_running_loop().create_future()

    async def deliver(answer: dict[str, Any], raw: bytes | None) -> None:
        if answer.get("id") == message["id"] and not got_answer.done():
            got_answer.set_result(answer)

    def on_lost(reason: str) -> None:
        if not got_answer.done():
            got_answer.set_exception(BackendError(reason))

    backend.log_auth_failures = False  # the caller reports the failure once, with what to do
    try:
        await backend.start(deliver, on_lost)
        await backend.send(message, b"")
        return await asyncio.wait_for(got_answer, timeout)
    except (BackendUnavailable, BackendError) as exc:
        raise (BackendRejected if backend.rejected else BackendError)(str(exc)) from None
    except TimeoutError:
        raise BackendError(f"no answer within {timeout:g} s") from None
    finally:
        await backend.close()


def _refuse(answer: dict[str, Any], backend: HttpBackend, headers: dict[str, str] | None, proxy_name: str | None):
    """Raise what a refused handshake means, with what to do about credentials."""
    if backend.last_http_error:
        hint = credential_hint(backend.last_http_error, "Authorization" in (headers or {}), proxy_name)
        raise (BackendRejected if backend.rejected else BackendError)(
            f"the backend answered {backend.last_http_error} to the MCP handshake.{hint}"
        )
    failure = answer.get("error")
    if backend.rejected and isinstance(failure, dict):  # TLS refused on the way: say why, do not retry
        raise BackendRejected(str(failure.get("message")))
    raise BackendError(f"the server refused the MCP handshake: {failure}")
