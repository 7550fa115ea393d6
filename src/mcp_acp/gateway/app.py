"""The gateway's HTTP surface: `/mcp/<proxy>` (streamable HTTP, both eras), its protected
resource metadata (RFC 9728), and `/healthz`.

Every request to an endpoint passes, in order: Host (DNS rebinding), Origin, the Bearer token
(an OAuth 2.1 resource server; the local user on a loopback gateway without `auth`), the
principal's rate limit, the body's size and deadline, one JSON-RPC object, and the agreement of
the MCP headers with the body. Only then does the relay see it: decided, approved and recorded
exactly as on STDIO. The client's token never goes further than this module.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import orjson
from sse_starlette.sse import EventSourceResponse
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mcp_acp import jsonrpc
from mcp_acp.config.gateway import GatewayConfig
from mcp_acp.gateway import approvals, events
from mcp_acp.gateway.endpoint import current_caller, principal_identity
from mcp_acp.gateway.front import SESSION_IDLE_SECONDS, Front, Outbox, answer_status, is_modern, stream_events
from mcp_acp.gateway.http_checks import (
    HttpRefusal,
    check_host,
    check_origin,
    check_protocol_headers,
    rate_limited,
)
from mcp_acp.gateway.resource_server import Challenge, ResourceServer, metadata_path
from mcp_acp.gateway.revocations import CHANNEL as REVOCATIONS
from mcp_acp.gateway.revocations import Revocations
from mcp_acp.gateway.session_owners import SessionOwners
from mcp_acp.gateway.shared_approvals import SharedApprovals
from mcp_acp.identity.local import Identity, local_identity
from mcp_acp.proxy import envelope
from mcp_acp.state.base import SharedState, StateUnavailable

log = logging.getLogger(__name__)

SESSION_HEADER = "mcp-session-id"
SSE_HEADERS = {"X-Accel-Buffering": "no", "Cache-Control": "no-store"}
PING_SECONDS = 15  # a comment on quiet streams keeps intermediaries from closing them
STATE_UNAVAILABLE = -32005
MAX_SESSION_ID = 128  # ours are 43 characters: a longer one is nobody's and is not looked up


@dataclass
class Gateway:
    config: GatewayConfig
    fronts: dict[str, Front]
    state: SharedState
    servers: dict[str, ResourceServer] = field(default_factory=dict)  # none: the loopback gateway's local user

    def __post_init__(self) -> None:
        self.revocations = Revocations(self.state)
        self.owners = SessionOwners(self.state, SESSION_IDLE_SECONDS)
        self.shared = SharedApprovals(self.state)
        for front in self.fronts.values():
            endpoint = front.endpoint
            self.shared.sessions[endpoint.name] = lambda endpoint=endpoint: list(endpoint.sessions.values())
            endpoint.on_session.append(lambda session, name=endpoint.name: self.shared.attach(name, session))
        self.hosts = self.config.host_names()
        self.origins = set(self.config.allowed_origins) | self.config.own_origins()
        self.local = local_identity()

    async def authenticate(self, proxy: str, authorization: str | None, admit: bool = False) -> Identity:
        """The verified caller: raises Challenge for a token refused (revoked ones included),
        StateUnavailable when the shared state cannot be read. With `admit`, the principal's
        rate limit too, in the same round trip to the state server."""
        server = self.servers.get(proxy)
        if server is None:
            if admit:
                await self.admit(proxy, self.local.subject_id)
            return self.local
        if server.fetch_due(authorization):  # the issuer's keys are fetched off the event loop
            principal = await asyncio.to_thread(server.authenticate, authorization)
        else:
            principal = server.authenticate(authorization)
        marks = self.revocations.marks(principal.subject, principal.claims, principal.token_digest)
        if admit:
            values = await self.admit(proxy, principal.subject, marks)
        else:
            values = await self.state.read_marks(marks)
        if why := self.revocations.verdict(principal.claims, values):
            raise server.revoked(why)
        return principal_identity(principal.subject, principal.claims)

    async def admit(self, proxy: str, subject: str, marks: list[str] | None = None) -> list[str | None]:
        """The principal's rate limit, shared by every replica; the values of `marks` (its
        revocations), read in the same round trip."""
        limits = self.config.limits
        key = f"rate:{proxy}\0{subject}"
        wait, values = await self.state.take_token_reading(key, limits.requests_per_minute, limits.burst, marks or [])
        if wait is not None:
            raise rate_limited(wait)
        return values


def state_unavailable(exc: StateUnavailable) -> HttpRefusal:
    # Fail closed: without the shared state, rate limits and revocations cannot be enforced.
    return HttpRefusal(
        503,
        f"the gateway's shared state is unavailable ({exc}); nothing was forwarded, try again shortly",
        STATE_UNAVAILABLE,
        headers={"Retry-After": "2"},
    )


def refusal(exc: HttpRefusal, request_id=None) -> Response:
    return JSONResponse(exc.body(request_id), status_code=exc.status, headers=exc.headers or None)


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise HttpRefusal(413, f"the body is larger than the gateway's limit of {limit} bytes", None)
    chunks, size = [], 0
    try:
        async for chunk in request.stream():  # the connection's body deadline bounds slow senders
            size += len(chunk)
            if size > limit:
                raise HttpRefusal(413, f"the body is larger than the gateway's limit of {limit} bytes", None)
            chunks.append(chunk)
    except ClientDisconnect:  # gone (or cut off at the body deadline) mid-body: nothing to answer
        raise HttpRefusal(400, "the connection closed before the body was complete", None) from None
    return b"".join(chunks)


def parse_message(body: bytes) -> tuple[dict, bytes]:
    """The one JSON-RPC message of a POST, validated as the STDIO front validates a line, and the
    line the relay gets: the body itself, or (when it spans lines) its compact form, which says
    the same thing once duplicate keys are ruled out."""
    try:
        message = envelope.parse_client_message(body)
    except envelope.Refusal as exc:
        raise HttpRefusal(400, exc.message, exc.code) from None
    line = body.strip()
    return message, line if b"\n" not in line and b"\r" not in line else orjson.dumps(message)


async def respond(
    outbox: Outbox,
    headers: dict[str, str],
    done: Callable[[], Awaitable[None]] | None = None,
    modern: bool = False,
    request: Request | None = None,
) -> Response:
    """JSON when the answer comes first (a 2026-07-28 error with its HTTP status); otherwise an
    SSE stream that ends with it. With `request` (2026-07-28), a client that goes away before
    anything is sent cancels its request: `done` closes its relay, which withdraws a waiting
    approval and drops the backend's late answer."""
    first = await (outbox.next() if request is None else _unless_gone(outbox, request))
    if first is None:
        if done:
            await done()
        return Response(status_code=499)  # nobody is listening any more
    if outbox.is_final(first[0]):
        if done:
            await done()
        status = answer_status(first[0]) if modern else 200
        return Response(first[1], status_code=status, media_type="application/json", headers=headers)

    async def events():
        try:
            async for event in stream_events(first, outbox):
                yield event
        finally:
            if done:
                await done()

    return EventSourceResponse(events(), headers={**headers, **SSE_HEADERS}, ping=PING_SECONDS)


