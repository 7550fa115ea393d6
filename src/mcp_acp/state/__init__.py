"""Shared state (docs/scale.md): what gateway replicas must agree on, behind one interface.

`open_state(url)` gives the embedded default (in this process, nothing to install) for no URL,
and Redis or Valkey for `redis://` / `rediss://`. Every backend error surfaces as
`StateUnavailable`: callers deny the request that needed the state (fail closed).
"""

from __future__ import annotations

from mcp_acp.state.base import SharedState


def open_state(url: str | None, replica_id: str) -> SharedState:
    from mcp_acp.state.memory import MemoryState

    if url is None:
        return MemoryState(replica_id)
    from mcp_acp.state.redis import RedisState  # type: ignore[import-not-found]  # being written

    return RedisState(url, replica_id)
