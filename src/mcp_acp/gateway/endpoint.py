"""One served proxy: its audit trail (opened once, as one more session of the proxy), its
backend pool, and a proxy session per principal.

A principal's ProxySession is the same composition the STDIO proxy runs (enforcer, approvals,
listing, tasks, operations recorder), bound to the principal's identity. Each request's caller,
verified by the HTTP layer from its token, travels to the enforcer in a context variable; a
caller that is not the session's principal is refused there too, as a second line behind the
HTTP layer's session binding.
"""

from __future__ import annotations

import asyncio
import contextvars
import getpass
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace

from mcp_acp.audit import auth_log
from mcp_acp.config import paths
from mcp_acp.config.gateway import GatewayProxy
from mcp_acp.gateway.backend_pool import BackendPool
from mcp_acp.identity.local import Identity
from mcp_acp.identity.provider import AuthenticationError, LocalIdentities
from mcp_acp.proxy.relay import Relay
from mcp_acp.proxy.session import ProxySession
from mcp_acp.proxy.startup import Started

log = logging.getLogger(__name__)

# The caller of the request being handled, as the HTTP layer verified it.
current_caller: contextvars.ContextVar[Identity | None] = contextvars.ContextVar("current_caller", default=None)


def gateway_identity() -> Identity:
    """Who the gateway process itself acts as: the service account running it."""
    return Identity(f"gateway@{getpass.getuser()}", "local")


class CallerIdentities(LocalIdentities):
    """A principal's session asks this who is calling: the verified caller of the current request,
    and only if it is the session's own principal."""

    mode = "gateway"

    def current(self) -> Identity:
        caller = current_caller.get()
        if caller is None:
            raise AuthenticationError("no verified caller for this request: send a Bearer token")
        if caller.subject_id != self.identity.subject_id:
            raise AuthenticationError(f"this session belongs to another principal than '{caller.subject_id}'")
        return caller


def principal_identity(subject: str, claims: dict) -> Identity:
    return Identity(subject, "token", claims)


class Endpoint:
    def __init__(
        self, started: Started, settings: GatewayProxy, approval_ui: str | None = None, pool: BackendPool | None = None
    ) -> None:
        self.started = started
        self.approval_ui = approval_ui  # the gateway's approvals page: where held requests are decided
        self.name = started.name
        self.settings = settings
        self.pool = pool or BackendPool(started.name, started.config, settings.backend, settings.idle_seconds)
        self.sessions: dict[str, ProxySession] = {}  # by subject
        self.session_ids: dict[str, str] = {}  # subject -> bound session id in the audit trail
        self.last_seen: dict[str, float] = {}
        backend = started.config.backend
        self.transport = "streamablehttp" if backend.http and backend.transport != "stdio" else "stdio"
        self._policy_mtime = self._policy_stamp()
        self.on_session: list[Callable[[ProxySession], None]] = []  # told of each principal's new session

    def session_for(self, caller: Identity) -> ProxySession:
        """The principal's session, created (and recorded in auth.jsonl) on its first request."""
        subject = caller.subject_id
        self.last_seen[subject] = time.time()
        if (session := self.sessions.get(subject)) is not None:
            return session
        started = self.started
        session_id = auth_log.new_bound_session_id(caller)
        inputs = replace(
            started.inputs(),
            identities=CallerIdentities(caller),
            identity=caller,
            session_id=session_id,
            approval_ui=self.approval_ui,
        )
        session = ProxySession(inputs)
        auth_log.session_started(started.audit, session_id, caller, "gateway")
        self.sessions[subject] = session
        self.session_ids[subject] = session_id
        for hook in self.on_session:
            hook(session)
        log.info("gateway %s: first request of %s (session %s)", self.name, subject, session_id.split(":")[-1][:8])
        return session

    def record_refusal(self, subject: str | None, reason: str, detail: str = "") -> None:
        """A caller refused before any decision (a bad token, another principal's session) goes to auth.jsonl."""
        fields = {
            "event_type": "gateway_refused",
            "status": "failure",
            "subject": {"subject_id": subject, "provenance": "token" if subject else None},
            "reason": reason,
            "detail": detail[:500],
            "method": "gateway",
        }
        try:
            self.started.audit.write("auth", fields)
        except Exception as exc:  # the entry is not lost: it goes to the fallback chain
            self.started.shutdown.record_with_fallback("auth", fields, str(exc))

    def relay(
        self, caller: Identity, write_to_client: Callable[[bytes], Awaitable[None]], modern: bool = False
    ) -> Relay:
        """A relay for one client session (2025 era) or one request (2026-07-28, `modern`), on a
        view of the principal's backend for that era."""
        session = self.session_for(caller)
        view = self.pool.view(caller.subject_id, "modern" if modern else "legacy")
        return Relay(view, session.gate, write_to_client, session.recorder(self.transport))

    def _policy_stamp(self) -> float | None:
        try:
            return paths.proxy_policy_path(self.name).stat().st_mtime
        except OSError:
            return None

    async def watch_policy(self, interval: float = 1.0) -> None:
        """Reload every principal's policy when the file changes (the last good policy stays on error)."""
        while True:
            await asyncio.sleep(interval)
            stamp = self._policy_stamp()
            if stamp == self._policy_mtime:
                continue
            self._policy_mtime = stamp
            for session in list(self.sessions.values()):
                await session.reloader.reload("file_watch")

    def forget_idle(self, idle_seconds: float, busy: set[str]) -> list[str]:
        """End the proxy sessions of principals not seen for `idle_seconds` (and with no open 2025
        session, no waiting approval): their memory is freed and their end recorded. A principal
        who comes back gets a new session, as after a restart; remembered approvals go with it."""
        cutoff = time.time() - idle_seconds
        gone = [
            subject
            for subject, session in self.sessions.items()
            if self.last_seen.get(subject, 0) < cutoff and subject not in busy and not session.pending.list()
        ]
        for subject in gone:
            session = self.sessions.pop(subject)
            self.last_seen.pop(subject, None)
            session_id = self.session_ids.pop(subject)
            try:
                auth_log.session_ended(self.started.audit, session_id, session.inputs.identity, "idle")
            except Exception as exc:  # the entry goes to the fallback chain, never lost
                self.started.shutdown.record_with_fallback(
                    "auth",
                    {"event_type": "session_ended", "end_reason": "idle", "bound_session_id": session_id},
                    str(exc),
                )
        return gone

    async def close(self) -> None:
        for subject, session in self.sessions.items():
            try:
                auth_log.session_ended(self.started.audit, self.session_ids[subject], session.inputs.identity, "normal")
            except Exception as exc:  # the trail's own close reports a broken trail
                log.error("cannot record the end of %s's gateway session: %s", subject, exc)
        await self.pool.close()
