"""policy.json validation (docs/policies.md#rules): what parse_policy accepts and refuses.

An unsafe or ambiguous policy must never load, every problem must be reported in one go
(naming the rule and the field), and generated rule ids must be stable across loads.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import jsonschema
import pytest
from pydantic import ValidationError

from mcp_acp.policy.model import PolicyInvalid, parse_policy, policy_json_schema


def rule(effect: str = "allow", rule_id: str | None = None, **conditions) -> dict:
    data = {"effect": effect, "conditions": conditions or {"tool_name": "read_file"}}
    if rule_id is not None:
        data["id"] = rule_id
    return data


def problems_of(data) -> list[str]:
    with pytest.raises(PolicyInvalid) as caught:
        parse_policy(data)
    assert caught.value.problems, "PolicyInvalid must list at least one problem"
    return caught.value.problems


def expected_id(effect: str, conditions: dict) -> str:
    """docs/policies.md#rules: rule_ + first 8 hex of sha256(json{effect, non-null conditions}, sorted keys)."""
    body = json.dumps(
        {"effect": effect, "conditions": {k: v for k, v in conditions.items() if v is not None}}, sort_keys=True
    )
    return "rule_" + hashlib.sha256(body.encode()).hexdigest()[:8]


# ------------------------------------------------------------------ documents that are valid


def test_empty_document_is_a_deny_all_policy():
    """`{}` must load (not crash) and mean: no rules, default deny."""
    policy = parse_policy({})
    assert policy.rules == []
    assert policy.default_action == "deny"
    assert policy.version == "1"


def test_explicit_deny_default_and_all_condition_kinds_accepted():
    """Every documented condition with a valid value loads; a typo-free policy is never refused."""
    conditions = {
        "tool_name": ["read_*", "list_*"],
        "path_pattern": "/home/u/proj/**",
        "source_path": "/a/**",
        "dest_path": "/b/**",
        "operations": ["read", "write", "delete"],
        "extension": [".py", ".md"],
        "scheme": "file",
        "backend_id": "docs-*",
        "resource_type": "tool",
        "mcp_method": "tools/call",
        "subject_id": ["auth0|alice"],
        "side_effects": ["code_exec", "fs_write"],
    }
    policy = parse_policy(
        {
            "version": "1",
            "default_action": "deny",
            "rules": [
                {
                    "id": "everything",
                    "description": "all conditions",
                    "effect": "hitl",
                    "conditions": conditions,
                    "cache_side_effects": ["fs_write"],
                }
            ],
        }
    )
    assert policy.rules[0].conditions.given() == conditions
    assert policy.rules[0].cache_side_effects == ["fs_write"]


@pytest.mark.parametrize("written", ["tool", "TOOL", "Tool", "rEsOuRcE"])
def test_resource_type_is_case_insensitive(written):
    """`"TOOL"` must mean `tool`, not be refused nor silently never match."""
    policy = parse_policy({"rules": [rule(resource_type=written)]})
    assert policy.rules[0].conditions.resource_type == written.lower()


def test_models_are_frozen():
    """A loaded policy cannot be changed in place (a reload builds a new one)."""
    policy = parse_policy({"rules": [rule(rule_id="r")]})
    with pytest.raises(ValidationError):
        policy.rules[0].effect = "deny"
    with pytest.raises(ValidationError):
        policy.default_action = "allow"


def test_json_schema_is_exported():
    """`policy schema` output: a draft 2020-12 schema that knows every condition."""
    schema = policy_json_schema()
    assert schema["$schema"].endswith("2020-12/schema")
    text = json.dumps(schema)
    for condition in ("tool_name", "path_pattern", "side_effects", "resource_type", "cache_side_effects"):
        assert condition in text


# ------------------------------------------------------------------ documents that are refused


@pytest.mark.parametrize("conditions", [{}, {"tool_name": None}, {"tool_name": None, "extension": None}])
def test_rule_without_any_condition_is_refused(conditions):
    """A rule with no condition would match everything by accident; it must be refused."""
    problems = problems_of({"rules": [{"id": "r", "effect": "allow", "conditions": conditions}]})
    assert any("rule 0 (id 'r')" in p and "conditions" in p for p in problems)


