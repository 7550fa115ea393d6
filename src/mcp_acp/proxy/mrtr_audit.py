"""What the audit trail keeps of Multi Round-Trip Requests (MCP 2026-07-28, docs/audit.md#multi-round-trip-requests).

In the 2025 revisions a server asks the client for input with requests of its own (elicitation,
sampling, roots), and the operations log records each of them and each answer. In 2026-07-28
the same requests travel inside an `input_required` result (`inputRequests`) and the answers
inside the client's retry (`inputResponses`). This module turns those into the same records,
one per request or answer, with the same redacted summary (proxy/operations.py
exchange_summary: the shape, never an elicited value or a sampled text). A `requestState` is
recorded by its size, digest and owner (the proxy's or the server's), never its value.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

from mcp_acp import jsonrpc
from mcp_acp.proxy.request_state import is_ours

INPUT_REQUIRED = "input_required"
MAX_ENTRIES = 100  # per message: a map larger than this is summarised by its count


def is_input_required(answer: dict) -> bool:
    result = answer.get("result")
    return isinstance(result, dict) and result.get("resultType") == INPUT_REQUIRED


def response_method(response: object) -> str | None:
    """Which kind of request an input response answers, read from its shape (the map does not say)."""
    if not isinstance(response, dict):
        return None
    if "action" in response:
        return "elicitation/create"
    if "roots" in response:
        return "roots/list"
    if "role" in response or "model" in response or "stopReason" in response:
        return "sampling/createMessage"
    return None


def input_requests(answer: dict) -> Iterator[tuple[str, str | None, dict, bytes]]:
    """(key, method, the request as a message, its bytes) for each request an input_required result carries."""
    result = answer.get("result") if isinstance(answer.get("result"), dict) else {}
    requests = result.get("inputRequests") if isinstance(result, dict) else None
    if not isinstance(requests, dict):
        return
    for key, request in list(requests.items())[:MAX_ENTRIES]:
        request = request if isinstance(request, dict) else {"params": request}
        method = m if isinstance(m := request.get("method"), str) else None
        message = {"id": answer.get("id"), "method": method, "params": request.get("params")}
        yield str(key), method, message, jsonrpc.encode(request)


def input_responses(request: dict) -> Iterator[tuple[str, str | None, dict, bytes]]:
    """(key, method, the answer as a message, its bytes) for each input response a retry carries."""
    params = request.get("params") if isinstance(request.get("params"), dict) else {}
    responses = params.get("inputResponses") if isinstance(params, dict) else None
    if not isinstance(responses, dict):
        return
    for key, response in list(responses.items())[:MAX_ENTRIES]:
        message = {"id": request.get("id"), "result": response}
        yield str(key), response_method(response), message, jsonrpc.encode({"result": response})


def retry_fields(params: dict) -> dict | None:
    """The `mrtr` field of a request's operations entry: the requestState it carries (by owner,
    size and digest) and how many input responses; None for a request that carries neither."""
    state, responses = params.get("requestState"), params.get("inputResponses")
    if state is None and responses is None:
        return None
    fields: dict = {"input_responses": len(responses) if isinstance(responses, dict) else 0, "request_state": None}
    if state is not None:
        data = (state if isinstance(state, str) else repr(state)).encode("utf-8", "surrogatepass")
        fields["request_state"] = {
            "owner": "proxy" if is_ours(state) else "server",
            "length": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
    return fields
