"""Crash-freedom fuzz: hostile envelopes from the client, junk from the backend.

Hypothesis generates JSON-RPC envelopes with wrong types in every field, deep nesting,
duplicate keys written as raw bytes, huge strings, invalid JSON and batches, and sends them to
one proxy in front of the hostile recording server; the backend, asked to, writes generated
junk lines (responses with odd ids, requests, notifications, non-JSON bytes) before it answers.
After every example the proxy is still running and answers a ping; every well-formed request
with a valid id got an answer carrying that id; and at the end `mcp-acp audit verify` (a
separate process on the same MCP_ACP_HOME) finds the audit trail intact.
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.security.conftest import ALLOW_ALL, MAX_SAFE_INTEGER, Home, Proxy, is_answer

NAME = "fuzz"
METHODS = [
    "tools/call",
    "tools/list",
    "ping",
    "prompts/get",
    "resources/read",
    "completion/complete",
    "initialize",
    "notifications/cancelled",
    "notifications/initialized",
    "made/up",
    "",
    "TOOLS/CALL",
]

WAITING = {"hold", "sample", "elicit", "roots"}  # tools of the hostile server that wait for something
CLIENT_ANSWERS = {
    "sampling/createMessage": lambda _m: {
        "role": "assistant",
        "model": "m",
        "content": {"type": "text", "text": "fuzz"},
    },
    "elicitation/create": lambda _m: {"action": "decline"},
    "roots/list": lambda _m: {"roots": []},
}

json_leaf = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_value = st.recursive(
    json_leaf,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
good_id = st.integers(-MAX_SAFE_INTEGER, MAX_SAFE_INTEGER) | st.text(min_size=1, max_size=12).map(lambda s: "g" + s)
any_id = good_id | json_value | st.integers(MAX_SAFE_INTEGER + 1, 2**80) | st.integers(-(2**80), -MAX_SAFE_INTEGER - 1)
params = (
    st.none()
    | st.fixed_dictionaries(
        {},
        optional={
            "name": st.sampled_from(["echo", "probe", "junkname"])
            | st.text(max_size=10).filter(lambda n: n not in WAITING),
            "arguments": json_value,
            "uri": st.text(max_size=20),
            "cursor": st.text(max_size=5),
        },
    )
    | json_value
)


def owed_id(message: dict) -> Any:
    """The id a well-formed request must be answered with; None when nothing is owed."""
    request_id = message.get("id")
    if message.get("jsonrpc") != "2.0" or not isinstance(message.get("method"), str) or "id" not in message:
        return None
    if isinstance(request_id, bool) or not isinstance(request_id, str | int):
        return None
    if isinstance(request_id, int) and abs(request_id) > MAX_SAFE_INTEGER:
        return None
    if "params" in message and not isinstance(message["params"], dict):
        return None
    return request_id


@st.composite
def envelopes(draw: st.DrawFn) -> tuple[bytes, Any]:
    """A raw line, and the id it must be answered with (or None when no answer is owed)."""
    message: dict[str, Any] = {}
    # Mostly well-formed, so that the checks after the envelope's are reached too.
    if draw(st.integers(0, 9)):
        message["jsonrpc"] = draw(st.just("2.0")) if draw(st.integers(0, 5)) else draw(json_leaf)
    if draw(st.integers(0, 9)):
        message["id"] = draw(good_id) if draw(st.integers(0, 3)) else draw(any_id)
    if draw(st.integers(0, 9)):
        message["method"] = draw(st.sampled_from(METHODS)) if draw(st.integers(0, 5)) else draw(json_leaf)
    if draw(st.integers(0, 3)):
        message["params"] = draw(params)
    for _ in range(draw(st.integers(0, 2))):
        message["x-" + draw(st.text(max_size=6))] = draw(json_value)
    line = json.dumps(message)
    owed = owed_id(message)
    mangle = draw(st.sampled_from(["deep", "duplicate", "case", "huge", "none", "truncate", "batch"]))
    if mangle == "duplicate" and line.startswith("{") and len(line) > 2:
        line = line[:-1] + (", " if message else "") + '"method": "tools/call", "method": "ping"}'
        owed = None
    elif mangle == "case" and line.startswith("{"):
        line = line[:-1] + (", " if message else "") + '"ID": 1, "Id": 2}'
        owed = None
    elif mangle == "deep":
        depth = draw(st.sampled_from([300, 256, 1100, 20000]))
        nested = "[" * depth + "]" * depth
        if draw(st.booleans()):  # inside a well-formed call, where only the depth is wrong
            depth = draw(st.sampled_from([256, 300]))
            line = (
                '{"jsonrpc": "2.0", "id": %s, "method": "tools/call", "params": {"name": "echo", '  # noqa: UP031  a JSON template: %s keeps its braces readable
                '"arguments": {"text": "deep", "x": %s}}}' % (json.dumps(draw(good_id)), "[" * depth + "]" * depth)
            )
        else:
            line = line[:-1] + (", " if message else "") + '"x": ' + nested + "}"
        owed = None
    elif mangle == "huge":
        size = draw(st.sampled_from([100_000, 1_000_000]))
        line = line[:-1] + (", " if message else "") + '"blob": "' + "A" * size + '"}'
    elif mangle == "truncate":
        line = line[: draw(st.integers(0, max(len(line) - 1, 0)))]
        owed = None
    elif mangle == "batch":
        line = "[" + line + "]"
        owed = None
    return line.replace("\n", " ").encode(), owed


@pytest.fixture(scope="module")
def record(module_home: Home):
    return module_home.add_hostile(NAME, ALLOW_ALL)


_pings = itertools.count(1)


def assert_lives(proxy: Proxy) -> None:
    request_id = f"fz-ping-{next(_pings)}"
    answer = proxy.request("ping", {}, request_id=request_id, timeout=60)
    assert answer.get("result") == {}, answer
    assert proxy.alive()


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(envelope=envelopes())
def test_hostile_envelopes_never_kill_or_hang_the_proxy(module_home: Home, record, envelope) -> None:
    line, owed = envelope
    proxy = module_home.live(NAME, handlers=CLIENT_ANSWERS)
    if not proxy.alive():
        raise AssertionError("the proxy died")
    start = proxy.mark()
    proxy.send(line)
    if owed is not None:
        proxy.wait_for(
            lambda m: is_answer(m) and type(m["id"]) is type(owed) and m["id"] == owed,
            f"an answer to id {owed!r}",
            timeout=60,
            start=start,
        )
    assert_lives(proxy)
    assert proxy.process.poll() is None, f"the proxy exited after {line[:300]!r}"


junk_line = (
    json_value.map(lambda v: json.dumps(v).encode())
    | st.fixed_dictionaries(
        {"jsonrpc": st.just("2.0"), "id": any_id},
        optional={"result": json_value, "error": json_value, "method": json_leaf, "params": json_value},
    ).map(lambda v: json.dumps(v).encode())
    | st.binary(max_size=60)
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(lines=st.lists(junk_line, min_size=1, max_size=6))
def test_backend_junk_never_kills_or_hangs_the_proxy(module_home: Home, record, lines: list[bytes]) -> None:
    proxy = module_home.live(NAME, handlers=CLIENT_ANSWERS)
    request_id = f"junk-{next(_pings)}"
    answer = proxy.call("junk", {"hex": [line.hex() for line in lines]}, request_id=request_id, timeout=60)
    assert "result" in answer or "error" in answer
    assert_lives(proxy)


def test_the_audit_trail_verifies_after_the_fuzz(module_home: Home, record) -> None:
    proxy = module_home.live(NAME, handlers=CLIENT_ANSWERS)
    assert_lives(proxy)
    result = module_home.audit_verify()
    assert result.returncode == 0, result.stdout + result.stderr
