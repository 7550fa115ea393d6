"""The manager keeps the user's OIDC login fresh and hands it to every proxy (SPEC §7.5), so
proxies need not each renew the same refresh token."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import asdict

from mcp_acp.config.models import OIDCConfig
from mcp_acp.event_names import Event
from mcp_acp.identity import tokens as token_store
from mcp_acp.identity.oidc import OidcClient, OidcError
from mcp_acp.identity.tokens import StoredTokens
from mcp_acp.secret_store import SecretStoreError

log = logging.getLogger("mcp_acp.manager")

CHECK_SECONDS = 30.0
RENEW_BEFORE_SECONDS = 300.0


class TokenService:
    def __init__(
        self, settings: OIDCConfig, broadcast: Callable[[dict], None], client: OidcClient | None = None
    ) -> None:
        self.client = client or OidcClient(settings)
        self.broadcast = broadcast
        self.tokens = self._load()

    @staticmethod
    def _load() -> StoredTokens | None:
        try:
            return token_store.load()
        except SecretStoreError as exc:
            log.warning("cannot read the stored login: %s", exc)
            return None

    def message(self) -> dict:
        if self.tokens is None:
            return {"type": Event.TOKEN_CLEARED}
        return {"type": Event.TOKEN_UPDATE, **asdict(self.tokens)}

    def reload(self) -> None:
        """After a login elsewhere (CLI): read the store again and tell every proxy."""
        self.tokens = self._load()
        self.broadcast(self.message())

    def clear(self) -> None:
        """After a logout: every proxy drops the token, its identity and its cached approvals."""
        self.tokens = None
        self.broadcast({"type": Event.TOKEN_CLEARED})

    async def run(self) -> None:
        while True:
            await asyncio.sleep(CHECK_SECONDS)
            await self.renew_if_due()

    async def renew_if_due(self) -> None:
        tokens = self.tokens
        if tokens is None or not tokens.refresh_token or tokens.expires_in() > RENEW_BEFORE_SECONDS:
            return
        try:
            renewed = await asyncio.to_thread(self.client.refresh, tokens)
            await asyncio.to_thread(token_store.save, renewed)
        except (OidcError, SecretStoreError, OSError) as exc:
            log.warning("the login could not be renewed: %s", exc)
            return
        if self.tokens is tokens:  # not replaced by a login or logout meanwhile
            self.tokens = renewed
            self.broadcast(self.message())
