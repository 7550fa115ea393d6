"""A streamable-HTTP backend: ONE long-lived MCP session through the official SDK transport.

Messages go over the session as they are; the transport handles the MCP session id, the
server-to-client GET stream and SSE responses. The session is opened once and reused; if
it is lost, pending requests fail and the next request opens a new session, replaying the
client's own `initialize` handshake first so the backend sees an initialized session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from typing import Any

import httpx2
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.inbound import (
    MCP_METHOD_HEADER,
    MCP_NAME_HEADER,
    MCP_PROTOCOL_VERSION_HEADER,
    NAME_BEARING_METHODS,
    encode_header_value,
)
from mcp.shared.message import ClientMessageMetadata, SessionMessage
from mcp_types import JSONRPCMessage, jsonrpc_message_adapter
from pydantic import ValidationError

from mcp_acp import __version__
from mcp_acp.proxy.backends import BackendError, BackendUnavailable, Deliver, OnLost
from mcp_acp.proxy.backends.stdio import LINE_LIMIT  # the same cap on one message both ways
from mcp_acp.proxy.backends.tls import client_ssl_context

log = logging.getLogger(__name__)

PROTOCOL_VERSION_META_KEY = "io.modelcontextprotocol/protocolVersion"
REPLAY_ID_PREFIX = "mcp-acp-replay-"


CLOSED_CONNECTION = (httpx2.ReadError, httpx2.RemoteProtocolError, httpx2.WriteError)


def _innermost(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def is_tls_failure(exc: BaseException) -> bool:
    exc = _innermost(exc)
    return isinstance(exc, ssl.SSLError) or "CERTIFICATE" in str(exc).upper()


def describe_connection_error(exc: BaseException) -> str:
    """A short, human reason for a failed HTTP exchange."""
    exc = _innermost(exc)
    if isinstance(exc, httpx2.ConnectTimeout | httpx2.ReadTimeout | TimeoutError):
        return "the backend did not answer in time"
    if is_tls_failure(exc):
        return f"TLS verification failed ({exc})"
    if isinstance(exc, httpx2.ConnectError):
        return f"connection refused or host unreachable ({exc})"
    return f"{type(exc).__name__}: {exc}"


def ssl_context(ca_bundle: str | None) -> ssl.SSLContext:
    """TLS verification is always on; a CA bundle (a private CA) replaces the system trust store."""
    return client_ssl_context(ca_bundle)


class BackendRejected(BackendError):
    """The backend is reachable but refuses us (TLS or credentials): retrying will not help."""


class HttpBackend:
    transport = "streamablehttp"
    reconnects = True

    def __init__(self, server_name: str, url: str, timeout: float = 30, ca_bundle: str | None = None,
                 headers: dict[str, str] | None = None, *, verify: ssl.SSLContext | None = None,
                 client_cert: str | None = None) -> None:
        """`verify`: the SSL context to connect with (mTLS: see tls.client_ssl_context); default:
        system trust, or `ca_bundle`. `client_cert` only names the certificate in error messages.
        `headers` go on every request of the one session (User-Agent, Authorization)."""
        self.server_name = server_name
        self.url = url
        self._timeout = timeout
        self._verify = verify or ssl_context(ca_bundle)
        self._client_cert = client_cert
        self._headers = {"User-Agent": f"mcp-acp/{__version__}", **(headers or {})}
        self.last_http_error: str | None = None  # e.g. "HTTP 401 Unauthorized", for diagnostics
        self.rejected = False  # the last failure was TLS or credentials: retrying will not help
        self._answered = False  # this session got an HTTP response, so its TLS handshake succeeded
        self.log_auth_failures = True
        self._deliver: Deliver | None = None
        self._on_lost: OnLost | None = None
        self._write = None
        self._session: asyncio.Task | None = None
        self._connect_lock = asyncio.Lock()
        self._negotiated_version: str | None = None
        self._initialize: dict[str, Any] | None = None  # the client's, replayed on reconnect
        self._initialized_sent = False
        self._replay_waiters: dict[str, asyncio.Future] = {}
        self._replays = 0
        self._closing = False

    async def start(self, deliver: Deliver, on_lost: OnLost) -> None:
        self._deliver, self._on_lost = deliver, on_lost
        await self._connect()

    # --- the session ---------------------------------------------------------------

    async def _connect(self) -> None:
        ready: asyncio.Future = asyncio.get_running_loop().create_future()
        self._session = asyncio.create_task(self._run_session(ready))
        await ready

    async def _run_session(self, ready: asyncio.Future) -> None:
        reason = "the HTTP session ended"
        self._answered = self.rejected = False
        try:
            timeout = httpx2.Timeout(self._timeout, read=max(300.0, self._timeout))
            async with (
                httpx2.AsyncClient(headers=self._headers, timeout=timeout, verify=self._verify,
                                   event_hooks={"response": [self._note_response]}) as client,
                streamable_http_client(self.url, http_client=client, max_sse_event_size=LINE_LIMIT) as (read, write),
            ):
                self._write = write
                ready.set_result(None)
                async for item in read:
                    if isinstance(item, Exception):
                        log.warning("backend %s transport error: %s", self.server_name, item)
                        continue
                    await self._receive(item.message.model_dump(by_alias=True, mode="json", exclude_unset=True))
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # the SDK raises ExceptionGroups from its task group
            reason = self._describe(exc)
        finally:
            self._write = None
            if not ready.done():
                ready.set_result(None)
        if not self._closing and self._on_lost is not None:
            for waiter in self._replay_waiters.values():
                if not waiter.done():
                    waiter.set_exception(BackendUnavailable(reason))
            self._on_lost(reason)

    def _describe(self, exc: BaseException) -> str:
        """describe_connection_error, plus what a closed connection means before any HTTP answer on
        https: a server that requires client certificates closes the connection right after the
        TLS handshake when it rejects ours (TLS 1.3 checks the client's certificate last)."""
        if is_tls_failure(exc):
            self.rejected = True
        inner = _innermost(exc)
        if isinstance(inner, CLOSED_CONNECTION) and not self._answered and self.url.lower().startswith("https://"):
            self.rejected = True
            if self._client_cert:
                return ("TLS handshake failed: the backend closed the connection without answering; it most likely "
                        f"rejected the client certificate {self._client_cert} (is it issued by a CA the server "
                        "trusts?)")
            return ("TLS handshake failed: the backend closed the connection without answering; it may require a "
                    "client certificate (configure 'mtls' in the proxy's config.json)")
        return describe_connection_error(exc)

    async def _note_response(self, response: httpx2.Response) -> None:
        self._answered = True
        if response.status_code < 400:
            return
        if response.status_code in (401, 403):
            self.rejected = True
        self.last_http_error = f"HTTP {response.status_code} {response.reason_phrase}".strip()
        if response.status_code in (401, 403) and self.log_auth_failures:
            sent = "an API key" if "Authorization" in self._headers else "no API key"
            log.warning("backend %s answered %s (mcp-acp sent %s)", self.server_name, self.last_http_error, sent)

    async def _receive(self, message: dict[str, Any]) -> None:
        request_id = message.get("id")
        if isinstance(request_id, str) and request_id in self._replay_waiters:
            self._replay_waiters.pop(request_id).set_result(message)
            return
        if self._initialize is not None and request_id == self._initialize.get("id") and "result" in message:
            self._negotiated_version = message["result"].get("protocolVersion")
        await self._deliver(message, None)

    async def _ensure_connected(self) -> None:
        async with self._connect_lock:
            if self._write is not None:
                return
            await self._connect()
            if self._write is None:
                raise BackendUnavailable(f"cannot reach {self.url}")
            if self._initialize is not None:
                await self._replay_handshake()

    async def _replay_handshake(self) -> None:
        self._replays += 1
        replay_id = f"{REPLAY_ID_PREFIX}{self._replays}"
        waiter = asyncio.get_running_loop().create_future()
        self._replay_waiters[replay_id] = waiter
        await self._post({**self._initialize, "id": replay_id})
        answer = await asyncio.wait_for(waiter, self._timeout)
        if "error" in answer:
            raise BackendUnavailable(f"the backend refused the replayed initialize: {answer['error']}")
        if self._initialized_sent:
            await self._post({"jsonrpc": "2.0", "method": "notifications/initialized"})
        log.warning("backend %s reconnected with a new session", self.server_name)

    # --- sending -------------------------------------------------------------------

    def _headers_for(self, message: dict[str, Any]) -> dict[str, str]:
        """The per-message routing headers that newer protocol versions require on HTTP."""
        method = message.get("method")
        params = message.get("params") or {}
        meta = params.get("_meta") if isinstance(params, dict) else None
        version = (meta or {}).get(PROTOCOL_VERSION_META_KEY) or self._negotiated_version
        headers: dict[str, str] = {}
        if version and method != "initialize":
            headers[MCP_PROTOCOL_VERSION_HEADER] = version
        if method:
            headers[MCP_METHOD_HEADER] = method
            name = params.get(NAME_BEARING_METHODS.get(method, ""), None) if isinstance(params, dict) else None
            if isinstance(name, str):
                headers[MCP_NAME_HEADER] = encode_header_value(name)
        return headers

    async def _post(self, message: dict[str, Any]) -> None:
        try:
            parsed: JSONRPCMessage = jsonrpc_message_adapter.validate_python(message, by_name=False)
        except ValidationError as exc:
            raise ValueError(f"not a valid JSON-RPC message: {exc.errors()[0]['msg']}") from None
        write = self._write
        if write is None:
            raise BackendUnavailable("the HTTP session is closed")
        metadata = ClientMessageMetadata(headers=self._headers_for(message))
        try:
            await write.send(SessionMessage(parsed, metadata=metadata))
        except Exception as exc:
            raise BackendUnavailable(self._describe(exc)) from None

    async def send(self, message: dict[str, Any], raw: bytes) -> None:
        method = message.get("method")
        if method == "initialize":
            self._initialize = message
        elif method == "notifications/initialized":
            self._initialized_sent = True
        if self._write is None:
            await self._ensure_connected()
        await self._post(message)

    async def close(self) -> None:
        self._closing = True
        if self._session is not None:
            self._session.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._session, 5)


def credential_hint(http_error: str | None, sent_key: bool, proxy_name: str | None = None) -> str:
    """What to do about a 401/403 answer."""
    if not http_error or http_error.split()[1:2] not in (["401"], ["403"]):
        return ""
    command = f"'mcp-acp proxy auth set-key --proxy {proxy_name or 'NAME'}'"
    if sent_key:
        return f" The backend rejected the API key mcp-acp sent; store the right one with {command}."
    return f" The backend requires credentials and no API key is configured; store one with {command}."


async def probe(url: str, timeout: float, ca_bundle: str | None = None, *, verify: ssl.SSLContext | None = None,
                headers: dict[str, str] | None = None, client_cert: str | None = None,
                proxy_name: str | None = None) -> None:
    """Health check: one MCP initialize handshake on a throwaway session (SPEC §10), sent with the
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
        await backend.send({
            "jsonrpc": "2.0", "id": "mcp-acp-probe", "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                       "clientInfo": {"name": "mcp-acp-health-check", "version": __version__}},
        }, b"")
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
                f"the backend answered {backend.last_http_error} to the MCP handshake.{hint}")
        raise BackendError(f"the server refused the MCP handshake: {answer.get('error')}")
