"""ToolHeaders: the server-side Mcp-Param-* check against the schemas a caller was listed."""

from __future__ import annotations

import pytest

from mcp_acp.gateway.http_checks import HEADER_MISMATCH, HttpRefusal
from mcp_acp.gateway.param_headers import ToolHeaders

SCHEMA = {"type": "object", "properties": {"region": {"type": "string", "x-mcp-header": "Region"}}}
LISTING = {"jsonrpc": "2.0", "id": 1, "result": {"tools": [{"name": "where", "inputSchema": SCHEMA}]}}


def call(region: object = "eu-west", name: str = "where") -> dict:
    return {
        "jsonrpc": "2.0",
        "id": 2,
        "method": "tools/call",
        "params": {"name": name, "arguments": {"region": region}},
    }


@pytest.fixture
def tools() -> ToolHeaders:
    known = ToolHeaders()
    known.learn("alice", LISTING)
    return known


def refused(tools: ToolHeaders, principal: str, headers: dict, message: dict) -> HttpRefusal:
    with pytest.raises(HttpRefusal) as caught:
        tools.check(principal, headers, message)
    assert caught.value.status == 400 and caught.value.code == HEADER_MISMATCH
    return caught.value


def test_a_mirrored_argument_needs_its_header_equal_to_the_body(tools: ToolHeaders) -> None:
    tools.check("alice", {"Mcp-Param-Region": "eu-west"}, call())
    tools.check("alice", {"mcp-param-region": " eu-west "}, call())  # names fold, whitespace around drops
    assert "missing" in refused(tools, "alice", {}, call()).message
    assert "does not match" in refused(tools, "alice", {"Mcp-Param-Region": "us-east"}, call()).message


def test_the_base64_form_is_compared_decoded(tools: ToolHeaders) -> None:
    tools.check("alice", {"Mcp-Param-Region": "=?base64?SGVsbG8=?="}, call("Hello"))
    refused(tools, "alice", {"Mcp-Param-Region": "=?base64?SGVsbG8?="}, call("Hello"))  # not valid base64


def test_an_argument_of_the_wrong_type_for_its_header_is_refused(tools: ToolHeaders) -> None:
    refused(tools, "alice", {"Mcp-Param-Region": "1"}, call(1))


def test_what_was_not_listed_to_this_caller_is_not_checked(tools: ToolHeaders) -> None:
    tools.check("bob", {}, call())  # bob was never listed the tool: no schema, nothing to compare
    tools.check("alice", {}, call(name="other"))
    tools.check("alice", {}, {"jsonrpc": "2.0", "id": 3, "method": "tools/list", "params": {}})
    tools.check("alice", {}, call(region=None))  # an absent (null) argument has no header


def test_a_later_listing_without_the_annotation_forgets_it(tools: ToolHeaders) -> None:
    plain = {"result": {"tools": [{"name": "where", "inputSchema": {"type": "object"}}]}}
    tools.learn("alice", plain)
    tools.check("alice", {}, call())


def test_invalid_annotations_and_odd_answers_are_ignored() -> None:
    tools = ToolHeaders()
    twice = {
        "type": "object",
        "properties": {
            "a": {"type": "string", "x-mcp-header": "X"},
            "b": {"type": "string", "x-mcp-header": "x"},
        },
    }
    tools.learn("alice", {"result": {"tools": [{"name": "bad", "inputSchema": twice}, "junk", {"name": 3}]}})
    tools.learn("alice", {"error": {"code": -32603, "message": "no"}})
    tools.check("alice", {}, call(name="bad"))