def test_rule_without_conditions_key_is_refused():
    """`conditions` is required."""
    problems = problems_of({"rules": [{"id": "r", "effect": "allow"}]})
    assert any("conditions" in p for p in problems)


@pytest.mark.parametrize(
    "field,value",
    [
        ("tool_name", ""),
        ("tool_name", "   "),
        ("tool_name", "\t\n"),
        ("tool_name", ["read_file", " "]),
        ("path_pattern", ""),
        ("path_pattern", ["/a/**", ""]),
        ("source_path", " "),
        ("dest_path", " "),
        ("extension", " "),
        ("scheme", ""),
        ("backend_id", "  "),
        ("mcp_method", " "),
        ("subject_id", ""),
        ("subject_id", ["alice", "  "]),
    ],
)
def test_empty_or_whitespace_condition_values_are_refused(field, value):
    """`"tool_name": " "` must not load (it could never match, or match the empty name)."""
    problems = problems_of({"rules": [rule(rule_id="r", **{field: value})]})
    assert any(field in p and "empty or whitespace" in p for p in problems), problems


@pytest.mark.parametrize("rule_id", ["", "  ", "\t"])
def test_blank_rule_id_is_refused(rule_id):
    """A blank id cannot name a rule in logs or the HITL dialog."""
    problems = problems_of({"rules": [rule(rule_id=rule_id)]})
    assert any("id" in p for p in problems)


@pytest.mark.parametrize("default", ["allow", "hitl", "Deny", "", None])
def test_default_action_other_than_deny_is_refused(default):
    """Zero trust: the default can only be deny."""
    problems = problems_of({"default_action": default, "rules": []})
    assert any("default_action" in p for p in problems)


@pytest.mark.parametrize("effect", ["allow", "deny"])
@pytest.mark.parametrize("cache", [["fs_write"], []])
def test_cache_side_effects_only_on_hitl_rules(effect, cache):
    """cache_side_effects on allow/deny is meaningless and hints at a misunderstanding: refused."""
    problems = problems_of({"rules": [dict(rule(effect, "r"), cache_side_effects=cache)]})
    assert any("rule 0 (id 'r')" in p and "cache_side_effects" in p and effect in p for p in problems)


def test_cache_side_effects_on_hitl_rule_accepted_and_validated():
    """On a hitl rule the list loads, but its values must be known side effects."""
    parse_policy({"rules": [dict(rule("hitl", "r"), cache_side_effects=["fs_write", "fs_read"])]})
    problems = problems_of({"rules": [dict(rule("hitl", "r"), cache_side_effects=["fs_wrte"])]})
    assert any("cache_side_effects" in p and "fs_wrte" in p for p in problems)


@pytest.mark.parametrize("effect", ["Allow", "permit", "", None, "HITL"])
def test_unknown_effect_is_refused(effect):
    problems = problems_of({"rules": [{"id": "r", "effect": effect, "conditions": {"tool_name": "x"}}]})
    assert any("effect" in p for p in problems)


@pytest.mark.parametrize(
    "conditions,field",
    [
        ({"tool": "read_file"}, "tool"),
        ({"toolname": "read_file"}, "toolname"),
        ({"path": "/a/**"}, "path"),
        ({"tool_name": "x", "resource_types": "tool"}, "resource_types"),
    ],
)
def test_unknown_condition_is_refused(conditions, field):
    """A misspelt condition must not be ignored (that would widen the rule)."""
    problems = problems_of({"rules": [{"id": "r", "effect": "deny", "conditions": conditions}]})
    assert any(f"conditions.{field}" in p and "unknown field" in p for p in problems), problems


