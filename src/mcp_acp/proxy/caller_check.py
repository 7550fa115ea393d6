"""Who is asking, checked on every request before anything is decided (docs/auth.md#what-the-proxy-checks).

The caller's token is verified per request (identity/provider.py); fetching the provider's keys
and renewing a token happen off the event loop. A session is bound to its first user: another
user's token refuses the request and shuts the proxy down (exit 15). A caller that cannot be
verified is refused, and the refusal is a decision entry like any other.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from mcp_acp import jsonrpc
from mcp_acp.audit.shutdown import ShutdownCoordinator
from mcp_acp.identity.local import Identity
from mcp_acp.identity.provider import AuthenticationError, NeedsRefresh
from mcp_acp.policy.engine import DENY, Decision
from mcp_acp.proxy.decision_log import DecisionLog
from mcp_acp.proxy.gate import Decision as GateDecision
from mcp_acp.proxy.gate import ErrorObject

log = logging.getLogger(__name__)

SESSION_BINDING_EXIT = 15

Verdict = GateDecision | Awaitable[GateDecision]
Then = Callable[[Identity], Verdict]
Retry = Callable[[], Verdict]


class CallerCheck:
    def __init__(
        self,
        identities,
        identity: Identity,
        decisions: DecisionLog,
        shutdown: ShutdownCoordinator,
        session_id: str,
    ) -> None:
        self.identities = identities  # who is asking, verified per request (identity/provider.py)
        self.identity = identity  # the identity the session is bound to
        self.decisions = decisions
        self.shutdown = shutdown
        self.session_id = session_id

    def check(self, message: dict, started: float, then: Then, retry: Retry) -> Verdict:
        """`then(identity)`: the rest of the check, as the verified caller; `retry()`: the whole
        check again, after a token renewal."""
        if self.identities.fetch_due():  # the provider's keys must be fetched: not on the event loop
            return self._check_off_loop(message, started, then, retry)
        return self._check_identity(message, started, then, retry)

    async def _check_off_loop(self, message: dict, started: float, then: Then, retry: Retry) -> GateDecision:
        await asyncio.to_thread(self.identities.fetch_keys)
        verdict = self._check_identity(message, started, then, retry)
        return await verdict if isinstance(verdict, Awaitable) else verdict

    def _check_identity(self, message: dict, started: float, then: Then, retry: Retry) -> Verdict:
        try:
            identity = self.identities.current()
        except NeedsRefresh:
            return self._check_after_renewal(message, started, retry)
        except AuthenticationError as exc:
            return self.refuse_unverified(message, started, "not_authenticated", str(exc))
        if identity.subject_id != self.identity.subject_id:
            return self._session_hijack(message, started, identity)
        return then(identity)

    async def _check_after_renewal(self, message: dict, started: float, retry: Retry) -> GateDecision:
        try:
            await self.identities.refresh()
        except AuthenticationError as exc:
            return self.refuse_unverified(message, started, "not_authenticated", str(exc))
        verdict = retry()
        return await verdict if isinstance(verdict, Awaitable) else verdict

    def refuse_unverified(self, message: dict, started: float, rule: str, text: str) -> ErrorObject:
        entry = self.decisions.entry(None, Decision(DENY, rule, reason=text), message, started)
        answer = {"code": jsonrpc.POLICY_DENIED, "message": text, "data": {"decision": DENY, "final_rule": rule}}
        return self.decisions.write(entry, answer) or answer

    def _session_hijack(self, message: dict, started: float, identity: Identity) -> ErrorObject:
        """docs/auth.md#what-the-proxy-checks: a session is bound to its first user; another user's token means shutdown (exit 15)."""
        reason = (
            f"session identity changed from '{self.identity.subject_id}' to '{identity.subject_id}'; "
            "restart the client to start a session as the new user"
        )
        log.critical(reason)
        answer = self.refuse_unverified(message, started, "session_binding_violation", reason)
        self.shutdown.initiate(
            "session_binding_violation",
            reason,
            SESSION_BINDING_EXIT,
            {"bound_session_id": self.session_id, "new_subject": identity.subject_id},
        )
        return answer
