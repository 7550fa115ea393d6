"""Who owns each 2025-era session, for every replica (docs/scale.md#sessions).

A session lives on the replica that opened it; the load balancer routes its requests there
(a stick table on Mcp-Session-Id). A request that reaches another replica all the same (the
owner died, or the balancer lost its table) is told why, and a token of another principal is
refused as on the owner itself.
"""

from __future__ import annotations

from mcp_acp.state.base import SharedState

COLLECTION = "sessions"


class SessionOwners:
    def __init__(self, state: SharedState, ttl_seconds: float) -> None:
        self.state = state
        self.ttl = ttl_seconds

    async def opened(self, session_id: str, subject: str) -> None:
        record = {"subject": subject, "replica": self.state.replica_id}
        await self.state.kv.put(session_id, record, collection=COLLECTION, ttl=self.ttl)

    async def ended(self, session_id: str) -> None:
        await self.state.kv.delete(session_id, collection=COLLECTION)

    async def owner(self, session_id: str) -> dict | None:
        """{"subject", "replica"} of a session opened on any replica, while it may be alive."""
        return await self.state.kv.get(session_id, collection=COLLECTION)
