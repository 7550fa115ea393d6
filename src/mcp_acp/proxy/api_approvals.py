"""The pending-approval endpoints of the proxy API (docs/approvals.md#the-api, issue 7): list, follow, decide.

Only the requester may decide (docs/approvals.md#what-an-approval-covers-and-what-it-does-not). In local mode the requester is the OS user, and only
that user can reach this socket. In OIDC mode the decider proves who they are with an access
token in `X-Approver-Token` (the manager adds the signed-in user's; the CLI its stored one),
verified like any request's token; another identity, or none, is refused and logged.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Literal

from fastapi import FastAPI, Request
from pydantic import BaseModel, ConfigDict
from sse_starlette import EventSourceResponse

from mcp_acp.event_names import Event
from mcp_acp.identity.jwt_check import JwksUnavailable, TokenInvalid
from mcp_acp.identity.provider import OidcIdentities
from mcp_acp.localhttp.errors import api_error
from mcp_acp.proxy.control import ControlState
from mcp_acp.proxy.pending import ApprovalUnauthorized, PendingNotFound

log = logging.getLogger(__name__)

APPROVER_HEADER = "x-approver-token"


class Binding(BaseModel):
    """What the decider saw; when given, it must still be what waits (no approving a swapped request)."""

    model_config = ConfigDict(extra="forbid")
    args_hash: str | None = None
    policy_version: str | None = None


def _approver(control: ControlState, request: Request) -> tuple[str, dict]:
    """Who decides, and the claims of their verified token (what a rule's `approvers` match)."""
    identities = control.identities
    if not isinstance(identities, OidcIdentities):  # local mode: the OS user approves
        return control.identity.subject_id, {}
    token = request.headers.get(APPROVER_HEADER)
    if not token:
        log.warning("an approval decision without an approver token was refused")
        raise api_error(401, "AUTH_REQUIRED", f"send the approver's access token in {APPROVER_HEADER}")
    try:
        claims = identities.checker.claims(token)
        return claims["sub"], claims
    except (TokenInvalid, JwksUnavailable) as exc:
        log.warning("an approval decision with an invalid approver token was refused: %s", exc)
        raise api_error(401, "AUTH_REQUIRED", f"the approver's token is not valid: {exc}") from None


def add_approval_routes(app: FastAPI, control: ControlState) -> None:
    @app.get("/api/approvals/pending/list")
    async def pending_list() -> list[dict]:
        return control.pending_list()

    @app.get("/api/approvals/pending")
    async def follow() -> EventSourceResponse:
        """This proxy's own event stream; whoever follows it counts as someone to ask."""
        ids = {"proxy_name": control.info.get("proxy_name"), "proxy_id": control.info.get("proxy_id")}
        first = [
            {"type": Event.SNAPSHOT, "approvals": control.pending_list(), **ids},
            {"type": Event.CACHED_SNAPSHOT, **control.approvals.snapshot(), **ids},
            {"type": Event.STATS_UPDATED, "stats": control.stats.api_stats(), **ids},
        ]
        return EventSourceResponse(control.hub.stream(first), ping=30)

    @app.post("/api/approvals/pending/{approval_id}/{decision}")
    async def decide(
        approval_id: str,
        decision: Literal["approve", "allow-once", "deny"],
        request: Request,
        binding: Binding | None = None,
    ) -> dict:
        approver, claims = await asyncio.to_thread(_approver, control, request)  # first: no probing ids anonymously
        try:
            pending = control.pending.get(approval_id)  # pyright: ignore[reportOptionalMemberAccess]  none: AttributeError, caught below
            if binding and (
                (binding.args_hash and binding.args_hash != pending.args_hash)
                or (binding.policy_version and binding.policy_version != pending.request.policy_version)
            ):
                raise api_error(409, "CONFLICT", "the waiting request is not the one you saw; list them again")
            control.pending.decide(approval_id, decision, approver, claims)  # pyright: ignore[reportOptionalMemberAccess]  as above
        except ApprovalUnauthorized as exc:
            log.warning("approval %s refused: %r may not decide it: %s", approval_id, approver, exc)
            raise api_error(403, "APPROVAL_UNAUTHORIZED", str(exc)) from None
        except (PendingNotFound, AttributeError):  # never was, or decided/withdrawn/timed out meanwhile
            control.events.emit(
                Event.PENDING_NOT_FOUND,
                severity="warning",
                approval_id=approval_id,
                message="That approval is no longer waiting (decided, withdrawn or timed out)",
            )
            raise api_error(404, "APPROVAL_NOT_FOUND", f"no approval {approval_id!r} is waiting") from None
        status = {"approve": "approved", "allow-once": "allowed_once", "deny": "denied"}[decision]
        return {"status": status, "approval_id": approval_id}
