"""Tool parameters mirrored into HTTP headers (`x-mcp-header`, MCP 2026-07-28 streamable HTTP).

A tool's `inputSchema` may mark primitive parameters with `x-mcp-header: Name`; a client on
HTTP then sends each such argument as `Mcp-Param-Name` on the tools/call POST, and MUST drop a
tool whose annotations are invalid from tools/list. This module validates a schema's
annotations and turns a call's arguments into those headers; `http.HttpBackend` learns the
schemas from the tools/list answers that pass through it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from mcp_acp.backends.http_wire import encode_header_value

ANNOTATION = "x-mcp-header"
HEADER_PREFIX = "Mcp-Param-"
HEADER_TYPES = ("string", "integer", "boolean")
SAFE_INTEGER = 2**53 - 1  # JavaScript's safe range, which the spec requires of mirrored integers
# RFC 9110 field-name token: 1*tchar. No spaces, colons, controls or non-ASCII.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Keywords whose values are data, not schemas: an `x-mcp-header` key inside them is not an annotation.
_DATA_KEYWORDS = frozenset({"default", "const", "enum", "examples", "example"})


class InvalidToolHeaders(ValueError):
    """A tool's `x-mcp-header` annotations break the spec's rules: the tool is unusable on HTTP."""


class HeaderValueRefused(ValueError):
    """An argument cannot be mirrored as its annotation says (wrong type, unsafe integer)."""


@dataclass(frozen=True)
class HeaderParam:
    path: tuple[str, ...]  # the chain of `properties` keys from the schema root
    name: str  # the `x-mcp-header` value: the header is Mcp-Param-<name>
    kind: str  # string, integer or boolean


def header_params(input_schema: Any) -> tuple[HeaderParam, ...]:
    """The annotated parameters of a tool's input schema; InvalidToolHeaders names the first problem.

    Iterative (a hostile schema can nest deeper than Python's recursion limit). An annotation is
    valid only on a primitive property reached from the root through `properties` keys alone."""
    found: list[HeaderParam] = []
    seen: dict[str, str] = {}  # lower-cased name -> the name as written
    stack: list[tuple[Any, tuple[str, ...] | None]] = [(input_schema, ())]
    while stack:
        node, path = stack.pop()
        if isinstance(node, list):
            stack.extend((item, None) for item in node)
            continue
        if not isinstance(node, dict):
            continue
        if ANNOTATION in node:
            param = _annotation(node, path)
            folded = param.name.lower()
            if folded in seen:
                raise InvalidToolHeaders(f"{ANNOTATION} {param.name!r} is used twice (as {seen[folded]!r})")
            seen[folded] = param.name
            found.append(param)
        for key, value in node.items():
            if key in _DATA_KEYWORDS:
                continue
            if key == "properties" and isinstance(value, dict):
                for prop, sub in value.items():
                    stack.append((sub, (*path, prop) if path is not None else None))
            elif isinstance(value, dict | list):
                stack.append((value, None))  # items, oneOf, $defs, if/then ...: not statically reachable
    return tuple(sorted(found, key=lambda p: p.path))


def _annotation(node: dict, path: tuple[str, ...] | None) -> HeaderParam:
    name = node[ANNOTATION]
    if path is None:
        raise InvalidToolHeaders(
            f"{ANNOTATION} {name!r} is on a schema not reached from the root through 'properties' alone "
            "(items, oneOf/anyOf/allOf/not, if/then/else, $ref and $defs are not allowed on the way)"
        )
    if not path:
        raise InvalidToolHeaders(f"{ANNOTATION} {name!r} is on the schema root, not on a parameter")
    where = "/".join(path)
    if not isinstance(name, str) or not name:
        raise InvalidToolHeaders(f"{ANNOTATION} of {where!r} is empty or not a string")
    if not _TOKEN.fullmatch(name):
        raise InvalidToolHeaders(
            f"{ANNOTATION} {name!r} of {where!r} is not an HTTP header token (letters, digits and !#$%&'*+-.^_`|~ only)"
        )
    kind = node.get("type")
    if kind not in HEADER_TYPES:
        raise InvalidToolHeaders(
            f"{ANNOTATION} {name!r} is on {where!r} of type {kind!r}; only string, integer and boolean may be mirrored"
        )
    return HeaderParam(path, name, kind)


def param_headers(params: tuple[HeaderParam, ...], arguments: Any) -> dict[str, str]:
    """The Mcp-Param-* headers of one call. A parameter absent or null in the arguments gets no
    header; HeaderValueRefused when a value is not what its annotation says."""
    headers: dict[str, str] = {}
    for param in params:
        value = arguments
        for key in param.path:
            value = value.get(key) if isinstance(value, dict) else None
        if value is None:
            continue
        headers[HEADER_PREFIX + param.name] = encode_header_value(_text(param, value))
    return headers


def _text(param: HeaderParam, value: Any) -> str:
    """The header text of one value, as the spec converts each type."""
    where = "/".join(param.path)
    if param.kind == "boolean":
        if isinstance(value, bool):
            return "true" if value else "false"
    elif param.kind == "integer":
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool):
            if abs(value) > SAFE_INTEGER:
                raise HeaderValueRefused(f"argument {where!r} ({value}) is outside the safe integer range")
            return str(value)
    elif isinstance(value, str):
        return value
    raise HeaderValueRefused(
        f"argument {where!r} is mirrored into the header {HEADER_PREFIX}{param.name} as {param.kind} "
        f"but is {type(value).__name__}"
    )
