"""What the audit trail keeps of MRTR (proxy/mrtr_audit.py): the same redacted summaries as the
2025 server-to-client requests, and a requestState by digest only. The records written through
a real proxy are checked in tests/integration/test_mrtr_approval.py."""

from __future__ import annotations

import hashlib

from mcp_acp.proxy.mrtr_audit import input_requests, input_responses, is_input_required, response_method, retry_fields
from mcp_acp.proxy.operations import describe_request, exchange_summary

ANSWER = {
    "jsonrpc": "2.0",
    "id": 5,
    "result": {
        "resultType": "input_required",
        "inputRequests": {
            "login": {
                "method": "elicitation/create",
                "params": {
                    "mode": "form",
                    "message": "Your password",
                    "requestedSchema": {"type": "object", "properties": {"password": {"type": "string"}}},
                },
            },
            "ask": {
                "method": "sampling/createMessage",
                "params": {"messages": [{"role": "user", "content": {"type": "text", "text": "s3cret"}}]},
            },
        },
        "requestState": "opaque",
    },
}


def test_input_requests_give_the_2025_summaries():
    assert is_input_required(ANSWER)
    found = {
        key: (method, exchange_summary(method, "request", message))
        for key, method, message, _ in input_requests(ANSWER)
    }
    assert found["login"] == ("elicitation/create", {"mode": "form", "requested_fields": ["password"]})
    assert found["ask"] == ("sampling/createMessage", {"messages": 1, "max_tokens": None, "content": "redacted"})
    assert "s3cret" not in repr(found)


def test_input_responses_are_redacted_and_typed_by_shape():
    retry = {
        "id": 6,
        "method": "tools/call",
        "params": {
            "name": "t",
            "inputResponses": {
                "login": {"action": "accept", "content": {"password": "hunter2"}},
                "ask": {"role": "assistant", "content": {"type": "text", "text": "s3cret"}, "model": "m"},
                "where": {"roots": [{"uri": "file:///w"}]},
            },
            "requestState": "opaque",
        },
    }
    found = {key: (method, exchange_summary(method, "response", m)) for key, method, m, _ in input_responses(retry)}
    assert found["login"] == (
        "elicitation/create",
        {"action": "accept", "content_fields": ["password"], "content": "redacted"},
    )
    assert found["ask"] == ("sampling/createMessage", {"model": "m", "stop_reason": None, "content": "redacted"})
    assert found["where"] == ("roots/list", {"roots": ["file:///w"]})
    assert "hunter2" not in repr(found) and "s3cret" not in repr(found)
    assert response_method("nonsense") is None


def test_a_request_state_is_recorded_by_digest_and_owner():
    fields = describe_request(
        {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "t", "requestState": "opaque"}}
    )
    assert fields["mrtr"] == {
        "input_responses": 0,
        "request_state": {"owner": "server", "length": 6, "sha256": hashlib.sha256(b"opaque").hexdigest()},
    }
    ours = retry_fields({"requestState": "mcpacp1.x.y"})
    assert ours is not None and ours["request_state"]["owner"] == "proxy"
    assert retry_fields({"name": "t"}) is None
    assert "mrtr" not in describe_request({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "t"}})
