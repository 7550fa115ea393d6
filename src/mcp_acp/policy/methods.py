"""Every JSON-RPC method of every published MCP version, classified once (docs/policies.md#every-method-classified).

The proxy decides by method, so it must know each one: what a client may ask and how it is
decided, which notifications a client may send. The revisions covered: 2024-11-05,
2025-03-26, 2025-06-18, 2025-11-25 and 2026-07-28, plus the tasks extension
(io.modelcontextprotocol/tasks). A method on no list here is UNKNOWN: the policy decides it
(a rule may name it with `mcp_method`), so the zero-trust default denies it, and the entry
says why.

Classes of a client request:
- DISCOVERY: learning what the server offers, and the session's plumbing. Logged, never denied
  by the rules: without them a client cannot connect, in either era.
- ACTION: touches the server's tools, resources, prompts: the policy decides.
- FOLLOW_UP: a task's later steps (tasks/get, tasks/update …): about a call that was decided
  when it created the task; logged, not decided again by the rules.
- UNKNOWN: anything else, the server-to-client methods sent the wrong way included.
"""

from __future__ import annotations

from typing import Any, cast

from mcp_acp.policy.paths import json_object

# The 2026-07-28 request `_meta` keys: each request names its revision, its client and what the
# client can do (there is no handshake to learn them from).
META_PROTOCOL_VERSION = "io.modelcontextprotocol/protocolVersion"
META_CLIENT_INFO = "io.modelcontextprotocol/clientInfo"
META_CLIENT_CAPABILITIES = "io.modelcontextprotocol/clientCapabilities"
MODERN_VERSIONS = ("2026-07-28",)  # the revisions without a handshake, newest first

DISCOVERY = "discovery"
ACTION = "action"
FOLLOW_UP = "follow_up"
UNKNOWN = "unknown"

# Discovery requests that change nothing on the server: their decision entry may be written
# while the server works (proxy/enforcement.py), still before the answer moves on.
READ_ONLY_DISCOVERY = frozenset(
    {"ping", "server/discover", "tools/list", "resources/list", "resources/templates/list", "prompts/list"}
)

# A client's requests, by class. Eras: (L) the 2025 revisions and 2024-11-05, (M) 2026-07-28, (T) tasks.
CLIENT_REQUESTS: dict[str, str] = {
    "initialize": DISCOVERY,  # L: the handshake
    "ping": DISCOVERY,  # L (removed in M)
    "server/discover": DISCOVERY,  # M: replaces initialize
    "tools/list": DISCOVERY,
    "resources/list": DISCOVERY,
    "resources/templates/list": DISCOVERY,
    "prompts/list": DISCOVERY,
    # L: how much the server logs to this client; M carries the same choice in each request's
    # _meta (io.modelcontextprotocol/logLevel), which passes unchanged.
    "logging/setLevel": DISCOVERY,
    "tools/call": ACTION,
    "resources/read": ACTION,
    "prompts/get": ACTION,
    "completion/complete": ACTION,  # completions can reveal a server's data: decided
    "resources/subscribe": ACTION,  # L: decided on its URI, like a read
    "resources/unsubscribe": ACTION,  # L
    # M: a long-lived stream of notifications; see listen_class
    "subscriptions/listen": ACTION,
    "tasks/get": FOLLOW_UP,  # 2025-11-25 and T
    "tasks/list": FOLLOW_UP,  # 2025-11-25 only
    "tasks/result": FOLLOW_UP,  # 2025-11-25 only
    "tasks/cancel": FOLLOW_UP,  # 2025-11-25 and T
    "tasks/update": FOLLOW_UP,  # T: answers a task's input request
}

# The server's requests to the client (answered by the client, recorded by the relay). A client
# that sends one of these to the server gets it decided as UNKNOWN.
SERVER_REQUESTS = frozenset({"sampling/createMessage", "elicitation/create", "roots/list", "ping"})

