"""Class 7, key differentials: a message one parser reads one way and another parser another way.

tests/fixtures/hostile_server.py parses like Go's encoding/json (keys fold case, the last match
wins), so `{"name":"echo","NAME":"secret"}` runs `secret`, which the policy denies. The proxy
must refuse any client message with duplicate or case-variant keys, anywhere in it, with
-32600 naming the key, and forward none of it. The messages are written by hand as raw bytes:
no JSON library would produce them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.security.conftest import INVALID_REQUEST, Home, Proxy, is_answer, received_text, text_of

NAME = "keys"
POLICY = {
    "rules": [
        {"id": "echo", "effect": "allow", "conditions": {"tool_name": "echo"}},
        {"id": "no-secret", "effect": "deny", "conditions": {"tool_name": "secret"}},
    ]
}

# (raw message, its id, a key the refusal must name, a marker that must never reach the backend)
ATTACKS = [
    (
        b'{"jsonrpc":"2.0","id":701,"method":"tools/call","params":{"name":"echo","NAME":"secret",'
        b'"arguments":{"text":"kd-701"}}}',
        701,
        "name",
        "kd-701",
    ),
    (
        b'{"jsonrpc":"2.0","id":702,"method":"ping","METHOD":"tools/call","params":{"name":"secret",'
        b'"arguments":{"text":"kd-702"}}}',
        702,
        "method",
        "kd-702",
    ),
    (
        b'{"jsonrpc":"2.0","id":703,"method":"tools/call","params":{"name":"secret","name":"echo",'
        b'"arguments":{"text":"kd-703"}}}',
        703,
        "name",
        "kd-703",
    ),
    (
        b'{"jsonrpc":"2.0","id":704,"method":"tools/call","params":{"name":"echo",'
        b'"arguments":{"text":"kd-704","Text":"other"}}}',
        704,
        "text",
        "kd-704",
    ),
    (
        b'{"jsonrpc":"2.0","id":705,"method":"tools/call","params":{"name":"echo",'
        b'"arguments":{"opts":[{"deep":{"path":"/a","PATH":"kd-705"}}]}}}',
        705,
        "path",
        "kd-705",
    ),
    (
        b'{"jsonrpc":"2.0","id":706,"method":"tools/call","params":{"name":"echo","arguments":{"text":"kd-706"}},'
        b'"Params":{"name":"secret"}}',
        706,
        "params",
        "kd-706",
    ),
    (
        b'{"jsonrpc":"2.0","id":707,"method":"tools/call","method":"tools/call","params":{"name":"echo",'
        b'"arguments":{"text":"kd-707"}}}',
        707,
        "method",
        "kd-707",
    ),
]


@pytest.fixture(scope="module")
def record(module_home: Home) -> Path:
    return module_home.add_hostile(NAME, POLICY)


@pytest.fixture
def hostile(module_home: Home, record: Path) -> tuple[Proxy, Path]:
    return module_home.live(NAME), record


def test_control_the_lax_server_would_run_the_hidden_tool(hostile) -> None:
    """A clean call of `echo` passes; a clean call of `secret` is denied by the policy."""
    proxy, _ = hostile
    assert "EXECUTED echo" in text_of(proxy.call("echo", {"text": "kd-clean"}))
    assert proxy.call("secret", {"text": "kd-clean-secret"})["error"]["code"] == -32001


@pytest.mark.parametrize(("raw", "request_id", "key", "marker"), ATTACKS, ids=[a[3] for a in ATTACKS])
def test_duplicate_and_case_variant_keys_are_refused(
    hostile, raw: bytes, request_id: int, key: str, marker: str
) -> None:
    proxy: Proxy
    proxy, record = hostile
    start = proxy.mark()
    proxy.send(raw)
    answer = proxy.wait_for(
        lambda m: is_answer(m) and m["id"] in (request_id, None) and not isinstance(m["id"], bool),
        f"the refusal of {marker}",
        start=start,
    )
    assert "result" not in answer, f"the message went through: {answer}"
    error = answer["error"]
    assert error["code"] == INVALID_REQUEST, error
    assert key in error["message"].lower(), error
    proxy.ping()
    assert marker not in received_text(record)
    seen = str(proxy.messages)
    assert "EXECUTED secret" not in seen and "EXECUTED tools/call" not in seen
