"""The gateway as an OAuth 2.1 resource server (docs/gateway.md#what-the-gateway-checks): every
request carries a bearer token the configured issuer signed for this endpoint (RFC 8707), with
the scopes the configuration requires; anything else gets a challenge that tells the client
where to find the protected resource metadata (RFC 9728 §5.1) and what went wrong (RFC 6750 §3).

Framework-independent: the HTTP front turns a `Challenge` into a response. The JWT itself is
checked by identity/jwt_check.py (the same code as the STDIO proxy's OIDC login); this module
only parses the header, maps failures to statuses, and reads the subject and scopes.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from dataclasses import dataclass
from typing import Any

from mcp_acp.config.gateway import GatewayAuth
from mcp_acp.identity import oidc
from mcp_acp.identity.jwt_check import MIN_REFETCH_INTERVAL, JwksCache, JwksUnavailable, TokenChecker, TokenInvalid

# JSON-RPC codes of the bodies (the implementation-defined server range, -32000 to -32099).
UNAUTHORIZED = -32001
FORBIDDEN = -32003
AUTH_UNAVAILABLE = -32004

# RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_AUTHORIZATION = re.compile(r"([!#$%&'*+\-.^_`|~0-9A-Za-z]+)[ \t]+(\S+)[ \t]*")
MAX_DESCRIPTION = 200
RETRY_AFTER_UNAVAILABLE = "5"


def metadata_path(proxy: str) -> str:
    """Where a proxy's protected resource metadata lives: RFC 9728 §3.1 inserts the well-known
    segment before the resource's path (/mcp/<proxy>)."""
    return f"/.well-known/oauth-protected-resource/mcp/{proxy}"


def quoted_safe(text: str, limit: int = MAX_DESCRIPTION) -> str:
    """`text` as it may stand inside a quoted auth-param: RFC 6750 §3 allows only %x20-21 /
    %x23-5B / %x5D-7E in error_description and scope, so a quote or backslash is replaced (never
    escaped: some clients do not unescape) and anything else unprintable (CR, LF, non-ASCII) is
    dropped. Token-derived text (a kid, a library's message) can never split or extend the header."""
    cleaned = "".join("'" if char == '"' else "/" if char == "\\" else char for char in text if " " <= char <= "~")
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 3] + "..."


@dataclass(frozen=True)
class Principal:
    subject: str  # the token's sub
    claims: dict  # all verified claims
    scopes: frozenset[str]  # from "scope" (space-separated) or "scp" (a list)
    token_digest: str  # sha256 hex of the token, to bind sessions; the token itself is never kept or logged


