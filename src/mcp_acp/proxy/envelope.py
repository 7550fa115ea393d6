"""Client messages are validated before anything else looks at them (issue 15).

What is forwarded must be exactly what was judged. A server whose JSON parser differs from ours
could read a message differently: Go's `encoding/json` matches keys case-insensitively, so
`{"name":"echo","NAME":"secret"}` runs `secret`; other parsers keep the first of two duplicate
keys where we keep the last. So a client message is refused, with a clear JSON-RPC error, when:
- it is not one JSON-RPC 2.0 object (batches, wrong `jsonrpc`);
- its id is not a string or an integer within ±(2^53 − 1) (what every JSON parser agrees on);
- its method is not a string, or its params not an object;
- any object in it, at any depth, has two keys that are equal or differ only in case;
- it is nested deeper than MAX_DEPTH or larger than MAX_MESSAGE_BYTES.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

from mcp_acp import jsonrpc
from mcp_acp.policy import methods

MAX_DEPTH = 64
MAX_MESSAGE_BYTES = 32 * 1024 * 1024
MAX_SAFE_INTEGER = 2**53 - 1
# Notifications a client may send (every protocol revision, policy/methods.py): anything else that
# carries a method and no id is refused and recorded, never forwarded (a lax server would run an
# id-less tools/call).
CLIENT_NOTIFICATIONS = methods.CLIENT_NOTIFICATIONS
_ID_IN_RAW = re.compile(rb'"id"\s*:\s*(-?\d{1,16}|"(?:[^"\\]|\\.){0,200}")')


class Refusal(Exception):  # not a ValueError: parse errors must not be mistaken for it
    """A message that is refused before it goes anywhere: the JSON-RPC error to answer with."""

    def __init__(self, code: int, message: str, request_id: Any = None, method: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.request_id = request_id
        self.method = method

    def answer(self) -> dict:
        return jsonrpc.error_response(self.request_id, self.code, self.message)


def valid_id(value: Any) -> bool:
    return isinstance(value, str) or (
        isinstance(value, int) and not isinstance(value, bool) and -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER
    )


def id_in_raw(raw: bytes) -> Any:
    """The id a line that could not be read seems to carry (looked for in its first 4 KiB), or None."""
    found = _ID_IN_RAW.search(raw[:4096])
    try:
        return orjson.loads(found.group(1)) if found else None
    except orjson.JSONDecodeError:
        return None


def _invalid(text: str, message: dict | None = None) -> Refusal:
    request_id = message.get("id") if isinstance(message, dict) else None
    method = message.get("method") if isinstance(message, dict) else None
    return Refusal(
        jsonrpc.INVALID_REQUEST,
        f"Invalid request: {text}",
        request_id if valid_id(request_id) else None,
        method if isinstance(method, str) else None,
    )


def _shape_problems(message: dict) -> None:
    """Depth and case-variant keys, at every level (iterative: no input can exhaust the stack).
    Runs on every message: exact types (orjson makes only dicts and lists) and no generators."""
    stack: list[tuple[Any, int]] = [(message, 1)]
    push = stack.append
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise _invalid(f"the message is nested more than {MAX_DEPTH} levels deep; send flatter arguments", message)
        if type(value) is dict:
            if len(set(map(str.casefold, value))) != len(value):
                _refuse_case_variants(value, message)
            items = value.values()
        else:
            items = value
        for item in items:
            if type(item) is dict or type(item) is list:
                push((item, depth + 1))


def _refuse_case_variants(value: dict, message: dict) -> None:
    seen: dict[str, str] = {}
    for key in value:
        if (other := seen.setdefault(key.casefold(), key)) != key:
            raise _invalid(
                f"the keys '{other}' and '{key}' differ only in case; a server may "
                "read either one, so the message is refused",
                message,
            )


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise Refusal(
                    jsonrpc.INVALID_REQUEST,
                    f"Invalid request: the key '{key}' appears twice in one "
                    "object; a server may read either value, so the message is refused",
                )
            seen.add(key)
    return obj


def _check_duplicates(line: bytes, message: dict) -> None:
    """Exact duplicate keys vanish in parsing, so they are looked for in the bytes. When the
    message re-serialises to exactly the bytes received (what SDK clients send), nothing was lost."""
    if orjson.dumps(message) == line.strip():
        return
    try:
        json.loads(line, object_pairs_hook=_no_duplicates)
    except Refusal as refusal:
        request_id = message.get("id")
        refusal.request_id = request_id if valid_id(request_id) else None
        refusal.method = message.get("method") if isinstance(message.get("method"), str) else None
        raise
    except (ValueError, RecursionError) as exc:  # orjson accepted it; be as strict as the stricter one
        raise Refusal(jsonrpc.PARSE_ERROR, f"Parse error: the message is not valid JSON ({exc})") from None


def _check_envelope(message: dict) -> None:
    if message.get("jsonrpc") != "2.0":
        raise _invalid("'jsonrpc' must be \"2.0\"", message)
    if "id" in message and not valid_id(message["id"]):
        raise _invalid(
            f"'id' must be a string or an integer between -{MAX_SAFE_INTEGER} and {MAX_SAFE_INTEGER}", message
        )
    if "method" in message:
        if not isinstance(message["method"], str):
            raise _invalid("'method' must be a string", message)
        if "params" in message and not isinstance(message["params"], dict):
            raise _invalid("'params' must be an object", message)
        if "result" in message or "error" in message:
            raise _invalid("a message is either a request or a response, not both", message)
    elif "id" not in message or ("result" in message) == ("error" in message):
        raise _invalid("a response needs an 'id' and exactly one of 'result' or 'error'", message)


def parse_client_message(line: bytes) -> dict:
    """The client's message, validated; raises Refusal with the error to answer."""
    if len(line) > MAX_MESSAGE_BYTES:
        raise Refusal(
            jsonrpc.INVALID_REQUEST,
            f"Invalid request: the message is {len(line):,} bytes; the limit is {MAX_MESSAGE_BYTES:,}",
        )
    try:
        message = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise Refusal(jsonrpc.PARSE_ERROR, f"Parse error: the message is not valid JSON ({exc})") from None
    if not isinstance(message, dict):
        raise Refusal(
            jsonrpc.INVALID_REQUEST,
            "Invalid request: expected one JSON-RPC object per line (batches are not supported)",
        )
    _shape_problems(message)
    _check_envelope(message)
    _check_duplicates(line, message)
    return message
