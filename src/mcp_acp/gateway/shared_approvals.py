"""Approvals across replicas (docs/scale.md#approvals-across-replicas).

A request that waits for a human waits on the replica that received it, as on one machine. What
the other replicas need lives in the shared state:

- every waiting approval's view (`approvals`), so the approvals page of any replica lists it;
- a decision taken on a replica that does not hold the request (`decisions`, by the request's
  binding: proxy, requester, tool, exact arguments, policy version), announced on the
  `approvals` channel so the holder answers its request at once. If the holder died meanwhile,
  the client's retry of the same request, on any replica, finds the decision and is answered by
  it, once: the decision's id is a nonce spent by whoever uses it;
- approvals remembered with "approve" (`remembered`), keyed as the session's own cache keys
  them and by policy version, so they hold on every replica (the enforcer recalls them before
  it would ask a human).

The state server is trusted as the replicas' shared memory: whoever can write it can decide.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import orjson

from mcp_acp.event_names import Event
from mcp_acp.policy import approvers
from mcp_acp.policy.context import DecisionContext
from mcp_acp.proxy.approvals import (
    TIMEOUT,
    WITHDRAWN,
    ApprovalCache,
    ApprovalOutcome,
    ApprovalRequest,
    Approver,
)
from mcp_acp.proxy.inband_approval import AskedElsewhere
from mcp_acp.proxy.pending import DECISIONS, PendingNotFound, arguments_hash
from mcp_acp.state.base import SharedState, StateUnavailable

if TYPE_CHECKING:
    from mcp_acp.proxy.session import ProxySession

log = logging.getLogger(__name__)

CHANNEL = "approvals"
WAITING, DECIDED, REMEMBERED = "approvals", "decisions", "remembered"
ASKED, OUTCOMES, KEYS = "asked_in_band", "outcomes", "keys"
EVENTS = "events"  # + ":<proxy>": the channel of a proxy's live events, from every replica
SHARED_EVENTS = frozenset(
    {
        Event.PENDING_CREATED,
        Event.PENDING_RESOLVED,
        Event.PENDING_TIMEOUT,
        Event.PENDING_CANCELLED,
        Event.CACHE_CLEARED,
        Event.CACHE_ENTRY_DELETED,
        Event.POLICY_RELOADED,
        Event.POLICY_RELOAD_FAILED,
        Event.RATE_LIMIT_TRIGGERED,
        Event.RATE_LIMIT_APPROVED,
        Event.RATE_LIMIT_DENIED,
        Event.CRITICAL_SHUTDOWN,
    }
)
ENDS = frozenset({Event.PENDING_RESOLVED, Event.PENDING_TIMEOUT, Event.PENDING_CANCELLED})
ENDED = {  # how a waiting approval ended, from the event that says so
    Event.PENDING_TIMEOUT: TIMEOUT,
    Event.PENDING_CANCELLED: WITHDRAWN,
}
RETRY_SECONDS = 120.0  # a decision outlives its request's deadline by this: time for the client's retry


def binding(proxy: str, subject: str, tool: str | None, args_hash: str, policy_version: str | None) -> str:
    """What a decision answers: exactly this request, from this requester, under this policy."""
    parts = orjson.dumps([proxy, subject, tool, args_hash, policy_version])
    return hashlib.sha256(parts).hexdigest()


def view_binding(view: dict) -> str:
    return binding(view["proxy_name"], view["subject_id"], view["tool_name"], view["args_hash"], view["policy_version"])


def may_decide(view: dict, subject: str, claims: dict) -> str | None:
    """None when `subject` may decide the approval shown by `view`; else why not (policy/approvers.py)."""
    return approvers.refusal(subject, claims, view["subject_id"], view["approvers"], view["self_approval"])


def may_see(view: dict, subject: str, claims: dict) -> bool:
    return view["subject_id"] == subject or may_decide(view, subject, claims) is None


def may_follow(message: dict, subject: str, claims: dict) -> bool:
    """A live event is for its principal, and (an approval's) for who may decide it."""
    who = message.get("who") or {}
    if who.get("subject_id") == subject:
        return True
    return "approvers" in who and may_see(who, subject, claims)


class SharedApprovals:
    """One per gateway: mirrors its sessions' approvals into the shared state, and answers
    decisions taken elsewhere."""

    def __init__(self, state: SharedState) -> None:
        self.state = state
        # Proxy name -> its live sessions. Replicas share records by proxy name (their configs may
        # have been made apart, with ids of their own).
        self.sessions: dict[str, Callable[[], list[ProxySession]]] = {}
        self._writes: set[asyncio.Task] = set()
        self._seen: dict[str, dict] = {}  # waiting approval id -> who may see its events

    # -- a session joins -------------------------------------------------------------------

    def attach(self, proxy: str, session: ProxySession) -> None:
        """Mirror this session's waiting approvals, and let remembered and decided approvals
        from other replicas answer its requests."""
        session.events.sinks.append(lambda event, data: self._mirror(proxy, event, data))
        subject = session.inputs.identity.subject_id
        session.events.sinks.append(lambda event, data: self._broadcast(proxy, subject, event, data))
        session.enforcer.approver = SharedApprover(session.enforcer.approver, self, proxy)
        session.enforcer.recall = lambda request: self.recalled(proxy, request)
        ttl = session.approvals.ttl

        def remembered(context: DecisionContext, arguments) -> None:
            key = self.remembered_key(proxy, session.reloader.version, context, arguments)
            record = {"subject_id": context.subject.id, "replica": self.state.replica_id}
            self._spawn(self.state.kv.put(key, record, collection=REMEMBERED, ttl=ttl))

        session.approvals.on_remember.append(remembered)
        if session.enforcer.inband is not None:
            session.enforcer.inband.share = SharedInband(self.state, proxy)

    def _broadcast(self, proxy: str, subject: str, event: str, data: dict) -> None:
        """What a session reports, to every replica's event streams (gateway/events.py)."""
        if event not in SHARED_EVENTS:
            return
        if event == Event.PENDING_CREATED:
            view = data["approval"]
            self._seen[view["id"]] = {k: view[k] for k in ("subject_id", "approvers", "self_approval")}
        approval_id = data.get("approval_id") or (data.get("approval") or {}).get("id", "")
        who = self._seen.get(approval_id, {"subject_id": subject})
        if event in ENDS:
            self._seen.pop(data["approval_id"], None)
        message = {"type": str(event), "proxy": proxy, "replica": self.state.replica_id, "who": who, **data}
        self._spawn(self.state.publish(f"{EVENTS}:{proxy}", message))

    def _mirror(self, proxy: str, event: str, data: dict) -> None:
        if event == Event.PENDING_CREATED:
            view = data["approval"]
            ttl = view["timeout_seconds"] + RETRY_SECONDS
            record = {"view": view, "replica": self.state.replica_id}
            self._spawn(self.state.kv.put(view["id"], record, collection=WAITING, ttl=ttl))
            self._spawn(self.state.index_add(f"{WAITING}:{proxy}", view["id"], ttl))
        elif event in (Event.PENDING_RESOLVED, Event.PENDING_TIMEOUT, Event.PENDING_CANCELLED):
            approval_id = data["approval_id"]
            self._spawn(self.state.kv.delete(approval_id, collection=WAITING))
            self._spawn(self.state.index_remove(f"{WAITING}:{proxy}", approval_id))
            if event == Event.PENDING_RESOLVED:
                ended = {"outcome": DECISIONS[data["decision"].replace("_", "-")], "approver_id": data["approver_id"]}
            else:
                ended = {"outcome": ENDED[event], "message": data.get("reason")}
            self._spawn(self.state.kv.put(approval_id, ended, collection=OUTCOMES, ttl=RETRY_SECONDS * 10))

    def _spawn(self, write) -> None:
        """Mirroring never holds up a request; a state server that is down only hides the
        approval from other replicas (requests themselves are refused before they get here)."""

        async def run() -> None:
            try:
                await write
            except StateUnavailable as exc:
                log.warning("an approval could not be shared with the other replicas: %s", exc)

        task = asyncio.ensure_future(run())
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    # -- what any replica's approvals page shows and decides -------------------------------

    async def waiting(self, proxy: str) -> list[dict]:
        """Every replica's waiting approvals of this proxy (views)."""
        ids = await self.state.index_members(f"{WAITING}:{proxy}")
        records = await self.state.kv.get_many(ids, collection=WAITING) if ids else []
        return [r["view"] | {"replica": r["replica"]} for r in records if r and r["view"]["proxy_name"] == proxy]

    async def decide_elsewhere(self, approval_id: str, decision: str, subject: str, claims: dict) -> dict:
        """Decide an approval that waits on another replica (or on one that died). Raises
        PendingNotFound, or PermissionError with the reason the caller may not decide it."""
        record = await self.state.kv.get(approval_id, collection=WAITING)
        if record is None:
            raise PendingNotFound(approval_id)
        view = record["view"]
        if (why := may_decide(view, subject, claims)) is not None:
            raise PermissionError(why)
        if not await self.state.claim(f"decide:{approval_id}", view["timeout_seconds"] + RETRY_SECONDS):
            raise PendingNotFound(approval_id)  # someone else decided it a moment ago
        message = {
            "type": "decided",
            "id": approval_id,
            "binding": view_binding(view),
            "decision": decision,
            "approver_id": subject,
            "approver_claims": claims,
        }
        ttl = view["timeout_seconds"] + RETRY_SECONDS
        await self.state.kv.put(message["binding"], message, collection=DECIDED, ttl=ttl)
        ended = {"outcome": DECISIONS[decision], "approver_id": subject}
        await self.state.kv.put(approval_id, ended, collection=OUTCOMES, ttl=RETRY_SECONDS * 10)
        await self.state.kv.delete(approval_id, collection=WAITING)
        await self.state.index_remove(f"{WAITING}:{view['proxy_name']}", approval_id)
        await self.state.publish(CHANNEL, message)
        return view

    # -- decisions taken elsewhere reach the request that waits here -------------------------

    async def follow(self) -> None:
        """Until cancelled: answer the requests waiting here that a decision elsewhere is for."""
        async for message in self.state.subscribe(CHANNEL):
            if message.get("type") == "decided":
                try:
                    await self._apply(message)
                except Exception:  # one bad message must not stop the others
                    log.exception("a decision from another replica could not be applied")

    async def _apply(self, message: dict) -> None:
        for get_sessions in self.sessions.values():
            for session in get_sessions():
                for view in session.pending.list():
                    if view["id"] != message["id"] and view_binding(view) != message["binding"]:
                        continue
                    if not await self.state.claim(f"applied:{message['id']}", RETRY_SECONDS * 10):
                        return  # already answered a request
                    try:
                        session.pending.decide(
                            view["id"], message["decision"], message["approver_id"], message["approver_claims"]
                        )
                    except PendingNotFound:
                        continue
                    return

    async def decided(self, proxy: str, request: ApprovalRequest) -> ApprovalOutcome | None:
        """A decision taken elsewhere for exactly this request, not yet used: spent now."""
        key = binding(
            proxy,
            request.context.subject.id,
            request.context.resource.tool_name,
            arguments_hash(request.arguments),
            request.policy_version,
        )
        message = await self.state.kv.get(key, collection=DECIDED)
        if message is None or message["decision"] not in DECISIONS:
            return None
        if not await self.state.claim(f"applied:{message['id']}", RETRY_SECONDS * 10):
            return None
        why = may_decide_again(message, request)
        if why is not None:
            log.warning("a shared decision was not applied: %s", why)
            return None
        return ApprovalOutcome(DECISIONS[message["decision"]], approver_id=message["approver_id"])

    # -- remembered approvals ----------------------------------------------------------------

    @staticmethod
    def remembered_key(proxy: str, policy_version: str | None, context: DecisionContext, arguments) -> str:
        """The session cache's own key (the same user, tool, paths, and arguments where they
        matter), under this proxy and policy version."""
        key = ApprovalCache.key(context, arguments)
        return hashlib.sha256(repr((proxy, policy_version, key)).encode()).hexdigest()

    async def recalled(self, proxy: str, request: ApprovalRequest) -> bool:
        key = self.remembered_key(proxy, request.policy_version, request.context, request.arguments)
        return await self.state.kv.get(key, collection=REMEMBERED) is not None


def may_decide_again(message: dict, request: ApprovalRequest) -> str | None:
    """The decision's approver, checked against this request's rule as it is now."""
    return approvers.refusal(
        message["approver_id"],
        message.get("approver_claims") or {},
        request.context.subject.id,
        request.approvers,
        request.self_approval,
    )


class SharedApprover:
    """A session's approver that first looks for a decision taken elsewhere for exactly this
    request (its holder died before the answer); else it asks as the session always does."""

    def __init__(self, inner: Approver, shared: SharedApprovals, proxy: str) -> None:
        self.inner = inner
        self.shared = shared
        self.proxy = proxy

    async def ask(self, request: ApprovalRequest) -> ApprovalOutcome:
        if (outcome := await self.shared.decided(self.proxy, request)) is not None:
            return outcome
        return await self.inner.ask(request)


class SharedInband:
    """For a 2026-07-28 client's in-band approval (proxy/inband_approval.py), what lets its retry
    reach any replica: one request-state key per proxy, nonces spent once, where each approval
    stands, and a decision that answers one retry."""

    def __init__(self, state: SharedState, proxy: str, clock=time.time) -> None:
        self.state = state
        self.proxy = proxy
        self._clock = clock

    async def key(self) -> bytes:
        """The proxy's request-state key, made once by whichever replica needs it first."""
        name = f"request-state:{self.proxy}"
        for _ in range(100):
            if (record := await self.state.kv.get(name, collection=KEYS)) is not None:
                return base64.b64decode(record["key"])
            if await self.state.claim(f"create:{name}", 30):
                key = secrets.token_bytes(32)
                await self.state.kv.put(name, {"key": base64.b64encode(key).decode("ascii")}, collection=KEYS)
                return key
            await asyncio.sleep(0.05)  # another replica is making it
        raise StateUnavailable(f"the request-state key of {self.proxy} was not made in time")

    async def spend(self, nonce: str, ttl_seconds: float) -> bool:
        return await self.state.claim(f"nonce:{nonce}", max(ttl_seconds, 1.0))

    async def asked(self, approval_id: str, carried: dict, cacheable: bool, ttl_seconds: float) -> None:
        deadline = self._clock() + ttl_seconds - RETRY_SECONDS
        record = {"carried": carried, "cacheable": cacheable, "deadline": deadline}
        await self.state.kv.put(approval_id, record, collection=ASKED, ttl=ttl_seconds)

    async def find(self, approval_id: str) -> AskedElsewhere | None:
        asked = await self.state.kv.get(approval_id, collection=ASKED)
        if asked is None:
            return None
        ended = await self.state.kv.get(approval_id, collection=OUTCOMES)
        outcome = None
        if ended is not None:
            outcome = ApprovalOutcome(
                ended["outcome"], approver_id=ended.get("approver_id"), message=ended.get("message")
            )
        return AskedElsewhere(outcome, asked["carried"], asked["cacheable"], asked["deadline"] - self._clock())

    async def settle(self, approval_id: str) -> bool:
        return await self.state.claim(f"settled:{approval_id}", RETRY_SECONDS * 10)
