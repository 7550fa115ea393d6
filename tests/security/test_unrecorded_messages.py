"""Class 5, messages that would skip the decision or the record.

The backend is tests/fixtures/hostile_server.py, which records every line it receives and can
send the client requests of its own (sampling, elicitation, roots), answer an id twice, or
answer ids nobody asked. One proxy serves the whole module; the policy allows every tool, so
whatever is refused below is refused by the relay's own rules, not by the policy.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.security.conftest import (
    ALLOW_ALL,
    INVALID_REQUEST,
    Home,
    Proxy,
    assert_denied,
    received_text,
    text_of,
    wait_until,
)

NAME = "records"
CLIENT_ANSWERS = {
    "sampling/createMessage": {
        "role": "assistant",
        "content": {"type": "text", "text": "sampled-7"},
        "model": "test-model",
    },
    "elicitation/create": {"action": "accept", "content": {"name": "elicited-7"}},
    "roots/list": {"roots": []},
}


@pytest.fixture(scope="module")
def record(module_home: Home) -> Path:
    return module_home.add_hostile(NAME, ALLOW_ALL)


@pytest.fixture
def hostile(module_home: Home, record: Path) -> tuple[Proxy, Path]:
    handlers = {method: (lambda _m, answer=answer: answer) for method, answer in CLIENT_ANSWERS.items()}
    proxy = module_home.live(
        NAME, capabilities={"sampling": {}, "elicitation": {}, "roots": {"listChanged": True}}, handlers=handlers
    )
    return proxy, record


def operations(home: Home) -> list[dict]:
    return home.operations(NAME)


def test_an_id_less_tools_call_is_refused_and_recorded(hostile, module_home: Home) -> None:
    proxy, record = hostile
    proxy.send(
        {"jsonrpc": "2.0", "method": "tools/call", "params": {"name": "echo", "arguments": {"text": "idless-call-55"}}}
    )
    proxy.send({"jsonrpc": "2.0", "method": "notifications/made_up", "params": {"text": "idless-made-up-55"}})
    proxy.ping()  # the line after them has been through the relay
    assert "idless-call-55" not in received_text(record)
    assert "idless-made-up-55" not in received_text(record)
    decisions = [e for e in module_home.decisions(NAME) if e.get("final_rule") == "notification_not_allowed"]
    assert {e["mcp_method"] for e in decisions} >= {"tools/call", "notifications/made_up"}, decisions
    assert {e["decision"] for e in decisions} == {"deny"}
    refused = [e for e in operations(module_home) if e.get("status") == "Refused"]
    assert {e.get("method") for e in refused} >= {"tools/call", "notifications/made_up"}, refused


def test_listed_notifications_pass(hostile) -> None:
    proxy, record = hostile
    for method, params in (
        ("notifications/cancelled", {"requestId": 424242, "reason": "listed-cancel"}),
        ("notifications/progress", {"progressToken": "listed-progress", "progress": 1}),
        ("notifications/roots/list_changed", None),
    ):
        message = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        proxy.send(message)
    proxy.ping()
    text = received_text(record)
    assert "listed-cancel" in text and "listed-progress" in text and "notifications/roots/list_changed" in text


@pytest.mark.parametrize(
    ("tool", "method"),
    [("sample", "sampling/createMessage"), ("elicit", "elicitation/create"), ("roots", "roots/list")],
)
def test_server_requests_and_the_client_answers_are_recorded(
    hostile, module_home: Home, tool: str, method: str
) -> None:
    proxy, _record = hostile
    start = proxy.mark()
    answer = proxy.call(tool, {})
    assert f"CLIENT ANSWERED {method}" in text_of(answer), answer
    server_request = proxy.wait_for(
        lambda m: isinstance(m, dict) and m.get("method") == method and "id" in m, f"the server's {method}", start=start
    )
    server_id = str(server_request["id"])
    entries = [e for e in operations(module_home) if e.get("request_id") == server_id]
    asked = [e for e in entries if e.get("direction") == "server_to_client" and e.get("method") == method]
    assert asked, entries
    assert asked[0]["size_bytes"] > 0 and len(asked[0]["body_hash"]) == 64, asked[0]
    answered = [e for e in entries if e.get("direction") == "client_to_server" and e.get("kind") == "response"]
    assert answered and answered[0]["method"] == method, entries


def test_duplicate_and_unsolicited_backend_answers_are_dropped_and_recorded(hostile, module_home: Home) -> None:
    proxy, _record = hostile
    dropped_before = len(
        [
            e
            for e in operations(module_home)
            if e.get("status") == "Dropped" and e.get("direction") == "server_to_client"
        ]
    )
    twice_id = proxy.next_id()
    assert "EXECUTED twice" in text_of(proxy.call("twice", {}, request_id=twice_id))
    assert "EXECUTED unsolicited" in text_of(proxy.call("unsolicited", {}))
    proxy.ping()  # both extra answers were written before the ping's
    assert len(proxy.responses_to(twice_id)) == 1
    seen = json.dumps(proxy.messages)
    assert "DUPLICATE" not in seen and "UNSOLICITED" not in seen
    assert not proxy.responses_to("never-asked") and not proxy.responses_to(987654321)
    wait_until(
        lambda: (
            len(
                [
                    e
                    for e in operations(module_home)
                    if e.get("status") == "Dropped" and e.get("direction") == "server_to_client"
                ]
            )
            >= dropped_before + 3
        ),
        "three Dropped entries (one duplicate, two unsolicited)",
        timeout=20,
    )


def test_a_request_whose_id_is_in_flight_is_refused(hostile) -> None:
    proxy, record = hostile
    request_id = 5_000_001
    proxy.send(
        {
            "jsonrpc": "2.0",
            "id": request_id,
            "method": "tools/call",
            "params": {"name": "hold", "arguments": {"text": "held-first"}},
        }
    )
    wait_until(lambda: "held-first" in received_text(record), "the held request to reach the backend")
    proxy.send(
        {
            "jsonrpc": "2.0",
            "id": request_id,
            "method": "tools/call",
            "params": {"name": "echo", "arguments": {"text": "inflight-dup-9"}},
        }
    )
    refusal = proxy.response(request_id)
    error = assert_denied(refusal, INVALID_REQUEST)
    assert "in flight" in error["message"], error
    assert "inflight-dup-9" not in received_text(record)
    assert "EXECUTED release" in text_of(proxy.call("release", {}))
    wait_until(lambda: len(proxy.responses_to(request_id)) == 2, "the held request's own answer")
    first = proxy.responses_to(request_id)[1]
    assert text_of(first) == "RELEASED", first
