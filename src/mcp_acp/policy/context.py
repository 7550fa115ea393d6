"""The decision context (docs/policies.md#the-decision-context): who asks, to do what, on what, when — built once per request.

Only the request, the proxy's config (the server's roots) and the identity feed it. Every path
the request carries is judged in every reading a server may use (policy/paths.py); the
resource shows the first one as written, for rules and the audit trail.

A request's arguments are walked once (`parse_request`): the enforcement point judges the paths
found and the operations log (proxy/operations.py) lists them, each in its own form (the log
lists every candidate; the decision leaves out bare names until the server's roots are known).
"""

from __future__ import annotations

import posixpath
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from mcp_acp.identity.local import Identity
from mcp_acp.policy.methods import BYPASS_METHODS, BYPASS_RULES, listened_resources, request_class
from mcp_acp.policy.paths import DEST, OTHER, SOURCE, JudgedPath, PathArg, json_object, judge_all, request_paths
from mcp_acp.policy.side_effects import operation_of, side_effects_of

# Methods that pass without a rule, whatever their parameters (policy/methods.py classifies every
# method; subscriptions/listen depends on what it watches, so it is not here).
DISCOVERY_METHODS = BYPASS_METHODS


@dataclass(frozen=True, slots=True)
class ParsedRequest:
    """A request's method, parameters and path arguments, found once."""

    method: str
    params: dict[str, Any]
    found: tuple[PathArg, ...]  # every path argument, bare names under path-like keys included

    def paths(self, roots_known: bool) -> list[PathArg]:
        """The path arguments as `request_paths(method, params, roots_known)` finds them."""
        return list(self.found) if roots_known else [arg for arg in self.found if not arg.needs_roots]


def parse_request(message: dict[str, Any]) -> ParsedRequest:
    method = message.get("method")
    params = json_object(message.get("params"))
    if not isinstance(method, str) or method in DISCOVERY_METHODS:
        return ParsedRequest(method if isinstance(method, str) else "", params, ())
    return ParsedRequest(method, params, tuple(request_paths(method, params, roots_known=True)))


@dataclass(frozen=True, slots=True)
class Subject:
    id: str
    provenance: str  # "token" (verified OIDC) or "local" (the OS account)
    issuer: str | None = None
    audience: tuple[str, ...] = ()
    client_id: str | None = None
    scopes: frozenset[str] = frozenset()
    token_age_s: float | None = None  # seconds since the token was issued (iat)
    auth_time: int | None = None


@dataclass(frozen=True, slots=True)
class Action:
    mcp_method: str
    name: str
    intent: str | None
    category: str  # policy/methods.py: "discovery", "action", "follow_up" or "unknown"


@dataclass(frozen=True, slots=True)
class Resource:
    type: str  # tool | resource | prompt | server
    server_id: str
    tool_name: str | None = None
    side_effects: frozenset[str] | None = None
    operation: str | None = None
    uri: str | None = None
    scheme: str | None = None
    path: str | None = None
    source_path: str | None = None
    dest_path: str | None = None
    filename: str | None = None
    extension: str | None = None
    parent_dir: str | None = None


@dataclass(frozen=True, slots=True)
class Environment:
    timestamp: datetime
    request_id: str | None
    session_id: str | None
    proxy_instance: str | None
    mcp_client_name: str | None = None
    mcp_client_version: str | None = None


@dataclass(frozen=True, slots=True)
class DecisionContext:
    subject: Subject
    action: Action
    resource: Resource
    environment: Environment
    # Every path the request carries (any argument, any depth), each with every reading a
    # server may use (policy/paths.py): the engine judges them all.
    judged: tuple[JudgedPath, ...] = ()
    # The information-flow labels this session touched before this request (policy/labels.py).
    session_labels: frozenset[str] = frozenset()

    @property
    def paths(self) -> tuple[str, ...]:
        """The path arguments as written, for the audit trail."""
        return tuple(item.written for item in self.judged)


def resource_type_of(method: str) -> str:
    if method == "tools/call":
        return "tool"
    if method.startswith("resources/") or method == "subscriptions/listen":
        return "resource"
    if method.startswith("prompts/"):
        return "prompt"
    return "server"


def _path_fields(path: str | None) -> dict[str, str | None]:
    if not path:
        return {}
    filename = posixpath.basename(path)
    return {
        "path": path,
        "filename": filename,
        "extension": posixpath.splitext(filename)[1] or None,
        "parent_dir": posixpath.dirname(path),
    }


