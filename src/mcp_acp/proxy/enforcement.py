"""The policy enforcement point (SPEC §1.3–1.4): every client request is decided before it is forwarded.

For each request: the global flood limit, the per-tool call window (a breach asks a human),
the decision context, the policy decision, and — when the policy asks for it — a human
approval. Every decision, discovery bypasses included, is one entry in decisions.jsonl,
written before the request goes anywhere. Any error on this path denies.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import overload

from mcp_acp.audit.shutdown import ShutdownCoordinator
from mcp_acp.audit.writer import AuditLog
from mcp_acp.config.models import HITLConfig
from mcp_acp.identity.local import Identity
from mcp_acp.identity.provider import AuthenticationError, NeedsRefresh
from mcp_acp.metrics.stats import ProxyStats
from mcp_acp.policy.context import DISCOVERY_METHODS, DecisionContext, build_context
from mcp_acp.policy.engine import ALLOW, DENY, HITL, Decision
from mcp_acp.policy.paths import PATH_MAX, JudgedPath, judge_all, request_paths
from mcp_acp.policy.roots import ServerRoots, roots_from_client
from mcp_acp.proxy import jsonrpc
from mcp_acp.proxy.approvals import (
    TIMEOUT,
    USER_ALLOWED,
    USER_ALLOWED_ONCE,
    USER_DENIED,
    WITHDRAWN,
    ApprovalCache,
    ApprovalOutcome,
    ApprovalRequest,
    Approver,
    cacheable,
)
from mcp_acp.proxy.events import ProxyEvents
from mcp_acp.proxy.gate import ErrorObject, LogWhileForwarded
from mcp_acp.proxy.limits import LimitsConfig
from mcp_acp.proxy.operations import fail_closed, write_failure
from mcp_acp.proxy.policy_reload import PolicyReloader

log = logging.getLogger(__name__)

RATE_LIMIT_RULE = "rate_limit_breach"
SESSION_BINDING_EXIT = 15
FLOOD_RULE = "rate_limit_flood"
NOTIFICATION_RULE = "notification_not_allowed"
PATH_CHANGED_RULE = "path_changed_after_approval"
# Past these, a request's paths are resolved in a worker thread (each reading is system calls).
HEAVY_PATH_COUNT = 16
HEAVY_PATH_CHARS = 16_384
# Discovery requests that only read (SPEC §2.3 lists them with initialize and notifications).
READ_ONLY_DISCOVERY = frozenset({"ping", "tools/list", "resources/list", "resources/templates/list", "prompts/list"})


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 3)


def _target(ctx: DecisionContext) -> str:
    where = ctx.resource.path or ctx.resource.uri
    return f"{ctx.action.mcp_method} on {where}" if where else ctx.action.mcp_method


class Enforcer:
    def __init__(
        self,
        reloader: PolicyReloader,
        audit: AuditLog,
        shutdown: ShutdownCoordinator,
        *,
        identities,
        identity: Identity,
        backend_id: str,
        session_id: str,
        proxy_name: str,
        limits: LimitsConfig,
        hitl: HITLConfig,
        approver: Approver,
        approvals: ApprovalCache,
        stats: ProxyStats | None = None,
        events: ProxyEvents | None = None,
        roots: ServerRoots | None = None,
    ) -> None:
        self.reloader = reloader
        self.audit = audit
        self.shutdown = shutdown
        self.identities = identities  # who is asking, verified per request (identity/provider.py)
        self.identity = identity  # the identity the session is bound to
        self.backend_id = backend_id
        self.session_id = session_id
        self.proxy_name = proxy_name
        self.bucket = limits.bucket()
        self.window = limits.window()
        self.hitl = hitl
        self.approver = approver
        self.approvals = approvals
        self.stats = stats or ProxyStats()
        self.events = events or ProxyEvents()
        self.client_info: dict | None = None
        self.roots = roots if roots is not None else ServerRoots()  # what relative paths are judged against

    # --- the gate hook ---------------------------------------------------------------

    def check(
        self, message: dict
    ) -> ErrorObject | LogWhileForwarded | Awaitable[ErrorObject | LogWhileForwarded | None] | None:
        """None forwards the request; an error object answers it instead; an awaitable waits (for a
        token renewal or a human)."""
        started = time.perf_counter()
        method = message["method"]
        if method == "initialize" and isinstance((message.get("params") or {}).get("clientInfo"), dict):
            self.client_info = message["params"]["clientInfo"]
        if self.identities.fetch_due():  # the provider's keys must be fetched: not on the event loop
            return self._check_off_loop(message, started)
        return self._check_identity(self.identities.current, message, started)

    async def _check_off_loop(self, message: dict, started: float) -> ErrorObject | LogWhileForwarded | None:
        await asyncio.to_thread(self.identities.fetch_keys)
        verdict = self._check_identity(self.identities.current, message, started)
        return await verdict if isinstance(verdict, Awaitable) else verdict

    def _check_identity(
        self, identify: Callable[[], Identity], message: dict, started: float
    ) -> ErrorObject | LogWhileForwarded | Awaitable[ErrorObject | LogWhileForwarded | None] | None:
        try:
            identity = identify()
        except NeedsRefresh:
            return self._check_after_renewal(message, started)
        except AuthenticationError as exc:
            return self._refuse_unverified(message, started, "not_authenticated", str(exc))
        if identity.subject_id != self.identity.subject_id:
            return self._session_hijack(message, started, identity)
        return self._check_as(identity, message, started)

    def _check_as(
        self, identity: Identity, message: dict, started: float
    ) -> ErrorObject | LogWhileForwarded | Awaitable[ErrorObject | LogWhileForwarded | None] | None:
        method = message["method"]
        if method in READ_ONLY_DISCOVERY and self.bucket.try_take():
            # Discovery bypasses policy (SPEC §2.3) and a list changes nothing on the backend:
            # its entry is written while the backend works, still before the answer moves on.
            return LogWhileForwarded(lambda: self._log_discovery(identity, message, started))
        found, judged = None, None
        try:
            if method not in DISCOVERY_METHODS:
                found = request_paths(method, message.get("params") or {}, bool(self.roots))
                judged = None if _heavy(found) else judge_all(found, self.roots.snapshot())
        except Exception:  # judged again below, where a failure denies
            found = judged = None
        if found and judged is None:  # many or long paths: resolving them must not stall other requests
            return self._check_judged_off_loop(identity, message, started, found)
        return self._check_judged(identity, message, started, judged)

    async def _check_judged_off_loop(
        self, identity: Identity, message: dict, started: float, found: list
    ) -> ErrorObject | LogWhileForwarded | None:
        """Resolving and judging many or long paths (system calls, then one decision per path and
        reading) runs in a worker thread; writing the decision comes back to the event loop."""
        roots, engine = self.roots.snapshot(), self.reloader.engine

        def judge() -> tuple[tuple[JudgedPath, ...], Decision]:
            judged = judge_all(found, roots)
            return judged, engine.evaluate(self._context(message, identity, judged))

        try:
            judged, decision = await asyncio.to_thread(judge)
        except Exception:  # judged again on the loop, where a failure denies
            log.exception("judging the paths of %s in a worker thread failed", message["method"])
            judged, decision = None, None
        verdict = self._check_judged(identity, message, started, judged, decision)
        return await verdict if isinstance(verdict, Awaitable) else verdict

    def _check_judged(
        self,
        identity: Identity,
        message: dict,
        started: float,
        judged: tuple[JudgedPath, ...] | None,
        decision: Decision | None = None,
    ) -> ErrorObject | Awaitable[ErrorObject | LogWhileForwarded | None] | None:
        method = message["method"]
        ctx: DecisionContext | None = None
        try:
            ctx = self._context(message, identity, judged)
            if not self.bucket.try_take():
                return self._refuse(
                    ctx,
                    Decision(DENY, FLOOD_RULE),
                    started,
                    f"Rate limit exceeded: {method} refused (too many requests per second); slow down and retry",
                )
            tool = ctx.resource.tool_name
            if method == "tools/call" and self.window.record(self.session_id, tool or "unknown"):
                return self._rate_limit_breach(message, ctx, started)
            return self._decide(message, ctx, started, decision=decision)
        except Exception:  # fail closed: nothing on the decision path may let a request through
            log.exception("policy evaluation failed for %s; denying", method)
            return self._write_or_fail(
                self._entry(ctx, Decision(DENY, "evaluation_error"), message, started),
                {"code": jsonrpc.POLICY_DENIED, "message": f"Internal error evaluating policy for {method}"},
            )

    async def _check_after_renewal(self, message: dict, started: float) -> ErrorObject | LogWhileForwarded | None:
        try:
            await self.identities.refresh()
        except AuthenticationError as exc:
            return self._refuse_unverified(message, started, "not_authenticated", str(exc))
        verdict = self.check(message)
        return await verdict if isinstance(verdict, Awaitable) else verdict

    def _refuse_unverified(self, message: dict, started: float, rule: str, text: str) -> ErrorObject:
        entry = self._entry(None, Decision(DENY, rule, reason=text), message, started)
        return self._write_or_fail(
            entry, {"code": jsonrpc.POLICY_DENIED, "message": text, "data": {"decision": DENY, "final_rule": rule}}
        )

    def _session_hijack(self, message: dict, started: float, identity: Identity) -> ErrorObject:
        """SPEC §3: a session is bound to its first user; another user's token means shutdown (exit 15)."""
        reason = (
            f"session identity changed from '{self.identity.subject_id}' to '{identity.subject_id}'; "
            "restart the client to start a session as the new user"
        )
        log.critical(reason)
        answer = self._refuse_unverified(message, started, "session_binding_violation", reason)
        self.shutdown.initiate(
            "session_binding_violation",
            reason,
            SESSION_BINDING_EXIT,
            {"bound_session_id": self.session_id, "new_subject": identity.subject_id},
        )
        return answer

    def _log_discovery(self, identity: Identity, message: dict, started: float) -> ErrorObject | None:
        ctx: DecisionContext | None = None
        try:
            ctx = self._context(message, identity)
            return self._write_or_fail(self._entry(ctx, Decision(ALLOW, "discovery_bypass"), message, started), None)
        except Exception:  # fail closed
            log.exception("logging the discovery request %s failed; refusing it", message["method"])
            return self._write_or_fail(
                self._entry(ctx, Decision(DENY, "evaluation_error"), message, started),
                {"code": jsonrpc.POLICY_DENIED, "message": f"Internal error evaluating policy for {message['method']}"},
            )

    def note_notification(self, message: dict) -> bool:
        """Client notifications: log the discovery ones (they bypass policy); False stops forwarding."""
        if message.get("method") not in DISCOVERY_METHODS:
            return True
        ctx = self._context(message)
        return (
            self._write_or_fail(
                self._entry(ctx, Decision(ALLOW, "discovery_bypass"), message, time.perf_counter()), None
            )
            is None
        )

    # --- steps -------------------------------------------------------------------------

    def _context(
        self, message: dict, identity: Identity | None = None, judged: tuple[JudgedPath, ...] | None = None
    ) -> DecisionContext:
        return build_context(
            message,
            identity or self.identity,
            self.backend_id,
            session_id=self.session_id,
            proxy_name=self.proxy_name,
            client_info=self.client_info,
            roots=self.roots.snapshot(),
            judged=judged,
        )

    def refused(self, message: dict, reason: str) -> None:
        """The decision entry of a client message the relay refused itself (an id-less request)."""
        ctx = self._context(message)
        self._write_or_fail(
            self._entry(ctx, Decision(DENY, NOTIFICATION_RULE, reason=reason), message, time.perf_counter()), None
        )

    def client_answered(self, method: str, message: dict) -> None:
        """The client's answer to a server request: the roots it declares are the server's too."""
        if method == "roots/list" and (new := self.roots.add(roots_from_client(message.get("result")))):
            log.info("the client declared roots %s: relative paths are judged against them", ", ".join(new))

    def _decide(
        self,
        message: dict,
        ctx: DecisionContext,
        started: float,
        hitl_ms: float | None = None,
        breach: ApprovalOutcome | None = None,
        decision: Decision | None = None,
    ) -> ErrorObject | Awaitable[ErrorObject | LogWhileForwarded | None] | None:
        """`breach`: a person let this call past the rate limit; its entry says who. `decision`:
        the policy's, when it was evaluated off the event loop already."""
        decision = decision or self.reloader.engine.evaluate(ctx)
        if decision.effect == ALLOW:
            return self._write_or_fail(
                self._entry(ctx, decision, message, started, hitl_ms=hitl_ms, outcome=breach), None
            )
        if decision.effect == DENY:
            return self._refuse(ctx, decision, started, f"Policy denied: {_target(ctx)}", hitl_ms, breach)
        if self.approvals.holds(ctx, _arguments(message)):
            return self._write_or_fail(
                self._entry(ctx, decision, message, started, hitl_ms=0.0, hitl_cache_hit=True), None
            )
        rule = decision.rule
        request = ApprovalRequest(
            ctx,
            decision.final_rule,
            cacheable(ctx.resource.side_effects, rule.cache_side_effects if rule else None),
            self.hitl.timeout_seconds,
            _arguments(message),
            self.reloader.version,
        )
        return self._ask_human(message, ctx, decision, request, started)

    async def _ask_human(
        self, message: dict, ctx: DecisionContext, decision: Decision, request: ApprovalRequest, started: float
    ) -> ErrorObject | None:
        asked = time.perf_counter()
        outcome = await self._approval(request)
        hitl_ms = _ms(asked)
        if outcome.allowed and (change := self._changed_since(ctx, message)):
            return self._refuse(
                ctx,
                Decision(DENY, PATH_CHANGED_RULE, reason=change),
                started,
                f"Refused after approval: {_target(ctx)}",
                hitl_ms,
                outcome,
            )
        if outcome.allowed:
            if request.cacheable and outcome.outcome != USER_ALLOWED_ONCE:
                self.approvals.remember(ctx, _arguments(message))
                self.events.emit("cached_snapshot", **self.approvals.snapshot())
            return self._write_or_fail(
                self._entry(ctx, decision, message, started, hitl_ms=hitl_ms, outcome=outcome), None
            )
        return self._refuse(ctx, decision, started, _refusal(outcome, ctx), hitl_ms, outcome)

    def _rate_limit_breach(
        self, message: dict, ctx: DecisionContext, started: float
    ) -> Awaitable[ErrorObject | LogWhileForwarded | None]:
        """Too many calls of one tool: a human decides whether this is a runaway loop."""
        tool = ctx.resource.tool_name or "unknown"
        self.events.emit(
            "rate_limit_triggered",
            severity="warning",
            tool_name=tool,
            message=f"{tool} was called too often in a short time: asking a human",
        )

        async def ask() -> ErrorObject | LogWhileForwarded | None:
            asked = time.perf_counter()
            outcome = await self._approval(
                ApprovalRequest(
                    ctx, RATE_LIMIT_RULE, False, self.hitl.timeout_seconds, _arguments(message), self.reloader.version
                )
            )
            hitl_ms = _ms(asked)
            breach = Decision(HITL, RATE_LIMIT_RULE)
            self.events.emit(
                "rate_limit_approved" if outcome.allowed else "rate_limit_denied",
                tool_name=tool,
                severity="info" if outcome.allowed else "warning",
                message=f"Rate limit on {tool}: {'approved' if outcome.allowed else 'denied'}",
            )
            if not outcome.allowed:
                return self._refuse(
                    ctx, breach, started, _refusal(outcome, ctx, "Rate limit exceeded"), hitl_ms, outcome
                )
            if change := self._changed_since(ctx, message):  # the wait was long enough to swap a link
                return self._refuse(
                    ctx,
                    Decision(DENY, PATH_CHANGED_RULE, reason=change),
                    started,
                    f"Refused after approval: {_target(ctx)}",
                    hitl_ms,
                    outcome,
                )
            self.window.reset(self.session_id, ctx.resource.tool_name or "unknown")
            verdict = self._decide(message, ctx, started, hitl_ms, outcome)  # approved: now the policy decides
            return await verdict if isinstance(verdict, Awaitable) else verdict

        return ask()

    def _changed_since(self, ctx: DecisionContext, message: dict) -> str | None:
        """While a human looked, a symlink may have been swapped: every path is resolved again,
        and any change refuses the request (what was approved is no longer what would run)."""
        again = judge_all(
            request_paths(message["method"], message.get("params") or {}, bool(self.roots)), self.roots.snapshot()
        )
        before = {(item.written, item.role): item.readings for item in ctx.judged}
        for item in again:
            if before.get((item.written, item.role)) != item.readings:
                return (
                    f"'{item.written}' changed while the approval waited: it now leads somewhere else; "
                    "retry to ask again"
                )
        return None

    async def _approval(self, request: ApprovalRequest) -> ApprovalOutcome:
        if request.context.environment.request_id is not None:  # a human's wait is not proxy latency
            self.stats.mark_hitl(request.context.environment.request_id)
        try:
            return await self.approver.ask(request)
        except Exception:  # an approver that breaks denies
            log.exception("asking for approval failed; denying")
            return ApprovalOutcome(USER_DENIED, message="the approval could not be obtained")

    def _refuse(
        self,
        ctx: DecisionContext,
        decision: Decision,
        started: float,
        text: str,
        hitl_ms: float | None = None,
        outcome: ApprovalOutcome | None = None,
    ) -> ErrorObject:
        if decision.reason:
            text = f"{text}: {decision.reason}"
        error = {
            "code": jsonrpc.POLICY_DENIED,
            "message": text,
            "data": {
                "decision": DENY,
                "tool": ctx.resource.tool_name,
                "path": ctx.resource.path or ctx.resource.uri,
                "matched_rules": [rule.id for rule in decision.matched_rules],
                "final_rule": decision.final_rule,
            },
        }
        # The log keeps the policy's verdict: an approval request that ended in a refusal is
        # `hitl` with its outcome (SPEC §2.6); the client sees a denial either way.
        entry = self._entry(ctx, decision, None, started, hitl_ms=hitl_ms, outcome=outcome)
        return self._write_or_fail(entry, error)

    # --- decisions.jsonl -----------------------------------------------------------------

    def _entry(
        self,
        ctx: DecisionContext | None,
        decision: Decision,
        message: dict | None,
        started: float,
        *,
        hitl_ms: float | None = None,
        outcome: ApprovalOutcome | None = None,
        hitl_cache_hit: bool | None = None,
    ) -> dict:
        eval_ms = _ms(started) - (hitl_ms or 0.0)
        entry = {
            "event": "policy_decision",
            "decision": decision.effect,
            # SPEC §2.6: "allow once" is logged as user_allowed (it was not cached, which the log shows).
            "hitl_outcome": (USER_ALLOWED if outcome.outcome == USER_ALLOWED_ONCE else outcome.outcome)
            if outcome
            else None,
            "hitl_cache_hit": hitl_cache_hit if hitl_cache_hit is not None else (False if outcome else None),
            "hitl_approver_id": outcome.approver_id if outcome else None,
            "matched_rules": [
                {"id": r.id, "effect": r.effect, **({"description": r.description} if r.description else {})}
                for r in decision.matched_rules
            ],
            "final_rule": decision.final_rule,
            "reason": decision.reason,
            "subject_id": ctx.subject.id if ctx else None,
            "backend_id": self.backend_id,
            "policy_version": self.reloader.version,
            "policy_eval_ms": round(eval_ms, 3),
            "policy_hitl_ms": hitl_ms,
            "policy_total_ms": round(eval_ms + (hitl_ms or 0.0), 3),
            "session_id": self.session_id,
        }
        if ctx is not None:
            resource = ctx.resource
            entry.update(
                {
                    "mcp_method": ctx.action.mcp_method,
                    "tool_name": resource.tool_name,
                    "path": resource.path,
                    "paths": [
                        item.written if len(item.written) <= PATH_MAX else item.written[:PATH_MAX] + "…"
                        for item in ctx.judged
                    ]
                    or None,
                    "source_path": resource.source_path,
                    "dest_path": resource.dest_path,
                    "uri": resource.uri,
                    "scheme": resource.scheme,
                    "request_id": ctx.environment.request_id,
                    "side_effects": sorted(resource.side_effects) if resource.side_effects is not None else None,
                }
            )
        elif message is not None:
            entry.update({"mcp_method": message.get("method"), "request_id": str(message.get("id"))})
        return entry

    @overload
    def _write_or_fail(self, entry: dict, answer: ErrorObject) -> ErrorObject: ...
    @overload
    def _write_or_fail(self, entry: dict, answer: None) -> ErrorObject | None: ...
    def _write_or_fail(self, entry: dict, answer: ErrorObject | None) -> ErrorObject | None:
        """Count and write the decision; if writing fails the request is refused and the proxy shuts down."""
        # Every decision passes here exactly once, so this is the one place that counts them.
        method = entry.get("mcp_method") or "unknown"
        if entry["final_rule"] == "discovery_bypass":
            self.stats.record_discovery(method)
        else:
            self.stats.record_decision(entry["decision"], method, entry["policy_eval_ms"], entry["policy_hitl_ms"])
        try:
            self.audit.write("decisions", entry)
        except Exception as exc:
            return fail_closed(self.audit, self.shutdown, "decisions", entry, write_failure(exc, "decisions"))
        return answer


def _heavy(found: list) -> bool:
    return len(found) > HEAVY_PATH_COUNT or sum(len(arg.written) for arg in found) > HEAVY_PATH_CHARS


def _arguments(message: dict) -> dict | None:
    params = message.get("params")
    arguments = params.get("arguments") if isinstance(params, dict) else None
    return arguments if isinstance(arguments, dict) else None


def _refusal(outcome: ApprovalOutcome, ctx: DecisionContext, prefix: str | None = None) -> str:
    what = _target(ctx)
    if outcome.outcome == TIMEOUT:
        text = f"Approval timeout: {what}"
    elif outcome.outcome == USER_DENIED:
        text = f"User denied: {what}"
    elif outcome.outcome == WITHDRAWN:  # nobody denied it: the client cancelled, or the policy changed
        text = f"Approval withdrawn ({outcome.message}): {what}"
    else:
        text = f"Approval required but no approver is available: {what}"
        if outcome.message and outcome.message != "approval required but no approver is available":
            text = f"{text} ({outcome.message})"
    return f"{prefix}: {text}" if prefix else text
