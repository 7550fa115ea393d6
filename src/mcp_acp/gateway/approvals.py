"""Approvals for remote users (docs/gateway.md#approvals): a rule that asks holds the request
until someone allowed to decide it does, here, with their own Bearer token.

- `GET /approvals/<proxy>/pending`: the approvals the caller may see (their own requests, and
  those the policy lets them decide).
- `POST /approvals/<proxy>/<id>/<approve|allow-once|deny>`: decide one. Who may is the policy's
  call (policy/approvers.py: the requester by default, a rule's `approvers`, never the requester
  when `self_approval` is false), checked again when the decision is applied.
- `GET /approvals/proxy/<proxy id>`: the page a modern client's URL-mode elicitation points at
  (approvals_page.html): every approval the caller may see, from every replica, kept live by
  `GET /events/<proxy>`; the one the link names first.
"""

from __future__ import annotations

import html
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from mcp_acp.gateway.http_checks import HttpRefusal, check_host, check_origin
from mcp_acp.gateway.resource_server import Challenge
from mcp_acp.gateway.shared_approvals import may_see
from mcp_acp.identity.local import Identity
from mcp_acp.proxy.pending import ApprovalUnauthorized, PendingNotFound
from mcp_acp.state.base import StateUnavailable

if TYPE_CHECKING:
    from mcp_acp.gateway.app import Gateway
    from mcp_acp.gateway.front import Front

log = logging.getLogger(__name__)

DECISIONS = ("approve", "allow-once", "deny")


def _waiting(gateway: Gateway, front: Front) -> list[dict]:
    """The approvals waiting on this replica (views, named by the replica as the shared ones are)."""
    here = {"replica": gateway.state.replica_id}
    return [view | here for session in list(front.endpoint.sessions.values()) for view in session.pending.list()]


async def verified(request: Request) -> tuple[Gateway, Front, Identity] | Response:
    """The gateway, the endpoint and the verified caller, or the refusal to answer with."""
    gateway: Gateway = request.app.state.gateway
    try:
        check_host(request.headers.get("host"), gateway.hosts)
        check_origin(request.headers.get("origin"), gateway.origins)
        proxy = request.path_params["proxy"]
        front = gateway.fronts.get(proxy)
        if front is None:
            raise HttpRefusal(404, f"no proxy named {proxy!r} is served here")
        return gateway, front, await gateway.authenticate(proxy, request.headers.get("authorization"))
    except HttpRefusal as exc:
        return JSONResponse(exc.body(), status_code=exc.status)
    except Challenge as exc:
        return JSONResponse(exc.body, status_code=exc.status, headers=exc.headers)
    except StateUnavailable as exc:
        return JSONResponse({"error": f"the gateway's shared state is unavailable ({exc}); try again"}, status_code=503)


async def pending_list(request: Request) -> Response:
    """What waits on every replica that the caller may see (their own requests, and those the
    policy lets them decide)."""
    found = await verified(request)
    if isinstance(found, Response):
        return found
    gateway, front, caller = found
    views = {view["id"]: view for view in _waiting(gateway, front)}
    try:
        for view in await gateway.shared.waiting(front.endpoint.name):
            views.setdefault(view["id"], view)
    except StateUnavailable as exc:  # this replica's own approvals can still be shown and decided
        log.warning("the other replicas' approvals cannot be listed: %s", exc)
    shown = [view for view in views.values() if may_see(view, caller.subject_id, caller.claims)]
    return JSONResponse(shown)


async def decide(request: Request) -> Response:
    found = await verified(request)
    if isinstance(found, Response):
        return found
    gateway, front, caller = found
    approval_id, decision = request.path_params["approval_id"], request.path_params["decision"]
    if decision not in DECISIONS:
        return JSONResponse({"error": f"decide with one of {', '.join(DECISIONS)}"}, status_code=400)
    decided = {"status": decision, "approval_id": approval_id, "approver": caller.subject_id}
    try:
        for session in list(front.endpoint.sessions.values()):
            try:
                session.pending.get(approval_id)
            except PendingNotFound:
                continue
            session.pending.decide(approval_id, decision, caller.subject_id, caller.claims)
            return JSONResponse(decided)
        await gateway.shared.decide_elsewhere(approval_id, decision, caller.subject_id, caller.claims)
        return JSONResponse(decided)
    except (ApprovalUnauthorized, PermissionError) as exc:
        log.warning("gateway approval %s: %r may not decide it: %s", approval_id, caller.subject_id, exc)
        front.endpoint.record_refusal(caller.subject_id, "approval_unauthorized", str(exc))
        return JSONResponse({"error": str(exc)}, status_code=403)
    except PendingNotFound:
        return JSONResponse({"error": f"no approval {approval_id!r} is waiting"}, status_code=404)
    except StateUnavailable as exc:
        return JSONResponse({"error": f"the gateway's shared state is unavailable ({exc}); try again"}, status_code=503)


async def page(request: Request) -> Response:
    """A small page: paste your access token, see what waits (live), decide. The token stays in the tab."""
    gateway: Gateway = request.app.state.gateway
    proxy_id = request.path_params["proxy_id"]
    name = next((n for n, f in gateway.fronts.items() if f.endpoint.started.config.proxy_id == proxy_id), None)
    if name is None:
        return HTMLResponse("<p>No such proxy is served here.</p>", status_code=404)
    # The name goes into the heading and an attribute (the script reads it there): escaped for HTML.
    return HTMLResponse(PAGE.replace("{{proxy}}", html.escape(name, quote=True)), headers=PAGE_HEADERS)


# Its own inline script and style only, talking to this origin only; never framed (a framed page
# could trick a click on Approve).
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
PAGE = (Path(__file__).parent / "approvals_page.html").read_text(encoding="utf-8")