class Challenge(Exception):
    """A refused request: `status` (401, 403 or 503), the headers to send (WWW-Authenticate for
    401/403) and a JSON-RPC error body without an id."""

    def __init__(self, status: int, headers: dict[str, str], code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers
        self.message = message
        self.body: dict[str, Any] = {"jsonrpc": "2.0", "error": {"code": code, "message": message}}


def token_scopes(claims: dict) -> frozenset[str]:
    """RFC 8693 `scope` (space-separated string) and the `scp` list some providers (Entra ID,
    Okta) use instead; both are read, and a malformed claim contributes nothing."""
    scopes: set[str] = set()
    scope = claims.get("scope")
    if isinstance(scope, str):
        scopes.update(scope.split())
    scp = claims.get("scp")
    if isinstance(scp, str):
        scopes.update(scp.split())
    elif isinstance(scp, list):
        scopes.update(item for item in scp if isinstance(item, str) and item)
    return frozenset(scopes)


def bearer_token(authorization: str | None) -> str | None:
    """The token of `Authorization: Bearer <token>` (scheme case-insensitive), or None for a
    missing or empty header. Raises ValueError for any other shape (never quoting the value)."""
    if authorization is None or not authorization.strip():
        return None
    match = _AUTHORIZATION.fullmatch(authorization.strip(" \t"))
    if match is None or match.group(1).lower() != "bearer":
        raise ValueError("the Authorization header must be 'Bearer <access token>'")
    if not _B64TOKEN.fullmatch(match.group(2)):
        raise ValueError("the bearer token contains characters a token cannot have (RFC 6750 section 2.1)")
    return match.group(2)


class ResourceServer:
    """One endpoint's token checks. Safe to call from several threads: the key cache has its own
    lock, and everything else here is read-only after the first discovery."""

    def __init__(
        self,
        auth: GatewayAuth,
        resource_url: str,
        metadata_url: str,
        checker: TokenChecker | None = None,
        resource_name: str = "mcp-acp gateway",
        clock=time.monotonic,
    ) -> None:
        self.auth = auth
        self.resource_url = resource_url
        self.metadata_url = metadata_url
        self.resource_name = resource_name
        # RFC 8707: a token minted for another endpoint (or for the STDIO proxy's `mcp-acp` API) is not ours.
        self.audience = auth.audience or resource_url
        self._clock = clock
        self._checker = checker
        if checker is None and auth.jwks_uri:
            self._checker = TokenChecker(auth.issuer, self.audience, JwksCache(auth.jwks_uri))
        self._discovery_lock = threading.Lock()
        self._discovery_failed_at: float | None = None
        self._discovery_error = ""

    # -- what the front serves and asks ------------------------------------------------------

    def metadata(self) -> dict:
        """RFC 9728 §2 protected resource metadata."""
        return {
            "resource": self.resource_url,
            "authorization_servers": [self.auth.issuer],
            "scopes_supported": list(self.auth.scopes_required),
            "bearer_methods_supported": ["header"],
            "resource_name": self.resource_name,
        }

    def fetch_due(self, authorization: str | None) -> bool:
        """Would `authenticate(authorization)` block on the network (discovery or a JWKS fetch, or
        waiting for one in flight)? Then the caller runs it in a thread, not on the event loop."""
        try:
            token = bearer_token(authorization)
        except ValueError:
            return False
        if token is None:
            return False
        checker = self._checker
        if checker is None:
            return not self._discovery_recently_failed() or self._discovery_lock.locked()
        try:
            kid = checker.header(token).get("kid")
        except TokenInvalid:
            return False
        return checker.jwks.fetch_due(kid) or checker.jwks._lock.locked()

    def authenticate(self, authorization: str | None) -> Principal:
        """The principal a request acts for; raises `Challenge` for anything short of a valid,
        sufficiently scoped token. Tokens are read from the Authorization header only (never a
        query string or a body: RFC 9700 §2.5, and they would end up in logs)."""
        try:
            token = bearer_token(authorization)
        except ValueError as exc:
            raise self._invalid_token(str(exc)) from None
        if token is None:
            raise Challenge(
                401,
                {"WWW-Authenticate": self.www_authenticate()},
                UNAUTHORIZED,
                f"this endpoint needs an OAuth access token from {self.auth.issuer}: send "
                "'Authorization: Bearer <token>' (the protected resource metadata at "
                f"{self.metadata_url} says how to get one)",
            )
        try:
            claims = self.checker().claims(token)
        except JwksUnavailable as exc:
            raise self._unavailable(str(exc)) from None
        except TokenInvalid as exc:
            raise self._invalid_token(str(exc)) from None
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise self._invalid_token("the token's 'sub' claim is not a non-empty string")
        scopes = token_scopes(claims)
        missing = [scope for scope in self.auth.scopes_required if scope not in scopes]
        if missing:
            required = " ".join(self.auth.scopes_required)
            raise Challenge(
                403,
                {
                    "WWW-Authenticate": self.www_authenticate(
                        "insufficient_scope", f"the token lacks the scope(s) {' '.join(missing)}", scope=required
                    )
                },
                FORBIDDEN,
                f"the access token lacks the scope(s) {' '.join(missing)}; ask {self.auth.issuer} for a token "
                f"with scope {required!r}",
            )
        return Principal(subject, claims, scopes, hashlib.sha256(token.encode()).hexdigest())

    # -- the token checker, with the keys' address from discovery when not configured ------

    def checker(self) -> TokenChecker:
        if self._checker is not None:
            return self._checker
        with self._discovery_lock:
            if self._checker is not None:
                return self._checker
            # A provider that is down is not asked again per request (no hammering, no stall).
            if self._discovery_recently_failed():
                raise JwksUnavailable(self._discovery_error)
            try:
                document = oidc.discover(self.auth.issuer)
                jwks_uri = document.get("jwks_uri")
                if not isinstance(jwks_uri, str) or not jwks_uri:
                    raise oidc.OidcError(f"the discovery document of {self.auth.issuer} names no jwks_uri")
            except oidc.OidcError as exc:
                self._discovery_failed_at = self._clock()
                self._discovery_error = str(exc)
                raise JwksUnavailable(str(exc)) from None
            self._checker = TokenChecker(self.auth.issuer, self.audience, JwksCache(jwks_uri))
            return self._checker

    def _discovery_recently_failed(self) -> bool:
        failed = self._discovery_failed_at
        return failed is not None and self._clock() - failed < MIN_REFETCH_INTERVAL

    # -- challenges ----------------------------------------------------------------------------

    def www_authenticate(
        self, error: str | None = None, description: str | None = None, scope: str | None = None
    ) -> str:
        """RFC 6750 §3 with RFC 9728 §5.1's resource_metadata; every value is made quote-safe."""
        params = [f'resource_metadata="{quoted_safe(self.metadata_url, 2048)}"']
        if error:
            params.append(f'error="{quoted_safe(error)}"')
        if description:
            params.append(f'error_description="{quoted_safe(description)}"')
        if scope:
            params.append(f'scope="{quoted_safe(scope, 2048)}"')
        return "Bearer " + ", ".join(params)

    def revoked(self, reason: str) -> Challenge:
        """A valid token that was revoked (a logout, an administrator): 401 invalid_token."""
        return self._invalid_token(reason)

    def _invalid_token(self, reason: str) -> Challenge:
        return Challenge(
            401,
            {"WWW-Authenticate": self.www_authenticate("invalid_token", reason)},
            UNAUTHORIZED,
            f"the access token was refused: {reason}. Get a new token from {self.auth.issuer} for "
            f"the resource {self.audience}",
        )

    def _unavailable(self, reason: str) -> Challenge:
        # Fail closed: without the issuer's keys no token can be verified, so nobody gets in.
        return Challenge(
            503,
            {"Retry-After": RETRY_AFTER_UNAVAILABLE},
            AUTH_UNAVAILABLE,
            f"the gateway cannot verify access tokens right now ({reason}); try again later",
        )
