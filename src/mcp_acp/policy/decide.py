"""What the proxy's enforcement point decides for one request, on the policy alone (docs/policies.md#testing-a-policy-and-previewing-a-change).

`policy_decision` is the enforcer's own evaluation (proxy/enforcement.py calls it): the engine,
every resource a subscriptions/listen watches, and the reason an unknown method was refused.
`decide_request` is the enforcer's path for one request without its limits, tasks and humans:
the bypass of discovery and follow-ups, the request's paths judged against the server's roots,
the context built, then `policy_decision`. `mcp-acp policy test` and `policy replay` decide
through it, so they decide what the proxy would.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from mcp_acp.identity.local import Identity
from mcp_acp.policy import methods
from mcp_acp.policy.context import DecisionContext, build_context, parse_request
from mcp_acp.policy.engine import ALLOW, DENY, HITL, Decision, PolicyEngine
from mcp_acp.policy.paths import JudgedPath, json_object, judge_all

_STRICTNESS = {ALLOW: 0, HITL: 1, DENY: 2}


class NotDecidedByPolicy(ValueError):
    """A request the proxy decides by something other than its policy (a task's binding)."""


def policy_decision(engine: PolicyEngine, ctx: DecisionContext, message: dict[str, Any]) -> Decision:
    """The policy's decision. A subscriptions/listen is judged on every resource it watches,
    the strictest winning; a method of no published MCP version is decided by the rules like
    any request, and when none matches its entry says why it was refused."""
    decision = engine.evaluate(ctx)
    if ctx.action.mcp_method == "subscriptions/listen":
        params = json_object(message.get("params"))
        for uri in methods.listened_resources(params)[1:]:
            scheme = urlsplit(uri).scheme.lower() or None
            other = engine.evaluate(replace(ctx, resource=replace(ctx.resource, uri=uri, scheme=scheme)))
            if _STRICTNESS[other.effect] > _STRICTNESS[decision.effect]:  # as for a request's paths
                decision = other
    if ctx.action.category == methods.UNKNOWN and decision.final_rule == "default":
        decision = replace(
            decision,
            reason=f"'{ctx.action.mcp_method}' is not a method of any published MCP version: "
            "no rule names it, so the policy's default denies it",
        )
    return decision


def decide_request(
    engine: PolicyEngine,
    message: dict[str, Any],
    identity: Identity,
    server_id: str,
    roots: tuple[str, ...] = (),
    *,
    judged: tuple[JudgedPath, ...] | None = None,
    client_info: dict[str, Any] | None = None,
) -> tuple[DecisionContext, Decision]:
    """The context and decision the enforcer reaches for `message` before any rate limit or
    human. `judged`: the request's paths judged already (a replay judges the recorded ones)."""
    method = message.get("method")
    if not isinstance(method, str) or not method:
        raise ValueError("a request needs a method")
    params = json_object(message.get("params"))
    if method.startswith("tasks/") or (method == "subscriptions/listen" and methods.listened_tasks(params) is not None):
        raise NotDecidedByPolicy(
            f"{method} on tasks is decided by the task's binding (who created it), not by the policy"
        )
    kind = methods.request_class(method, params)
    if rule := methods.BYPASS_RULES.get(kind):  # discovery and follow-ups pass before any path is judged
        ctx = build_context(message, identity, server_id, roots=roots, client_info=client_info)
        return ctx, Decision(ALLOW, rule)
    if judged is None:
        judged = judge_all(parse_request(message).paths(bool(roots)), roots)
    ctx = build_context(message, identity, server_id, roots=roots, client_info=client_info, judged=judged)
    return ctx, policy_decision(engine, ctx, message)
