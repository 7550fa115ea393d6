"""The interception point: one hook per JSON-RPC request method, consulted before forwarding.

A hook returns None to forward the request, or a JSON-RPC error object to answer the
client with instead. It may be async (a human approval): the relay then handles that
request in its own task, so one slow decision never blocks other traffic.

Until the policy engine lands every method passes through; `start` says so in its banner.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

ErrorObject = dict[str, Any]
Decision = ErrorObject | None
Hook = Callable[[dict[str, Any]], Decision | Awaitable[Decision]]

def pass_through(request: dict[str, Any]) -> Decision:
    return None


class Gate:
    """Maps each request method to its hook; unknown methods use the default hook."""

    def __init__(self, default: Hook = pass_through) -> None:
        self._default = default
        self._hooks: dict[str, Hook] = {}

    def register(self, method: str, hook: Hook) -> None:
        self._hooks[method] = hook

    def hook_for(self, method: str) -> Hook:
        return self._hooks.get(method, self._default)

    @property
    def enforcing(self) -> bool:
        return bool(self._hooks) or self._default is not pass_through
