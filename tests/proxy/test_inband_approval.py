"""Asking in band (proxy/inband_approval.py), in process on a real loop with real pending approvals.

The end-to-end flow through a proxy subprocess and a real manager is
tests/integration/test_mrtr_approval.py; the adversarial state tests are
tests/security/test_request_state.py."""

from __future__ import annotations

import pytest

from mcp_acp.identity.local import Identity
from mcp_acp.policy.context import DecisionContext, build_context
from mcp_acp.proxy.approvals import USER_DENIED, WITHDRAWN, ApprovalRequest
from mcp_acp.proxy.inband_approval import (
    INPUT_KEY,
    InbandApprovals,
    carries_our_state,
    is_modern_with_url_elicitation,
)
from mcp_acp.proxy.request_state import REPLAYED, InvalidRequestState
from tests.proxy.test_pending import make_pending

MODERN_META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {"elicitation": {"url": {}, "form": {}}},
}


def call(request_id=1, arguments=None, **params) -> dict:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {
            "name": "write_file",
            "arguments": {"path": "/p/a", "content": "x"} if arguments is None else arguments,
            "_meta": MODERN_META,
            **params,
        },
    }


def setup(ui: str | None = "http://127.0.0.1:9999"):
    pending, recorder = make_pending()
    inband = InbandApprovals(pending, "px_1234abcd:fs", ui_base=lambda: ui, load_key=lambda _: b"k" * 32)
    return pending, recorder, inband


def approval_request(message: dict) -> tuple[ApprovalRequest, DecisionContext]:
    ctx = build_context(message, Identity("alice", "local"), "fixture", session_id="s1", proxy_name="px")
    return ApprovalRequest(ctx, "writes", True, 30.0, message["params"]["arguments"], "v1"), ctx


@pytest.mark.parametrize(
    ("meta", "modern"),
    [
        (MODERN_META, True),
        ({**MODERN_META, "io.modelcontextprotocol/protocolVersion": "2025-11-25"}, False),
        ({**MODERN_META, "io.modelcontextprotocol/clientCapabilities": {"elicitation": {}}}, False),  # form only
        ({**MODERN_META, "io.modelcontextprotocol/clientCapabilities": {}}, False),
        (None, False),
    ],
)
def test_only_a_modern_client_with_url_elicitation_is_asked_in_band(meta, modern):
    message = call()
    if meta is None:
        del message["params"]["_meta"]
    else:
        message["params"]["_meta"] = meta
    assert is_modern_with_url_elicitation(message) is modern


async def test_ask_opens_the_approval_and_answers_with_a_link_and_a_state():
    pending, recorder, inband = setup()
    message = call()
    request, ctx = approval_request(message)
    result = await inband.ask(request, message, inband.binding(message, ctx, "v1"), "tools/call on /p/a")
    assert result is not None and result["resultType"] == "input_required"
    elicitation = result["inputRequests"][INPUT_KEY]
    assert elicitation["method"] == "elicitation/create" and elicitation["params"]["mode"] == "url"
    [shown] = pending.list()
    assert elicitation["params"]["url"] == f"http://127.0.0.1:9999/proxy/px_1234abcd%3Afs?approval={shown['id']}"
    assert recorder.of("pending_created")[0]["approval"]["id"] == shown["id"]
    assert carries_our_state({"params": {"requestState": result["requestState"]}})


async def test_no_ui_address_means_no_in_band_ask():
    pending, _, inband = setup(ui=None)
    message = call()
    request, ctx = approval_request(message)
    assert await inband.ask(request, message, inband.binding(message, ctx, "v1"), "x") is None
    assert pending.list() == []


async def test_undecided_then_approved_then_spent():
    pending, _, inband = setup()
    first = call(1, requestState="backend-state", inputResponses={"theirs": {"action": "accept"}})
    request, ctx = approval_request(first)
    binding = inband.binding(first, ctx, "v1")
    asked = await inband.ask(request, first, binding, "x")
    assert asked is not None
    retry = call(2, requestState=asked["requestState"], inputResponses={INPUT_KEY: {"action": "accept"}})
    waiting = await inband.resume(retry, binding, "x")
    assert waiting.outcome is None and waiting.again is not None
    assert waiting.again["requestState"] != asked["requestState"]  # a fresh state for the next retry
    with pytest.raises(InvalidRequestState) as replay:
        await inband.resume(retry, binding, "x")
    assert replay.value.reason == REPLAYED
    pending.decide(pending.list()[0]["id"], "allow-once", approver_id="alice")
    again = call(3, requestState=waiting.again["requestState"], inputResponses={INPUT_KEY: {"action": "accept"}})
    approved = await inband.resume(again, binding, "x")
    assert approved.outcome is not None and approved.outcome.allowed
    # The backend gets its own state and answers back, never the proxy's.
    params = approved.forward["params"]
    assert params["requestState"] == "backend-state"
    assert params["inputResponses"] == {"theirs": {"action": "accept"}}
    assert approved.forward["id"] == 3 and params["arguments"] == {"path": "/p/a", "content": "x"}


async def test_a_client_that_declines_the_link_withdraws_the_approval():
    pending, _, inband = setup()
    message = call()
    request, ctx = approval_request(message)
    binding = inband.binding(message, ctx, "v1")
    asked = await inband.ask(request, message, binding, "x")
    assert asked is not None
    retry = call(2, requestState=asked["requestState"], inputResponses={INPUT_KEY: {"action": "decline"}})
    resumed = await inband.resume(retry, binding, "x")
    assert resumed.outcome is not None and resumed.outcome.outcome == WITHDRAWN
    assert pending.list() == []


async def test_a_denial_is_the_outcome():
    pending, _, inband = setup()
    message = call()
    request, ctx = approval_request(message)
    binding = inband.binding(message, ctx, "v1")
    asked = await inband.ask(request, message, binding, "x")
    assert asked is not None
    pending.decide(pending.list()[0]["id"], "deny", approver_id="alice")
    resumed = await inband.resume(call(2, requestState=asked["requestState"]), binding, "x")
    assert resumed.outcome is not None and resumed.outcome.outcome == USER_DENIED
