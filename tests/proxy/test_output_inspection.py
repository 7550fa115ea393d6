"""The relay's inspection hook: answers, errors, server requests, policy settings (issue 22)."""

from __future__ import annotations

import asyncio

from mcp_acp.policy.model import parse_policy
from mcp_acp.proxy.output_inspection import META_KEY, OutputInspector, scrub

KEY = "AKIA5ZN5ZB1MKC0HIBXH"


def inspector(output: dict | None) -> OutputInspector:
    policy = parse_policy({"rules": [], **({"output": output} if output is not None else {})})
    return OutputInspector(lambda: policy.output)


def answer(text: str) -> dict:
    return {"jsonrpc": "2.0", "id": 7, "result": {"content": [{"type": "text", "text": text}]}}


def test_off_without_an_output_section() -> None:
    message = answer(KEY)
    assert asyncio.run(inspector(None).result("tools/call", message, 10)) == (message, None)


def test_redact_adds_a_note_the_model_reads_and_one_in_meta() -> None:
    new, audit = asyncio.run(inspector({}).result("tools/call", answer(f"k {KEY}"), 10))
    result = new["result"]
    assert result["content"][0]["text"] == "k [redacted: aws_access_key]"
    assert "aws_access_key at content[0].text" in result["content"][-1]["text"]
    assert result["_meta"][META_KEY] == [{"kind": "aws_access_key", "where": "content[0].text"}]
    assert audit is not None and audit["action"] == "redact" and audit["kinds"] == ["aws_access_key"]
    assert KEY not in str(audit)


def test_deny_answers_an_error_naming_the_kind() -> None:
    new, audit = asyncio.run(inspector({"secrets": "deny"}).result("resources/read", answer(KEY), 200_000))
    assert new["error"]["code"] == -32001 and new["id"] == 7
    assert "aws_access_key" in new["error"]["message"] and KEY not in str(new)
    assert audit is not None and audit["action"] == "deny"


def test_a_backend_error_message_is_inspected_too() -> None:
    error = {"jsonrpc": "2.0", "id": 1, "error": {"code": -1, "message": f"bad key {KEY}"}}
    new, _ = asyncio.run(inspector({}).result("tools/call", error, 10))
    assert new["error"]["message"] == "bad key [redacted: aws_access_key]"


def test_other_methods_are_not_inspected() -> None:
    message = answer(KEY)
    assert asyncio.run(inspector({}).result("tools/list", message, 10)) == (message, None)


def test_server_requests_are_redacted_or_refused() -> None:
    request = {"jsonrpc": "2.0", "id": "s1", "method": "sampling/createMessage", "params": {"messages": [KEY]}}
    new, audit, refused = asyncio.run(inspector({}).server_request("sampling/createMessage", request))
    assert not refused and new["params"]["messages"] == ["[redacted: aws_access_key]"] and audit
    _, _, refused = asyncio.run(inspector({"secrets": "deny"}).server_request("sampling/createMessage", request))
    assert refused


def test_scrub_redacts_whatever_the_policy() -> None:
    assert scrub({"payload": KEY}) == {"payload": "[redacted: aws_access_key]"}
    assert scrub(["plain"]) == ["plain"]


def test_a_policy_reload_brings_new_settings() -> None:
    current = {"policy": parse_policy({"output": {}})}
    hook = OutputInspector(lambda: current["policy"].output)
    first, _ = asyncio.run(hook.result("tools/call", answer(KEY), 10))
    current["policy"] = parse_policy({"output": {"kinds": {"aws_access_key": "deny"}}})
    second, _ = asyncio.run(hook.result("tools/call", answer(KEY), 10))
    assert "result" in first and "error" in second
