"""decisions.jsonl: the one entry each decision gets, counted and written before the request moves on.

The enforcement point (proxy/enforcement.py) decides; this module says what the entry holds,
what a refused client is told, and fails closed when the entry cannot be written (the request
is refused, the entry goes to the fallback chain and the proxy shuts down).
"""

from __future__ import annotations

import time
from typing import overload

from mcp_acp import jsonrpc
from mcp_acp.audit.shutdown import ShutdownCoordinator
from mcp_acp.audit.writer import AuditLog
from mcp_acp.metrics.stats import ProxyStats
from mcp_acp.policy.context import DecisionContext
from mcp_acp.policy.engine import DENY, Decision
from mcp_acp.policy.paths import PATH_MAX
from mcp_acp.proxy.approvals import TIMEOUT, USER_ALLOWED, USER_ALLOWED_ONCE, USER_DENIED, WITHDRAWN, ApprovalOutcome
from mcp_acp.proxy.gate import ErrorObject
from mcp_acp.proxy.operations import fail_closed, write_failure
from mcp_acp.proxy.policy_reload import PolicyReloader


def elapsed_ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 3)


def target(ctx: DecisionContext) -> str:
    where = ctx.resource.path or ctx.resource.uri
    return f"{ctx.action.mcp_method} on {where}" if where else ctx.action.mcp_method


def refusal_text(outcome: ApprovalOutcome, ctx: DecisionContext, prefix: str | None = None) -> str:
    """What the client is told when a human approval did not allow its request."""
    what = target(ctx)
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


class DecisionLog:
    def __init__(
        self,
        audit: AuditLog,
        shutdown: ShutdownCoordinator,
        stats: ProxyStats,
        reloader: PolicyReloader,
        backend_id: str,
        session_id: str,
    ) -> None:
        self.audit = audit
        self.shutdown = shutdown
        self.stats = stats
        self.reloader = reloader  # for the policy version in force
        self.backend_id = backend_id
        self.session_id = session_id

    def refuse(
        self,
        ctx: DecisionContext,
        decision: Decision,
        started: float,
        text: str,
        hitl_ms: float | None = None,
        outcome: ApprovalOutcome | None = None,
    ) -> ErrorObject:
        """Log a refusal and return the error the client gets."""
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
        # `hitl` with its outcome (docs/approvals.md#the-three-answers); the client sees a denial either way.
        entry = self.entry(ctx, decision, None, started, hitl_ms=hitl_ms, outcome=outcome)
        return self.write(entry, error)

    def entry(
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
        eval_ms = elapsed_ms(started) - (hitl_ms or 0.0)
        entry = {
            "event": "policy_decision",
            "decision": decision.effect,
            # docs/approvals.md#the-three-answers: "allow once" is logged as user_allowed (it was not cached, which the log shows).
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
                    # Each path's role (path, source, dest, other): `policy replay` re-decides from them.
                    "path_roles": [item.role for item in ctx.judged] or None,
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
        if decision.label_sources:  # the earlier requests that set a session_labels rule's labels
            entry["label_sources"] = [touch.as_entry() for touch in decision.label_sources]
        return entry

    @overload
    def write(self, entry: dict, answer: ErrorObject) -> ErrorObject: ...
    @overload
    def write(self, entry: dict, answer: None) -> ErrorObject | None: ...
    def write(self, entry: dict, answer: ErrorObject | None) -> ErrorObject | None:
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
