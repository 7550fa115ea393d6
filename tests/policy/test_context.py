"""A verified token's claims reach the decision context (issue 5), with provenance `token`."""

from __future__ import annotations

import time

from mcp_acp.identity.local import Identity
from mcp_acp.policy.context import build_context


def test_token_claims_become_subject_attributes():
    claims = {
        "sub": "auth0|alice",
        "iss": "https://idp",
        "aud": ["api", "other"],
        "azp": "mcp-acp-cli",
        "scope": "openid files:read",
        "iat": int(time.time()) - 30,
        "auth_time": 1700000000,
    }
    ctx = build_context(
        {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "read_file"}},
        Identity("auth0|alice", "token", claims),
        "fs",
    )
    subject = ctx.subject
    assert (subject.id, subject.provenance, subject.issuer) == ("auth0|alice", "token", "https://idp")
    assert subject.audience == ("api", "other") and subject.client_id == "mcp-acp-cli"
    assert subject.scopes == frozenset({"openid", "files:read"}) and subject.auth_time == 1700000000
    assert 29 <= subject.token_age_s < 60


def test_local_identity_has_no_token_attributes():
    ctx = build_context({"jsonrpc": "2.0", "id": 1, "method": "ping"}, Identity("me", "local"), "fs")
    assert ctx.subject.provenance == "local"
    assert ctx.subject.token_age_s is None and ctx.subject.scopes == frozenset() and ctx.subject.issuer is None
