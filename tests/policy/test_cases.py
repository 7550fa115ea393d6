"""policy/cases.py: test files for `mcp-acp policy test`, what a failure says, and where a bad file is wrong."""

from __future__ import annotations

import json

import pytest

from mcp_acp.policy.cases import BadTestFile, Server, parse_test_file, run_cases
from mcp_acp.policy.engine import PolicyEngine
from mcp_acp.policy.model import parse_policy
from mcp_acp.policy.protected import ProtectedPaths

RULES = [
    {"id": "read", "effect": "allow", "conditions": {"tool_name": "read_*", "path_pattern": "/p/**"}},
    {"id": "bob-writes", "effect": "hitl", "conditions": {"tool_name": "write_*", "subject_id": "bob"}},
    {"id": "on-fs", "effect": "allow", "conditions": {"tool_name": "ping_fs", "backend_id": "fs"}},
]


@pytest.fixture
def engine(tmp_path) -> PolicyEngine:
    return PolicyEngine(parse_policy({"rules": RULES}), ProtectedPaths([tmp_path / "config"]))


def file_of(*cases: dict, **top) -> str:
    return json.dumps({**top, "cases": list(cases)})


def test_cases_pass_and_fail_on_the_decision_and_the_rule(engine):
    tests = parse_test_file(
        file_of(
            {"name": "reads", "tool": "read_file", "arguments": {"path": "/p/a"}, "expect": "allow", "rule": "read"},
            {"name": "wrong rule", "tool": "read_file", "arguments": {"path": "/p/a"}, "expect": "allow", "rule": "x"},
            {"name": "bob asks", "tool": "write_file", "subject": "bob", "expect": "hitl"},
            {"name": "alice is denied", "tool": "write_file", "subject": {"id": "alice"}, "expect": "hitl"},
        )
    )
    results = run_cases(engine, tests)
    assert [r.passed for r in results] == [True, False, True, False]
    assert results[1].failure() == "expected allow by rule 'x', got allow by rule 'read' (rules matched: read)"
    assert results[3].failure() == "expected hitl, got deny by rule 'default' (no rule matched)"


def test_the_engines_reason_is_the_why(engine, tmp_path):
    tests = parse_test_file(
        file_of(
            {"name": "own config", "tool": "read_x", "arguments": {"path": f"{tmp_path}/config/a"}, "expect": "allow"}
        )
    )
    [result] = run_cases(engine, tests)
    assert result.rule == "built_in_protected_path"
    assert "reaches mcp-acp's own configuration or log folders" in str(result.failure())


def test_the_proxys_server_name_and_roots_apply_unless_the_file_says(engine):
    ping = {"name": "ping", "tool": "ping_fs", "expect": "allow"}
    relative = {"name": "relative", "tool": "read_file", "arguments": {"path": "a.txt"}, "expect": "allow"}
    assert [r.passed for r in run_cases(engine, parse_test_file(file_of(ping, relative)))] == [False, False]
    proxy = Server("fs", ("/p",))
    assert [r.passed for r in run_cases(engine, parse_test_file(file_of(ping, relative)), proxy)] == [True, True]
    mine = parse_test_file(file_of(ping, relative, backend_id="other", roots=["/q"]))
    assert [r.passed for r in run_cases(engine, mine, proxy)] == [False, False]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{", "not valid JSON (line 1, column 2"),
        (file_of(), "cases: List should have at least 1 item"),
        (file_of({"name": "a", "tool": "t", "expect": "allowed"}), "cases.0 ('a').expect: Input should be"),
        (file_of({"name": "a", "expect": "allow"}), "cases.0 ('a'): tool is required when method is 'tools/call'"),
        (file_of({"name": "a", "tool": "t", "expect": "allow", "tool_nme": "x"}), "cases.0 ('a').tool_nme: unknown"),
        (
            file_of({"name": "a", "tool": "t", "expect": "allow"}, {"name": "a", "tool": "t", "expect": "deny"}),
            "used twice",
        ),
    ],
)
def test_a_bad_file_says_what_is_wrong_and_where(text, problem):
    with pytest.raises(BadTestFile) as caught:
        parse_test_file(text)
    assert any(problem in p for p in caught.value.problems), caught.value.problems


def test_a_task_case_is_a_bad_test(engine):
    tests = parse_test_file(file_of({"name": "t", "method": "tasks/get", "params": {"taskId": "x"}, "expect": "deny"}))
    with pytest.raises(BadTestFile, match="task's binding"):
        run_cases(engine, tests)