async def _unless_gone(outbox: Outbox, request: Request) -> tuple[dict, bytes] | None:
    """The outbox's next message, or None when the client disconnects first (after the body has
    been read, the only thing `receive` can still bring is the disconnect)."""
    answer = asyncio.ensure_future(outbox.next())
    gone = asyncio.ensure_future(request.receive())
    try:
        await asyncio.wait({answer, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (answer, gone):
            if not task.done():
                task.cancel()
    return answer.result() if answer.done() and not answer.cancelled() else None


async def mcp_endpoint(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway
    proxy = request.path_params["proxy"]
    front = None
    try:
        check_host(request.headers.get("host"), gateway.hosts)
        check_origin(request.headers.get("origin"), gateway.origins)
        front = gateway.fronts.get(proxy)
        if front is None:
            raise HttpRefusal(404, f"no proxy named {proxy!r} is served here", None)
        caller = await gateway.authenticate(proxy, request.headers.get("authorization"), admit=True)
    except HttpRefusal as exc:
        return refusal(exc)
    except Challenge as exc:
        if request.headers.get("authorization") and front is not None:  # a token was shown and refused
            front.endpoint.record_refusal(None, "token_refused", str(exc))
        return JSONResponse(exc.body, status_code=exc.status, headers=exc.headers)
    except StateUnavailable as exc:
        assert front is not None
        log.warning("gateway %s: refused a request, the shared state is unavailable: %s", proxy, exc)
        front.endpoint.record_refusal(None, "state_unavailable", str(exc))
        return refusal(state_unavailable(exc))
    token = current_caller.set(caller)
    try:
        if request.method == "GET":
            if not request.headers.get(SESSION_HEADER):
                return Response(status_code=405, headers={"Allow": "POST"})
            return _get_stream(await _own_session(gateway, front, request, caller))
        if request.method == "DELETE":
            return await _delete_session(gateway, front, request, caller)
        return await _post(gateway, front, request, caller)
    except HttpRefusal as exc:
        return refusal(exc)
    except StateUnavailable as exc:
        front.endpoint.record_refusal(caller.subject_id, "state_unavailable", str(exc))
        return refusal(state_unavailable(exc))
    finally:
        current_caller.reset(token)


async def _post(gateway: Gateway, front: Front, request: Request, caller: Identity) -> Response:
    message, raw = parse_message(await read_body(request, gateway.config.limits.max_body_bytes))
    try:
        check_protocol_headers(request.headers, message)
        if is_modern(message):
            front.tool_headers.check(caller.subject_id, request.headers, message)
    except HttpRefusal as exc:  # the error answers the request: it carries its id
        return refusal(exc, message.get("id"))
    if is_modern(message):
        if "method" not in message:
            raise HttpRefusal(400, "the 2026-07-28 revision has no client responses over HTTP", jsonrpc.INVALID_REQUEST)
        outbox, relay = await front.stateless(caller, message, raw)
        if outbox is None:
            await relay.close()
            return Response(status_code=202)
        return await respond(outbox, {}, relay.close, modern=True, request=request)
    session_id = request.headers.get(SESSION_HEADER)
    if message.get("method") == "initialize":
        if not jsonrpc.is_request(message):  # the relay drops it, so no answer would ever come
            raise HttpRefusal(400, "initialize is a request: it needs an id", jsonrpc.INVALID_REQUEST)
        if session_id:
            raise HttpRefusal(
                400, "initialize opens a new session: send it without Mcp-Session-Id", jsonrpc.INVALID_REQUEST
            )
        session = await front.open_session(caller)
        try:
            await gateway.owners.opened(session.id, caller.subject_id)
        except StateUnavailable:  # a session other replicas cannot bind is not opened
            await front.end_session(session.id)
            raise
        outbox = session.expect(message)
        assert session.relay is not None
        await session.relay.from_client(raw)
        return await respond(outbox, {"Mcp-Session-Id": session.id})
    session = await _own_session(gateway, front, request, caller)
    assert session.relay is not None
    if jsonrpc.is_request(message):
        outbox = session.expect(message)
        await session.relay.from_client(raw)
        return await respond(outbox, {})
    await session.relay.from_client(raw)
    return Response(status_code=202)


async def _own_session(gateway: Gateway, front: Front, request: Request, caller: Identity):
    """The caller's own session named by the request; refused when it belongs to another
    principal, here or on any other replica."""
    session_id = request.headers.get(SESSION_HEADER)
    if not session_id:
        raise HttpRefusal(400, "missing Mcp-Session-Id: send initialize first", jsonrpc.INVALID_REQUEST)
    session = front.session(session_id)
    owner = session.caller.subject_id if session is not None else None
    elsewhere = None
    if session is None and len(session_id) <= MAX_SESSION_ID:
        elsewhere = await gateway.owners.owner(session_id)
        owner = elsewhere["subject"] if elsewhere else None
    if owner is not None and owner != caller.subject_id:
        log.warning(
            "gateway %s: '%s' presented the session of '%s'; refused", front.endpoint.name, caller.subject_id, owner
        )
        front.endpoint.record_refusal(caller.subject_id, "session_of_another_principal")
        raise HttpRefusal(403, "this session belongs to another principal: initialize your own", None)
    if session is None:
        where = f" (it was opened on replica {elsewhere['replica']}, which does not answer here)" if elsewhere else ""
        raise HttpRefusal(404, f"unknown or expired session{where}: initialize again", jsonrpc.INVALID_REQUEST)
    return session


def _get_stream(session) -> Response:
    queue = session.open_stream()

    async def events():
        while (item := await queue.get()) is not None:
            yield {"event": "message", "data": item[1].decode().rstrip("\n")}

    return EventSourceResponse(events(), headers=SSE_HEADERS, ping=PING_SECONDS)


async def _delete_session(gateway: Gateway, front: Front, request: Request, caller: Identity) -> Response:
    if not request.headers.get(SESSION_HEADER):
        return Response(status_code=405, headers={"Allow": "POST"})
    session = await _own_session(gateway, front, request, caller)
    await front.end_session(session.id)
    await gateway.owners.ended(session.id)
    return Response(status_code=200)


async def logout(request: Request) -> Response:
    """`POST /logout/<proxy>`: the presented token is refused from now on, by every replica;
    with `?all=true`, every token its subject holds (a new sign-in gets a working one)."""
    gateway: Gateway = request.app.state.gateway
    proxy = request.path_params["proxy"]
    server = gateway.servers.get(proxy)
    if server is None:
        return JSONResponse({"error": "this gateway takes no tokens here: nothing to log out of"}, status_code=404)
    try:
        check_host(request.headers.get("host"), gateway.hosts)
        check_origin(request.headers.get("origin"), gateway.origins)
        principal = await asyncio.to_thread(server.authenticate, request.headers.get("authorization"))
        if request.query_params.get("all") == "true":
            await gateway.revocations.revoke_subject(principal.subject)
        else:
            await gateway.revocations.revoke_token(principal.claims, principal.token_digest)
    except HttpRefusal as exc:
        return refusal(exc)
    except Challenge as exc:
        return JSONResponse(exc.body, status_code=exc.status, headers=exc.headers)
    except StateUnavailable as exc:
        return refusal(state_unavailable(exc))
    everything = request.query_params.get("all") == "true"
    return JSONResponse({"status": "logged_out", "subject": principal.subject, "all_tokens": everything})


async def follow_revocations(gateway: Gateway) -> None:
    """Until cancelled: a subject revoked on any replica loses its 2025 sessions here."""
    async for message in gateway.state.subscribe(REVOCATIONS):
        subject = message.get("subject")
        for front in gateway.fronts.values():
            for session in [s for s in front.sessions.values() if s.caller.subject_id == subject]:
                await front.end_session(session.id)


async def resource_metadata(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway
    server = gateway.servers.get(request.path_params["proxy"])
    if server is None:
        return JSONResponse({"error": "no protected resource here"}, status_code=404)
    return JSONResponse(server.metadata(), headers={"Cache-Control": "max-age=300"})


async def health(request: Request) -> Response:
    gateway: Gateway = request.app.state.gateway
    return JSONResponse({"status": "ok", "proxies": sorted(gateway.fronts)})


def build_app(gateway: Gateway, lifespan=None) -> Starlette:
    routes = [
        Route("/mcp/{proxy}", mcp_endpoint, methods=["POST", "GET", "DELETE"]),
        Route(metadata_path("{proxy}"), resource_metadata, methods=["GET"]),
        Route("/healthz", health, methods=["GET"]),
        Route("/logout/{proxy}", logout, methods=["POST"]),
        Route("/approvals/proxy/{proxy_id}", approvals.page, methods=["GET"]),
        Route("/approvals/{proxy}/pending", approvals.pending_list, methods=["GET"]),
        Route("/events/{proxy}", events.follow, methods=["GET"]),
        Route("/approvals/{proxy}/{approval_id}/{decision}", approvals.decide, methods=["POST"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.gateway = gateway
    return app