# Notifications a client may send (every revision): anything else id-less is refused and recorded
# (a lax server would run an id-less tools/call). All are logged as protocol notifications.
CLIENT_NOTIFICATIONS = frozenset(
    {
        "notifications/initialized",  # L
        "notifications/cancelled",  # L and M (M: its only client notification)
        "notifications/progress",  # L
        "notifications/roots/list_changed",  # L
        "notifications/tasks/status",  # 2025-11-25 (tasks a client hosts)
    }
)

# Notifications a server may send: passed to the client unchanged (the relay does not filter them).
SERVER_NOTIFICATIONS = frozenset(
    {
        "notifications/cancelled",
        "notifications/progress",
        "notifications/message",
        "notifications/resources/updated",
        "notifications/resources/list_changed",
        "notifications/tools/list_changed",
        "notifications/prompts/list_changed",
        "notifications/elicitation/complete",  # 2025-11-25
        "notifications/tasks/status",  # 2025-11-25
        "notifications/subscriptions/acknowledged",  # M: first message of a subscriptions/listen stream
        "notifications/tasks",  # T: a task's state, on a subscriptions/listen stream
    }
)

# The final_rule of a decision entry for what passes without a rule.
BYPASS_RULES = {DISCOVERY: "discovery_bypass", FOLLOW_UP: "task_follow_up"}

# What the rule editor and the docs show as passing without a rule.
BYPASS_METHODS = frozenset(
    {method for method, kind in CLIENT_REQUESTS.items() if kind in (DISCOVERY, FOLLOW_UP)} | CLIENT_NOTIFICATIONS
)


# The fields of a subscriptions/listen filter (2026-07-28 SubscriptionFilter, plus the tasks extension's).
LIST_FILTERS = frozenset({"toolsListChanged", "promptsListChanged", "resourcesListChanged"})
TASK_FILTER = "taskIds"


def _filter(params: dict[str, Any]) -> Any:
    """A subscriptions/listen's `notifications` filter, as sent."""
    return params.get("notifications", {})


def listened_resources(params: dict[str, Any]) -> list[str]:
    """The resource URIs a subscriptions/listen asks to watch (its `notifications.resourceSubscriptions`)."""
    wanted: Any = json_object(_filter(params)).get("resourceSubscriptions")
    return [uri for uri in cast(list[Any], wanted) if isinstance(uri, str)] if isinstance(wanted, list) else []


def listened_tasks(params: dict[str, Any]) -> Any:
    """The task ids a subscriptions/listen asks to follow (the tasks extension's
    `notifications.taskIds`), as sent (a list when well formed); None when it asks for none. Their binding decides them
    (proxy/tasks.py): a task's notifications carry its final result."""
    notifications: Any = _filter(params)
    if not isinstance(notifications, dict) or TASK_FILTER not in notifications:
        return None
    return json_object(cast(object, notifications))[TASK_FILTER]


def _listen_class(params: dict[str, Any]) -> str:
    """subscriptions/listen that watches only lists (tools, prompts, resources) learns no more than
    the list requests do: discovery, and so do task ids (decided by their binding beforehand).
    One that watches resources is decided, each URI as a resources/subscribe of it would be; an
    unreadable filter, or one asking for anything else, is decided too (fail closed)."""
    notifications: Any = _filter(params)
    if not isinstance(notifications, dict):
        return ACTION
    fields = json_object(cast(object, notifications))
    wanted: Any = fields.get("resourceSubscriptions")
    unknown = set(fields) - LIST_FILTERS - {TASK_FILTER, "resourceSubscriptions"}
    return ACTION if wanted not in (None, []) or unknown else DISCOVERY


def request_class(method: str, params: dict[str, Any] | None = None) -> str:
    """The class of a client message: DISCOVERY (a client notification is protocol plumbing,
    logged like discovery), ACTION, FOLLOW_UP or UNKNOWN."""
    if method == "subscriptions/listen":
        return _listen_class(params or {})
    if method in CLIENT_NOTIFICATIONS:
        return DISCOVERY
    return CLIENT_REQUESTS.get(method, UNKNOWN)


def bypasses_rules(method: str, params: dict[str, Any] | None = None) -> bool:
    """Logged and passed without a rule: discovery, a task's follow-up, a client notification."""
    return request_class(method, params) in BYPASS_RULES
