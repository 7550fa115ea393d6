"""The interception points: a hook per request method, a notification hook, and result hooks.

A request hook returns None to forward the request, or a JSON-RPC error object to answer the
client with instead. It may be async (a human approval): the relay then handles that request
in its own task, so one slow decision never blocks other traffic. A result hook rewrites the
backend's answer to a request (sanitized or filtered lists). The notification hook sees client
notifications and returns False to stop one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

ErrorObject = dict[str, Any]
Decision = ErrorObject | None
Hook = Callable[[dict[str, Any]], Decision | Awaitable[Decision]]
ResultHook = Callable[[dict[str, Any]], dict[str, Any]]


def pass_through(request: dict[str, Any]) -> Decision:
    return None


def forward_notification(message: dict[str, Any]) -> bool:
    return True


class Gate:
    """Maps each request method to its hook; unknown methods use the default hook."""

    def __init__(self, default: Hook = pass_through,
                 notification: Callable[[dict[str, Any]], bool] = forward_notification,
                 results: dict[str, ResultHook] | None = None) -> None:
        self._default = default
        self._hooks: dict[str, Hook] = {}
        self.notification = notification
        self.results = results or {}

    def register(self, method: str, hook: Hook) -> None:
        self._hooks[method] = hook

    def hook_for(self, method: str) -> Hook:
        return self._hooks.get(method, self._default)

    @property
    def enforcing(self) -> bool:
        return bool(self._hooks) or self._default is not pass_through
