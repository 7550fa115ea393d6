"""The proxy's own MRTR `requestState` (docs/approvals.md#modern-clients-the-link-in-the-answer): a
signed claim that says "this client was asked to have a human approve exactly this call".

The client echoes it back on its retry; the spec makes it attacker-controlled input, so every
claim that matters is inside the signature (HMAC-SHA256, stdlib `hmac`, a per-proxy key kept in
the secret store): who asked, on which proxy, which method and tool, a digest of everything the
call would do, the policy version, an expiry and a nonce. Each state is good once: its nonce is
remembered until it expires. The token is signed, not encrypted: it holds nothing secret (ids and
a digest), and the client must not depend on its contents anyway.

Wire form: `mcpacp1.<base64url(JSON claims)>.<base64url(HMAC)>`; the prefix marks the state as
the proxy's (any other `requestState` is the backend's and is passed on untouched).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import orjson

from mcp_acp import secret_store

PREFIX = "mcpacp1."
KEY_BYTES = 32
MAX_TOKEN_CHARS = 4096  # a state of ours is a few hundred characters; anything longer is not ours
# The params of a request that are not what it does: the MRTR carriers themselves and _meta.
UNBOUND_PARAMS = frozenset({"_meta", "requestState", "inputResponses"})

# Why a state was refused: the reason the client is told and the audit trail records.
MALFORMED = "malformed"
BAD_SIGNATURE = "bad_signature"
EXPIRED = "expired"
REPLAYED = "replayed"
OTHER_PRINCIPAL = "other_principal"
OTHER_PROXY = "other_proxy"
OTHER_REQUEST = "other_request"  # another method, tool or arguments
POLICY_CHANGED = "policy_changed"

EXPLANATIONS = {
    MALFORMED: "it is not a state this proxy issued",
    BAD_SIGNATURE: "its signature does not match (it was altered, or issued by another key)",
    EXPIRED: "it has expired",
    REPLAYED: "it was used already (each state is good for one retry)",
    OTHER_PRINCIPAL: "it was issued to another user",
    OTHER_PROXY: "it was issued by another proxy",
    OTHER_REQUEST: "it was issued for another call (other method, tool or arguments)",
    POLICY_CHANGED: "the policy changed since it was issued",
}


class InvalidRequestState(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(f"{reason}: {EXPLANATIONS.get(reason, reason)}")
        self.reason = reason

    @property
    def explanation(self) -> str:
        return EXPLANATIONS.get(self.reason, self.reason)


@dataclass(frozen=True, slots=True)
class Binding:
    """What a state is bound to: the call it was issued for, computed the same way on the retry."""

    principal: str
    proxy: str
    method: str
    tool: str | None
    digest: str  # request_digest(params)
    policy_version: str | None


@dataclass(frozen=True, slots=True)
class Claims:
    binding: Binding
    approval_id: str
    expires_at: float  # unix time
    nonce: str


def request_digest(params: dict | None) -> str:
    """sha256 of what the request does: its params without _meta and the MRTR carriers, as
    canonical JSON. The same call retried gives the same digest; other arguments give another."""
    salient = {k: v for k, v in (params or {}).items() if k not in UNBOUND_PARAMS}
    try:
        canonical = orjson.dumps(salient, option=orjson.OPT_SORT_KEYS)
    except (orjson.JSONEncodeError, TypeError):  # deeper than orjson goes, or an integer beyond 64 bits
        canonical = json.dumps(salient, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
            "utf-8", "surrogatepass"
        )
    return hashlib.sha256(canonical).hexdigest()


def is_ours(state: object) -> bool:
    return isinstance(state, str) and state.startswith(PREFIX)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    if not text or not all(c.isascii() and (c.isalnum() or c in "-_") for c in text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class RequestStateCodec:
    """Issues and checks states with one key. `clock` is unix time (tests move it)."""

    def __init__(self, key: bytes, clock: Callable[[], float] = time.time) -> None:
        if len(key) < KEY_BYTES:
            raise ValueError("the request-state key must be at least 32 bytes")
        self._key = key
        self._clock = clock

    def _sign(self, signed_part: str) -> bytes:
        return hmac.new(self._key, signed_part.encode("ascii"), hashlib.sha256).digest()

    def issue(self, binding: Binding, approval_id: str, ttl_seconds: float) -> tuple[str, Claims]:
        claims = Claims(binding, approval_id, self._clock() + ttl_seconds, secrets.token_urlsafe(16))
        body = {"b": asdict(binding), "a": approval_id, "exp": claims.expires_at, "n": claims.nonce}
        signed_part = PREFIX + _b64(orjson.dumps(body, option=orjson.OPT_SORT_KEYS))
        return f"{signed_part}.{_b64(self._sign(signed_part))}", claims

    def open(self, token: object) -> Claims:
        """The claims of an authentic, unexpired state; InvalidRequestState otherwise. The
        signature is checked before anything inside is read."""
        if (
            not isinstance(token, str)
            or not token.startswith(PREFIX)
            or len(token) > MAX_TOKEN_CHARS
            or not token.isascii()  # the proxy writes base64url only
        ):
            raise InvalidRequestState(MALFORMED)
        signed_part, dot, signature = token.rpartition(".")
        if not dot or signed_part.count(".") != 1:
            raise InvalidRequestState(MALFORMED)
        # Compared as text, in constant time: base64 has several spellings of one tag, and only
        # the one this proxy wrote is accepted.
        expected = _b64(self._sign(signed_part))
        if not hmac.compare_digest(signature.encode("ascii"), expected.encode("ascii")):
            raise InvalidRequestState(BAD_SIGNATURE)
        try:
            body = orjson.loads(_unb64(signed_part[len(PREFIX) :]))
            claims = Claims(Binding(**body["b"]), str(body["a"]), float(body["exp"]), str(body["n"]))
        except (ValueError, binascii.Error, KeyError, TypeError, orjson.JSONDecodeError):
            raise InvalidRequestState(MALFORMED) from None  # signed by us, yet unreadable: never trust it
        if self._clock() >= claims.expires_at:
            raise InvalidRequestState(EXPIRED)
        return claims

    def check(self, token: object, expected: Binding) -> Claims:
        """open(), then the binding: the retry must be the very call, by the very principal, on
        this proxy, under this policy."""
        claims = self.open(token)
        found = claims.binding
        if not hmac.compare_digest(found.principal, expected.principal):
            raise InvalidRequestState(OTHER_PRINCIPAL)
        if found.proxy != expected.proxy:
            raise InvalidRequestState(OTHER_PROXY)
        if (found.method, found.tool, found.digest) != (expected.method, expected.tool, expected.digest):
            raise InvalidRequestState(OTHER_REQUEST)
        if found.policy_version != expected.policy_version:
            raise InvalidRequestState(POLICY_CHANGED)
        return claims


class NonceBook:
    """Nonces seen, each kept until its state expires: a state is accepted once."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._seen: dict[str, float] = {}

    def consume(self, claims: Claims) -> None:
        now = self._clock()
        for nonce in [n for n, expiry in self._seen.items() if expiry <= now]:
            del self._seen[nonce]
        if claims.nonce in self._seen:
            raise InvalidRequestState(REPLAYED)
        self._seen[claims.nonce] = claims.expires_at

    def __len__(self) -> int:
        return len(self._seen)


def secret_name(proxy_id: str) -> str:
    return f"request-state-hmac:{proxy_id}"


def load_or_create_key(proxy_id: str) -> bytes:
    """The proxy's request-state key from the secret store, created there on first use. Blocking
    (a keychain or a locked file): call it off the event loop."""
    raw = secret_store.get(secret_name(proxy_id))
    if raw is not None:
        key = base64.b64decode(raw)
        if len(key) >= KEY_BYTES:
            return key
    key = secrets.token_bytes(KEY_BYTES)
    secret_store.put(secret_name(proxy_id), base64.b64encode(key).decode("ascii"))
    return key
