"""The ten lines of JSON-RPC framing the relay needs (MCP STDIO is one JSON message per line)."""

from __future__ import annotations

from typing import Any

import orjson

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
INTERNAL_ERROR = -32603
BACKEND_UNAVAILABLE = -32000  # implementation-defined server error range
POLICY_DENIED = -32001

RequestId = str | int


def encode(message: dict[str, Any]) -> bytes:
    return orjson.dumps(message) + b"\n"


def error_response(request_id: RequestId | None, code: int, message: str, data: Any = None) -> dict:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "id": request_id, "error": error}


def is_request(message: dict) -> bool:
    return "method" in message and "id" in message


def is_response(message: dict) -> bool:
    return "method" not in message and "id" in message


def envelope_problem(message: dict) -> str | None:
    """What makes `message` something other than a JSON-RPC 2.0 request, notification or response."""
    if message.get("jsonrpc") != "2.0":
        return "'jsonrpc' must be \"2.0\""
    request_id = message.get("id")
    if request_id is not None and (isinstance(request_id, bool) or not isinstance(request_id, str | int)):
        return "'id' must be a string or an integer"
    if "method" in message:
        if not isinstance(message["method"], str):
            return "'method' must be a string"
        if "id" in message and request_id is None:
            return "a request's 'id' must not be null"
        if message.get("params") is not None and not isinstance(message["params"], dict):
            return "'params' must be an object"
    elif "id" not in message or ("result" in message) == ("error" in message):
        return "a response needs an 'id' and exactly one of 'result' or 'error'"
    return None
