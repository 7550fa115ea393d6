"""Information-flow labels (docs/policies.md#information-flow-labels-and-session_labels): the
presets, the policy's `labels` section, the tool_labels and session_labels conditions, a
session's memory of what it touched, and the explanation a decision carries.

Each engine test builds a real policy with parse_policy and a real DecisionContext with
build_context; the property test checks that a session_labels rule never matches a session
that has not touched every label it names.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcp_acp.identity.local import Identity
from mcp_acp.policy.context import build_context
from mcp_acp.policy.engine import PolicyEngine, compile_rule
from mcp_acp.policy.labels import LABELS, PRESET_LABELS, LabelMemory, ToolLabels, explain, preset_labels
from mcp_acp.policy.model import PolicyInvalid, parse_policy
from mcp_acp.policy.protected import ProtectedPaths

TRIFECTA = {
    "id": "trifecta",
    "effect": "hitl",
    "conditions": {"tool_labels": ["egress"], "session_labels": ["private_data", "untrusted_content"]},
}
ALLOW_ALL = {"id": "tools", "effect": "allow", "conditions": {"tool_name": "*"}}
AT = datetime(2026, 12, 8, 10, 2, 3, tzinfo=UTC)


def engine(*rules: dict, labels: dict | None = None) -> PolicyEngine:
    document: dict = {"rules": list(rules)}
    if labels is not None:
        document["labels"] = labels
    return PolicyEngine(parse_policy(document), ProtectedPaths(()))


def call(tool: str, touched: frozenset[str] = frozenset(), arguments: dict | None = None):
    message = {
        "jsonrpc": "2.0",
        "id": 3,
        "method": "tools/call",
        "params": {"name": tool, "arguments": arguments or {}},
    }
    return build_context(message, Identity("alice", "local"), "srv", session_labels=touched)


# ================================================================ presets and the labels section


@pytest.mark.parametrize(
    ("tool", "labels"),
    [
        ("read_file", {"private_data"}),
        ("READ_FILE", {"private_data"}),
        ("fetch", {"untrusted_content", "egress"}),
        ("git_push", {"egress"}),
        ("send_email", {"egress"}),
        ("slack_post_message", {"egress"}),
        ("read_email", {"private_data", "untrusted_content"}),
        ("frobnicate", set()),
    ],
)
def test_presets_label_well_known_tools(tool: str, labels: set[str]) -> None:
    assert preset_labels(tool) == labels


def test_every_preset_label_is_a_known_label() -> None:
    assert all(labels and labels <= set(LABELS) for labels in PRESET_LABELS.values())


def test_the_policy_adds_labels_by_glob_and_may_turn_presets_off() -> None:
    labels = ToolLabels({"private_data": ["notes_*"], "egress": ["post"]})
    assert labels.of("Notes_Read") == {"private_data"}  # globs ignore case, as tool_name does
    assert labels.of("post") == {"egress"}
    assert labels.of("read_file") == {"private_data"}  # presets still apply
    assert labels.of(None) == frozenset() and labels.of("") == frozenset()
    assert ToolLabels({"egress": ["post"]}, presets=False).of("read_file") == frozenset()


def test_the_labels_section_is_validated() -> None:
    policy = parse_policy({"labels": {"private_data": "notes_*", "egress": ["post", "mail_*"], "presets": False}})
    assert policy.labels is not None and policy.labels.globs() == {
        "private_data": ["notes_*"],
        "egress": ["post", "mail_*"],
    }
    with pytest.raises(PolicyInvalid) as bad:
        parse_policy({"labels": {"secret_stuff": ["x"]}})
    assert bad.value.problems == ["labels.secret_stuff: unknown field (check the spelling against docs/policies.md)"]
    with pytest.raises(PolicyInvalid) as blank:
        parse_policy({"labels": {"egress": [" "]}})
    assert "labels.egress" in blank.value.problems[0]


@pytest.mark.parametrize("condition", ["tool_labels", "session_labels"])
def test_an_unknown_label_in_a_condition_is_rejected_with_the_known_ones(condition: str) -> None:
    with pytest.raises(PolicyInvalid) as bad:
        parse_policy({"rules": [{"id": "r", "effect": "hitl", "conditions": {condition: ["private"]}}]})
    (problem,) = bad.value.problems
    assert problem.startswith(f"rule 0 (id 'r'): conditions.{condition}.0: not allowed: 'private'")
    assert all(label in problem for label in LABELS)


# ================================================================ the conditions in the engine


def test_tool_labels_matches_a_tool_carrying_any_of_them() -> None:
    rules = engine(
        {"id": "out", "effect": "deny", "conditions": {"tool_labels": ["egress", "private_data"]}}, ALLOW_ALL
    )
    assert rules.evaluate(call("send_email")).final_rule == "out"
    assert rules.evaluate(call("read_file")).final_rule == "out"
    assert rules.evaluate(call("echo")).final_rule == "tools"


def test_the_trifecta_asks_only_when_both_labels_were_touched() -> None:
    rules = engine(ALLOW_ALL, TRIFECTA)
    both = frozenset({"private_data", "untrusted_content"})
    assert rules.evaluate(call("send_email", both)).effect == "hitl"
    assert rules.evaluate(call("send_email", both | {"egress"})).final_rule == "trifecta"
    assert rules.evaluate(call("send_email", frozenset({"private_data"}))).effect == "allow"
    assert rules.evaluate(call("send_email", frozenset({"untrusted_content"}))).effect == "allow"
    assert rules.evaluate(call("send_email")).effect == "allow"
    assert rules.evaluate(call("echo", both)).effect == "allow"  # not an egress tool
    # A tool labelled by the policy, not by a preset.
    custom = engine(ALLOW_ALL, TRIFECTA, labels={"egress": "post_*", "presets": False})
    assert custom.evaluate(call("post_note", both)).effect == "hitl"
    assert custom.evaluate(call("send_email", both)).effect == "allow"  # presets off


def test_session_labels_work_on_requests_with_paths_too() -> None:
    rules = engine(
        ALLOW_ALL,
        {
            "id": "no-writes",
            "effect": "deny",
            "conditions": {"session_labels": ["untrusted_content"], "tool_name": "write_file"},
        },
    )
    assert rules.evaluate(call("write_file", frozenset({"untrusted_content"}), {"path": "/p/a"})).effect == "deny"
    assert rules.evaluate(call("write_file", frozenset(), {"path": "/p/a"})).effect == "allow"


def test_label_conditions_add_specificity_like_any_other() -> None:
    def score(conditions: dict) -> int:
        return compile_rule(
            0, parse_policy({"rules": [{"effect": "allow", "conditions": conditions}]}).rules[0]
        ).specificity

    assert score(TRIFECTA["conditions"]) == 200
    assert score({"tool_labels": ["egress"]}) == score({"side_effects": ["network_egress"]})


def test_an_empty_label_list_never_matches() -> None:
    rules = engine(ALLOW_ALL, {"id": "never", "effect": "deny", "conditions": {"session_labels": []}})
    assert rules.evaluate(call("send_email", frozenset(LABELS))).final_rule == "tools"


def test_a_deny_that_waits_for_session_labels_does_not_hide_the_tool() -> None:
    """may_allow decides what tools/list shows: a tool denied only after the session touched
    something must still be listed."""
    rules = engine(
        ALLOW_ALL,
        {"id": "late", "effect": "deny", "conditions": {"tool_labels": ["egress"], "session_labels": ["private_data"]}},
    )
    assert rules.may_allow(call("send_email"))
    hidden = engine(ALLOW_ALL, {"id": "never", "effect": "deny", "conditions": {"tool_labels": ["egress"]}})
    assert not hidden.may_allow(call("send_email"))


# ================================================================ property: never without every label

label_sets = st.frozensets(st.sampled_from(LABELS))
ENGINES: dict[frozenset[str], PolicyEngine] = {}  # one per required set: compiling is not what is tested


@given(
    required=label_sets.filter(bool),
    touched=label_sets,
    tool=st.sampled_from(["send_email", "read_file", "fetch", "echo", "x"]),
)
def test_session_labels_never_match_when_a_required_label_was_not_touched(
    required: frozenset[str], touched: frozenset[str], tool: str
) -> None:
    rule = {"id": "flow", "effect": "hitl", "conditions": {"session_labels": sorted(required)}}
    decision = ENGINES.setdefault(required, engine(ALLOW_ALL, rule)).evaluate(call(tool, touched))
    matched = {r.id for r in decision.matched_rules}
    assert ("flow" in matched) == (required <= touched)
    assert (decision.effect == "hitl") == (required <= touched)


# ================================================================ the session's memory and the explanation


def test_a_session_keeps_the_first_request_that_touched_each_label() -> None:
    memory = LabelMemory()
    assert memory.touched == frozenset() and memory.sources(frozenset(LABELS)) == ()
    memory.touch(frozenset({"private_data"}), "1", "read_file", "~/notes", AT)
    memory.touch(frozenset({"private_data", "untrusted_content"}), "2", "read_email", None, AT)
    memory.touch(frozenset({"egress"}), "3", "fetch", "http://x/" + "a" * 500, AT)
    assert memory.touched == set(LABELS)
    private, untrusted = memory.sources(frozenset({"untrusted_content", "private_data"}))
    assert (private.request_id, private.tool_name, private.target) == ("1", "read_file", "~/notes")
    assert (untrusted.request_id, untrusted.target) == ("2", None)
    (egress,) = memory.sources(frozenset({"egress"}))
    assert egress.target is not None and len(egress.target) == 121 and egress.target.endswith("…")
    assert private.as_entry() == {
        "label": "private_data",
        "request_id": "1",
        "tool_name": "read_file",
        "target": "~/notes",
        "at": "2026-12-08T10:02:03+00:00",
    }


def test_the_explanation_names_what_was_touched_and_when() -> None:
    memory = LabelMemory()
    memory.touch(frozenset({"private_data"}), "1", "read_file", "~/notes", AT)
    memory.touch(frozenset({"untrusted_content"}), "2", "fetch", None, AT)
    text = explain("hitl", memory.sources(frozenset({"private_data", "untrusted_content"})))
    assert text == (
        "asked because this session read private data (read_file ~/notes, request 1, at 10:02:03) "
        "and took in untrusted content (fetch, request 2, at 10:02:03) before"
    )
    assert explain("deny", memory.sources(frozenset({"private_data"}))).startswith("denied because")


def test_the_rule_editor_offers_the_labels() -> None:
    from mcp_acp.policy.editor_schema import rule_editor_schema

    offered = {c["name"]: c.get("values") for c in rule_editor_schema()["conditions"]}
    assert offered["tool_labels"] == offered["session_labels"] == list(LABELS)


def test_a_target_from_the_client_is_kept_printable() -> None:
    memory = LabelMemory()
    memory.touch(frozenset({"untrusted_content"}), "1", "fetch", "http://x/\x1b[2J\nFAKE LINE\u202e", AT)
    (touch,) = memory.sources(frozenset({"untrusted_content"}))
    assert touch.target == "http://x/?[2J?FAKE LINE?"
