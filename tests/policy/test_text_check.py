"""policy/text_check.py: a policy text's problems, each at its line of the text."""

from __future__ import annotations

import json

from mcp_acp.policy.model import PolicyInvalid, parse_policy
from mcp_acp.policy.text_check import text_problems

TEXT = """{
  "rules": [
    {"id": "ok", "effect": "allow", "conditions": {"tool_name": "echo"}},
    {
      "id": "ok",
      "effect": "deny",
      "conditions": {}
    }
  ],
  "extra": true
}"""


def test_problems_carry_the_line_and_the_same_words_as_parse_policy():
    found = text_problems(TEXT)
    try:
        parse_policy(json.loads(TEXT))
    except PolicyInvalid as exc:
        assert [p["message"] for p in found] == exc.problems
    else:
        raise AssertionError("the policy should be invalid")
    lines = [p["line"] for p in found]
    assert lines == [7, 10, 5], found  # empty conditions, the unknown field, the duplicate id


def test_json_errors_and_valid_text():
    assert text_problems('{\n  "rules": [\n    ,\n  ]\n}') == [
        {"line": 3, "column": 5, "message": "not valid JSON: Expecting value"}
    ]
    assert text_problems("{}") == []
