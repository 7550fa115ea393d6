"""The interception points: a request hook, a notification hook, and result hooks.

The request hook (the policy enforcement point) gets the request and its arguments as the relay
walked them once (policy/context.py ParsedRequest, shared with the operations log). It returns
None to forward the request, a
JSON-RPC error object to answer the client with instead, LogWhileForwarded, AnswerWith (a
result of the proxy's own) or ForwardInstead (the request rewritten). It may be
async (a human approval): the relay then handles that request in its own task, so one slow
decision never blocks other traffic. A result hook rewrites the backend's answer to a request
(sanitized or filtered lists). The notification hook sees client notifications and returns
False to stop one. `refused` records the decision on a message the relay refuses itself (an
id-less tools/call); `client_answered` sees the client's answers to the server's requests (the
roots the client declares). `tasks` binds the tasks a backend creates to this session and sees
every backend answer (proxy/tasks.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from mcp_acp.policy.context import ParsedRequest
from mcp_acp.proxy.output_inspection import OutputInspector
from mcp_acp.proxy.tasks import TaskBindings

ErrorObject = dict[str, Any]


@dataclass(frozen=True, slots=True)
class LogWhileForwarded:
    """Forward now and write the decision's audit entry while the backend works. Only for
    read-only discovery (a list, a ping): nothing to decide, and nothing it changes on the
    backend. `write()` returns None, or the error to answer with when the entry could not be
    written (fail closed); the relay runs it before the backend's answer can move on."""

    write: Callable[[], ErrorObject | None]


@dataclass(frozen=True, slots=True)
class AnswerWith:
    """Answer the client with this result instead of forwarding: the proxy's own
    `input_required` (a human must approve; proxy/inband_approval.py)."""

    result: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ForwardInstead:
    """Forward this message instead of the one received: the same request without the proxy's
    own MRTR fields (its requestState and its input response), which the backend never sees."""

    message: dict[str, Any]


Decision = ErrorObject | LogWhileForwarded | AnswerWith | ForwardInstead | None
Hook = Callable[[dict[str, Any], ParsedRequest], Decision | Awaitable[Decision]]
ResultHook = Callable[[dict[str, Any]], dict[str, Any]]


def pass_through(request: dict[str, Any], parsed: ParsedRequest | None = None) -> Decision:
    return None


def forward_notification(message: dict[str, Any]) -> bool:
    return True


def ignore(*_: Any) -> None:
    return None


class Gate:
    """The hooks the relay consults: one for every request, one for client notifications, and
    result hooks by request method."""

    def __init__(
        self,
        request: Hook = pass_through,
        notification: Callable[[dict[str, Any]], bool] = forward_notification,
        results: dict[str, ResultHook] | None = None,
        refused: Callable[[dict[str, Any], str], None] = ignore,
        client_answered: Callable[[str, dict[str, Any]], None] = ignore,
        tasks: TaskBindings | None = None,
        inspector: OutputInspector | None = None,
    ) -> None:
        self.request = request
        self.notification = notification
        self.results = results or {}
        self.refused = refused  # a client message refused by the relay itself: its decision entry
        self.client_answered = client_answered  # the client answered a server request (roots/list)
        self.tasks = tasks  # the tasks this session created (proxy/tasks.py): bound, and their results recorded
        self.inspector = inspector  # output inspection of answers and server requests (proxy/output_inspection.py)
