"""Asking the human in band, for modern clients (docs/approvals.md#modern-clients-the-link-in-the-answer).

A 2025 client's request that needs approval is held open while a human decides (proxy/hitl.py).
A 2026-07-28 client that declares URL-mode elicitation is answered at once instead: an
`input_required` result whose one input request is a URL-mode elicitation pointing at the
approval in the manager's web UI, and whose `requestState` is the proxy's own signed state
(proxy/request_state.py). The human decides in the UI, authenticated and out of band; the
client only shows the link and later retries the call with that state.

On the retry: still undecided -> input_required again (the same approval, a fresh state); approved
-> the call is forwarded without the proxy's state and input response (and with the backend's
own MRTR fields the first call carried, kept here meanwhile); denied, timed out or withdrawn ->
a denial. A state that fails any check is refused by the caller (proxy/enforcement.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import quote

from mcp_acp.config.store import load_manager_config
from mcp_acp.policy import methods
from mcp_acp.policy.context import DecisionContext
from mcp_acp.proxy.approvals import WITHDRAWN, ApprovalOutcome, ApprovalRequest
from mcp_acp.proxy.pending import Pending, PendingApprovals
from mcp_acp.proxy.request_state import (
    REPLAYED,
    Binding,
    InvalidRequestState,
    NonceBook,
    RequestStateCodec,
    is_ours,
    load_or_create_key,
    request_digest,
)

log = logging.getLogger(__name__)

INPUT_KEY = "mcp-acp/approval"  # the key of the proxy's own input request and of its answer
MRTR_METHODS = frozenset({"tools/call", "resources/read", "prompts/get"})  # the requests that may get input_required
RETRY_GRACE_SECONDS = 120.0  # a state outlives its approval's deadline by this: time to retry once approved
UNKNOWN_APPROVAL = "unknown_approval"
UNVERIFIABLE = "unverifiable"
DECLINED = ("decline", "cancel")  # the client's user refused to open the link


@dataclass(slots=True)
class _Asked:
    pending: Pending
    carried: dict  # the first call's own requestState / inputResponses (the backend's), if any


@dataclass(frozen=True, slots=True)
class Resumed:
    """A retry whose state checked out. `outcome` None: still undecided (`again` is the answer
    that says so); otherwise the human's outcome. `forward`: the request as the backend gets it.
    `context`: the request as it was judged when asked (None when another process asked it)."""

    context: DecisionContext | None
    cacheable: bool
    outcome: ApprovalOutcome | None
    forward: dict
    again: dict | None = None


@dataclass(frozen=True, slots=True)
class AskedElsewhere:
    """An approval another process of this proxy asked (a gateway replica): where it stands."""

    outcome: ApprovalOutcome | None  # None: still waiting
    carried: dict
    cacheable: bool
    seconds_left: float


class InbandShare(Protocol):
    """What gateway replicas share so that a retry may reach any of them (gateway/shared_approvals.py)."""

    async def key(self) -> bytes: ...

    async def spend(self, nonce: str, ttl_seconds: float) -> bool:
        """False when the state was used already, on any replica."""
        ...

    async def asked(self, approval_id: str, carried: dict, cacheable: bool, ttl_seconds: float) -> None: ...

    async def find(self, approval_id: str) -> AskedElsewhere | None: ...

    async def settle(self, approval_id: str) -> bool:
        """The decision answers one retry: False when one already used it, on any replica."""
        ...


def _params(message: dict) -> dict:
    params = message.get("params")
    return params if isinstance(params, dict) else {}


def is_modern_with_url_elicitation(message: dict) -> bool:
    """The request's own `_meta` says 2026-07-28 and its capabilities include URL-mode elicitation."""
    meta = _params(message).get("_meta")
    if not isinstance(meta, dict) or meta.get(methods.META_PROTOCOL_VERSION) not in methods.MODERN_VERSIONS:
        return False
    capabilities = meta.get(methods.META_CLIENT_CAPABILITIES)
    elicitation = capabilities.get("elicitation") if isinstance(capabilities, dict) else None
    return isinstance(elicitation, dict) and isinstance(elicitation.get("url"), dict)


def carries_our_state(message: dict) -> bool:
    return is_ours(_params(message).get("requestState"))


