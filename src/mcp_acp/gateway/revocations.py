"""Revoked access (docs/scale.md#logout-and-revocation): tokens a principal logged out of, or
that an administrator revoked, are refused by every replica, before their expiry.

Two marks in the shared state (read in the same round trip as the rate-limit token): a subject revoked at time T refuses every token of theirs
issued at or before T (`iat`); a single token is revoked by its `jti`, or by its digest when it
has none. A mark lives as long as a token it refuses can: `MAX_TOKEN_SECONDS`.
"""

from __future__ import annotations

import hashlib
import time

from mcp_acp.state.base import SharedState

CHANNEL = "revocations"  # {"subject": ...}: every replica ends that subject's sessions
MAX_TOKEN_SECONDS = 24 * 3600  # longer-lived access tokens are outlived by their revocation record


def _subject_key(subject: str) -> str:
    return "sub:" + hashlib.sha256(subject.encode("utf-8", "surrogatepass")).hexdigest()


def _token_key(claims: dict, token_digest: str) -> str:
    jti = claims.get("jti")
    if isinstance(jti, str) and jti:
        return "jti:" + hashlib.sha256(jti.encode("utf-8", "surrogatepass")).hexdigest()
    return f"digest:{token_digest}"


class Revocations:
    def __init__(self, state: SharedState, clock=time.time) -> None:
        self.state = state
        self._clock = clock

    async def revoke_subject(self, subject: str) -> float:
        """Every token `subject` holds now is refused from here on; a new login works."""
        at = self._clock()
        await self.state.mark(_subject_key(subject), repr(at), MAX_TOKEN_SECONDS)
        await self.state.publish(CHANNEL, {"subject": subject})
        return at

    async def revoke_token(self, claims: dict, token_digest: str) -> None:
        exp = claims.get("exp")
        left = float(exp) - self._clock() if isinstance(exp, int | float) else MAX_TOKEN_SECONDS
        await self.state.mark(_token_key(claims, token_digest), "revoked", min(max(left, 1.0), MAX_TOKEN_SECONDS))

    @staticmethod
    def marks(subject: str, claims: dict, token_digest: str) -> list[str]:
        """What to read for one token: its subject's revocation, and its own."""
        return [_subject_key(subject), _token_key(claims, token_digest)]

    @staticmethod
    def verdict(claims: dict, values: list[str | None]) -> str | None:
        """None when the token stands, given the values of `marks()`; else why not."""
        by_subject, by_token = values
        if by_token is not None:
            return "this token was revoked (logged out)"
        issued = claims.get("iat")
        if by_subject is not None and (not isinstance(issued, int | float) or issued <= float(by_subject)):
            return "the access of this subject was revoked; sign in again for a new token"
        return None

    async def why_refused(self, subject: str, claims: dict, token_digest: str) -> str | None:
        """None when the token stands; else why not. Raises StateUnavailable (deny)."""
        return self.verdict(claims, await self.state.read_marks(self.marks(subject, claims, token_digest)))
