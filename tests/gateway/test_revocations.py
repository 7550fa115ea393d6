"""Revocations: a subject's tokens issued up to the revocation are refused, later ones stand;
a single token is refused by its jti, or by its digest without one."""

from __future__ import annotations

from mcp_acp.gateway.revocations import Revocations
from mcp_acp.state.memory import MemoryState


class Clock:
    now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


async def test_a_revoked_subject_needs_a_token_issued_after_the_revocation() -> None:
    clock = Clock()
    revocations = Revocations(MemoryState("r1"), clock=clock)
    old = {"sub": "alice", "iat": clock.now - 10}
    assert await revocations.why_refused("alice", old, "d1") is None
    await revocations.revoke_subject("alice")
    assert "revoked" in (await revocations.why_refused("alice", old, "d1") or "")
    assert await revocations.why_refused("alice", {"sub": "alice"}, "d3")  # no iat: cannot prove it is newer
    assert await revocations.why_refused("bob", {"sub": "bob", "iat": clock.now - 10}, "d2") is None
    assert await revocations.why_refused("alice", {"sub": "alice", "iat": clock.now + 5}, "d4") is None


async def test_one_token_is_revoked_by_its_jti_or_its_digest() -> None:
    revocations = Revocations(MemoryState("r1"))
    with_jti = {"sub": "alice", "jti": "t-1", "exp": 2_000_000_000}
    await revocations.revoke_token(with_jti, "digest-a")
    assert await revocations.why_refused("alice", with_jti, "another digest")
    assert await revocations.why_refused("alice", {"sub": "alice", "jti": "t-2"}, "digest-a") is None
    await revocations.revoke_token({"sub": "alice"}, "digest-b")
    assert await revocations.why_refused("alice", {"sub": "alice"}, "digest-b")
    assert await revocations.why_refused("alice", {"sub": "alice"}, "digest-c") is None
