"""Requests waiting for a human (SPEC §2.6, issue 7): each one is a pending approval that the web
UI, the CLI or a native dialog can decide, exactly once.

A pending approval is bound to the one request that raised it: its caller, proxy, tool, exact
arguments (hashed) and the policy version it was raised under. Deciding it answers that request
and nothing else; it is gone once decided, withdrawn or timed out, so it cannot be replayed.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson

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
# Argument names whose values are never shown: the human needs to see what is touched, not secrets.
SECRET_NAME = re.compile(r"pass(word|phrase)?|secret|token|api[_-]?key|auth|credential|private[_-]?key|cookie",
                         re.IGNORECASE)
MAX_SHOWN = 200
MAX_ITEMS = 20


class PendingNotFound(Exception):
    pass


def arguments_hash(arguments: dict | None) -> str:
    return hashlib.sha256(orjson.dumps(arguments or {}, option=orjson.OPT_SORT_KEYS)).hexdigest()


def summarize(arguments: dict | None) -> dict:
    """What the human sees of the arguments: every key, values shortened, secret-looking ones
    redacted at any depth."""
    def shown(key: object, value: object) -> object:
        if SECRET_NAME.search(str(key)):
            return "[redacted]"
        if isinstance(value, dict):
            return {k: shown(k, v) for k, v in value.items()}
        if isinstance(value, list):
            return [shown(key, item) for item in value[:MAX_ITEMS]] + (["…"] if len(value) > MAX_ITEMS else [])
        if not isinstance(value, str):
            return value  # numbers, booleans, null
        return value if len(value) <= MAX_SHOWN else value[:MAX_SHOWN] + "…"
    return {key: shown(key, value) for key, value in (arguments or {}).items()}


@dataclass(eq=False)
class Pending:
    id: str
    request: ApprovalRequest
    created_at: str
    deadline: float
    args_hash: str
    future: asyncio.Future = field(repr=False)

    def view(self, proxy_name: str, proxy_id: str, cache_ttl: int) -> dict:
        ctx = self.request.context
        resource = ctx.resource
        return {"id": self.id, "proxy_name": proxy_name, "proxy_id": proxy_id, "tool_name": resource.tool_name,
                "path": resource.path or resource.uri, "source_path": resource.source_path,
                "dest_path": resource.dest_path, "side_effects": sorted(resource.side_effects or ()),
                "arguments": summarize(self.request.arguments), "args_hash": self.args_hash,
                "rule_id": self.request.rule_id, "subject_id": ctx.subject.id, "backend_id": resource.server_id,
                "created_at": self.created_at, "timeout_seconds": self.request.timeout_seconds,
                "expires_in_seconds": max(0, round(self.deadline - time.monotonic())),
                "request_id": ctx.environment.request_id, "policy_version": self.request.policy_version,
                "can_cache": self.request.cacheable,
                "cache_ttl_seconds": cache_ttl if self.request.cacheable else None}


class PendingApprovals:
    def __init__(self, events: ProxyEvents, proxy_name: str, proxy_id: str, cache_ttl: int) -> None:
        self.events = events
        self.proxy_name = proxy_name
        self.proxy_id = proxy_id
        self.cache_ttl = cache_ttl
        self._open: dict[str, Pending] = {}

    def open(self, request: ApprovalRequest) -> Pending:
        pending = Pending(secrets.token_hex(8), request, datetime.now(UTC).isoformat(),
                          time.monotonic() + request.timeout_seconds, arguments_hash(request.arguments),
                          asyncio.get_running_loop().create_future())
        self._open[pending.id] = pending
        self.events.emit("pending_created", message=f"Approval needed: {request.context.resource.tool_name}",
                         approval=self.view(pending))
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

    def decide(self, approval_id: str, decision: str, approver_id: str) -> Pending:
        """Answer the waiting request; `decision` is approve, allow-once or deny."""
        pending = self.get(approval_id)
        outcome = DECISIONS[decision]
        self._close(pending, ApprovalOutcome(outcome, approver_id=approver_id))
        self.events.emit("pending_resolved", severity="success" if outcome != USER_DENIED else "info",
                         message=f"{pending.request.context.resource.tool_name}: {decision} by {approver_id}",
                         approval_id=approval_id, decision=decision.replace("-", "_"), approver_id=approver_id)
        return pending

    def time_out(self, pending: Pending) -> ApprovalOutcome:
        outcome = ApprovalOutcome(TIMEOUT)
        if self._close(pending, outcome):
            self.events.emit("pending_timeout", severity="warning", approval_id=pending.id,
                             message=f"Approval timed out: {pending.request.context.resource.tool_name}")
        return pending.future.result()

    def withdraw(self, pending: Pending, reason: str, outcome: ApprovalOutcome) -> ApprovalOutcome:
        """Nobody will decide this one here: the client cancelled, the policy changed, or it moves on
        to another route."""
        if self._close(pending, outcome):
            self.events.emit("pending_cancelled", approval_id=pending.id, reason=reason,
                             message=f"Approval withdrawn ({reason}): {pending.request.context.resource.tool_name}")
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
