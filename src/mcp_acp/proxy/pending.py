"""Requests waiting for a human (docs/approvals.md, issue 7): each one is a pending approval that the web
UI, the CLI or a native dialog can decide, exactly once.

A pending approval is bound to the one request that raised it: its caller, proxy, tool, exact
arguments (hashed) and the policy version it was raised under. Deciding it answers that request
and nothing else; it is gone once decided, withdrawn or timed out, so it cannot be replayed.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson

from mcp_acp.event_names import Event
from mcp_acp.policy import approvers
from mcp_acp.proxy import argument_display
from mcp_acp.proxy.approvals import (
    TIMEOUT,
    USER_ALLOWED,
    USER_ALLOWED_ONCE,
    USER_DENIED,
    WITHDRAWN,
    ApprovalOutcome,
    ApprovalRequest,
)
from mcp_acp.proxy.events import ProxyEvents

DECISIONS = {"approve": USER_ALLOWED, "allow-once": USER_ALLOWED_ONCE, "deny": USER_DENIED}


class PendingNotFound(Exception):
    pass


class ApprovalUnauthorized(Exception):
    """The one deciding may not decide this request: the message says who may."""


def arguments_hash(arguments: dict | None) -> str:
    """sha256 of the arguments' canonical JSON (sorted keys, compact): what a decision is bound to."""
    try:
        canonical = orjson.dumps(arguments or {}, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:  # nested deeper than orjson goes, or an integer beyond 64 bits
        canonical = argument_display.json_text(arguments or {}, sort_keys=True).encode("utf-8", "surrogatepass")
    return hashlib.sha256(canonical).hexdigest()


def duration_text(seconds: float) -> str:
    """600 -> "10 min", 90 -> "90 s", 330 -> "5 min 30 s"."""
    seconds = max(0, round(seconds))
    if seconds < 120:
        return f"{seconds} s"
    return f"{seconds // 60} min" + (f" {seconds % 60} s" if seconds % 60 else "")


def remember_offer(request: ApprovalRequest, ttl_seconds: int) -> dict:
    """What "allow and remember" would cover, and for how long; `available` only when the
    request may be remembered at all (`request.cacheable`). The scope names exactly what a
    remembered approval is keyed on: the tool and the exact path(s) it was approved for, or, for
    tools that can run code or whose effects are unknown, the exact arguments."""
    resource = request.context.resource
    effects = resource.side_effects
    paths = len(getattr(request.context, "judged", ()) or ())
    if effects is None or "code_exec" in effects:
        scope = "this tool with these exact arguments"
    elif paths > 1 and not (resource.source_path and resource.dest_path and paths == 2):
        scope = "this tool on these exact paths"
    elif resource.source_path or resource.dest_path:
        scope = "this tool from this exact source to this exact destination"
    elif resource.path or resource.uri or paths:
        scope = "this tool on this exact path"
    else:
        scope = "this tool with any arguments (it names no path)"
    if request.cacheable:
        return {
            "available": True,
            "ttl_seconds": ttl_seconds,
            "scope": scope,
            "label": f"Allow and remember for {duration_text(ttl_seconds)} ({scope})",
        }
    if effects is None:
        reason = "its effects are unknown"
    elif "code_exec" in effects:
        reason = "it can execute code"
    else:
        reason = "the policy does not allow remembering it"
    return {
        "available": False,
        "ttl_seconds": ttl_seconds,
        "scope": scope,
        "label": f"Not offered: this approval cannot be remembered ({reason})",
    }


@dataclass(eq=False)
class Pending:
    id: str
    request: ApprovalRequest
    created_at: str
    deadline: float
    args_hash: str
    future: asyncio.Future = field(repr=False)
    # The arguments as shown (whole, secrets redacted) and their size: computed once, at open.
    shown_arguments: dict = field(default_factory=dict, repr=False)
    arguments_size: int = 0

    def view(self, proxy_name: str, proxy_id: str, cache_ttl: int) -> dict:
        ctx = self.request.context
        resource = ctx.resource
        return {
            "id": self.id,
            "proxy_name": proxy_name,
            "proxy_id": proxy_id,
            "tool_name": resource.tool_name,
            "path": resource.path or resource.uri,
            "source_path": resource.source_path,
            "dest_path": resource.dest_path,
            "side_effects": sorted(resource.side_effects or ()),
            "arguments": self.shown_arguments,
            "arguments_size": self.arguments_size,
            "args_hash": self.args_hash,
            "rule_id": self.request.rule_id,
            "subject_id": ctx.subject.id,
            "backend_id": resource.server_id,
            "created_at": self.created_at,
            "timeout_seconds": self.request.timeout_seconds,
            "expires_in_seconds": max(0, round(self.deadline - time.monotonic())),
            "request_id": ctx.environment.request_id,
            "policy_version": self.request.policy_version,
            "can_cache": self.request.cacheable,
            "cache_ttl_seconds": cache_ttl if self.request.cacheable else None,
            "remember": remember_offer(self.request, cache_ttl),
            "approvers": list(self.request.approvers),
            "self_approval": self.request.self_approval,
        }


class PendingApprovals:
    def __init__(self, events: ProxyEvents, proxy_name: str, proxy_id: str, cache_ttl: int) -> None:
        self.events = events
        self.proxy_name = proxy_name
        self.proxy_id = proxy_id
        self.cache_ttl = cache_ttl
        self._open: dict[str, Pending] = {}

    async def open(self, request: ApprovalRequest) -> Pending:
        arguments = request.arguments or {}
        # Redacting large arguments takes time (~0.1 s per MB): not on the event loop.
        shown, size, digest = await asyncio.to_thread(
            lambda: (
                argument_display.redacted(arguments),
                argument_display.json_size(arguments),
                arguments_hash(request.arguments),
            )
        )
        pending = Pending(
            secrets.token_hex(8),
            request,
            datetime.now(UTC).isoformat(),
            time.monotonic() + request.timeout_seconds,
            digest,
            asyncio.get_running_loop().create_future(),
            shown if isinstance(shown, dict) else {"arguments": shown},
            size,
        )
        self._open[pending.id] = pending
        self.events.emit(
            Event.PENDING_CREATED,
            message=f"Approval needed: {request.context.resource.tool_name}",
            approval=self.view(pending),
        )
        return pending

    def view(self, pending: Pending) -> dict:
        return pending.view(self.proxy_name, self.proxy_id, self.cache_ttl)

    def list(self) -> list[dict]:
        return [self.view(pending) for pending in self._open.values()]

    def get(self, approval_id: str) -> Pending:
        pending = self._open.get(approval_id)
        if pending is None or pending.future.done():
            raise PendingNotFound(approval_id)
        return pending

    def decide(self, approval_id: str, decision: str, approver_id: str, approver_claims: dict | None = None) -> Pending:
        """Answer the waiting request; `decision` is approve, allow-once or deny. Raises
        ApprovalUnauthorized when the policy does not let `approver_id` decide it, whatever the route."""
        pending = self.get(approval_id)
        request = pending.request
        why = approvers.refusal(
            approver_id, approver_claims or {}, request.context.subject.id, request.approvers, request.self_approval
        )
        if why is not None:
            raise ApprovalUnauthorized(why)
        outcome = DECISIONS[decision]
        self._close(pending, ApprovalOutcome(outcome, approver_id=approver_id))
        self.events.emit(
            Event.PENDING_RESOLVED,
            severity="success" if outcome != USER_DENIED else "info",
            message=f"{pending.request.context.resource.tool_name}: {decision} by {approver_id}",
            approval_id=approval_id,
            decision=decision.replace("-", "_"),
            approver_id=approver_id,
        )
        return pending

    def time_out(self, pending: Pending) -> ApprovalOutcome:
        outcome = ApprovalOutcome(TIMEOUT)
        if self._close(pending, outcome):
            self.events.emit(
                Event.PENDING_TIMEOUT,
                severity="warning",
                approval_id=pending.id,
                message=f"Approval timed out: {pending.request.context.resource.tool_name}",
            )
        return pending.future.result()

    def withdraw(self, pending: Pending, reason: str, outcome: ApprovalOutcome) -> ApprovalOutcome:
        """Nobody will decide this one here: the client cancelled, the policy changed, or it moves on
        to another route."""
        if self._close(pending, outcome):
            self.events.emit(
                Event.PENDING_CANCELLED,
                approval_id=pending.id,
                reason=reason,
                message=f"Approval withdrawn ({reason}): {pending.request.context.resource.tool_name}",
            )
        return pending.future.result()

    def withdraw_request(self, request_id: str, reason: str) -> int:
        """The client cancelled request `request_id` (notifications/cancelled)."""
        matching = [p for p in self._open.values() if p.request.context.environment.request_id == request_id]
        for pending in matching:
            self.withdraw(pending, reason, ApprovalOutcome(WITHDRAWN, message=reason))
        return len(matching)

    def withdraw_all(self, reason: str) -> int:
        """The policy changed: approvals asked under the old one no longer apply."""
        waiting = list(self._open.values())
        for pending in waiting:
            self.withdraw(pending, reason, ApprovalOutcome(WITHDRAWN, message=reason))
        return len(waiting)

    def _close(self, pending: Pending, outcome: ApprovalOutcome) -> bool:
        """Settle once; later attempts (a second click, a late dialog) change nothing."""
        self._open.pop(pending.id, None)
        if pending.future.done():
            return False
        pending.future.set_result(outcome)
        return True
