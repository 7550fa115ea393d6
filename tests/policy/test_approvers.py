"""Who may decide an approval: the requester by default, a rule's approvers by their token's
claims, and never the requester when self-approval is off."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from mcp_acp.policy.approvers import matches, refusal
from mcp_acp.policy.model import Rule

ALICE = {"sub": "alice", "groups": ["dev"], "roles": "viewer", "scope": "mcp:read mcp:approve"}
SECURITY = {"sub": "sam", "groups": ["security", "dev"], "scp": ["mcp:approve"]}


@pytest.mark.parametrize(
    ("approver", "subject", "claims", "expected"),
    [
        ("user:sam", "sam", SECURITY, True),
        ("user:sam", "alice", ALICE, False),
        ("group:security", "sam", SECURITY, True),
        ("group:security", "alice", ALICE, False),
        ("role:viewer", "alice", ALICE, True),
        ("scope:mcp:approve", "alice", ALICE, True),
        ("scope:mcp:approve", "sam", SECURITY, True),  # scp, the list form
        ("scope:mcp:admin", "alice", ALICE, False),
        ("group:dev", "bob", {"sub": "bob", "groups": "dev ops"}, True),
        ("group:de", "bob", {"sub": "bob", "groups": "dev"}, False),  # whole names only
        ("team:security", "sam", {"sub": "sam", "team": "security"}, False),  # unknown kinds never match
    ],
)
def test_an_approver_matches_by_the_verified_claims(approver: str, subject: str, claims: dict, expected: bool) -> None:
    assert matches(approver, subject, claims) is expected


def test_without_approvers_only_the_requester_decides() -> None:
    assert refusal("alice", ALICE, "alice", (), True) is None
    assert "only the user who made the request" in (refusal("sam", SECURITY, "alice", (), True) or "")


def test_named_approvers_decide_and_others_do_not() -> None:
    assert refusal("sam", SECURITY, "alice", ("group:security",), True) is None
    assert "group:security" in (refusal("bob", {"sub": "bob"}, "alice", ("group:security",), True) or "")


def test_self_approval_off_stops_the_requester_even_when_they_are_an_approver() -> None:
    assert refusal("sam", SECURITY, "sam", ("group:security",), True) is None
    assert "their own request" in (refusal("sam", SECURITY, "sam", ("group:security",), False) or "")
    assert refusal("alice", ALICE, "alice", (), False) is not None  # nobody at all may approve it then


def test_approvers_and_self_approval_belong_to_rules_that_ask() -> None:
    ask = Rule.model_validate(
        {"effect": "hitl", "conditions": {"tool_name": "x"}, "approvers": ["group:security"], "self_approval": False}
    )
    assert ask.approvers == ["group:security"] and ask.self_approval is False
    with pytest.raises(ValidationError, match="only allowed when effect is 'hitl'"):
        Rule.model_validate({"effect": "allow", "conditions": {"tool_name": "x"}, "approvers": ["user:a"]})
    with pytest.raises(ValidationError, match="only allowed when effect is 'hitl'"):
        Rule.model_validate({"effect": "deny", "conditions": {"tool_name": "x"}, "self_approval": False})
    with pytest.raises(ValidationError):
        Rule.model_validate({"effect": "hitl", "conditions": {"tool_name": "x"}, "approvers": ["security"]})
