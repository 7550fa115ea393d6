"""The proxy's own MRTR requestState under attack (issue 18, proxy/request_state.py).

A modern client asked in band gets a signed state; its retry must be the same call by the same
principal on the same proxy under the same policy, and each state is good once. Here the
client is hostile: it flips, cuts or inserts bytes of the state (hypothesis; a state whose
prefix no longer marks it as the proxy's is the backend's business, and the call is then asked
afresh, never run), replays it, presents it for other
arguments, another tool, another method, to another proxy and after a policy change. Every
such retry must be refused with a policy denial, recorded in decisions.jsonl, and must never
reach the backend: tests/fixtures/hostile_server.py records every line it receives.

Real processes: `mcp-acp start --headless` over STDIO, spoken to in raw JSON lines with no
`initialize` (a 2026-07-28 client); approvals are decided over the proxy's own socket, as the CLI
does. Expiry and another principal are covered in tests/proxy/test_request_state.py (a clock
moved by hand, a second identity), not here: neither can be made in a subprocess without waiting
or an identity provider.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.security.conftest import POLICY_DENIED, Home, Proxy, received, socket_client, wait_until

NAME, OTHER = "rstate", "rstate-other"
INPUT_KEY = "mcp-acp/approval"
PREFIX = "mcpacp1."
MODERN_META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientInfo": {"name": "hostile-modern", "version": "1"},
    "io.modelcontextprotocol/clientCapabilities": {"elicitation": {"url": {}}},
}
POLICY = {
    "rules": [
        {"id": "probe-asks", "effect": "hitl", "conditions": {"tool_name": "probe"}},
        {"id": "echo-ok", "effect": "allow", "conditions": {"tool_name": "echo"}},
    ]
}
CONFIG = {"hitl": {"timeout_seconds": 300}}
_ids = itertools.count(1)


def modern(proxy: Proxy, tool: str, arguments: dict, method: str = "tools/call", **extra: Any) -> dict:
    params: dict[str, Any] = {"name": tool, "arguments": arguments, "_meta": MODERN_META, **extra}
    if method != "tools/call":
        params = {"uri": "file:///x", "_meta": MODERN_META, **extra}
    return proxy.request(method, params, request_id=f"rs-{next(_ids)}")


def retry(proxy: Proxy, tool: str, arguments: dict, state: Any, **extra: Any) -> dict:
    return modern(proxy, tool, arguments, requestState=state, inputResponses={INPUT_KEY: {"action": "accept"}}, **extra)


def asked(answer: dict) -> tuple[str, str]:
    """(state, approval id) of an in-band ask."""
    assert "error" not in answer, answer
    result = answer["result"]
    assert result["resultType"] == "input_required", result
    url = result["inputRequests"][INPUT_KEY]["params"]["url"]
    return result["requestState"], url.rpartition("approval=")[2]


def refused(answer: dict) -> dict:
    assert "result" not in answer, f"a bad requestState was accepted: {answer}"
    error = answer["error"]
    assert error["code"] == POLICY_DENIED and "requestState" in error["message"], error
    return error


def state_refusals(home: Home, name: str = NAME) -> list[str]:
    return [e["reason"] for e in home.decisions(name) if e.get("final_rule") == "request_state_invalid"]


def probes_received(record: Path, marker: str) -> list[dict]:
    calls = []
    for line in received(record):
        try:
            message = json.loads(line)
        except ValueError:
            continue
        params = message.get("params") if isinstance(message, dict) else None
        if isinstance(params, dict) and params.get("name") == "probe" and marker in json.dumps(params):
            calls.append(message)
    return calls


def decide(home: Home, approval_id: str, decision: str, name: str = NAME) -> None:
    with socket_client(home.socket_path(name)) as client:
        response = client.post(f"/api/approvals/pending/{approval_id}/{decision}")
    assert response.status_code == 200, response.text


@pytest.fixture(scope="module")
def record(module_home: Home) -> Path:
    return module_home.add_hostile(NAME, POLICY, config=CONFIG)


issued_approvals: set[str] = set()


@pytest.fixture(scope="module")
def issued(module_home: Home, record: Path) -> str:
    """One genuine state for probe({"n": "fuzz"}), still undecided, for the fuzzer to mangle."""
    proxy = module_home.live(NAME, initialize=False)
    state, approval_id = asked(modern(proxy, "probe", {"n": "fuzz"}))
    issued_approvals.add(approval_id)
    return state


mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(min_value=0), st.integers(min_value=1, max_value=255)),
    st.tuples(st.just("cut"), st.integers(min_value=0), st.just(0)),
    st.tuples(st.just("add"), st.integers(min_value=0), st.integers(min_value=0, max_value=255)),
)


def mangle(state: str, how: tuple[str, int, int]) -> str:
    data = bytearray(state.encode("ascii"))
    kind, where, value = how
    at = where % len(data)
    if kind == "flip":
        data[at] ^= value
    elif kind == "cut":
        del data[at:]
    else:
        data.insert(at, value)
    return data.decode("latin-1")


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(how=mutation)
def test_a_state_with_any_byte_changed_is_refused_or_asks_afresh(module_home: Home, issued: str, how) -> None:
    mangled = mangle(issued, how)
    if mangled == issued:  # "add" of nothing changes nothing: not a tampering
        return
    proxy = module_home.live(NAME, initialize=False)
    answer = retry(proxy, "probe", {"n": "fuzz"}, mangled)
    if mangled.startswith(PREFIX):
        refused(answer)
    else:  # no longer marked as the proxy's: the backend's business, and the call is asked afresh
        _, approval_id = asked(answer)
        assert approval_id not in issued_approvals, answer


def test_after_the_fuzz_the_genuine_state_still_works_once_and_nothing_reached_the_backend(
    module_home: Home, record: Path, issued: str
) -> None:
    proxy = module_home.live(NAME, initialize=False)
    # One corrupted copy of our own, so this holds whichever xdist worker ran the fuzz above.
    refused(retry(proxy, "probe", {"n": "fuzz"}, issued[:-6] + ("A" if issued[-6] != "A" else "B") + issued[-5:]))
    reasons = state_refusals(module_home)
    assert reasons and set(reasons) <= {"malformed", "bad_signature"}, reasons
    # The refusals did not spend the genuine state: it still gets the pending approval back...
    again, _ = asked(retry(proxy, "probe", {"n": "fuzz"}, issued))
    assert again != issued
    # ...once.
    refused(retry(proxy, "probe", {"n": "fuzz"}, issued))
    assert state_refusals(module_home)[-1] == "replayed"
    assert probes_received(record, "fuzz") == []
    assert not any(PREFIX.encode() in line for line in received(record))


def test_an_approved_state_runs_the_call_once_and_is_refused_after(module_home: Home, record: Path) -> None:
    proxy = module_home.live(NAME, initialize=False)
    state, approval_id = asked(modern(proxy, "probe", {"n": "replay"}))
    decide(module_home, approval_id, "allow-once")
    answer = retry(proxy, "probe", {"n": "replay"}, state)
    assert "EXECUTED probe" in answer["result"]["content"][0]["text"], answer
    refused(retry(proxy, "probe", {"n": "replay"}, state))
    assert state_refusals(module_home)[-1] == "replayed"
    [forwarded] = probes_received(record, "replay")
    assert "requestState" not in forwarded["params"] and "inputResponses" not in forwarded["params"]


@pytest.mark.parametrize(
    ("tool", "arguments", "method"),
    [
        ("probe", {"n": "other"}, "tools/call"),  # other arguments
        ("echo", {"n": "target"}, "tools/call"),  # another tool, one the policy allows outright
        ("probe", {"n": "target"}, "resources/read"),  # another method
    ],
)
def test_an_approved_state_presented_for_another_call_is_refused(
    module_home: Home, record: Path, tool: str, arguments: dict, method: str
) -> None:
    proxy = module_home.live(NAME, initialize=False)
    state, approval_id = asked(modern(proxy, "probe", {"n": "target"}))
    decide(module_home, approval_id, "approve")
    refused(
        modern(
            proxy, tool, arguments, method=method, requestState=state, inputResponses={INPUT_KEY: {"action": "accept"}}
        )
    )
    assert state_refusals(module_home)[-1] == "other_request"
    assert probes_received(record, "other") == []
    assert not any(PREFIX.encode() in line for line in received(record))


def test_a_state_from_another_proxy_is_refused(module_home: Home, record: Path) -> None:
    module_home.add_hostile(OTHER, POLICY, config=CONFIG)
    other = module_home.live(OTHER, initialize=False)
    proxy = module_home.live(NAME, initialize=False)
    state, approval_id = asked(modern(proxy, "probe", {"n": "elsewhere"}))
    decide(module_home, approval_id, "approve")
    refused(retry(other, "probe", {"n": "elsewhere"}, state))  # its own key: the signature fails
    assert state_refusals(module_home, OTHER) == ["bad_signature"]


def test_a_state_issued_under_another_policy_is_refused(home: Home) -> None:
    home.add_hostile(NAME, POLICY, config=CONFIG)
    proxy = home.start(NAME, initialize=False)
    state, approval_id = asked(modern(proxy, "probe", {"n": "policy"}))
    decide(home, approval_id, "approve")
    stricter = {
        "rules": [*POLICY["rules"][:1], {"id": "echo-asks", "effect": "hitl", "conditions": {"tool_name": "echo"}}]
    }
    home.write_policy(NAME, stricter)
    wait_until(  # reloaded once echo asks too
        lambda: (
            "result" in (a := modern(proxy, "echo", {"text": "x"}))
            and a["result"].get("resultType") == "input_required"
        ),
        "the policy reload",
    )
    refused(retry(proxy, "probe", {"n": "policy"}, state))
    assert state_refusals(home)[-1] == "policy_changed"