def _declined(message: dict) -> str | None:
    """The action of the client's answer to the proxy's link, when it refused it."""
    responses = _params(message).get("inputResponses")
    answer = responses.get(INPUT_KEY) if isinstance(responses, dict) else None
    action = answer.get("action") if isinstance(answer, dict) else None
    return action if action in DECLINED else None


def manager_ui_base() -> str | None:
    """The manager's web UI on this machine, from manager.json; None when there is none to point at."""
    try:
        return f"http://127.0.0.1:{load_manager_config().ui_port}"
    except Exception as exc:  # no manager.json: nowhere to send the human
        log.warning("no manager UI address for an in-band approval (%s); the request is held instead", exc)
        return None


class InbandApprovals:
    def __init__(
        self,
        pending: PendingApprovals,
        proxy_id: str,
        ui_base: Callable[[], str | None] = manager_ui_base,
        load_key: Callable[[str], bytes] = load_or_create_key,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.pending = pending
        self.proxy_id = proxy_id
        self.ui_base = ui_base
        self._load_key = load_key
        self._clock = clock
        self._codec: RequestStateCodec | None = None
        self.nonces = NonceBook(clock)
        self._asked: dict[str, _Asked] = {}  # approval id -> the approval and what the first call carried
        self.share: InbandShare | None = None  # set by a gateway with replicas: retries may reach any of them

    wants = staticmethod(is_modern_with_url_elicitation)
    carries_state = staticmethod(carries_our_state)

    def binding(self, message: dict, ctx: DecisionContext, policy_version: str | None) -> Binding:
        return Binding(
            principal=ctx.subject.id,
            proxy=self.proxy_id,
            method=str(message.get("method")),
            tool=ctx.resource.tool_name,
            digest=request_digest(_params(message)),
            policy_version=policy_version,
        )

    async def _codec_ready(self) -> RequestStateCodec | None:
        """The codec, its key read from (or created in) the secret store once, off the event loop."""
        if self._codec is None:
            try:
                key = await (self.share.key() if self.share else asyncio.to_thread(self._load_key, self.proxy_id))
                self._codec = RequestStateCodec(key, self._clock)
            except Exception as exc:
                log.error("the request-state key could not be read or created in the secret store: %s", exc)
                return None
        return self._codec

    async def ask(self, request: ApprovalRequest, message: dict, binding: Binding, what: str) -> dict | None:
        """Open the pending approval (the UI shows it as any other) and return the input_required
        result that points at it; None when it cannot be asked in band (no key, no UI address):
        the caller then holds the request as for a 2025 client."""
        codec = await self._codec_ready()
        base = await asyncio.to_thread(self.ui_base) if codec is not None else None
        if codec is None or base is None:
            return None
        pending = await self.pending.open(request)
        self._asked[pending.id] = _Asked(pending, _carried(message))
        delay = max(0.0, pending.deadline - time.monotonic())
        asyncio.get_running_loop().call_later(delay, self._expire, pending)
        if self.share is not None:
            ttl = delay + RETRY_GRACE_SECONDS
            await self.share.asked(pending.id, _carried(message), request.cacheable, ttl)
        return self._input_required(codec, pending.id, delay, binding, base, what)

    def _expire(self, pending: Pending) -> None:
        """Nobody decided in time: the approval times out as a held one would; a later retry is denied."""
        if not pending.future.done():
            self.pending.time_out(pending)
        # The entry stays until its states expire, so a late retry is told it timed out.
        asyncio.get_running_loop().call_later(RETRY_GRACE_SECONDS, self._asked.pop, pending.id, None)

    def _input_required(
        self, codec: RequestStateCodec, approval_id: str, seconds_left: float, binding: Binding, base: str, what: str
    ) -> dict:
        state, _ = codec.issue(binding, approval_id, max(0.0, seconds_left) + RETRY_GRACE_SECONDS)
        url = f"{base}/proxy/{quote(self.proxy_id, safe='')}?approval={quote(approval_id, safe='')}"
        return {
            "resultType": "input_required",
            "inputRequests": {
                INPUT_KEY: {
                    "method": "elicitation/create",
                    "params": {
                        "mode": "url",
                        "message": f"mcp-acp: a person must approve {what} in the mcp-acp manager "
                        f"(approval {approval_id}). Open the link, decide there, then retry.",
                        "url": url,
                    },
                }
            },
            "requestState": state,
        }

    async def resume(self, message: dict, binding: Binding, what: str) -> Resumed:
        """Check the retry's state (InvalidRequestState when it fails), spend it, and say where
        its approval stands."""
        codec = await self._codec_ready()
        if codec is None:
            raise InvalidRequestState(UNVERIFIABLE)
        claims = codec.check(_params(message).get("requestState"), binding)
        self.nonces.consume(claims)  # good once, whatever follows
        if self.share is not None and not await self.share.spend(claims.nonce, claims.expires_at - self._clock()):
            raise InvalidRequestState(REPLAYED)  # used on another replica
        asked = self._asked.get(claims.approval_id)
        if asked is None:
            found = await self.share.find(claims.approval_id) if self.share is not None else None
            if found is None:
                raise InvalidRequestState(UNKNOWN_APPROVAL)
            assert self.share is not None  # found came from it
            return await self._resume_elsewhere(self.share, codec, claims.approval_id, found, message, binding, what)
        pending = asked.pending
        if not pending.future.done() and (action := _declined(message)):
            self.pending.withdraw(
                pending, "declined by the client", ApprovalOutcome(WITHDRAWN, message=f"the client answered {action}")
            )
        forward = _for_backend(message, asked.carried)
        context, cacheable = pending.request.context, pending.request.cacheable
        if not pending.future.done():
            base = await asyncio.to_thread(self.ui_base)
            if base is None:
                raise InvalidRequestState(UNKNOWN_APPROVAL)
            seconds_left = pending.deadline - time.monotonic()
            again = self._input_required(codec, pending.id, seconds_left, binding, base, what)
            return Resumed(context, cacheable, None, forward, again)
        del self._asked[claims.approval_id]  # decided: this approval answers this one retry only
        if self.share is not None and not await self.share.settle(pending.id):
            raise InvalidRequestState(UNKNOWN_APPROVAL)  # a retry on another replica used it
        return Resumed(context, cacheable, pending.future.result(), forward)

    async def _resume_elsewhere(
        self,
        share: InbandShare,
        codec: RequestStateCodec,
        approval_id: str,
        found: AskedElsewhere,
        message: dict,
        binding: Binding,
        what: str,
    ) -> Resumed:
        """A retry of an approval another replica asked: decided there, or still waiting."""
        forward = _for_backend(message, found.carried)
        if found.outcome is None and (action := _declined(message)):
            outcome = ApprovalOutcome(WITHDRAWN, message=f"the client answered {action}")
            return Resumed(None, found.cacheable, outcome, forward)
        if found.outcome is None:
            base = await asyncio.to_thread(self.ui_base)
            if base is None:
                raise InvalidRequestState(UNKNOWN_APPROVAL)
            again = self._input_required(codec, approval_id, found.seconds_left, binding, base, what)
            return Resumed(None, found.cacheable, None, forward, again)
        if not await share.settle(approval_id):
            raise InvalidRequestState(UNKNOWN_APPROVAL)
        return Resumed(None, found.cacheable, found.outcome, forward)


def _carried(message: dict) -> dict:
    """The first call's own MRTR fields (the backend's state and answers), kept for the forward."""
    params = _params(message)
    carried: dict = {}
    if "requestState" in params and not is_ours(params["requestState"]):
        carried["requestState"] = params["requestState"]
    if isinstance(params.get("inputResponses"), dict):
        carried["inputResponses"] = {k: v for k, v in params["inputResponses"].items() if k != INPUT_KEY}
    return carried


def _for_backend(message: dict, carried: dict) -> dict:
    """The approved retry as the backend gets it: the proxy's state and input response removed,
    the first call's own MRTR fields put back."""
    params = {k: v for k, v in _params(message).items() if k not in ("requestState", "inputResponses")}
    responses = _params(message).get("inputResponses")
    own = {k: v for k, v in responses.items() if k != INPUT_KEY} if isinstance(responses, dict) else {}
    if merged := {**carried.get("inputResponses", {}), **own}:
        params["inputResponses"] = merged
    if "requestState" in carried:
        params["requestState"] = carried["requestState"]
    return {**message, "params": params}
