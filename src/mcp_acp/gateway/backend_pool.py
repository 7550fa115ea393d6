"""Backends owned by the gateway: many relays (one per remote client session, or per request in
the stateless 2026-07-28 era) share one real backend through views (docs/gateway.md).

A `BackendPool` serves one proxy. `view(principal)` returns a `Backend` for one relay; in
"shared" mode every view uses one real backend, in "per_principal" mode each principal has its own.

Lifecycle. A real backend starts on its first use (a view's send), not before. When it dies,
every view with a request in flight to it is told (`on_lost`: its relay answers those requests
with errors) and stays usable; the next send starts it again after an exponential back-off
(0.5 s, 1 s, 2 s ... at most 30 s), and a send during the back-off raises BackendUnavailable.
A backend with no request in flight and no traffic for `idle_seconds` is stopped; the next use
starts it again. A view's close only detaches it. An HTTP backend is one long-lived session: when
it is lost, the views in flight are told and the same backend opens a new session on the next
request, replaying the handshake itself (status counts that as a restart).

Ids. Every request a view sends gets a pool-unique id ("g-<n>"), and so does its progress
token; the backend's answer and progress go back to that view with the client's own id and
token, and a client's `notifications/cancelled` names the pool id (or is dropped when it names
nothing of that view's: it must never cancel another client's request).

The 2025 handshake. The first `initialize` reaches the backend and its result is kept; later
views are answered from it with their own id and their `notifications/initialized` is not sent
again. (They get the first client's negotiated version and capabilities.) After a restart the
pool replays that initialize and `notifications/initialized` before anything else. 2026-07-28
requests carry their version in `_meta` and pass straight through.

Eras. A server connection serves one era, fixed by its first request (the 2025 handshake, or a
2026-07-28 envelope), so 2025 sessions and 2026-07-28 requests never share a real backend: each
era has its own (per principal in "per_principal" mode). `initialize` is not a 2026-07-28
method: one that carries the modern envelope is answered -32601 by the pool (it never reaches,
and never re-eras, the backend).

Messages the backend starts. `notifications/*/list_changed` and `notifications/resources/updated`
go to every view of that backend. A server request (sampling, elicitation, roots, ping), a log
message (`notifications/message`) or any other notification has no client named in it, so it
goes to the ONE view with requests in flight on that backend, or, when none or several are,
to nobody: guessing could hand one user's data to another. Such a request is answered to the
backend with -32603 "the gateway cannot tell which client this request is for" and such a
notification is dropped, with a WARNING either way. (A stateless or subscription-only client
therefore never receives them; a task's status notification after its request ended is dropped.)
A server request that was delivered gets a pool id too; the client's answer is mapped back, and
the server's `notifications/cancelled` for it goes to that client only.

Fail closed: an error while routing is logged and never stops the pool; the message it concerned
is refused (a client request raises BackendUnavailable, so its relay answers with an error). A
view whose deliver raises is detached.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from mcp_acp import jsonrpc
from mcp_acp.backends import UNREADABLE, Backend, BackendUnavailable, Deliver, OnLost
from mcp_acp.config.models import ProxyConfig
from mcp_acp.policy.methods import META_PROTOCOL_VERSION
from mcp_acp.proxy import envelope
from mcp_acp.proxy.runner import choose_backend

log = logging.getLogger(__name__)

UNROUTABLE = "the gateway cannot tell which client this request is for"
BROADCAST_SUFFIX = "/list_changed"
MODERN_VERSION = "2026-07-28"
METHOD_NOT_FOUND = -32601
BROADCAST = frozenset({"notifications/resources/updated"})
HANDSHAKE_TIMEOUT = 30.0  # the replayed initialize must be answered within this


def _is_modern(message: dict[str, Any]) -> bool:
    params = message.get("params")
    meta = params.get("_meta") if isinstance(params, dict) else None
    return isinstance(meta, dict) and meta.get(META_PROTOCOL_VERSION) is not None


def _encode(message: dict[str, Any]) -> bytes:
    return orjson.dumps(message) + b"\n"


@dataclass
class _InFlight:
    view: _View | None  # None: the pool's own replayed initialize
    client_id: Any
    token: Any = None  # the pool's progress token, when the request had one
    initialize: dict[str, Any] | None = None  # the first initialize, kept when answered
    replay: asyncio.Future | None = None  # the pool's replayed initialize waits on this


@dataclass
class _Real:
    """One real backend, and what the pool knows of it across restarts."""

    key: str  # the principal, or "*" in shared mode, and "@2026-07-28" for the modern era
    principal: str = "*"
    era: str = "legacy"
    backend: Backend | None = None
    running: bool = False
    generation: int = 0
    was_lost: bool = False  # it died: its next start counts as a restart (an idle stop does not)
    restarts: int = 0
    failures: int = 0  # consecutive: the back-off grows with them
    retry_at: float = 0.0
    last_reason: str = ""
    last_used: float = field(default_factory=time.time)
    views: set[_View] = field(default_factory=set)
    in_flight: dict[str, _InFlight] = field(default_factory=dict)
    tokens: dict[str, tuple[_View, Any]] = field(default_factory=dict)
    initialize: dict[str, Any] | None = None  # the first client's initialize request
    init_result: Any = None
    init_waiting: asyncio.Future | None = None
    initialized_sent: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def views_in_flight(self) -> set[_View]:
        return {entry.view for entry in self.in_flight.values() if entry.view is not None}


class _View:
    """What one relay sees as its backend."""

    reconnects = True

    def __init__(self, pool: BackendPool, real: _Real) -> None:
        self._pool = pool
        self.real = real
        self.server_name = pool.server_name
        self.transport = real.backend.transport if real.backend is not None else pool.transport
        self.deliver: Deliver | None = None
        self.on_lost: OnLost | None = None
        self.outgoing: dict[Any, str] = {}  # the client's id -> the pool's id, while in flight
        self.server_requests: dict[str, Any] = {}  # the pool's id -> the backend's, for the client's answers
        self.attached = True

    async def start(self, deliver: Deliver, on_lost: OnLost) -> None:
        self.deliver, self.on_lost = deliver, on_lost

    async def send(self, message: dict[str, Any], raw: bytes) -> None:
        if not self.attached:
            raise BackendUnavailable("this client's connection to the backend is closed")
        try:
            await self._pool._send(self, message, raw)
        except BackendUnavailable:
            raise
        except Exception:
            log.exception("the gateway could not route a message to backend %s; refused", self.server_name)
            raise BackendUnavailable("the gateway could not route this message to the backend") from None

    async def close(self) -> None:
        self._pool._detach(self)


class BackendPool:
    def __init__(
        self,
        proxy_name: str,
        config: ProxyConfig,
        mode: Literal["shared", "per_principal"],
        idle_seconds: float,
        open_backend: Callable[[], Awaitable[Backend]] | None = None,
        *,
        backoff: tuple[float, float] = (0.5, 30.0),
    ) -> None:
        self.proxy_name = proxy_name
        self.server_name = config.backend.server_name
        self.transport = "streamablehttp" if config.backend.http is not None else "stdio"
        self.mode = mode
        self.idle_seconds = idle_seconds
        self._backoff = backoff

        async def choose() -> Backend:  # the proxy's own probe and trust checks
            return await choose_backend(config, proxy_name=proxy_name)

        self._open = open_backend or choose
        self._reals: dict[str, _Real] = {}
        self._ids = itertools.count(1)
        self._reaper: asyncio.Task | None = None
        self._tasks: set[asyncio.Task] = set()  # closing lost backends
        self._closing = False

    # --- public ------------------------------------------------------------------------

    def view(self, principal: str, era: Literal["legacy", "modern"] = "legacy") -> Backend:
        """A view for one relay; `era`: the 2025 handshake ("legacy") or 2026-07-28 ("modern")."""
        owner = principal if self.mode == "per_principal" else "*"
        key = owner if era == "legacy" else f"{owner}@{MODERN_VERSION}"
        real = self._reals.get(key)
        if real is None:
            real = self._reals[key] = _Real(key, owner, era)
        view = _View(self, real)
        real.views.add(view)
        return view

    def status(self) -> list[dict]:
        rows = []
        for real in self._reals.values():
            backend = real.backend if real.running else None
            rows.append(
                {
                    "principal": real.principal,
                    "era": real.era,
                    "transport": backend.transport if backend is not None else self.transport,
                    "running": real.running,
                    "pid": getattr(backend, "pid", None),
                    "views": len(real.views),
                    "restarts": real.restarts,
                    "last_used": real.last_used,
                }
            )
        return rows

    async def close(self) -> None:
        self._closing = True
        if self._reaper is not None:
            self._reaper.cancel()
        for real in self._reals.values():
            await self._stop(real)
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=10)

    # --- client -> backend ---------------------------------------------------------------

    def _next_id(self) -> str:
        return f"g-{next(self._ids)}"

    async def _send(self, view: _View, message: dict[str, Any], raw: bytes) -> None:
        real = view.real
        real.last_used = time.time()
        method = message.get("method")
        if method is None:
            await self._client_answer(view, message)
        elif "id" not in message:
            await self._client_notification(view, message, raw)
        elif method == "initialize" and _is_modern(message):
            error = jsonrpc.error_response(message["id"], METHOD_NOT_FOUND, "Method not found: initialize")
            await self._deliver(view, error, None)
        elif method == "initialize":
            await self._initialize(view, message)
        else:
            await self._client_request(view, message)

    async def _client_request(self, view: _View, message: dict[str, Any], keep: bool = False) -> None:
        real = view.real
        await self._ensure(real)
        pool_id, client_id = self._next_id(), message["id"]
        entry = _InFlight(view, client_id, initialize=message if keep else None)
        rewritten = {**message, "id": pool_id}
        params = message.get("params")
        meta = params.get("_meta") if isinstance(params, dict) else None
        if isinstance(params, dict) and isinstance(meta, dict) and "progressToken" in meta:
            entry.token = self._next_id()
            real.tokens[entry.token] = (view, meta["progressToken"])
            rewritten["params"] = {**params, "_meta": {**meta, "progressToken": entry.token}}
        real.in_flight[pool_id] = entry
        view.outgoing[client_id] = pool_id
        try:
            await self._backend(real).send(rewritten, _encode(rewritten))
        except BaseException:
            self._finish(real, pool_id)
            raise

    async def _initialize(self, view: _View, message: dict[str, Any]) -> None:
        real = view.real
        while real.init_result is None and real.init_waiting is not None:
            await asyncio.shield(real.init_waiting)  # another client's initialize is on its way
        if real.init_result is not None:
            await self._deliver(view, {"jsonrpc": "2.0", "id": message["id"], "result": real.init_result}, None)
            return
        real.init_waiting = asyncio.get_running_loop().create_future()
        try:
            await self._client_request(view, message, keep=True)
        except BaseException:
            self._init_done(real)
            raise

    def _init_done(self, real: _Real) -> None:
        waiting, real.init_waiting = real.init_waiting, None
        if waiting is not None and not waiting.done():
            waiting.set_result(None)

    async def _client_notification(self, view: _View, message: dict[str, Any], raw: bytes) -> None:
        real, method = view.real, message["method"]
        if method == "notifications/initialized":
            if real.initialized_sent:
                return  # the backend had it from the first client
            await self._ensure(real)
            real.initialized_sent = True
        elif method == "notifications/cancelled":
            params = message.get("params")
            request_id = params.get("requestId") if isinstance(params, dict) else None
            pool_id = view.outgoing.get(request_id) if envelope.valid_id(request_id) else None
            if pool_id is None:  # not a request of this client's in flight: never another client's
                log.info("dropped a client's notifications/cancelled for %r: no such request in flight", request_id)
                return
            assert isinstance(params, dict)
            message = {**message, "params": {**params, "requestId": pool_id}}
            raw = _encode(message)
        if not real.running:
            if method == "notifications/cancelled":
                return
            await self._ensure(real)
        await self._backend(real).send(message, raw)

    async def _client_answer(self, view: _View, message: dict[str, Any]) -> None:
        backend_id = view.server_requests.pop(message.get("id"), None)  # type: ignore[arg-type]
        real = view.real
        if backend_id is None or not real.running:
            log.warning(
                "dropped a client's answer %r: no request of the backend's is waiting for it", message.get("id")
            )
            return
        rewritten = {**message, "id": backend_id}
        await self._backend(real).send(rewritten, _encode(rewritten))

    # --- lifecycle ---------------------------------------------------------------------

    def _backend(self, real: _Real) -> Backend:
        if not real.running or real.backend is None:
            raise BackendUnavailable(real.last_reason or "the backend is not running")
        return real.backend

    async def _ensure(self, real: _Real) -> None:
        """Start the real backend if it is not running (after its back-off), and replay the
        handshake it had before."""
        if real.running:
            return
        async with real.lock:
            if real.running:
                return
            if self._closing:
                raise BackendUnavailable("the gateway is shutting down")
            wait = real.retry_at - time.monotonic()
            if wait > 0:
                raise BackendUnavailable(
                    f"the backend stopped ({real.last_reason}); the gateway restarts it in {wait:.1f} s"
                )
            real.generation += 1
            generation = real.generation
            try:
                backend = await self._open()
                real.backend = backend

                async def deliver(message: dict[str, Any], raw: bytes | None) -> None:
                    await self._from_backend(real, generation, message, raw)

                await backend.start(deliver, lambda reason: self._lost(real, generation, reason))
                for view in real.views:  # "auto" may have fallen back from HTTP to STDIO
                    view.transport = backend.transport
                real.running = True
                if real.was_lost:
                    real.restarts, real.was_lost = real.restarts + 1, False
                await self._replay(real)
            except Exception as exc:
                reason = str(exc) or type(exc).__name__
                log.warning("backend %s of proxy %s could not start: %s", real.key, self.proxy_name, reason)
                self._failed(real, f"it could not start: {reason}")
                await self._stop(real)
                raise BackendUnavailable(f"the backend could not be started: {reason}") from None
            self._ensure_reaper()
            log.info("backend %s of proxy %s started", real.key, self.proxy_name)

    async def _replay(self, real: _Real) -> None:
        if real.initialize is None:
            return
        pool_id = self._next_id()
        done = asyncio.get_running_loop().create_future()
        entry = _InFlight(None, None, replay=done)
        real.in_flight[pool_id] = entry
        message = {**real.initialize, "id": pool_id}
        await self._backend(real).send(message, _encode(message))
        try:
            answer = await asyncio.wait_for(done, HANDSHAKE_TIMEOUT)
        finally:
            real.in_flight.pop(pool_id, None)
        if "result" not in answer:
            raise BackendUnavailable(f"the backend refused the replayed initialize: {answer.get('error')}")
        if real.initialized_sent:
            note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
            await self._backend(real).send(note, _encode(note))

    def _failed(self, real: _Real, reason: str) -> None:
        real.failures += 1
        first, cap = self._backoff
        real.retry_at = time.monotonic() + min(first * 2 ** (real.failures - 1), cap)
        real.last_reason = reason

    def _lost(self, real: _Real, generation: int, reason: str) -> None:
        if generation != real.generation or not real.running or self._closing:
            return
        log.warning("backend %s of proxy %s lost: %s", real.key, self.proxy_name, reason)
        if real.backend is not None and real.backend.reconnects:
            # An HTTP session: the backend opens a new one itself on the next request and
            # replays the handshake it saw, so it stays (one long-lived backend, as for a proxy).
            real.restarts += 1
        else:
            real.running, real.was_lost = False, True
            self._failed(real, reason)
        for entry in real.in_flight.values():  # a replay waiting for its answer
            if entry.replay is not None and not entry.replay.done():
                entry.replay.set_result({"error": reason})
        self._init_done(real)
        affected = real.views_in_flight()
        self._forget_traffic(real)
        if not real.running and (backend := real.backend) is not None:
            real.backend = None
            closing = asyncio.get_running_loop().create_task(self._close_quietly(backend))
            self._tasks.add(closing)
            closing.add_done_callback(self._tasks.discard)
        for view in affected:
            if view.on_lost is not None:
                try:
                    view.on_lost(reason)
                except Exception:
                    log.exception("telling a client that its backend was lost failed; it is detached")
                    self._detach(view)

    def _forget_traffic(self, real: _Real) -> None:
        real.in_flight.clear()
        real.tokens.clear()
        for view in real.views:
            view.outgoing.clear()
            view.server_requests.clear()

    async def _close_quietly(self, backend: Backend) -> None:
        try:
            await backend.close()
        except Exception:
            log.exception("closing a backend of proxy %s failed", self.proxy_name)

    async def _stop(self, real: _Real) -> None:
        """Stop the real backend on purpose (idle, or the pool closes): not a failure."""
        real.generation += 1  # its last messages and its exit are not news any more
        real.running = False
        self._forget_traffic(real)
        if (backend := real.backend) is not None:
            real.backend = None
            await self._close_quietly(backend)

    def _ensure_reaper(self) -> None:
        if self._reaper is None or self._reaper.done():
            self._reaper = asyncio.get_running_loop().create_task(self._reap())

    async def _reap(self) -> None:
        """Stop each backend idle for idle_seconds; its next use starts it again."""
        period = max(0.05, min(self.idle_seconds / 4, 5.0))
        while not self._closing:
            await asyncio.sleep(period)
            for real in list(self._reals.values()):
                idle = time.time() - real.last_used
                if real.running and not real.in_flight and idle >= self.idle_seconds and not real.lock.locked():
                    log.info("backend %s of proxy %s idle for %.0f s: stopped", real.key, self.proxy_name, idle)
                    try:
                        await self._stop(real)
                    except Exception:
                        log.exception("stopping an idle backend failed")
                if not real.running and not real.views and self._reals.get(real.key) is real:
                    del self._reals[real.key]  # a principal who left: forget the backend's handshake too

    def _detach(self, view: _View) -> None:
        view.attached = False
        real = view.real
        real.views.discard(view)
        for pool_id in [key for key, entry in real.in_flight.items() if entry.view is view]:
            self._finish(real, pool_id)
        view.server_requests.clear()

    def _finish(self, real: _Real, pool_id: str) -> _InFlight | None:
        entry = real.in_flight.pop(pool_id, None)
        if entry is not None and entry.view is not None:
            entry.view.outgoing.pop(entry.client_id, None)
            if entry.token is not None:
                real.tokens.pop(entry.token, None)
            if entry.initialize is not None:
                self._init_done(real)
        return entry

    # --- backend -> clients ------------------------------------------------------------

    async def _from_backend(self, real: _Real, generation: int, message: dict[str, Any], raw: bytes | None) -> None:
        """Never raises: the backend's read loop must go on for the other clients."""
        if generation != real.generation:
            return
        try:
            await self._route(real, message, raw)
        except Exception:
            log.exception("routing a message from backend %s of proxy %s failed; dropped", real.key, self.proxy_name)

    async def _route(self, real: _Real, message: dict[str, Any], raw: bytes | None) -> None:
        real.last_used = time.time()
        if UNREADABLE in message:
            await self._unreadable(real, message[UNREADABLE], raw or b"")
            return
        method, has_id = message.get("method"), "id" in message
        if method is None and has_id:
            await self._answer(real, message)
        elif isinstance(method, str) and has_id:
            await self._server_request(real, message, method)
        elif isinstance(method, str):
            await self._notification(real, message, raw, method)
        else:
            log.warning("dropped a message from backend %s: not a request, notification or answer", real.key)

    async def _answer(self, real: _Real, message: dict[str, Any]) -> None:
        pool_id = message["id"]
        entry = self._finish(real, pool_id) if isinstance(pool_id, str) else None
        if entry is None:
            log.warning("dropped an answer from backend %s to no request in flight (%r)", real.key, pool_id)
            return
        if entry.view is None:  # the replayed initialize
            if entry.replay is not None and not entry.replay.done():
                entry.replay.set_result(message)
            return
        if entry.initialize is not None and "result" in message:
            real.initialize, real.init_result = entry.initialize, message["result"]
        if "error" not in message:
            real.failures = 0  # it answers: the next loss starts the back-off afresh
        answer = {**message, "id": entry.client_id}
        await self._deliver(entry.view, answer, _encode(answer))

    async def _server_request(self, real: _Real, message: dict[str, Any], method: str) -> None:
        views = real.views_in_flight()
        if len(views) != 1:
            log.warning(
                "backend %s of proxy %s sent %s with %d clients waiting on it: refused (%s)",
                real.key,
                self.proxy_name,
                method,
                len(views),
                UNROUTABLE,
            )
            refusal = jsonrpc.error_response(message["id"], jsonrpc.INTERNAL_ERROR, UNROUTABLE)
            if real.running and real.backend is not None:
                await real.backend.send(refusal, _encode(refusal))
            return
        view = next(iter(views))
        pool_id = self._next_id()
        view.server_requests[pool_id] = message["id"]
        rewritten = {**message, "id": pool_id}
        await self._deliver(view, rewritten, _encode(rewritten))

    async def _notification(self, real: _Real, message: dict[str, Any], raw: bytes | None, method: str) -> None:
        if method.endswith(BROADCAST_SUFFIX) or method in BROADCAST:
            for view in list(real.views):
                await self._deliver(view, message, raw)
            return
        params = message.get("params") if isinstance(message.get("params"), dict) else {}
        assert isinstance(params, dict)
        if method == "notifications/progress":
            found = real.tokens.get(params.get("progressToken"))  # type: ignore[arg-type]
            if found is None:
                log.warning("dropped progress from backend %s for no request in flight", real.key)
                return
            view, token = found
            rewritten = {**message, "params": {**params, "progressToken": token}}
            await self._deliver(view, rewritten, _encode(rewritten))
            return
        if method == "notifications/cancelled":  # the backend withdraws a request of its own
            for view in real.views:
                for pool_id, backend_id in list(view.server_requests.items()):
                    if backend_id == params.get("requestId"):
                        del view.server_requests[pool_id]
                        rewritten = {**message, "params": {**params, "requestId": pool_id}}
                        await self._deliver(view, rewritten, _encode(rewritten))
                        return
            return
        views = real.views_in_flight()
        if len(views) != 1:
            log.warning(
                "dropped %s from backend %s of proxy %s: %d clients waiting on it (%s)",
                method,
                real.key,
                self.proxy_name,
                len(views),
                UNROUTABLE,
            )
            return
        await self._deliver(next(iter(views)), message, raw)

    async def _unreadable(self, real: _Real, reason: str, raw: bytes) -> None:
        """A line the pool cannot read: the request whose id it seems to carry gets an error."""
        log.warning("dropped an unreadable message from backend %s: %s", real.key, reason)
        request_id = envelope.id_in_raw(raw)
        entry = self._finish(real, request_id) if isinstance(request_id, str) else None
        if entry is not None and entry.view is not None:
            answer = jsonrpc.error_response(
                entry.client_id,
                jsonrpc.INTERNAL_ERROR,
                f"Internal error: the server's answer could not be read ({reason}), so it was withheld",
            )
            await self._deliver(entry.view, answer, _encode(answer))

    async def _deliver(self, view: _View, message: dict[str, Any], raw: bytes | None) -> None:
        if not view.attached or view.deliver is None:
            return
        try:
            await view.deliver(message, raw)
        except Exception:
            log.exception("a client of proxy %s could not take a message; it is detached", self.proxy_name)
            self._detach(view)
        with contextlib.suppress(Exception):
            view.real.last_used = time.time()
