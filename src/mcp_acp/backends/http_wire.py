"""What the MCP streamable-HTTP transport puts on the wire, apart from any session: the routing
headers of a message, a message read from a body or an SSE event, and the words for a failed
exchange.

Kept apart from `http.HttpBackend`, which owns the one long-lived session and its tasks.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import re
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
from httpx_sse import EventSource

from mcp_acp import jsonrpc
from mcp_acp.backends.stdio import LINE_LIMIT  # the same cap on one message both ways
from mcp_acp.policy import methods

log = logging.getLogger("mcp_acp.backends.http")  # the backend's own logger, as before the split

SESSION_HEADER = "Mcp-Session-Id"
PROTOCOL_VERSION_HEADER = "MCP-Protocol-Version"
METHOD_HEADER = "Mcp-Method"
NAME_HEADER = "Mcp-Name"
NAME_BEARING_METHODS = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}
PROTOCOL_VERSION_META_KEY = methods.META_PROTOCOL_VERSION
CLIENT_INFO_META_KEY = methods.META_CLIENT_INFO
CLIENT_CAPABILITIES_META_KEY = methods.META_CLIENT_CAPABILITIES
# The eras of versioning.mdx: "legacy" opens a session with initialize; "modern" declares its
# version in every request's _meta and has no session, no GET stream and no resumption.
LEGACY, MODERN = "legacy", "modern"
MODERN_VERSIONS = methods.MODERN_VERSIONS  # the modern protocol versions this leg speaks, preferred first
# Errors only a modern server answers with (a legacy server's errors mean: fall back to initialize).
HEADER_MISMATCH = -32020
MISSING_REQUIRED_CLIENT_CAPABILITY = -32021
UNSUPPORTED_PROTOCOL_VERSION = -32022
MODERN_ERRORS = frozenset({HEADER_MISMATCH, MISSING_REQUIRED_CLIENT_CAPABILITY, UNSUPPORTED_PROTOCOL_VERSION})
DEFAULT_RETRY_MS = 1000
CONNECTION_CLOSED = -32000
INVALID_PARAMS = -32602

CLOSED_CONNECTION = (httpx.ReadError, httpx.RemoteProtocolError, httpx.WriteError)
NOT_A_MESSAGE = f"JSON-RPC message of at most {LINE_LIMIT // 2**20} MB"


def is_tls_failure(exc: BaseException) -> bool:
    return isinstance(exc, ssl.SSLError) or "CERTIFICATE" in str(exc).upper()


def describe_connection_error(exc: BaseException) -> str:
    """A short, human reason for a failed HTTP exchange."""
    if isinstance(exc, httpx.ConnectTimeout | httpx.ReadTimeout | TimeoutError):
        return "the backend did not answer in time"
    if is_tls_failure(exc):
        return f"TLS verification failed ({exc})"
    if isinstance(exc, httpx.ConnectError):
        return f"connection refused or host unreachable ({exc})"
    return f"{type(exc).__name__}: {exc}"


def closed_in_handshake(client_cert: str | None) -> str:
    """What a connection closed before any HTTP answer on https means: a server that requires client
    certificates closes it right after the TLS handshake when it rejects ours (TLS 1.3 checks the
    client's certificate last)."""
    if client_cert:
        return (
            "TLS handshake failed: the backend closed the connection without answering; it most likely "
            f"rejected the client certificate {client_cert} (is it issued by a CA the server "
            "trusts?)"
        )
    return (
        "TLS handshake failed: the backend closed the connection without answering; it may require a "
        "client certificate (configure 'mtls' in the proxy's config.json)"
    )


_HEADER_SAFE = re.compile(r"[\x20-\x7E]*")
_BASE64_SENTINEL = re.compile(r"=\?base64\?.*\?=")


def encode_header_value(value: str) -> str:
    """A value an HTTP header carries intact: printable ASCII as it is, anything else base64 in
    the `=?base64?...?=` form MCP servers decode."""
    if _HEADER_SAFE.fullmatch(value) and value == value.strip() and not _BASE64_SENTINEL.fullmatch(value):
        return value
    return f"=?base64?{base64.b64encode(value.encode()).decode('ascii')}?="


def message_headers(
    message: dict[str, Any], session_id: str | None, negotiated_version: str | None, accept: str
) -> dict[str, str]:
    """The session's headers, plus the per-message routing headers that newer protocol
    versions require on HTTP."""
    headers = {"Accept": accept, "Content-Type": "application/json"}
    if session_id:
        headers[SESSION_HEADER] = session_id
    method = message.get("method")
    params = p if isinstance(p := message.get("params"), dict) else {}
    meta = m if isinstance(m := params.get("_meta"), dict) else {}
    version = meta.get(PROTOCOL_VERSION_META_KEY) or negotiated_version
    if version and method != "initialize":
        headers[PROTOCOL_VERSION_HEADER] = version
    if method:
        headers[METHOD_HEADER] = method
        name = params.get(NAME_BEARING_METHODS.get(method, ""))
        if isinstance(name, str):
            headers[NAME_HEADER] = encode_header_value(name)
    return headers


def error(request_id: Any, code: int, message: str) -> dict[str, Any]:
    return jsonrpc.error_response(request_id, code, message)


def content_type(response: httpx.Response) -> str:
    return response.headers.get("content-type", "").partition(";")[0].strip().lower()


def is_event_stream(response: httpx.Response) -> bool:
    """A successful answer that is an SSE stream."""
    return response.status_code < 300 and content_type(response) == "text/event-stream"


def parse(data: bytes) -> dict | None:
    """One JSON-RPC message within the size cap, or None."""
    if len(data) > LINE_LIMIT:
        return None
    try:
        message = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    return message if isinstance(message, dict) else None


@dataclass
class StreamCursor:
    """Where an SSE stream got to, so it can be resumed."""

    last_event_id: str | None = None
    retry_ms: int | None = None

    def retry_seconds(self) -> float:
        """How long to wait before picking the stream up again: what the server asked, or a second."""
        return (self.retry_ms if self.retry_ms is not None else DEFAULT_RETRY_MS) / 1000


async def relay_events(
    response: httpx.Response,
    cursor: StreamCursor,
    receive: Callable[[dict[str, Any], bytes | None], Awaitable[None]],
    server_name: str,
    request_id: Any = None,
) -> bool:
    """Pass each message of an SSE stream to `receive`; True once the answer to `request_id` came."""
    events = EventSource(response).aiter_sse()
    async for event in events:
        cursor.last_event_id = event.id or cursor.last_event_id
        cursor.retry_ms = event.retry if event.retry is not None else cursor.retry_ms
        if event.event != "message" or not event.data:
            continue  # a priming event only moves the cursor
        data = event.data.encode()
        message = parse(data)
        raw = data + b"\n" if b"\n" not in data else None
        if message is None:
            log.warning("backend %s sent an event that is not a JSON-RPC message", server_name)
            if request_id is None:
                continue
            message, raw = (
                error(request_id, jsonrpc.PARSE_ERROR, f"the backend sent an event that is not a {NOT_A_MESSAGE}"),
                None,
            )
        answers = request_id is not None and jsonrpc.is_response(message)
        if answers and message["id"] != request_id:
            # An answer on a request's own stream is that request's answer.
            message["id"], raw = request_id, None
        await receive(message, raw)
        if answers:
            await _read_to_the_end(events)
            return True
    return False


DRAIN_SECONDS = 0.25


async def _read_to_the_end(events: AsyncIterator[Any]) -> None:
    """The answer is delivered. A server ends the stream after it: reading to that end lets the
    connection go back to the pool, where leaving the rest unread would close it (a new TCP
    connection for every call). A stream still open after DRAIN_SECONDS is closed as before."""

    async def exhaust() -> None:
        async for _ in events:
            pass

    with contextlib.suppress(Exception):
        await asyncio.wait_for(exhaust(), DRAIN_SECONDS)
