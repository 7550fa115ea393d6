"""Who is asking, on every request.

Local mode: the OS user, unauthenticated single-user mode. OIDC mode: the stored access token
is verified on every request (signature, issuer, audience, expiry); nothing about the result is
cached, so a logout or an expired token takes effect on the very next request. The token itself
is kept in memory, reloaded when the CLI says a login or logout happened; it is renewed with
the refresh token shortly before it expires.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from mcp_acp.config.models import OIDCConfig
from mcp_acp.identity import tokens as token_store
from mcp_acp.identity.jwt_check import JwksCache, JwksUnavailable, TokenChecker, TokenInvalid
from mcp_acp.identity.local import Identity, local_identity
from mcp_acp.identity.oidc import OidcClient, OidcError
from mcp_acp.identity.tokens import StoredTokens
from mcp_acp.secret_store import SecretStoreError

log = logging.getLogger(__name__)

NOT_AUTHENTICATED = "Not authenticated. Run 'mcp-acp auth login'"
RACE_WAIT = 1.0  # seconds a refused renewal waits for another proxy's renewed token to be stored


class AuthenticationError(Exception):
    """No usable identity: the message tells the user what to do."""


class IdentityUnverifiable(AuthenticationError):
    """The provider's keys cannot be had: nobody's token can be checked (exit 12 at start)."""


class NeedsRefresh(Exception):
    """The token is about to expire: renew it (async) before deciding."""


class LocalIdentities:
    """Single-user mode: always the OS user; nothing to verify or renew."""

    mode = "local"

    def __init__(self, identity: Identity | None = None) -> None:
        self.identity = identity or local_identity()

    def current(self) -> Identity:
        return self.identity

    def fetch_due(self) -> bool:
        return False

    def fetch_keys(self) -> None:
        return None

    async def refresh(self) -> None:
        return None


class OidcIdentities:
    mode = "oidc"

    def __init__(
        self,
        settings: OIDCConfig,
        client: OidcClient | None = None,
        on_auth_event: Callable[[dict], None] | None = None,
    ) -> None:
        self.settings = settings
        self.client = client or OidcClient(settings)
        self.checker = TokenChecker(settings.issuer, settings.audience, JwksCache(self.client.document["jwks_uri"]))
        self.on_auth_event = on_auth_event or (lambda event: None)
        self.tokens = token_store.load()
        self._refresh_lock = asyncio.Lock()
        self._last_failure: str | None = None
        self.managed = False  # True while the manager hands out the tokens

    def current(self) -> Identity:
        tokens = self.tokens
        if tokens is None:
            raise AuthenticationError(NOT_AUTHENTICATED)
        if self._due():
            raise NeedsRefresh
        try:
            claims = self.checker.claims(tokens.access_token)
        except JwksUnavailable as exc:
            raise IdentityUnverifiable(f"cannot verify your identity: {exc}") from None
        except TokenInvalid as exc:
            self._auth_failed("token_invalid", str(exc))
            raise AuthenticationError(f"{NOT_AUTHENTICATED} again: {exc}") from None
        self._last_failure = None
        return Identity(claims["sub"], "token", claims)

    def _kid(self) -> str | None:
        try:
            return self.checker.header(self.tokens.access_token).get("kid") if self.tokens else None
        except TokenInvalid:
            return None  # current() rejects the token without any fetch

    def fetch_due(self) -> bool:
        """Would checking the token now fetch the provider's keys? Then that is done off the event loop."""
        return self.tokens is not None and self.checker.jwks.fetch_due(self._kid())

    def fetch_keys(self) -> None:
        """Fetch the keys the token needs (blocking); a failure shows in the check that follows."""
        with contextlib.suppress(TokenInvalid):
            self.checker.jwks.key(self._kid())

    def _due(self) -> bool:
        return not self.managed and _renewal_due(self.tokens)

    def renew(self) -> None:
        """Renew the token with the refresh token (blocking: the provider is asked over HTTP).

        The provider rotates refresh tokens, and every proxy of this user renews the same stored
        login: so the store is read first (another proxy may have renewed already, or the user
        signed out), and a refusal is checked against the store again (another proxy may have
        won the race with the same refresh token) before the session is given up."""
        stored = self._stored()
        if stored is None:  # signed out meanwhile: never bring a deleted login back to life
            self.tokens = None
            self._auth_failed("token_refresh_failed", f"the stored tokens are gone (signed out); {NOT_AUTHENTICATED}")
            raise AuthenticationError(NOT_AUTHENTICATED)
        if stored != self.tokens:
            self.tokens = stored  # renewed by another process, or a new login
            if not _renewal_due(stored):
                return
        assert self.tokens is not None  # the stored tokens, which exist
        try:
            renewed = self.client.refresh(self.tokens)
        except OidcError as exc:
            if self._renewed_elsewhere():
                return
            self.tokens = None  # fail closed until the user logs in again
            self._auth_failed("token_refresh_failed", str(exc))
            raise AuthenticationError(str(exc)) from None
        try:
            token_store.save(renewed)
        except SecretStoreError as exc:  # this proxy goes on; others will need a new login
            log.warning("the renewed token could not be stored: %s", exc)
        self.tokens = renewed
        self.on_auth_event(
            {
                "event_type": "token_refreshed",
                "status": "success",
                "message": "access token renewed with the refresh token",
            }
        )

    async def refresh(self) -> None:
        async with self._refresh_lock:
            if self._due():  # else another request renewed it meanwhile, or a logout cleared it
                await asyncio.to_thread(self.renew)

    def _renewed_elsewhere(self, wait: float = RACE_WAIT) -> bool:
        """After a refused renewal: did another process win the race with the same refresh token?
        Its new token may be a moment away from the store, so look for up to `wait` seconds."""
        deadline = time.monotonic() + wait
        while True:
            latest = self._stored(quiet=True)
            if latest is not None and latest != self.tokens and not _renewal_due(latest):
                self.tokens = latest
                return True
            if latest != self.tokens or time.monotonic() >= deadline:
                return False
            time.sleep(0.1)

    def _stored(self, quiet: bool = False) -> StoredTokens | None:
        try:
            return token_store.load()
        except SecretStoreError as exc:
            if quiet:
                return None
            self.tokens = None
            self._auth_failed("token_refresh_failed", f"cannot read the stored tokens: {exc}")
            raise AuthenticationError(f"cannot read the stored tokens: {exc}") from None

    def use_manager_tokens(self, tokens: StoredTokens | None) -> None:
        """The manager renews the login for every proxy (docs/manager.md#what-the-manager-knows): its token replaces ours, and
        while it manages them this proxy does not renew on its own. None: the user logged out."""
        self.tokens = tokens
        self.managed = True

    def reload(self) -> None:
        """The CLI logged in or out: read the stored token again (unreadable: nobody is signed in)."""
        try:
            self.tokens = token_store.load()
        except SecretStoreError as exc:
            self.tokens = None
            self._auth_failed("token_invalid", f"cannot read the stored tokens: {exc}")

    def _auth_failed(self, event_type: str, message: str) -> None:
        if message != self._last_failure:  # one entry per distinct failure, not one per request
            self._last_failure = message
            self.on_auth_event({"event_type": event_type, "status": "failure", "message": message})
            log.warning("authentication: %s", message)


def _renewal_due(tokens: StoredTokens | None) -> bool:
    """Renew when less than min(60 s, a quarter of the token's lifetime) remains."""
    if tokens is None or not tokens.refresh_token:
        return False
    return tokens.expires_in() < min(60.0, max(tokens.expires_at - tokens.issued_at, 1.0) / 4)


def startup_identity(identities) -> Identity:
    """The identity a session is bound to, renewing the token first if it is about to expire."""
    try:
        return identities.current()
    except NeedsRefresh:
        identities.renew()
        return identities.current()
