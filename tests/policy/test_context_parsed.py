"""A request's arguments are walked once (policy/context.py parse_request), and each reader takes
its own form: the operations log every candidate path, the decision only the paths that count
before the server's roots are known. Both must equal what walking again would give."""

from __future__ import annotations

import pytest

from mcp_acp.policy.context import parse_request
from mcp_acp.policy.paths import request_paths

REQUESTS = [
    ("tools/call", {"name": "read_file", "arguments": {"location": "notes"}}),  # a path only against a root
    ("tools/call", {"name": "copy", "arguments": {"from": "a", "to": "b/c", "src": "x" * 5000, "location": "l.txt"}}),
    ("tools/call", {"name": "read_file", "arguments": {"path": "notes.txt", "file": "notes"}}),
    ("tools/call", {"name": "move_file", "arguments": {"source": "a", "destination": "/tmp/b", "x": "./c"}}),
    ("tools/call", {"name": "edit", "arguments": {"paths": ["one", "two/three", "~/four"], "text": "hello"}}),
    ("tools/call", {"name": "x", "arguments": {"nested": {"dir": "docs", "deeper": [{"filename": "a.md"}]}}}),
    ("resources/read", {"uri": "file:///etc/hosts", "arguments": {"path": "rel"}}),
    ("prompts/get", {"name": "p", "arguments": {"target": "src"}}),
    ("completion/complete", {"argument": {"name": "path", "value": "sr"}, "context": {"arguments": {"dir": "d"}}}),
    ("custom/method", {"folder": "bare", "_meta": {"path": "/ignored"}}),
    ("", {"path": "bare"}),
]


@pytest.mark.parametrize(("method", "params"), REQUESTS)
@pytest.mark.parametrize("roots_known", [True, False])
def test_one_walk_gives_each_reader_its_form(method, params, roots_known):
    parsed = parse_request({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
    assert parsed.method == method and parsed.params == params
    assert parsed.paths(roots_known) == request_paths(method, params, roots_known)


def test_the_forms_differ_only_by_bare_names():
    parsed = parse_request(
        {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "r", "arguments": {"location": "notes"}}}
    )
    assert [arg.written for arg in parsed.paths(True)] == ["notes"] and parsed.paths(False) == []


@pytest.mark.parametrize(
    "message",
    [
        {"jsonrpc": "2.0", "id": 1, "method": "tools/list"},  # discovery carries no paths
        {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": ["not", "an", "object"]},
        {"jsonrpc": "2.0", "id": 1, "method": 5, "params": {"path": "/etc"}},
    ],
)
def test_nothing_to_walk(message):
    assert parse_request(message).found == ()
