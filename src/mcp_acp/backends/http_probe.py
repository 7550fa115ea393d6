"""The health check of a streamable-HTTP backend: one MCP initialize handshake on a throwaway
session, and what to tell the user when the backend refuses our credentials.

Used before a proxy starts and when one is added; the real session lives in `http.HttpBackend`.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from mcp_acp import __version__
from mcp_acp.backends import BackendError, BackendUnavailable
from mcp_acp.backends.http import HttpBackend


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


async def probe(
    url: str,
    timeout: float,
    ca_bundle: str | None = None,
    *,
    verify: ssl.SSLContext | None = None,
    headers: dict[str, str] | None = None,
    client_cert: str | None = None,
    proxy_name: str | None = None,
) -> None:
    """Health check: one MCP initialize handshake on a throwaway session (docs/auth.md#mtls-to-http-backends), sent with the
    same TLS settings and headers (API key) as the real session."""
    got_answer: asyncio.Future = asyncio.get_running_loop().create_future()

    async def deliver(message: dict[str, Any], raw: bytes | None) -> None:
        if message.get("id") == "mcp-acp-probe" and not got_answer.done():
            got_answer.set_result(message)

    def on_lost(reason: str) -> None:
        if not got_answer.done():
            got_answer.set_exception(BackendError(reason))

    backend = HttpBackend("probe", url, timeout, ca_bundle, headers, verify=verify, client_cert=client_cert)
    backend.log_auth_failures = False  # the caller reports the failure once, with what to do
    try:
        await backend.start(deliver, on_lost)
        await backend.send(
            {
                "jsonrpc": "2.0",
                "id": "mcp-acp-probe",
                "method": "initialize",
                "params": {
                    "protocolVersion": "2025-06-18",
                    "capabilities": {},
                    "clientInfo": {"name": "mcp-acp-health-check", "version": __version__},
                },
            },
            b"",
        )
        answer = await asyncio.wait_for(got_answer, timeout)
    except (BackendUnavailable, BackendError) as exc:
        raise (BackendRejected if backend.rejected else BackendError)(str(exc)) from None
    except TimeoutError:
        raise BackendError(f"no answer within {timeout:g} s") from None
    finally:
        await backend.close()
    if "result" not in answer:
        if backend.last_http_error:
            hint = credential_hint(backend.last_http_error, "Authorization" in (headers or {}), proxy_name)
            raise (BackendRejected if backend.rejected else BackendError)(
                f"the backend answered {backend.last_http_error} to the MCP handshake.{hint}"
            )
        raise BackendError(f"the server refused the MCP handshake: {answer.get('error')}")
