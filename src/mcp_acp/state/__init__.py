"""Shared state (docs/scale.md): what gateway replicas must agree on, behind one interface.

`open_state(url)` gives the embedded default (in this process, nothing to install) for no URL,
and Redis or Valkey for `redis://` / `rediss://`. Every backend error surfaces as
`StateUnavailable`: callers deny the request that needed the state (fail closed).
"""

from __future__ import annotations

from mcp_acp.state.base import SharedState, StateUnavailable
from mcp_acp.state.memory import MemoryState

__all__ = ["SharedState", "StateUnavailable", "open_state"]


def open_state(url: str | None, replica_id: str) -> SharedState:
    """The backend `url` names: None in this process, redis:// or rediss:// (TLS) Redis or Valkey."""
    if url is None:
        return MemoryState(replica_id)
    if url.startswith(("redis://", "rediss://")):
        from mcp_acp.state.redis import RedisState  # the client only when asked for

        return RedisState(url, replica_id)
    raise ValueError("a state URL starts with redis:// or rediss://")
