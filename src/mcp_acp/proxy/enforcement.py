"""The policy enforcement point (docs/architecture.md#the-path-of-a-toolscall): every client request is decided before it is forwarded.

For each request: the global flood limit, the per-tool call window (a breach asks a human),
the decision context, the policy decision, and — when the policy asks for it — a human
approval. Every decision, discovery bypasses included, is one entry in decisions.jsonl,
written before the request goes anywhere. Any error on this path denies.

Who is asking is checked first (proxy/caller_check.py); the entries and what a refused client is
told are proxy/decision_log.py's. A client that cancels a request withdraws its pending approval.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TypeVar

from mcp_acp import jsonrpc
from mcp_acp.audit.shutdown import ShutdownCoordinator
from mcp_acp.audit.writer import AuditLog
from mcp_acp.config.models import HITLConfig, LimitsConfig
from mcp_acp.event_names import Event
from mcp_acp.identity.local import Identity
from mcp_acp.metrics.stats import ProxyStats
from mcp_acp.policy import methods
from mcp_acp.policy.context import DISCOVERY_METHODS, DecisionContext, ParsedRequest, build_context, parse_request
from mcp_acp.policy.decide import policy_decision
from mcp_acp.policy.engine import ALLOW, DENY, HITL, Decision, PolicyEngine
from mcp_acp.policy.labels import LabelMemory, explain
from mcp_acp.policy.paths import JudgedPath, judge_all, request_paths
from mcp_acp.policy.roots import ServerRoots, roots_from_client
from mcp_acp.proxy.approvals import (
    USER_ALLOWED_ONCE,
    USER_DENIED,
    ApprovalCache,
    ApprovalOutcome,
    ApprovalRequest,
    Approver,
    cacheable,
)
from mcp_acp.proxy.caller_check import CallerCheck
from mcp_acp.proxy.decision_log import DecisionLog, elapsed_ms, refusal_text, target
from mcp_acp.proxy.events import ProxyEvents
from mcp_acp.proxy.gate import AnswerWith, ErrorObject, ForwardInstead, LogWhileForwarded
from mcp_acp.proxy.gate import Decision as Verdict
from mcp_acp.proxy.inband_approval import InbandApprovals
from mcp_acp.proxy.limits import TokenBucket, ToolCallWindow
from mcp_acp.proxy.pending import PendingApprovals
from mcp_acp.proxy.pins import TOOL_CHANGED_RULE, ToolPins
from mcp_acp.proxy.policy_reload import PolicyReloader
from mcp_acp.proxy.request_state import InvalidRequestState
from mcp_acp.proxy.tasks import NOT_BOUND_RULE, TaskBindings, is_task_method

log = logging.getLogger(__name__)

RATE_LIMIT_RULE = "rate_limit_breach"
FLOOD_RULE = "rate_limit_flood"
NOTIFICATION_RULE = "notification_not_allowed"
PATH_CHANGED_RULE = "path_changed_after_approval"
STATE_RULE = "request_state_invalid"  # a retry's requestState of the proxy's own failed a check
ASKED_IN_BAND = "asked_in_band"  # hitl_outcome while a modern client's human has the link
# Past these, a request's paths are resolved in a worker thread (each reading is system calls).
HEAVY_PATH_COUNT = 16
HEAVY_PATH_CHARS = 16_384
DISCOVERY_RULE = methods.BYPASS_RULES[methods.DISCOVERY]
UNBOUND_TASK = Decision(DENY, NOT_BOUND_RULE, reason="this proxy binds no tasks, so it follows none")
# Requests that pass without a rule and change nothing on the server (policy/methods.py); tasks/*
# never get here: their binding decides them (proxy/tasks.py).
READ_ONLY_BYPASS = methods.READ_ONLY_DISCOVERY
_V = TypeVar("_V")


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
        pending: PendingApprovals | None = None,
        tasks: TaskBindings | None = None,
        inband: InbandApprovals | None = None,
    ) -> None:
        self.reloader = reloader
        self.audit = audit
        self.shutdown = shutdown
        self.identities = identities  # who is asking, verified per request (identity/provider.py)
        self.identity = identity  # the identity the session is bound to
        self.backend_id = backend_id
        self.session_id = session_id
        self.proxy_name = proxy_name
        self.bucket = TokenBucket.from_limits(limits)
        self.window = ToolCallWindow.from_limits(limits)
        self.hitl = hitl
        self.approver = approver
        self.approvals = approvals
        self.stats = stats or ProxyStats()
        self.events = events or ProxyEvents()
        self.decisions = DecisionLog(audit, shutdown, self.stats, reloader, backend_id, session_id)
        self.caller = CallerCheck(identities, identity, self.decisions, shutdown, session_id)
        self.pending = pending
        self.inband = inband  # asks modern clients' humans through a link (proxy/inband_approval.py)
        self.client_info: dict | None = None
        self.roots = roots if roots is not None else ServerRoots()  # what relative paths are judged against
        self.tasks = tasks  # tasks/* are decided by who created the task, not by the rules (proxy/tasks.py)
        # Approvals remembered beyond this session (the gateway's other replicas), asked before a human is.
        self.recall: Callable[[ApprovalRequest], Awaitable[bool]] | None = None
        # The information-flow labels this proxy session touched (policy/labels.py): per proxy,
        # not linked across the proxies of one client.
        self.labels = LabelMemory()
        # Rug-pull detection (proxy/pins.py): a dict lookup per tools/call; None when not wired.
        self.pins: ToolPins | None = None

    # --- the gate hook ---------------------------------------------------------------

    def check(self, message: dict, parsed: ParsedRequest | None = None) -> Verdict | Awaitable[Verdict]:
        """None forwards the request; an error object answers it instead; an awaitable waits (for a
        token renewal or a human). `parsed`: the request's arguments, when the relay walked them."""
        started = time.perf_counter()
        method = message["method"]
        if method == "initialize" and isinstance((message.get("params") or {}).get("clientInfo"), dict):
            self.client_info = message["params"]["clientInfo"]
        elif self.client_info is None and isinstance(info := _meta(message).get(methods.META_CLIENT_INFO), dict):
            self.client_info = info  # a 2026-07-28 client names itself in every request's _meta
        if parsed is None:
            try:
                parsed = parse_request(message)
            except Exception:  # walked again where a failure denies (_check_judged)
                parsed = None
        return self.caller.check(
            message,
            started,
            then=lambda identity: self._check_as(identity, message, started, parsed),
            retry=lambda: self.check(message, parsed),
        )

    def _check_as(
        self, identity: Identity, message: dict, started: float, parsed: ParsedRequest | None
    ) -> Verdict | Awaitable[Verdict]:
        method = message["method"]
        if is_task_method(method):  # decided by the task's binding, never by the rules nor the bypass
            bound = self.tasks.decide(message, identity.subject_id) if self.tasks is not None else UNBOUND_TASK
            return self._check_judged(identity, message, started, (), bound)
        params = message.get("params")
        if method == "subscriptions/listen" and (followed := methods.listened_tasks(params or {})) is not None:
            tasks = self.tasks
            refused = tasks.decide_listen(followed, identity.subject_id) if tasks is not None else UNBOUND_TASK
            if refused is not None:
                return self._check_judged(identity, message, started, (), refused)
        kind = methods.request_class(method, params if isinstance(params, dict) else {})
        if (rule := methods.BYPASS_RULES.get(kind)) and self.bucket.try_take():
            # Discovery bypasses policy (docs/policies.md#every-method-classified), and so does a task's
            # follow-up (its call was decided when it created the task). One that only reads has its
            # entry written while the backend works, still before the answer moves on.
            if method in READ_ONLY_BYPASS:
                return LogWhileForwarded(lambda: self._log_discovery(identity, message, started, rule))
            return self._log_discovery(identity, message, started, rule)
        found, judged = None, None
        try:
            if method not in DISCOVERY_METHODS and parsed is not None:
                found = parsed.paths(bool(self.roots))
                judged = None if _heavy(found) else judge_all(found, self.roots.snapshot())
        except Exception:  # judged again below, where a failure denies
            found = judged = None
        if found and judged is None:  # many or long paths: resolving them must not stall other requests
            return self._check_judged_off_loop(identity, message, started, found)
        return self._check_judged(identity, message, started, judged)

    async def _check_judged_off_loop(self, identity: Identity, message: dict, started: float, found: list) -> Verdict:
        """Resolving and judging many or long paths (system calls, then one decision per path and
        reading) runs in a worker thread; writing the decision comes back to the event loop."""
        roots, engine = self.roots.snapshot(), self.reloader.engine

        def judge() -> tuple[tuple[JudgedPath, ...], Decision]:
            judged = judge_all(found, roots)
            return judged, self._evaluate(self._context(message, identity, judged), message, engine)

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
    ) -> ErrorObject | Awaitable[Verdict] | None:
        method = message["method"]
        ctx: DecisionContext | None = None
        try:
            ctx = self._context(message, identity, judged)
            if not self.bucket.try_take():
                return self.decisions.refuse(
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
            return self.decisions.write(
                self.decisions.entry(ctx, Decision(DENY, "evaluation_error"), message, started),
                {"code": jsonrpc.POLICY_DENIED, "message": f"Internal error evaluating policy for {method}"},
            )

    def _log_discovery(
        self, identity: Identity, message: dict, started: float, rule: str = DISCOVERY_RULE
    ) -> ErrorObject | None:
        ctx: DecisionContext | None = None
        try:
            ctx = self._context(message, identity)
            return self.decisions.write(self.decisions.entry(ctx, Decision(ALLOW, rule), message, started), None)
        except Exception:  # fail closed
            log.exception("logging the discovery request %s failed; refusing it", message["method"])
            return self.decisions.write(
                self.decisions.entry(ctx, Decision(DENY, "evaluation_error"), message, started),
                {"code": jsonrpc.POLICY_DENIED, "message": f"Internal error evaluating policy for {message['method']}"},
            )

    def note_notification(self, message: dict) -> bool:
        """Client notifications (all on envelope.CLIENT_NOTIFICATIONS): logged, they bypass policy;
        False stops forwarding.
        A client that cancels a request withdraws its pending approval: nobody need decide it."""
        if message.get("method") == "notifications/cancelled" and self.pending is not None:
            params = message.get("params") or {}
            if isinstance(params, dict) and "requestId" in params:
                self.pending.withdraw_request(str(params["requestId"]), "cancelled by the client")
        if message.get("method") not in DISCOVERY_METHODS:
            return True
        ctx = self._context(message)
        return (
            self.decisions.write(
                self.decisions.entry(ctx, Decision(ALLOW, DISCOVERY_RULE), message, time.perf_counter()), None
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
            session_labels=self.labels.touched,
        )

    def refused(self, message: dict, reason: str) -> None:
        """The decision entry of a client message the relay refused itself (an id-less request)."""
        ctx = self._context(message)
        self.decisions.write(
            self.decisions.entry(ctx, Decision(DENY, NOTIFICATION_RULE, reason=reason), message, time.perf_counter()),
            None,
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
    ) -> ErrorObject | Awaitable[Verdict] | None:
        """`breach`: a person let this call past the rate limit; its entry says who. `decision`:
        the policy's, when it was evaluated off the event loop already."""
        decision = decision or self._evaluate(ctx, message)
        if self.pins is not None and ctx.action.mcp_method == "tools/call":
            decision = self.pins.judge(ctx.resource.tool_name, decision)
        if self.inband is not None and self.inband.carries_state(message):  # a retry after an in-band ask
            return self._resume_in_band(message, ctx, decision, started)
        if decision.effect == ALLOW:
            return self._touching(
                ctx,
                message,
                self.decisions.write(
                    self.decisions.entry(ctx, decision, message, started, hitl_ms=hitl_ms, outcome=breach), None
                ),
            )
        if decision.effect == DENY:
            return self.decisions.refuse(ctx, decision, started, f"Policy denied: {target(ctx)}", hitl_ms, breach)
        changed_tool = decision.final_rule == TOOL_CHANGED_RULE  # asked every time until accepted
        if not changed_tool and self.approvals.holds(ctx, _arguments(message)):
            return self._touching(
                ctx,
                message,
                self.decisions.write(
                    self.decisions.entry(ctx, decision, message, started, hitl_ms=0.0, hitl_cache_hit=True), None
                ),
            )
        rule = decision.rule
        request = ApprovalRequest(
            ctx,
            decision.final_rule,
            not changed_tool and cacheable(ctx.resource.side_effects, rule.cache_side_effects if rule else None),
            self.hitl.timeout_seconds,
            _arguments(message),
            self.reloader.version,
            rule.approvers if rule else (),
            rule.self_approval if rule else True,
        )
        if self.inband is not None and self.inband.wants(message):
            return self._ask_in_band(message, ctx, decision, request, started)
        return self._ask_human(message, ctx, decision, request, started)

    def _evaluate(self, ctx: DecisionContext, message: dict, engine: PolicyEngine | None = None) -> Decision:
        """The policy's decision (policy/decide.py, shared with `mcp-acp policy test` and replay),
        naming the requests that set the session's labels when a rule waited for them."""
        decision = policy_decision(engine or self.reloader.engine, ctx, message)
        if decision.rule is not None and decision.rule.session_labels:
            sources = self.labels.sources(decision.rule.session_labels)
            decision = replace(decision, label_sources=sources, reason=explain(decision.effect, sources))
        return decision

    async def _ask_in_band(
        self, message: dict, ctx: DecisionContext, decision: Decision, request: ApprovalRequest, started: float
    ) -> Verdict:
        """A modern client: answer with a link to the approval instead of holding the request
        (docs/approvals.md#modern-clients-the-link-in-the-answer); held as for any client when that is not possible."""
        assert self.inband is not None  # the caller checked
        if await self._recalled(request):
            return self._remembered_elsewhere(message, ctx, decision, started)
        binding = self.inband.binding(message, ctx, self.reloader.version)
        result = await self.inband.ask(request, message, binding, target(ctx))
        if result is None:
            return await self._ask_human(message, ctx, decision, request, started)
        asked = ApprovalOutcome(ASKED_IN_BAND, message="the client was given a link to the approval")
        return self._answer_or_refusal(
            self.decisions.entry(ctx, decision, message, started, hitl_ms=0.0, outcome=asked), AnswerWith(result)
        )

    async def _resume_in_band(self, message: dict, ctx: DecisionContext, decision: Decision, started: float) -> Verdict:
        """A retry carrying the proxy's own state: decided like the first call, the state checked
        and spent; the human's answer settles an "ask"."""
        assert self.inband is not None  # the caller checked
        try:
            resumed = await self.inband.resume(
                message, self.inband.binding(message, ctx, self.reloader.version), target(ctx)
            )
        except InvalidRequestState as bad:
            log.warning("refused a retry of %s: its requestState %s", target(ctx), bad.explanation)
            return self.decisions.refuse(
                ctx,
                Decision(DENY, STATE_RULE, reason=bad.reason),
                started,
                f"Refused: the requestState of this retry is not valid ({bad.explanation}); "
                "call again without it to ask for a new approval",
            )
        if decision.effect == DENY:
            return self.decisions.refuse(ctx, decision, started, f"Policy denied: {target(ctx)}")
        outcome = resumed.outcome
        if decision.effect == HITL and outcome is None:  # nobody decided yet: the same link again
            assert resumed.again is not None
            asked = ApprovalOutcome(ASKED_IN_BAND, message="still waiting for a decision")
            entry = self.decisions.entry(ctx, decision, message, started, hitl_ms=0.0, outcome=asked)
            return self._answer_or_refusal(entry, AnswerWith(resumed.again))
        if decision.effect == HITL and outcome is not None and not outcome.allowed:
            return self.decisions.refuse(ctx, decision, started, refusal_text(outcome, ctx), 0.0, outcome)
        if decision.effect == HITL and outcome is not None:
            # Asked on another replica: its paths were judged there; the binding held the arguments.
            if change := self._changed_since(resumed.context or ctx, message):
                return self._refuse_changed(ctx, change, started, 0.0, outcome)
            if resumed.cacheable and outcome.outcome != USER_ALLOWED_ONCE:
                self.approvals.remember(ctx, _arguments(message))
        entry = self.decisions.entry(ctx, decision, message, started, hitl_ms=0.0, outcome=outcome)
        return self._touching(ctx, message, self._answer_or_refusal(entry, ForwardInstead(resumed.forward)))

    def _answer_or_refusal(
        self, entry: dict, verdict: AnswerWith | ForwardInstead
    ) -> ErrorObject | AnswerWith | ForwardInstead:
        """Write the entry; the verdict if it was written, the refusal if not (fail closed)."""
        refusal = self.decisions.write(entry, None)
        return verdict if refusal is None else refusal

    async def _ask_human(
        self, message: dict, ctx: DecisionContext, decision: Decision, request: ApprovalRequest, started: float
    ) -> ErrorObject | None:
        if await self._recalled(request):
            return self._remembered_elsewhere(message, ctx, decision, started)
        asked = time.perf_counter()
        outcome = await self._approval(request)
        hitl_ms = elapsed_ms(asked)
        if outcome.allowed and (change := self._changed_since(ctx, message)):
            return self._refuse_changed(ctx, change, started, hitl_ms, outcome)
        if outcome.allowed:
            if request.cacheable and outcome.outcome != USER_ALLOWED_ONCE:
                self.approvals.remember(ctx, _arguments(message))  # the cache announces it
            return self._touching(
                ctx,
                message,
                self.decisions.write(
                    self.decisions.entry(ctx, decision, message, started, hitl_ms=hitl_ms, outcome=outcome), None
                ),
            )
        return self.decisions.refuse(ctx, decision, started, refusal_text(outcome, ctx), hitl_ms, outcome)

    async def _recalled(self, request: ApprovalRequest) -> bool:
        """Remembered elsewhere (another replica of the gateway); an error there asks a human."""
        if self.recall is None or not request.cacheable:
            return False
        try:
            return await self.recall(request)
        except Exception as exc:
            log.warning("remembered approvals elsewhere could not be read (%s); asking a human", exc)
            return False

    def _remembered_elsewhere(
        self, message: dict, ctx: DecisionContext, decision: Decision, started: float
    ) -> ErrorObject | None:
        self.approvals.remember(ctx, _arguments(message))  # here too: the next call needs no round trip
        return self._touching(
            ctx,
            message,
            self.decisions.write(
                self.decisions.entry(ctx, decision, message, started, hitl_ms=0.0, hitl_cache_hit=True), None
            ),
        )

    def _refuse_changed(
        self, ctx: DecisionContext, change: str, started: float, hitl_ms: float, outcome: ApprovalOutcome
    ) -> ErrorObject:
        """An approved request whose paths now lead elsewhere: what was approved is not what would run."""
        return self.decisions.refuse(
            ctx,
            Decision(DENY, PATH_CHANGED_RULE, reason=change),
            started,
            f"Refused after approval: {target(ctx)}",
            hitl_ms,
            outcome,
        )

    def _touching(self, ctx: DecisionContext, message: dict, verdict: _V) -> _V:
        """A call that goes on to its server gives the session its tool's labels; a refused one
        (an error object) gives none. Lookups only: the labels of a tool are cached per policy."""
        if ctx.resource.tool_name is None or not (verdict is None or isinstance(verdict, ForwardInstead)):
            return verdict
        labels = self.reloader.engine.labels.of(ctx.resource.tool_name)
        if labels:
            self.labels.touch(
                labels,
                ctx.environment.request_id,
                ctx.resource.tool_name,
                ctx.resource.path or ctx.resource.uri or _named_target(message),
                ctx.environment.timestamp,
            )
        return verdict

    def _rate_limit_breach(self, message: dict, ctx: DecisionContext, started: float) -> Awaitable[Verdict]:
        """Too many calls of one tool: a human decides whether this is a runaway loop."""
        tool = ctx.resource.tool_name or "unknown"
        self.events.emit(
            Event.RATE_LIMIT_TRIGGERED,
            severity="warning",
            tool_name=tool,
            message=f"{tool} was called too often in a short time: asking a human",
        )

        async def ask() -> Verdict:
            asked = time.perf_counter()
            outcome = await self._approval(
                ApprovalRequest(
                    ctx, RATE_LIMIT_RULE, False, self.hitl.timeout_seconds, _arguments(message), self.reloader.version
                )
            )
            hitl_ms = elapsed_ms(asked)
            breach = Decision(HITL, RATE_LIMIT_RULE)
            self.events.emit(
                Event.RATE_LIMIT_APPROVED if outcome.allowed else Event.RATE_LIMIT_DENIED,
                tool_name=tool,
                severity="info" if outcome.allowed else "warning",
                message=f"Rate limit on {tool}: {'approved' if outcome.allowed else 'denied'}",
            )
            if not outcome.allowed:
                return self.decisions.refuse(
                    ctx, breach, started, refusal_text(outcome, ctx, "Rate limit exceeded"), hitl_ms, outcome
                )
            if change := self._changed_since(ctx, message):  # the wait was long enough to swap a link
                return self._refuse_changed(ctx, change, started, hitl_ms, outcome)
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


# Arguments that name what a labelled call read, fetched or sent to, for the explanation.
_TARGET_KEYS = ("url", "uri", "href", "link", "path", "file", "to", "recipient", "channel")


def _meta(message: dict) -> dict:
    params = message.get("params")
    meta = params.get("_meta") if isinstance(params, dict) else None
    return meta if isinstance(meta, dict) else {}


def _heavy(found: list) -> bool:
    return len(found) > HEAVY_PATH_COUNT or sum(len(arg.written) for arg in found) > HEAVY_PATH_CHARS


def _named_target(message: dict) -> str | None:
    arguments = _arguments(message) or {}
    return next((v for k in _TARGET_KEYS if isinstance(v := arguments.get(k), str) and v), None)


def _arguments(message: dict) -> dict | None:
    params = message.get("params")
    arguments = params.get("arguments") if isinstance(params, dict) else None
    return arguments if isinstance(arguments, dict) else None
