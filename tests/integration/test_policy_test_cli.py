"""`mcp-acp policy test` run as a subprocess (docs/policies.md#testing-a-policy-and-previewing-a-change):
the sample test file in docs/ passes, a wrong expectation fails with what was expected and what
the policy decided, and a bad test file exits 2 saying where it is wrong."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.support.config import proxy_config_dir
from tests.support.processes import BACKEND, ROOT

EXAMPLES = ROOT / "docs" / "examples"
SAMPLE = EXAMPLES / "policy-tests.json"


def test_the_sample_test_file_in_the_docs_passes(cli):
    result = cli("policy", "test", str(SAMPLE))
    assert result.returncode == 0, result.stdout + result.stderr
    cases = json.loads(SAMPLE.read_text())["cases"]
    for case in cases:
        assert f"PASS {case['name']}" in result.stdout
    assert f"{len(cases)} passed, 0 failed" in result.stdout


def test_a_wrong_expectation_fails_and_says_why(cli, tmp_path):
    tests = json.loads(SAMPLE.read_text())
    tests["policy"] = str(EXAMPLES / "policy.json")
    tests["cases"].append(
        {
            "name": "reads the .env (wrongly expected)",
            "tool": "read_file",
            "arguments": {"path": "/srv/project/.env"},
            "expect": "allow",
            "rule": "read-project",
        }
    )
    failing = tmp_path / "failing.json"
    failing.write_text(json.dumps(tests))
    result = cli("policy", "test", str(failing))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAIL reads the .env (wrongly expected)" in result.stdout
    assert (
        "expected allow by rule 'read-project', got deny by rule 'no-secrets' "
        "(rules matched: read-project, no-secrets)" in result.stdout
    )
    assert f"{len(tests['cases']) - 1} passed, 1 failed" in result.stdout
    answer = json.loads(cli("policy", "test", str(failing), "--json").stdout)
    assert (answer["passed"], answer["failed"]) == (len(tests["cases"]) - 1, 1)
    [failed] = [case for case in answer["cases"] if not case["passed"]]
    assert (failed["decision"], failed["rule"], failed["expected_rule"]) == ("deny", "no-secrets", "read-project")


def test_a_policy_given_on_the_command_line_is_the_one_tested(cli, tmp_path):
    strict = tmp_path / "deny-all.json"
    strict.write_text("{}")
    result = cli("policy", "test", str(SAMPLE), "--policy", str(strict), "--json")
    assert result.returncode == 1
    assert json.loads(result.stdout)["policy"] == str(strict)


def test_a_bad_test_file_exits_2_saying_where(cli, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps({"policy": str(EXAMPLES / "policy.json"), "cases": [{"name": "x", "tool": "t", "expect": "maybe"}]})
    )
    result = cli("policy", "test", str(bad))
    assert result.returncode == 2
    assert "cases.0 ('x').expect" in result.stderr
    broken_policy = tmp_path / "broken.json"
    broken_policy.write_text(json.dumps({"rules": [{"effect": "allow", "conditions": {"tool_nam": "x"}}]}))
    result = cli("policy", "test", str(SAMPLE), "--policy", str(broken_policy), "--json")
    assert result.returncode == 2
    assert "rule 0: conditions.tool_nam" in json.loads(result.stdout)["error"]
    result = cli("policy", "test", str(Path(tmp_path / "missing.json")))
    assert result.returncode == 2 and "cannot read the test file" in result.stderr


def test_a_proxys_policy_is_tested_with_its_server_name(cli, acp_env, tmp_path):
    cli("proxy", "add", "fx", "--server-name", "fixture", "--command", sys.executable, "--arg", BACKEND, check=True)
    rules = [{"id": "fixture-echo", "effect": "allow", "conditions": {"tool_name": "echo", "backend_id": "fixture"}}]
    (proxy_config_dir(acp_env, "fx") / "policy.json").write_text(json.dumps({"rules": rules}))
    tests = tmp_path / "tests.json"
    tests.write_text(
        json.dumps({"cases": [{"name": "echo", "tool": "echo", "expect": "allow", "rule": "fixture-echo"}]})
    )
    assert cli("policy", "test", str(tests), "--proxy", "fx").returncode == 0
    assert (
        cli("policy", "test", str(tests), "--policy", str(proxy_config_dir(acp_env, "fx") / "policy.json")).returncode
        == 1
    )
    result = cli("policy", "test", str(tests))
    assert result.returncode == 2 and "names no policy" in result.stderr
