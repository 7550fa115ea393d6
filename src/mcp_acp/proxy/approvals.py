"""Human approval (docs/approvals.md): the approver interface, and the cache of recent approvals.

The approver is whatever can ask a human: proxy/hitl.py routes to the web UI, a native dialog,
or nobody. `NoApprover` (nobody at all) denies every request: approval required fails closed.
The cache announces its own changes (a `cached_snapshot` event after each, and what was cleared
or deleted) through the emitter it is given, so no caller can forget to.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import orjson

from mcp_acp.event_names import Event
from mcp_acp.policy.context import DecisionContext

USER_ALLOWED, USER_ALLOWED_ONCE, USER_DENIED, TIMEOUT, NO_APPROVER, WITHDRAWN = (
    "user_allowed",
    "user_allowed_once",
    "user_denied",
    "timeout",
    "no_approver",
    "withdrawn",
)


@dataclass(frozen=True, slots=True)
class ApprovalRequest:
    context: DecisionContext
    rule_id: str
    cacheable: bool
    timeout_seconds: float
    arguments: dict | None = None  # exactly what the client sent: an approval covers these only
    policy_version: str | None = None  # an approval given under one policy is not valid under another
    approvers: tuple[str, ...] = ()  # the rule's designated approvers (policy/approvers.py); none: the requester
    self_approval: bool = True  # False: the requester may not decide it


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
    """No human can be asked: deny, and say why."""

    async def ask(self, request: ApprovalRequest) -> ApprovalOutcome:
        return ApprovalOutcome(NO_APPROVER, message="approval required but no approver is available")


def cacheable(side_effects: frozenset[str] | None, allowed_to_cache: frozenset[str] | None) -> bool:
    """May an approval of this tool be reused? Unknown effects: no; code execution: never."""
    if side_effects is None or "code_exec" in side_effects:
        return False
    return not side_effects or (allowed_to_cache is not None and side_effects <= allowed_to_cache)


# (subject, tool, every path in every reading with its role, the exact arguments when the tool's
# effects are unknown or include code execution)
CacheKey = tuple[str, str, tuple, str | None]
# Where the cache announces its changes: ProxyEvents.emit(event, severity=..., message=..., **data).
Announce = Callable[..., None]
POLICY_RELOAD = "policy_reload"  # the reason of a clear by a policy reload


def _arguments_digest(arguments: dict | None) -> str:
    return hashlib.sha256(orjson.dumps(arguments or {}, option=orjson.OPT_SORT_KEYS)).hexdigest()


@dataclass(frozen=True, slots=True)
class _Cached:
    stored_at: float
    expires_at: float
    request_id: str | None  # the request whose approval this is, shown in the UI
    paths: tuple[str, ...]  # the approved paths, resolved, for display


class ApprovalCache:
    """Approvals remembered for a while, in memory only. One covers exactly what was approved:
    the same user, tool and every path (path, source, destination and any other) in every
    reading; for a tool that may run code or whose effects are unknown, the exact arguments too."""

    def __init__(
        self, ttl_seconds: float, clock: Callable[[], float] = time.monotonic, announce: Announce | None = None
    ) -> None:
        self.ttl = ttl_seconds
        self._clock = clock
        self._announce = announce or (lambda *_, **__: None)
        self._entries: dict[CacheKey, _Cached] = {}
        # Told of every approval remembered here (the gateway shares them with its other replicas).
        self.on_remember: list[Callable[[DecisionContext, dict | None], None]] = []

    @staticmethod
    def key(context: DecisionContext, arguments: dict | None = None) -> CacheKey:
        effects = context.resource.side_effects
        exact = effects is None or "code_exec" in effects
        paths = tuple(sorted((item.role, item.readings) for item in context.judged))
        return (
            context.subject.id,
            context.resource.tool_name or "unknown",
            paths,
            _arguments_digest(arguments) if exact else None,
        )

    def remember(self, context: DecisionContext, arguments: dict | None = None) -> None:
        now = self._clock()
        shown = tuple(dict.fromkeys(item.readings[-1] for item in context.judged if item.readings))
        self._entries[self.key(context, arguments)] = _Cached(
            now, now + self.ttl, context.environment.request_id, shown
        )
        for hook in self.on_remember:
            hook(context, arguments)
        self._changed()

    def holds(self, context: DecisionContext, arguments: dict | None = None) -> bool:
        self._purge()
        return self.key(context, arguments) in self._entries

    def _purge(self) -> float:
        now = self._clock()
        for stale in [k for k, cached in self._entries.items() if cached.expires_at <= now]:
            del self._entries[stale]
        return now

    def forget(self, subject_id: str, tool_name: str, path: str | None) -> bool:
        """Drop the approvals of one user and tool whose first path is `path` (the UI's delete
        button); False when there was none."""
        self._purge()
        gone = [
            key
            for key, cached in self._entries.items()
            if key[:2] == (subject_id, tool_name) and (cached.paths[0] if cached.paths else None) == path
        ]
        for key in gone:
            del self._entries[key]
        if gone:
            self._announce(
                Event.CACHE_ENTRY_DELETED,
                message=f"Cached approval of {tool_name} deleted",
                subject_id=subject_id,
                tool_name=tool_name,
                path=path,
            )
            self._changed()
        return bool(gone)

    def clear(self, reason: str) -> int:
        """Forget every approval, and say so with `reason`. A clear by a policy reload, which
        nobody asked for, is announced only when it removed some."""
        count = len(self._entries)
        self._entries.clear()
        if count or reason != POLICY_RELOAD:
            by = " by a policy reload" if reason == POLICY_RELOAD else ""
            self._announce(
                Event.CACHE_CLEARED, message=f"{count} cached approvals cleared{by}", count=count, reason=reason
            )
            self._changed()
        return count

    def _changed(self) -> None:
        self._announce(Event.CACHED_SNAPSHOT, **self.snapshot())

    def snapshot(self) -> dict:
        """The live approvals as `GET /api/approvals/cached` and the `cached_snapshot` event show them."""
        now = self._purge()
        approvals = [
            {
                "subject_id": key[0],
                "tool_name": key[1],
                "path": cached.paths[0] if cached.paths else None,
                "paths": list(cached.paths),
                "exact_arguments": key[3] is not None,
                "request_id": cached.request_id,
                "age_seconds": round(now - cached.stored_at, 1),
                "ttl_seconds": self.ttl,
                "expires_in_seconds": round(cached.expires_at - now, 1),
            }
            for key, cached in self._entries.items()
        ]
        return {"count": len(approvals), "ttl_seconds": self.ttl, "approvals": approvals}

    def __len__(self) -> int:
        return len(self._entries)
