"""`GET /events/<proxy>`: the live events of a proxy from every replica, as server-sent events
(docs/scale.md#what-is-shared): waiting approvals as they come and go, remembered approvals
cleared, policy reloads, rate limits. Each caller sees the events of their own requests and of
the approvals the policy lets them decide."""

from __future__ import annotations

import orjson
from sse_starlette.sse import EventSourceResponse
from starlette.requests import Request
from starlette.responses import Response

from mcp_acp.gateway import approvals
from mcp_acp.gateway.shared_approvals import EVENTS, may_follow

PING_SECONDS = 15


async def follow(request: Request) -> Response:
    found = await approvals.verified(request)
    if isinstance(found, Response):
        return found
    gateway, front, caller = found

    async def stream():
        async for message in gateway.state.subscribe(f"{EVENTS}:{front.endpoint.name}"):
            if may_follow(message, caller.subject_id, caller.claims):
                shown = {k: v for k, v in message.items() if k != "who"}
                yield {"event": message["type"], "data": orjson.dumps(shown).decode()}

    return EventSourceResponse(stream(), headers={"Cache-Control": "no-store"}, ping=PING_SECONDS)
