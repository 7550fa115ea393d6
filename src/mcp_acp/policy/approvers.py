"""Who may decide an approval (docs/approvals.md#who-may-decide): the requester alone by default;
a rule's `approvers` name others by the claims of their verified tokens, and `self_approval:
false` keeps the requester from deciding their own request.

An approver is written `user:<sub>`, `group:<name>` (the token's `groups` claim), `role:<name>`
(its `roles` claim) or `scope:<name>` (its `scope` or `scp`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, cast

KINDS = {"user": "sub", "group": "groups", "role": "roles", "scope": "scope"}
PATTERN = r"^(user|group|role|scope):\S.*$"


def _values(claims: Mapping[str, Any], claim: str) -> set[str]:
    value = claims.get(claim)
    if claim == "scope" and value is None:
        value = claims.get("scp")
    if isinstance(value, str):
        return set(value.split()) if claim in ("scope", "groups", "roles") else {value}
    if isinstance(value, list | tuple):
        return {item for item in cast("list[object]", value) if isinstance(item, str)}
    return set()


def matches(approver: str, subject: str, claims: Mapping[str, Any]) -> bool:
    kind, _, name = approver.partition(":")
    if kind == "user":
        return name == subject
    return kind in KINDS and name in _values(claims, KINDS[kind])


def refusal(
    approver: str, claims: Mapping[str, Any], requester: str, approvers: Iterable[str], self_approval: bool
) -> str | None:
    """Why `approver` may not decide `requester`'s request, or None when they may."""
    named = tuple(approvers)
    if approver == requester and not self_approval:
        return "the policy does not let anyone approve their own request"
    if not named:
        return None if approver == requester else "only the user who made the request may decide it"
    if any(matches(entry, approver, claims) for entry in named):
        return None
    return f"only the approvers the policy names may decide it ({', '.join(named)})"
