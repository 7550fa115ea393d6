"""The proxy's own MRTR requestState (proxy/request_state.py): issued, opened, bound, spent once."""

from __future__ import annotations

import base64

import orjson
import pytest

from mcp_acp.proxy import request_state
from mcp_acp.proxy.request_state import (
    BAD_SIGNATURE,
    EXPIRED,
    MALFORMED,
    OTHER_PRINCIPAL,
    OTHER_PROXY,
    OTHER_REQUEST,
    POLICY_CHANGED,
    PREFIX,
    REPLAYED,
    Binding,
    InvalidRequestState,
    NonceBook,
    RequestStateCodec,
    is_ours,
    request_digest,
)

KEY = b"k" * 32


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def binding(**changes) -> Binding:
    fields = {
        "principal": "alice",
        "proxy": "px_0000abcd:fs",
        "method": "tools/call",
        "tool": "write_file",
        "digest": request_digest({"name": "write_file", "arguments": {"path": "/a", "content": "x"}}),
        "policy_version": "v1",
    }
    return Binding(**{**fields, **changes})


def reason(codec: RequestStateCodec, token: object, expected: Binding | None = None) -> str:
    with pytest.raises(InvalidRequestState) as caught:
        codec.check(token, expected or binding())
    return caught.value.reason


def test_a_state_round_trips_with_its_claims():
    codec = RequestStateCodec(KEY)
    token, claims = codec.issue(binding(), "ap1", 60)
    assert is_ours(token) and token.startswith(PREFIX)
    opened = codec.check(token, binding())
    assert opened == claims and opened.approval_id == "ap1" and opened.binding == binding()


def test_the_digest_ignores_meta_and_the_mrtr_carriers_only():
    params = {"name": "t", "arguments": {"a": 1}}
    same = {**params, "_meta": {"x": 1}, "requestState": "s", "inputResponses": {"k": {}}}
    assert request_digest(params) == request_digest(same)
    assert request_digest(params) != request_digest({"name": "t", "arguments": {"a": 2}})
    assert request_digest(params) != request_digest({"name": "u", "arguments": {"a": 1}})
    assert request_digest({"b": 1, "a": 2}) == request_digest({"a": 2, "b": 1})  # canonical


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"principal": "mallory"}, OTHER_PRINCIPAL),
        ({"proxy": "px_0000abcd:other"}, OTHER_PROXY),
        ({"tool": "read_file"}, OTHER_REQUEST),
        ({"method": "resources/read"}, OTHER_REQUEST),
        ({"digest": request_digest({"name": "write_file", "arguments": {"path": "/b"}})}, OTHER_REQUEST),
        ({"policy_version": "v2"}, POLICY_CHANGED),
    ],
)
def test_a_state_presented_for_anything_else_is_refused(changes, why):
    codec = RequestStateCodec(KEY)
    token, _ = codec.issue(binding(), "ap1", 60)
    assert reason(codec, token, binding(**changes)) == why


def test_an_expired_state_is_refused():
    clock = Clock()
    codec = RequestStateCodec(KEY, clock)
    token, _ = codec.issue(binding(), "ap1", 60)
    clock.now += 59.9
    codec.check(token, binding())
    clock.now += 0.1
    assert reason(codec, token) == EXPIRED


def test_another_key_or_a_changed_body_fails_the_signature():
    token, _ = RequestStateCodec(KEY).issue(binding(), "ap1", 60)
    assert reason(RequestStateCodec(b"o" * 32), token) == BAD_SIGNATURE
    signed, _, tag = token.rpartition(".")
    body = orjson.loads(base64.urlsafe_b64decode(signed[len(PREFIX) :] + "=="))
    body["b"]["principal"] = "mallory"  # a forged claim, re-encoded, with the old tag
    forged = PREFIX + base64.urlsafe_b64encode(orjson.dumps(body)).rstrip(b"=").decode() + "." + tag
    assert reason(RequestStateCodec(KEY), forged, binding(principal="mallory")) == BAD_SIGNATURE


def test_another_spelling_of_the_same_tag_is_refused():
    """base64 has spare bits in its last character: only the spelling the proxy wrote is accepted."""
    codec = RequestStateCodec(KEY)
    token, _ = codec.issue(binding(), "ap1", 60)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = token[-1]
    sibling = alphabet[alphabet.index(last) ^ 1]  # differs only in the lowest (spare) bit
    assert base64.urlsafe_b64decode(token.rpartition(".")[2][:-1] + sibling + "=") == base64.urlsafe_b64decode(
        token.rpartition(".")[2] + "="
    )
    assert reason(codec, token[:-1] + sibling) == BAD_SIGNATURE


@pytest.mark.parametrize(
    "token", [None, 42, "", "mcpacp1.", "mcpacp1.x", "mcpacp1.a.b.c", "other.a.b", "mcpacp1." + "a" * 5000]
)
def test_malformed_states_are_refused(token):
    assert reason(RequestStateCodec(KEY), token) in (MALFORMED, BAD_SIGNATURE)


def test_a_nonce_is_accepted_once_and_forgotten_after_expiry():
    clock = Clock()
    codec, book = RequestStateCodec(KEY, clock), NonceBook(clock)
    token, _ = codec.issue(binding(), "ap1", 60)
    book.consume(codec.check(token, binding()))
    with pytest.raises(InvalidRequestState) as caught:
        book.consume(codec.check(token, binding()))
    assert caught.value.reason == REPLAYED
    clock.now += 61
    codec.issue(binding(), "ap2", 60)
    book.consume(codec.check(codec.issue(binding(), "ap3", 60)[0], binding()))
    assert len(book) == 1  # the expired nonce was purged


def test_a_short_key_is_refused():
    with pytest.raises(ValueError):
        RequestStateCodec(b"short")


def test_the_key_is_created_once_in_the_secret_store(tmp_path, monkeypatch):
    monkeypatch.setenv("MCP_ACP_HOME", str(tmp_path))
    monkeypatch.setenv("MCP_ACP_SECRET_BACKEND", "file")
    first = request_state.load_or_create_key("px_0000abcd:fs")
    assert len(first) == 32
    assert request_state.load_or_create_key("px_0000abcd:fs") == first
    assert request_state.load_or_create_key("px_0000abcd:other") != first