@pytest.mark.parametrize(
    "conditions,bad",
    [
        ({"operations": ["exec"]}, "exec"),
        ({"operations": ["READ"]}, "READ"),
        ({"side_effects": ["fs_writes"]}, "fs_writes"),
        ({"side_effects": ["code_exec", "rm_rf"]}, "rm_rf"),
        ({"resource_type": "file"}, "file"),
        ({"resource_type": ["tool"]}, "tool"),
    ],
)
def test_unknown_condition_values_are_refused(conditions, bad):
    """Operations, side effects and resource types are closed vocabularies."""
    problems = problems_of({"rules": [{"id": "r", "effect": "deny", "conditions": conditions}]})
    assert any(bad in p or "resource_type" in p for p in problems), problems


@pytest.mark.parametrize(
    "conditions",
    [
        {"operations": "read"},
        {"side_effects": "code_exec"},  # list only
        {"tool_name": 5},
        {"tool_name": ["a", 5]},
        {"path_pattern": {"glob": "/a"}},
    ],
)
def test_wrong_condition_types_are_refused(conditions):
    problems_of({"rules": [{"id": "r", "effect": "deny", "conditions": conditions}]})


def test_unknown_top_level_and_rule_fields_are_refused():
    """`"rule": [...]` instead of `"rules"` must not load as a deny-all policy silently."""
    assert any("rule" in p for p in problems_of({"rule": [rule()]}))
    assert any("priority" in p for p in problems_of({"rules": [dict(rule(), priority=1)]}))


@pytest.mark.parametrize("document", [[], "deny", None, 5])
def test_non_object_document_is_refused(document):
    problems_of(document)


# ------------------------------------------------------------------------------------ ids


def test_duplicate_user_ids_are_refused():
    """Two rules named alike make logs and final_rule ambiguous."""
    problems = problems_of({"rules": [rule(rule_id="same"), rule("deny", "same", tool_name="bash")]})
    assert any("rule 1" in p and "'same'" in p and "rule 0" in p for p in problems), problems


def test_generated_id_is_deterministic_and_follows_the_spec_formula():
    """The same rule must get the same id on every load and on every machine."""
    conditions = {"tool_name": ["read_*", "list_*"], "path_pattern": "/home/u/proj/**"}
    first = parse_policy({"rules": [{"effect": "allow", "conditions": conditions}]})
    second = parse_policy({"rules": [{"effect": "allow", "conditions": dict(reversed(conditions.items()))}]})
    assert first.rules[0].id == second.rules[0].id == expected_id("allow", conditions)
    assert re.fullmatch(r"rule_[0-9a-f]{8}", first.rules[0].id)


def test_generated_id_ignores_null_conditions_description_and_cache_list():
    """Only effect and the non-null conditions feed the id."""
    plain = parse_policy({"rules": [{"effect": "hitl", "conditions": {"tool_name": "write_file"}}]})
    noisy = parse_policy(
        {
            "rules": [
                {
                    "effect": "hitl",
                    "description": "why",
                    "cache_side_effects": ["fs_write"],
                    "conditions": {"tool_name": "write_file", "extension": None},
                }
            ]
        }
    )
    assert plain.rules[0].id == noisy.rules[0].id == expected_id("hitl", {"tool_name": "write_file"})


def test_generated_id_depends_on_effect_and_conditions():
    ids = {
        parse_policy({"rules": [{"effect": effect, "conditions": conditions}]}).rules[0].id
        for effect in ("allow", "deny", "hitl")
        for conditions in ({"tool_name": "a"}, {"tool_name": "b"}, {"tool_name": ["a"]})
    }
    assert len(ids) == 9


def test_user_id_kept_and_generated_ids_fill_the_rest():
    policy = parse_policy({"rules": [rule(rule_id="mine"), rule("deny", tool_name="bash")]})
    assert policy.rules[0].id == "mine"
    assert policy.rules[1].id == expected_id("deny", {"tool_name": "bash"})


@pytest.mark.parametrize("user_first", [True, False])
def test_user_id_colliding_with_a_generated_id_is_refused(user_first):
    """A user id equal to another rule's generated id would make final_rule ambiguous."""
    generated = {"effect": "deny", "conditions": {"tool_name": "bash"}}
    user = rule("allow", expected_id("deny", {"tool_name": "bash"}), tool_name="read_file")
    rules = [user, generated] if user_first else [generated, user]
    problems = problems_of({"rules": rules})
    assert any("already used" in p and "rule 1" in p for p in problems), problems


