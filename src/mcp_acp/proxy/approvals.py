"""Human approval (SPEC §2.6): the approver interface, and the cache of recent approvals.

The approver is whatever can ask a human: the web UI or a native dialog (the approvals
feature). Until one is available, `NoApprover` answers every request with a denial, so an
approval-required decision fails closed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from mcp_acp.policy.context import DecisionContext

USER_ALLOWED, USER_ALLOWED_ONCE, USER_DENIED, TIMEOUT, NO_APPROVER = (
    "user_allowed", "user_allowed_once", "user_denied", "timeout", "no_approver")


@dataclass(frozen=True, slots=True)
class ApprovalRequest:
    context: DecisionContext
    rule_id: str
    cacheable: bool
    timeout_seconds: float


@dataclass(frozen=True, slots=True)
class ApprovalOutcome:
    outcome: str  # one of the constants above
    approver_id: str | None = None
    message: str | None = None

    @property
    def allowed(self) -> bool:
        return self.outcome in (USER_ALLOWED, USER_ALLOWED_ONCE)


class Approver(Protocol):
    async def ask(self, request: ApprovalRequest) -> ApprovalOutcome: ...


class NoApprover:
    """No human can be asked in this version: deny, and say why."""

    async def ask(self, request: ApprovalRequest) -> ApprovalOutcome:
        return ApprovalOutcome(NO_APPROVER, message="approval required but no approver is available")


def cacheable(side_effects: frozenset[str] | None, allowed_to_cache: frozenset[str] | None) -> bool:
    """May an approval of this tool be reused? Unknown effects: no; code execution: never."""
    if side_effects is None or "code_exec" in side_effects:
        return False
    return not side_effects or (allowed_to_cache is not None and side_effects <= allowed_to_cache)


CacheKey = tuple[str, str, str | None]


class ApprovalCache:
    """Approvals remembered per (subject, tool, real path) for a while; in memory only."""

    def __init__(self, ttl_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl_seconds
        self._clock = clock
        self._expiry: dict[CacheKey, float] = {}

    @staticmethod
    def key(context: DecisionContext) -> CacheKey:
        target = context.resolved or context.resource
        return (context.subject.id, context.resource.tool_name or "unknown", target.path)

    def remember(self, context: DecisionContext) -> None:
        self._expiry[self.key(context)] = self._clock() + self.ttl

    def holds(self, context: DecisionContext) -> bool:
        now = self._clock()
        for stale in [k for k, expiry in self._expiry.items() if expiry <= now]:
            del self._expiry[stale]
        return self.key(context) in self._expiry

    def clear(self) -> int:
        count = len(self._expiry)
        self._expiry.clear()
        return count

    def __len__(self) -> int:
        return len(self._expiry)
