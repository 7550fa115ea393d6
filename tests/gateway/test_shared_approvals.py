"""Live events across replicas: an approval's events reach whom the rule names as approvers,
from its creation on, and nobody else's stream."""

from __future__ import annotations

import asyncio

from mcp_acp.event_names import Event
from mcp_acp.gateway.shared_approvals import EVENTS, SharedApprovals, may_follow
from mcp_acp.state.memory import MemoryState


async def test_a_designated_approver_follows_an_approval_from_its_creation() -> None:
    state = MemoryState("gw-1")
    shared = SharedApprovals(state)
    stream = state.subscribe(f"{EVENTS}:files")
    first = asyncio.ensure_future(anext(stream))
    await asyncio.sleep(0)
    view = {"id": "a1", "subject_id": "alice", "approvers": ["group:security"], "self_approval": False}
    shared._broadcast("files", "alice", Event.PENDING_CREATED, {"approval": view})
    message = await asyncio.wait_for(first, 5)
    assert message["type"] == "pending_created"
    assert may_follow(message, "sam", {"groups": ["security"]})
    assert not may_follow(message, "bob", {"groups": ["dev"]})
    assert may_follow(message, "alice", {})  # her own request
