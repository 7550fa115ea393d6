"""Hostile results never crash the proxy and never leak a secret, whatever their shape (issue 22).

A module-scoped proxy (`mcp-acp start --proxy leaky --headless`, inspection on: redact, at log
level DEBUG with payloads) in front of tests/fixtures/secrets_server.py, whose `answer` tool
returns any result hypothesis draws, with placeholders replaced by real-format secrets on the
server's side (so the client never sends a secret): random nesting of objects and lists, secrets
in values and in keys, zero-width characters inside a token, a token split over two content
items, unicode text and long strings. Every call gets an answer, no answer holds a secret, and
afterwards no file the proxy wrote holds one.
"""

from __future__ import annotations

import sys
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from secrets_server import NEEDLES, PLACEHOLDERS

from tests.security.conftest import FIXTURES, Home, is_answer

SERVER = FIXTURES / "secrets_server.py"
NAME = "leaky"
POLICY = {"rules": [{"id": "all", "effect": "allow", "conditions": {"mcp_method": "*"}}], "output": {}}

text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(sorted(PLACEHOLDERS)),
    st.builds(
        lambda a, p, b: f"{a}{p}{b}", st.text(max_size=10), st.sampled_from(sorted(PLACEHOLDERS)), st.text(max_size=10)
    ),
    st.just("x" * 50_000 + "@AWS@"),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=30,
)
content_item = st.one_of(
    st.builds(lambda t: {"type": "text", "text": t}, text),
    st.builds(lambda t: {"type": "resource", "resource": {"uri": "file:///x", "text": t}}, text),
    st.just({"type": "image", "data": "aGVsbG8=", "mimeType": "image/png"}),
)
results = st.one_of(
    st.builds(
        lambda items, structured: {"content": items, "structuredContent": structured},
        st.lists(content_item, max_size=4),
        json_values,
    ),
    st.just({"content": [{"type": "text", "text": "a @GH_HEAD@"}, {"type": "text", "text": "@GH_TAIL@ b"}]}),
    st.builds(lambda v: {"content": [], "structuredContent": v}, json_values),
)


@pytest.fixture(scope="module")
def leaky(module_home: Home):
    module_home.add_proxy(
        NAME, sys.executable, [SERVER], POLICY, config={"log_level": "DEBUG", "include_payloads": True}
    )
    return module_home.start(NAME)


def assert_no_secret(answer: Any) -> None:
    import json

    dumped = json.dumps(answer)
    assert not [needle for needle in NEEDLES if needle in dumped], dumped[:2000]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(result=results)
def test_any_result_gets_an_answer_without_a_secret(leaky, result: dict) -> None:
    answer = leaky.call("answer", {"result": result})
    assert is_answer(answer), answer
    assert "result" in answer or "error" in answer
    assert_no_secret(answer)


@pytest.mark.parametrize("depth", [50, 300, 3000])
def test_deep_results_get_an_answer_without_a_secret(leaky, depth: int) -> None:
    answer = leaky.call("deep", {"depth": depth, "text": "key @AWS@ and @GH@"})
    assert is_answer(answer) or "__unparsed__" in answer, answer
    assert_no_secret(answer)
    if depth <= 300:  # within what the proxy's reader takes: redacted, not refused
        assert "result" in answer, answer


def test_no_file_the_proxy_wrote_holds_a_secret(module_home: Home, leaky) -> None:
    leaky.call("leak", {"where": "content"})  # one more, in case the tests above ran in another order
    assert leaky.finish() == 0
    files = [p for p in module_home.acp_home.rglob("*") if p.is_file()]
    files += [p for p in (module_home.root / "stderr").rglob("*") if p.is_file()]
    assert any(p.name == "client_wire.jsonl" for p in files)
    leaked = [(str(p), n) for p in files for n in NEEDLES if n.encode() in p.read_bytes()]
    assert leaked == []