def test_identical_rules_without_ids_are_refused_as_duplicates():
    """Two identical id-less rules generate the same id: reported as a duplicate, not merged."""
    problems = problems_of({"rules": [rule("deny", tool_name="bash"), rule("deny", tool_name="bash")]})
    assert any("already used" in p for p in problems)


# ------------------------------------------------------------------- reporting every problem


def test_all_problems_in_all_rules_are_reported_at_once():
    """`policy validate` must list every mistake with rule index, id and field, not stop at the first."""
    problems = problems_of(
        {
            "default_action": "allow",
            "rules": [
                {"id": "ok", "effect": "allow", "conditions": {"tool_name": "read_file"}},
                {"id": "blank", "effect": "allow", "conditions": {"tool_name": " "}},
                {"effect": "allow", "conditions": {}},
                {"id": "typo", "effect": "deny", "conditions": {"tool_nme": "bash"}},
                {"id": "cache", "effect": "allow", "conditions": {"tool_name": "x"}, "cache_side_effects": ["fs_read"]},
                {"id": "vals", "effect": "deny", "conditions": {"operations": ["exec"], "side_effects": ["nope"]}},
            ],
        }
    )
    text = "\n".join(problems)
    expected = [
        "default_action",
        "rule 1 (id 'blank'): conditions.tool_name",
        "rule 2: conditions",
        "rule 3 (id 'typo'): conditions.tool_nme",
        "rule 4 (id 'cache')",
        "rule 5 (id 'vals'): conditions.operations",
        "rule 5 (id 'vals'): conditions.side_effects",
    ]
    for fragment in expected:
        assert fragment in text, f"missing {fragment!r} in:\n{text}"
    assert "rule 0" not in text, "the valid rule must not be blamed"
    assert len(problems) == len(set(problems)), "each problem once"


def test_duplicate_ids_reported_together_with_other_problems():
    """One `policy validate` run must show a duplicate id even when another rule is also broken.

    Catches: the duplicate-id check only running once every rule parses, so the user fixes one
    mistake, re-validates, and only then learns about the next (docs/policies.md#changing-a-policy: all problems at once).
    """
    problems = problems_of(
        {
            "rules": [
                {"id": "dup", "effect": "allow", "conditions": {"tool_name": "read_file"}},
                {"id": "dup", "effect": "deny", "conditions": {"tool_name": "bash"}},
                {"id": "broken", "effect": "deny", "conditions": {"tool_name": " "}},
            ]
        }
    )
    text = "\n".join(problems)
    assert "rule 2 (id 'broken')" in text
    assert "'dup'" in text and "already used" in text, f"duplicate id not reported:\n{text}"


SCHEMA_FILE = Path(__file__).resolve().parents[2] / "docs" / "policy.schema.json"


def test_published_schema_matches_the_model():
    """docs/policy.schema.json is what editors use for completion: it must not go stale."""
    assert json.loads(SCHEMA_FILE.read_text()) == policy_json_schema(), (
        "regenerate it: python -c 'import json; from mcp_acp.policy.model import policy_json_schema; "
        "print(json.dumps(policy_json_schema(), indent=2))' > docs/policy.schema.json"
    )


def test_schema_accepts_the_spec_examples_and_rejects_unknown_fields():
    schema = policy_json_schema()
    jsonschema.validate(
        {
            "version": "1",
            "default_action": "deny",
            "rules": [
                {
                    "id": "read-project",
                    "effect": "allow",
                    "conditions": {"tool_name": ["read_*", "list_*"], "path_pattern": "/home/u/proj/**"},
                },
                {
                    "id": "write-project",
                    "effect": "hitl",
                    "conditions": {"operations": ["write", "delete"]},
                    "cache_side_effects": ["fs_write"],
                },
            ],
        },
        schema,
    )
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"rules": [{"effect": "allow", "conditions": {"tool": "x"}}]}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"default_action": "allow"}, schema)
