"""A streamable-HTTP backend: ONE long-lived MCP session over one httpx client.

A small client for the MCP streamable-HTTP transport, instead of the SDK's: importing the
SDK's transport loads its server side too (33 MB of a proxy's memory). Each request is a
POST answered with JSON or an SSE stream (resumed with Last-Event-ID when the backend
drops it); notifications and responses get 202; server-initiated messages come on one
GET stream. If the session is lost (a dead connection, or the backend answers 404 to the
session id), pending requests fail and the next request opens a new session, replaying
the client's own `initialize` handshake first so the backend sees an initialized session.

That is the legacy era (protocol versions up to 2025-11-25). A backend that speaks the modern
era (2026-07-28: http_probe finds out which with `server/discover`) has none of it: no session,
no GET stream, no resumption; every request carries its version in `_meta`; a client's
`notifications/cancelled` becomes closing that request's response stream; and tool parameters
annotated with `x-mcp-header` are mirrored into `Mcp-Param-*` headers (http_params.py), so the
leg learns each tool's input schema from the tools/list answers it passes on, and drops the
tools whose annotations are invalid.

What goes on the wire (headers, parsing, SSE events) is in http_wire.py; the health check in
http_probe.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
from httpx_sse import SSEError

from mcp_acp import __version__, jsonrpc
from mcp_acp.backends import BackendUnavailable, Deliver, OnLost
from mcp_acp.backends.http_params import (
    HeaderParam,
    HeaderValueRefused,
    InvalidToolHeaders,
    header_params,
    param_headers,
)
from mcp_acp.backends.http_wire import (
    CLOSED_CONNECTION,
    CONNECTION_CLOSED,
    INVALID_PARAMS,
    LEGACY,
    MODERN,
    MODERN_VERSIONS,
    NOT_A_MESSAGE,
    PROTOCOL_VERSION_META_KEY,
    SESSION_HEADER,
    StreamCursor,
    closed_in_handshake,
    content_type,
    describe_connection_error,
    error,
    is_event_stream,
    is_tls_failure,
    message_headers,
    parse,
    relay_events,
)
from mcp_acp.backends.tls import client_ssl_context

log = logging.getLogger(__name__)

# From this version on, closing a request's response stream IS its cancellation.
STREAM_CLOSE_CANCELS = frozenset({"2026-07-28"})
REPLAY_ID_PREFIX = "mcp-acp-replay-"
RESUME_ATTEMPTS = 2
LISTEN_OPEN_WAIT = 2.0  # seconds the handshake waits for the server stream to answer (it is optional)


class HttpBackend:
    transport = "streamablehttp"
    reconnects = True

    def __init__(
        self,
        server_name: str,
        url: str,
        timeout: float = 30,
        ca_bundle: str | None = None,
        headers: dict[str, str] | None = None,
        *,
        verify: ssl.SSLContext | None = None,
        client_cert: str | None = None,
        era: str = LEGACY,
    ) -> None:
        """`verify`: the SSL context to connect with (mTLS: see tls.client_ssl_context); default:
        system trust, or `ca_bundle`. `client_cert` only names the certificate in error messages.
        `headers` go on every request of the one session (User-Agent, Authorization).
        `era`: LEGACY or MODERN, what the backend speaks (http_probe.probe finds out)."""
        self.server_name = server_name
        self.url = url
        self._timeout = timeout
        self._verify = verify or client_ssl_context(ca_bundle)  # TLS verification is always on
        self._client_cert = client_cert
        self._headers = {"User-Agent": f"mcp-acp/{__version__}", **(headers or {})}
        self.last_http_error: str | None = None  # e.g. "HTTP 401 Unauthorized", for diagnostics
        self.last_status: int | None = None  # the status of the last HTTP answer (the era probe reads it)
        self.rejected = False  # the last failure was TLS or credentials: retrying will not help
        self._answered = False  # this session got an HTTP response, so its TLS handshake succeeded
        self.log_auth_failures = True
        self._deliver: Deliver | None = None
        self._on_lost: OnLost | None = None
        self._client: httpx.AsyncClient | None = None
        self._live = False  # False once the session is lost, until the next request reopens it
        self._generation = 0  # which session a task belongs to: a stale task's failure is old news
        self._session_id: str | None = None
        self.era = era
        self._negotiated_version: str | None = MODERN_VERSIONS[0] if era == MODERN else None
        self._tool_headers: dict[str, tuple[HeaderParam, ...]] = {}  # tool name -> its mirrored parameters
        self._rejected_tools: dict[str, str] = {}  # tool name -> why its annotations are invalid
        self._listings: set[Any] = set()  # ids of tools/list requests whose answers are still to come
        self._initialize: dict[str, Any] | None = None  # the client's, replayed on reconnect
        self._initialized_sent = False
        self._posts: dict[Any, asyncio.Task] = {}  # request id -> the POST awaiting its answer
        self._listener: asyncio.Task | None = None  # the GET stream of server-initiated messages
        self._listening = asyncio.Event()  # set once that stream answered (or gave up)
        self._replay_waiters: dict[str, asyncio.Future] = {}
        self._replays = 0
        self._connect_lock = asyncio.Lock()
        self._closing = False

    async def start(self, deliver: Deliver, on_lost: OnLost) -> None:
        self._deliver, self._on_lost = deliver, on_lost
        self._client = httpx.AsyncClient(
            headers=self._headers,
            verify=self._verify,
            timeout=httpx.Timeout(self._timeout, read=max(300.0, self._timeout)),
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=64),
        )
        self._live = True

    # --- sending -------------------------------------------------------------------

    async def send(self, message: dict[str, Any], raw: bytes) -> None:
        if (problem := jsonrpc.envelope_problem(message)) is not None:
            raise ValueError(f"not a valid JSON-RPC message: {problem}")
        method = message.get("method")
        self._follow_client_era(message)
        if self.era == MODERN:
            pass  # no session, no handshake to replay
        elif method == "initialize":
            self._initialize, self._session_id, self._negotiated_version = message, None, None
        elif method == "notifications/initialized":
            self._initialized_sent = True
        if method == "notifications/cancelled" and self._cancel_by_closing(message):
            return
        if self._client is None:
            raise BackendUnavailable("the HTTP session is closed")
        if not self._live and not await self._reopen():
            return  # the loss was reported: the relay has answered the pending requests
        await self._post(message, raw or jsonrpc.encode(message))

    def _follow_client_era(self, message: dict[str, Any]) -> None:
        """The leg speaks the client's era: the probe tells what the backend answers first, but a
        dual-era backend serves a legacy client (initialize) in a session and a modern client
        (a modern version in `_meta`) without one. The proxy never downgrades a client; a
        modern-only backend refuses a legacy client's initialize, and the client hears so."""
        if message.get("method") == "initialize":
            self.era = LEGACY
            return
        params = message.get("params")
        meta = params.get("_meta") if isinstance(params, dict) else None
        version = meta.get(PROTOCOL_VERSION_META_KEY) if isinstance(meta, dict) else None
        if version in MODERN_VERSIONS and self.era != MODERN:
            self.era, self._negotiated_version, self._session_id = MODERN, version, None

    async def _post(self, message: dict[str, Any], body: bytes) -> None:
        if jsonrpc.is_request(message):
            try:
                headers = self._request_headers(message)
            except (HeaderValueRefused, InvalidToolHeaders) as exc:  # refused here: nothing is sent
                await self._receive(error(message["id"], INVALID_PARAMS, str(exc)))
                return
            if self.era == MODERN and message["method"] == "tools/list":
                self._listings.add(message["id"])
            task = asyncio.create_task(self._request(message, body, self._generation, headers))
            self._posts[message["id"]] = task
            task.add_done_callback(
                lambda done, key=message["id"]: self._posts.get(key) is done and self._posts.pop(key)
            )
            return
        generation = self._generation
        try:  # a notification or a response: the backend only acknowledges it
            async with self._stream("POST", self._headers_for(message), body) as response:
                if response.status_code >= 300:
                    log.warning(
                        "backend %s answered HTTP %s to %s",
                        self.server_name,
                        response.status_code,
                        message.get("method", "a response"),
                    )
        except httpx.HTTPError as exc:
            reason = self._describe(exc)
            self._lose(generation, reason)
            raise BackendUnavailable(reason) from None
        if message.get("method") == "notifications/initialized" and self._session_id:
            # The server's stream is open before the client's next request goes out, so a server
            # never sees it arrive after (and mistake it for the reconnection of) that request.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._listen().wait(), LISTEN_OPEN_WAIT)

    def _cancel_by_closing(self, message: dict[str, Any]) -> bool:
        """At protocol versions where closing the response stream cancels a request, close it
        instead of sending the notification (a modern backend expects no notification on HTTP).
        True: nothing to send."""
        if self.era != MODERN and self._negotiated_version not in STREAM_CLOSE_CANCELS:
            return False
        params = message.get("params") or {}
        task = self._posts.get(params.get("requestId")) if isinstance(params, dict) else None
        if task is not None:
            task.cancel()
        return True

    def _headers_for(self, message: dict[str, Any], accept: str = "application/json, text/event-stream") -> dict:
        return message_headers(message, self._session_id, self._negotiated_version, accept)

    def _request_headers(self, message: dict[str, Any]) -> dict[str, str]:
        """A request's headers; on a modern backend a tools/call also carries its tool's mirrored
        parameters (Mcp-Param-*). Raises for a call the leg must refuse rather than send."""
        headers = self._headers_for(message)
        if self.era != MODERN or message["method"] != "tools/call":
            return headers
        params = message.get("params")
        if not isinstance(params, dict) or not isinstance(name := params.get("name"), str):
            return headers  # the backend answers a malformed call
        if name in self._rejected_tools:
            raise InvalidToolHeaders(
                f"the tool {name!r} is not usable over HTTP: {self._rejected_tools[name]} (it was left out of tools/list)"
            )
        mirrored = param_headers(self._tool_headers.get(name, ()), params.get("arguments"))
        return {**headers, **mirrored}

    def _learn_tools(self, message: dict[str, Any]) -> dict[str, Any]:
        """A modern backend's tools/list answer: remember each tool's mirrored parameters and leave
        out the tools whose `x-mcp-header` annotations are invalid (the spec requires it on HTTP)."""
        result = message.get("result")
        if not isinstance(result, dict) or not isinstance(tools := result.get("tools"), list):
            return message
        kept = []
        for tool in tools:
            name = tool.get("name") if isinstance(tool, dict) else None
            if not isinstance(name, str):
                kept.append(tool)  # not a tool the leg can call; the relay's sanitizer judges it
                continue
            try:
                self._tool_headers[name] = header_params(tool.get("inputSchema"))
            except InvalidToolHeaders as exc:
                self._tool_headers.pop(name, None)
                self._rejected_tools[name] = str(exc)
                log.warning("backend %s: tool %r left out of tools/list: %s", self.server_name, name, exc)
                continue
            self._rejected_tools.pop(name, None)
            kept.append(tool)
        if len(kept) == len(tools):
            return message
        return {**message, "result": {**result, "tools": kept}}

    @contextlib.asynccontextmanager
    async def _stream(
        self, method: str, headers: dict[str, str], body: bytes | None = None, timeout: httpx.Timeout | None = None
    ) -> AsyncIterator[httpx.Response]:
        client = self._client
        if client is None:
            raise BackendUnavailable("the HTTP session is closed")
        extra: dict[str, Any] = {"timeout": timeout} if timeout is not None else {}
        async with client.stream(method, self.url, headers=headers, content=body, **extra) as response:
            self._note_response(response)
            yield response

    def _note_response(self, response: httpx.Response) -> None:
        self._answered = True
        self.last_status = response.status_code
        if response.status_code < 400:
            return
        if response.status_code in (401, 403):
            self.rejected = True
        self.last_http_error = f"HTTP {response.status_code} {response.reason_phrase}".strip()
        if response.status_code in (401, 403) and self.log_auth_failures:
            sent = "an API key" if "Authorization" in self._headers else "no API key"
            log.warning("backend %s answered %s (mcp-acp sent %s)", self.server_name, self.last_http_error, sent)

    # --- answers -------------------------------------------------------------------

    async def _request(self, message: dict[str, Any], body: bytes, generation: int, headers: dict[str, str]) -> None:
        """POST one request and deliver everything its answer carries."""
        # A subscriptions/listen stream is idle for as long as nothing changes: no read timeout.
        listen = message["method"] == "subscriptions/listen"
        timeout = httpx.Timeout(self._timeout, read=None) if listen else None
        try:
            async with self._stream("POST", headers, body, timeout) as response:
                if message["method"] == "initialize" and response.status_code < 300 and self.era == LEGACY:
                    self._session_id = response.headers.get(SESSION_HEADER) or self._session_id
                failure = await self._answer_of(response, message["id"], generation)
        except httpx.HTTPError as exc:
            if self.era == MODERN and not isinstance(exc, httpx.ConnectError):
                # No session to lose: only this request failed.
                failure = error(message["id"], CONNECTION_CLOSED, f"the backend did not answer: {self._describe(exc)}")
            else:
                self._lose(generation, self._describe(exc))
                return
        if failure is not None:
            await self._receive(failure)

    async def _answer_of(self, response: httpx.Response, request_id: Any, generation: int) -> dict | None:
        """Deliver the answer a response carries; or return the error that stands in for it."""
        status = response.status_code
        if status == 202:
            return error(request_id, jsonrpc.INVALID_REQUEST, "the backend accepted the request but sent no answer")
        if 300 <= status < 400:
            return error(
                request_id,
                jsonrpc.INVALID_REQUEST,
                f"the backend redirected to {response.headers.get('location')}; redirects are not "
                "followed: if that is the intended server, put its URL in the proxy's config",
            )
        if status == 404 and self._session_id:
            self._lose(generation, "the backend ended the MCP session (HTTP 404); the next request opens a new one")
            return None
        kind = content_type(response)
        if status >= 400:
            if kind == "application/json":
                with contextlib.suppress(orjson.JSONDecodeError):
                    answer = orjson.loads(await response.aread())
                    if isinstance(answer, dict) and isinstance(answer.get("error"), dict):
                        return {"jsonrpc": "2.0", "id": request_id, "error": answer["error"]}
            return error(request_id, jsonrpc.INTERNAL_ERROR, f"the backend answered {self.last_http_error}")
        if kind == "application/json":
            return await self._deliver_json(await response.aread(), request_id)
        if kind == "text/event-stream":
            cursor = StreamCursor()
            try:
                if await self._relay_events(response, cursor, request_id):
                    return None
            except (httpx.TransportError, SSEError) as exc:  # the stream broke: the session may be fine
                if cursor.last_event_id is None or self.era == MODERN:  # modern streams are not resumable
                    return error(
                        request_id,
                        CONNECTION_CLOSED,
                        f"the backend's event stream broke before the answer came ({describe_connection_error(exc)})",
                    )
            if self.era == MODERN:
                return error(request_id, CONNECTION_CLOSED, "the backend's event stream ended without an answer")
            return await self._resume(request_id, cursor)
        return error(request_id, jsonrpc.INVALID_REQUEST, f"the backend answered with content type {kind!r}")

    async def _deliver_json(self, body: bytes, request_id: Any) -> dict | None:
        message = parse(body)
        if message is None:
            return error(
                request_id,
                jsonrpc.PARSE_ERROR,
                f"the backend answered with something other than a {NOT_A_MESSAGE}",
            )
        body = body.strip()
        raw = body + b"\n" if b"\n" not in body else None
        if jsonrpc.is_response(message) and message["id"] != request_id:
            message["id"], raw = request_id, None  # the body of a request's POST is that request's answer
        await self._receive(message, raw)
        return None

    async def _relay_events(self, response: httpx.Response, cursor: StreamCursor, request_id: Any = None) -> bool:
        """Deliver each message of an SSE stream; True once the answer to `request_id` came."""
        return await relay_events(response, cursor, self._receive, self.server_name, request_id)

    async def _resume(self, request_id: Any, cursor: StreamCursor) -> dict | None:
        """The backend closed a request's stream before answering: pick it up where it stopped."""
        failures = 0
        while cursor.last_event_id is not None and failures < RESUME_ATTEMPTS and not self._closing:
            await asyncio.sleep(cursor.retry_seconds())
            headers = {**self._headers_for({}, accept="text/event-stream"), "Last-Event-ID": cursor.last_event_id}
            try:
                async with self._stream("GET", headers) as response:
                    if not is_event_stream(response):
                        failures += 1
                        continue
                    failures = 0
                    if await self._relay_events(response, cursor, request_id):
                        return None
            except (httpx.TransportError, SSEError):
                failures += 1
        return error(request_id, CONNECTION_CLOSED, "the backend's event stream ended without an answer")

    def _listen(self) -> asyncio.Event:
        """Open the GET stream on which the backend sends its own requests and notifications;
        the event is set once it answered."""
        if self._listener is None or self._listener.done():
            self._listening = asyncio.Event()
            self._listener = asyncio.create_task(self._listen_for_server(self._generation, self._listening))
        return self._listening

    async def _listen_for_server(self, generation: int, opened: asyncio.Event) -> None:
        try:
            await self._follow_server(generation, opened)
        finally:
            opened.set()  # nobody waits for a stream that will not come

    async def _follow_server(self, generation: int, opened: asyncio.Event) -> None:
        cursor, failures = StreamCursor(), 0
        while failures < RESUME_ATTEMPTS and generation == self._generation and not self._closing:
            headers = self._headers_for({}, accept="text/event-stream")
            if cursor.last_event_id:
                headers["Last-Event-ID"] = cursor.last_event_id
            try:  # an idle stream is normal: no read timeout
                async with self._stream("GET", headers, timeout=httpx.Timeout(self._timeout, read=None)) as response:
                    opened.set()
                    if not is_event_stream(response):
                        return  # this backend offers no such stream (405)
                    failures = 0
                    await self._relay_events(response, cursor)
            except (httpx.TransportError, SSEError) as exc:
                failures += 1
                log.debug("backend %s: server stream broke: %s", self.server_name, exc)
            await asyncio.sleep(cursor.retry_seconds())

    async def _receive(self, message: dict[str, Any], raw: bytes | None = None) -> None:
        request_id = message.get("id")
        if isinstance(request_id, str) and request_id in self._replay_waiters:
            self._replay_waiters.pop(request_id).set_result(message)
            return
        if (
            self._initialize is not None
            and request_id == self._initialize.get("id")
            and "method" not in message
            and isinstance(message.get("result"), dict)
        ):
            self._negotiated_version = message["result"].get("protocolVersion")
        if request_id in self._listings and "method" not in message:
            self._listings.discard(request_id)
            learned = self._learn_tools(message)
            if learned is not message:
                message, raw = learned, None
        assert self._deliver is not None  # set by start(), before anything is received
        await self._deliver(message, raw)

    # --- losing and reopening the session ------------------------------------------------

    def _lose(self, generation: int, reason: str) -> None:
        """The session is gone: stop its traffic and report it once; the next request reopens it."""
        if generation != self._generation or self._closing:
            return
        self._generation += 1
        self._live, self._session_id = False, None
        self._stop_traffic()
        for waiter in self._replay_waiters.values():
            if not waiter.done():
                waiter.set_exception(BackendUnavailable(reason))
        self._replay_waiters.clear()
        if self._on_lost is not None:
            self._on_lost(reason)

    def _stop_traffic(self) -> list[asyncio.Task]:
        current = asyncio.current_task()
        tasks = [task for task in (*self._posts.values(), self._listener) if task is not None and task is not current]
        for task in tasks:
            task.cancel()
        return tasks

    def _describe(self, exc: BaseException) -> str:
        """describe_connection_error, plus what a closed connection means before any HTTP answer on
        https: a server that requires client certificates closes the connection right after the
        TLS handshake when it rejects ours (TLS 1.3 checks the client's certificate last)."""
        if is_tls_failure(exc):
            self.rejected = True
        if isinstance(exc, CLOSED_CONNECTION) and not self._answered and self.url.lower().startswith("https://"):
            self.rejected = True
            return closed_in_handshake(self._client_cert)
        return describe_connection_error(exc)

    async def _reopen(self) -> bool:
        """Open a new session after a loss. False: it failed, and the failure was reported."""
        async with self._connect_lock:
            if self._live:
                return True
            self._answered, self.rejected = False, False
            if self._initialize is not None:  # others wait on the lock: nothing is sent before it
                generation = self._generation
                try:
                    await self._replay_handshake()
                except (BackendUnavailable, TimeoutError) as exc:
                    self._lose(generation, f"could not open a new MCP session: {exc or 'no answer in time'}")
                    return False
            self._live = True
            return True

    async def _replay_handshake(self) -> None:
        self._replays += 1
        replay_id = f"{REPLAY_ID_PREFIX}{self._replays}"
        waiter = asyncio.get_running_loop().create_future()
        self._replay_waiters[replay_id] = waiter
        assert self._initialize is not None  # replayed only once a handshake was seen
        replay = {**self._initialize, "id": replay_id}
        await self._post(replay, jsonrpc.encode(replay))
        answer = await asyncio.wait_for(waiter, self._timeout)
        if "error" in answer:
            raise BackendUnavailable(f"the backend refused the replayed initialize: {answer['error']}")
        if self._initialized_sent:
            initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
            await self._post(initialized, jsonrpc.encode(initialized))
        log.warning("backend %s reconnected with a new session", self.server_name)

    async def close(self) -> None:
        self._closing = True
        tasks = self._stop_traffic()
        if tasks:
            await asyncio.wait(tasks, timeout=5)
        client, self._client = self._client, None
        if client is None:
            return
        if self._session_id:  # end the session on the backend too
            with contextlib.suppress(httpx.HTTPError):
                await client.delete(self.url, headers=self._headers_for({}), timeout=2)
        await client.aclose()
