"""Checking an access token on every request (docs/auth.md#what-the-proxy-checks): signature against the issuer's JWKS,
then `iss`, `aud`, `exp`, `iat` and `sub`.

The parsed JWKS keys are cached (600 s) because fetching them per request would be slow; the
result of a check never is, so a revoked or expired token stops working at once. A token
signed with a key id the cache does not know makes one refetch (a rotated key), at most
every few seconds, so garbage tokens cannot make the proxy hammer the provider.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

import httpx

# PyJWT loads cryptography (~9 MB): it is imported where a token is checked, so proxies with
# a local identity never load it.
if TYPE_CHECKING:
    import jwt

ALGORITHMS = ["RS256", "ES256"]
JWKS_TTL = 600.0
MIN_REFETCH_INTERVAL = 5.0
LEEWAY = 30  # seconds of clock skew tolerated between the provider and this machine


class TokenInvalid(Exception):
    """The token is not acceptable; the message says why."""


class JwksUnavailable(TokenInvalid):
    """The provider's keys cannot be fetched and the cache is too old to trust."""


class JwksCache:
    def __init__(self, jwks_uri: str, clock=time.monotonic) -> None:
        self.jwks_uri = jwks_uri
        self._clock = clock
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._lock = threading.Lock()

    def _fetch(self) -> None:
        import jwt

        self._attempted_at = self._clock()
        try:
            response = httpx.get(self.jwks_uri, timeout=10)
            response.raise_for_status()
            keys = jwt.PyJWKSet.from_dict(response.json()).keys
        except (httpx.HTTPError, ValueError, jwt.PyJWKSetError) as exc:
            if self._fetched_at is None or self._clock() - self._fetched_at > JWKS_TTL:
                raise JwksUnavailable(
                    f"cannot fetch the identity provider's keys from {self.jwks_uri}: {exc}"
                ) from None
            return  # keep using keys that are still within their lifetime
        self._keys = {key.key_id: key for key in keys if key.key_id}
        self._fetched_at = self._clock()

    def fetch_due(self, kid: str | None) -> bool:
        """Would `key(kid)` ask the provider (a blocking HTTP call)? Never twice within a few
        seconds, whether the last attempt worked or not."""
        now = self._clock()
        if self._attempted_at is not None and now - self._attempted_at < MIN_REFETCH_INTERVAL:
            return False
        return self._fetched_at is None or now - self._fetched_at > JWKS_TTL or kid not in self._keys

    def key(self, kid: str | None) -> jwt.PyJWK:
        with self._lock:
            if self.fetch_due(kid):
                self._fetch()
            if self._fetched_at is None or self._clock() - self._fetched_at > JWKS_TTL:
                raise JwksUnavailable(
                    f"cannot fetch the identity provider's keys from {self.jwks_uri}; "
                    "check that the provider is reachable"
                )
            if kid not in self._keys:
                raise TokenInvalid(f"the token is signed with an unknown key (kid {kid!r})")
            return self._keys[kid]


class TokenChecker:
    def __init__(self, issuer: str, audience: str, jwks: JwksCache) -> None:
        self.issuer = issuer
        self.audience = audience
        self.jwks = jwks
        self._header: tuple[str | None, dict] = (None, {})

    def header(self, token: str) -> dict:
        """The token's (unverified) header. The same token comes with every request, so the last
        one parsed is kept: this is parsing, not trust; every check still verifies the signature."""
        cached = self._header  # read once: another thread (the gateway's) may replace it meanwhile
        if cached[0] != token:
            import jwt

            try:
                cached = (token, jwt.get_unverified_header(token))
            except jwt.PyJWTError as exc:
                raise TokenInvalid(f"the token is not a JWT: {exc}") from None
            self._header = cached
        return cached[1]

    def claims(self, token: str) -> dict:
        header = self.header(token)
        if header.get("alg") not in ALGORITHMS:
            raise TokenInvalid(
                f"the token uses algorithm {header.get('alg')!r}; only {', '.join(ALGORITHMS)} are accepted"
            )
        key = self.jwks.key(header.get("kid"))
        import jwt

        try:
            return jwt.decode(
                token,
                key,
                algorithms=ALGORITHMS,
                audience=self.audience,
                issuer=self.issuer,
                leeway=LEEWAY,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenInvalid("the token has expired") from None
        except jwt.InvalidAudienceError:
            raise TokenInvalid(f"the token is not for this audience (expected {self.audience!r})") from None
        except jwt.InvalidIssuerError:
            raise TokenInvalid(f"the token was not issued by {self.issuer!r}") from None
        except jwt.InvalidSignatureError:
            raise TokenInvalid("the token's signature does not verify") from None
        except jwt.PyJWTError as exc:
            raise TokenInvalid(f"the token is invalid: {exc}") from None