def first_in_role(judged: tuple[JudgedPath, ...], role: str, reading: int) -> str | None:
    """The path a role names (the first such argument), in its `reading`-th reading (the last when
    it has fewer): so source and destination rules see one consistent reading of the request."""
    for item in judged:
        if item.role == role and item.readings:
            return item.readings[min(reading, len(item.readings) - 1)]
    return None


def resource_for(base: Resource, path: str | None, source: str | None, dest: str | None) -> Resource:
    """`base` judged on one path, with the source and destination of the same reading."""
    fields = {"path": None, "filename": None, "extension": None, "parent_dir": None, **_path_fields(path)}
    return replace(base, source_path=source, dest_path=dest, **fields)


def build_resource(
    method: str,
    params: dict[str, Any],
    server_id: str,
    roots: tuple[str, ...] = (),
    judged: tuple[JudgedPath, ...] | None = None,
) -> tuple[Resource, tuple[JudgedPath, ...]]:
    """The resource a request acts on, shown with its first path; and every path it carries,
    judged (each with every reading a server may use), unless the caller judged them already."""
    kind = resource_type_of(method)
    if judged is None:
        judged = judge_all(request_paths(method, params, bool(roots)), roots) if method else ()
    if method == "tools/call":
        tool_name = params.get("name") if isinstance(params.get("name"), str) else None
        resource = Resource(kind, server_id, tool_name, side_effects_of(tool_name), operation_of(tool_name))
    else:
        uri: str | None = params.get("uri") if isinstance(params.get("uri"), str) else None
        if method == "subscriptions/listen":  # each URI it watches is judged (proxy/enforcement.py)
            uri = next(iter(listened_resources(params)), None)
        scheme = (urlsplit(uri).scheme.lower() or None) if uri else None
        resource = Resource(kind, server_id, uri=uri, scheme=scheme)
    shown = next((item for item in judged if item.role != OTHER), judged[0] if judged else None)
    if shown is None or not shown.readings:
        return resource, judged
    path = shown.readings[0]
    return resource_for(
        resource,
        path,
        path if shown.role == SOURCE else first_in_role(judged, SOURCE, 0),
        path if shown.role == DEST else first_in_role(judged, DEST, 0),
    ), judged


_ACTIONS: dict[tuple[str, str], Action] = {}


def _action(method: str, params: dict[str, Any]) -> Action:
    """The Action of a method: immutable and the same every time, so made once per method and
    class (the client names methods: only the first 256 are kept)."""
    category = request_class(method, params)
    action = _ACTIONS.get((method, category))
    if action is None:
        action = Action(
            mcp_method=method,
            name=method.replace("/", "."),
            intent="read" if method == "resources/read" else None,
            category=category,
        )
        if len(_ACTIONS) < 256:
            _ACTIONS[(method, category)] = action
    return action


def build_context(
    message: dict[str, Any],
    identity: Identity,
    server_id: str,
    *,
    session_id: str | None = None,
    proxy_name: str | None = None,
    client_info: dict[str, Any] | None = None,
    roots: tuple[str, ...] = (),
    judged: tuple[JudgedPath, ...] | None = None,
    session_labels: frozenset[str] = frozenset(),
) -> DecisionContext:
    """`roots`: the server's roots (policy/roots.py), against which relative paths are judged;
    `judged`: the request's paths, when the caller judged them already (`parse_request`, then
    judged on or off the event loop)."""
    method = message.get("method") or ""
    params = json_object(message.get("params"))
    action = _action(method, params)
    if action.category not in BYPASS_RULES:  # discovery and follow-ups carry no resource
        resource, judged = build_resource(method, params, server_id, roots, judged)
    else:
        resource, judged = Resource(resource_type_of(method), server_id), ()
    claims = identity.claims
    audience = claims.get("aud", ())
    subject = Subject(
        id=identity.subject_id,
        provenance=identity.provenance,
        issuer=claims.get("iss"),
        audience=(audience,) if isinstance(audience, str) else tuple(audience),
        client_id=claims.get("azp"),
        scopes=frozenset(str(claims.get("scope", "")).split()),
        token_age_s=time.time() - claims["iat"] if isinstance(claims.get("iat"), int | float) else None,
        auth_time=claims.get("auth_time"),
    )
    info = client_info or {}
    environment = Environment(
        timestamp=datetime.now(UTC),
        request_id=str(message["id"]) if "id" in message else None,
        session_id=session_id,
        proxy_instance=proxy_name,
        mcp_client_name=info.get("name"),
        mcp_client_version=info.get("version"),
    )
    return DecisionContext(subject, action, resource, environment, judged, session_labels)
