"""The user's OIDC tokens at rest (docs/auth.md#where-secrets-are-kept): one JSON record in the secret store (the OS
keychain, or the encrypted file where there is none). Never written in plaintext.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass

from mcp_acp import secret_store

TOKENS_KEY = "oauth_tokens"


@dataclass(frozen=True)
class StoredTokens:
    access_token: str
    refresh_token: str | None
    id_token: str | None
    expires_at: float
    issued_at: float

    def expires_in(self, now: float | None = None) -> float:
        return self.expires_at - (now if now is not None else time.time())


def load() -> StoredTokens | None:
    raw = secret_store.get(TOKENS_KEY)
    if not raw:
        return None
    try:
        return StoredTokens(**json.loads(raw))
    except (ValueError, TypeError):
        return None  # unreadable: treated as logged out; a new login replaces it


def save(tokens: StoredTokens) -> None:
    secret_store.put(TOKENS_KEY, json.dumps(asdict(tokens)))


def delete() -> None:
    secret_store.delete(TOKENS_KEY)
