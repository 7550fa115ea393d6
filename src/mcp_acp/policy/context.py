"""The decision context (SPEC §3): who asks, to do what, on what, when — built once per request.

Only the request, the proxy's config and the identity feed it. Paths are taken as the client
wrote them (`normpath`, so `a/../b` is `b`); the engine also judges their resolved form
(`resolved`), so a symlink cannot carry a request somewhere the policy does not allow.
"""

from __future__ import annotations

import posixpath
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

from mcp_acp.identity.local import Identity
from mcp_acp.policy.protected import real
from mcp_acp.policy.side_effects import operation_of, side_effects_of

GENERIC_KEYS = ("path", "file_path", "filepath", "file", "filename")
SOURCE_KEYS = ("source", "src", "from", "from_path", "source_path", "origin")
DEST_KEYS = ("destination", "destination_path", "dest", "to", "to_path", "dest_path", "target", "target_path")

DISCOVERY_METHODS = frozenset({
    "initialize", "ping", "tools/list", "resources/list", "resources/templates/list", "prompts/list",
    "notifications/initialized", "notifications/cancelled", "notifications/progress",
    "notifications/resources/list_changed", "notifications/tools/list_changed",
    "notifications/prompts/list_changed",
})


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
    category: str  # "discovery" or "action"


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
    # The same request with every path resolved (symlinks, `..`), when that changes any of them.
    resolved: Resource | None = None
    # Every path-like argument (not only the three above) with where it really leads: for the
    # protected-folder check.
    paths: tuple[tuple[str, str], ...] = ()
    # The request's own path, source and destination as written (a request that modifies them
    # must not take a protected folder along).
    targets: tuple[str | None, ...] = ()


def resource_type_of(method: str) -> str:
    if method == "tools/call":
        return "tool"
    if method.startswith("resources/"):
        return "resource"
    if method.startswith("prompts/"):
        return "prompt"
    return "server"


def first_string(arguments: dict, keys: tuple[str, ...]) -> str | None:
    for key in keys:
        value = arguments.get(key)
        if value and isinstance(value, str):
            return value
    return None


def _norm(path: str | None) -> str | None:
    return posixpath.normpath(path) if path else None


def path_like_strings(arguments: Any) -> list[str]:
    """Every string anywhere in the arguments that could name a file (`paths` lists, nested
    options, `file://` URIs): all of them, however deep, so none escapes the protected check."""
    found, stack = [], [arguments]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            if "/" in value or value.startswith("~"):
                found.append(value)
        elif isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return found


def _path_fields(path: str | None) -> dict[str, str | None]:
    if not path:
        return {}
    filename = posixpath.basename(path)
    return {"path": path, "filename": filename, "extension": posixpath.splitext(filename)[1] or None,
            "parent_dir": posixpath.dirname(path)}


def build_resource(method: str, params: dict, server_id: str) -> tuple[Resource, tuple[str | None, ...], list[str]]:
    """The resource a request acts on; its path, source and destination as written; and every
    path-like string it carries."""
    kind = resource_type_of(method)
    if method == "tools/call":
        tool_name = params.get("name") if isinstance(params.get("name"), str) else None
        arguments = params.get("arguments") if isinstance(params.get("arguments"), dict) else {}
        source, dest = first_string(arguments, SOURCE_KEYS), first_string(arguments, DEST_KEYS)
        path = first_string(arguments, GENERIC_KEYS) or source or dest
        resource = Resource(kind, server_id, tool_name, side_effects_of(tool_name), operation_of(tool_name),
                            source_path=_norm(source), dest_path=_norm(dest), **_path_fields(_norm(path)))
        return resource, (path, source, dest), path_like_strings(arguments)
    uri = params.get("uri") if isinstance(params.get("uri"), str) else None
    if uri:
        parts = urlsplit(uri)
        scheme = parts.scheme.lower() or None
        path = unquote(parts.path) if scheme == "file" else None
        return (Resource(kind, server_id, uri=uri, scheme=scheme, **_path_fields(_norm(path))), (path, None, None),
                path_like_strings(params.get("arguments")))
    path = first_string(params, GENERIC_KEYS)
    return Resource(kind, server_id, **_path_fields(_norm(path))), (path, None, None), path_like_strings(params)


def resolve(resource: Resource, written: tuple[str | None, ...],
            others: list[str]) -> tuple[Resource | None, tuple[tuple[str, str], ...]]:
    """Resolve every path once, on disk, from the string as written (so `link/..` goes where the
    kernel would take it): the resource as resolved (None when nothing changes), and each
    path-like string paired with where it really leads."""
    resolved = {text: real(text) for text in dict.fromkeys([*written, *others]) if text}
    path, source, dest = (resolved[text] if text else None for text in written)
    if (path, source, dest) == (resource.path, resource.source_path, resource.dest_path):
        return None, tuple(resolved.items())
    fields = {"path": None, "filename": None, "extension": None, "parent_dir": None, **_path_fields(path)}
    return replace(resource, source_path=source, dest_path=dest, **fields), tuple(resolved.items())


_ACTIONS: dict[str, Action] = {}


def _action(method: str) -> Action:
    """The Action of a method: immutable and the same every time, so made once per method (the
    client names methods: only the first 256 are kept)."""
    action = _ACTIONS.get(method)
    if action is None:
        action = Action(mcp_method=method, name=method.replace("/", "."),
                        intent="read" if method == "resources/read" else None,
                        category="discovery" if method in DISCOVERY_METHODS else "action")
        if len(_ACTIONS) < 256:
            _ACTIONS[method] = action
    return action


def build_context(message: dict, identity: Identity, server_id: str, *, session_id: str | None = None,
                  proxy_name: str | None = None, client_info: dict | None = None) -> DecisionContext:
    method = message.get("method") or ""
    params = message.get("params") if isinstance(message.get("params"), dict) else {}
    resource, written, others = build_resource(method, params, server_id)
    claims = identity.claims
    audience = claims.get("aud", ())
    subject = Subject(
        id=identity.subject_id, provenance=identity.provenance, issuer=claims.get("iss"),
        audience=(audience,) if isinstance(audience, str) else tuple(audience),
        client_id=claims.get("azp"), scopes=frozenset(str(claims.get("scope", "")).split()),
        token_age_s=time.time() - claims["iat"] if isinstance(claims.get("iat"), int | float) else None,
        auth_time=claims.get("auth_time"),
    )
    action = _action(method)
    info = client_info or {}
    environment = Environment(
        timestamp=datetime.now(UTC), request_id=str(message["id"]) if "id" in message else None,
        session_id=session_id, proxy_instance=proxy_name,
        mcp_client_name=info.get("name"), mcp_client_version=info.get("version"),
    )
    resolved, paths = resolve(resource, written, others) if action.category == "action" else (None, ())
    return DecisionContext(subject, action, resource, environment, resolved, paths, written)
