"""The gateway's OAuth resource server against the real test OIDC provider (a separate process
that signs real tokens and serves a real JWKS): which tokens get in, and what a refused client
is told (RFC 6750 §3, RFC 9728 §5.1)."""

from __future__ import annotations

import hashlib
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from oidc_provider import DEFAULT_AUDIENCE, OidcProvider, free_port

from mcp_acp.config.gateway import GatewayAuth
from mcp_acp.gateway.resource_server import (
    Challenge,
    Principal,
    ResourceServer,
    bearer_token,
    metadata_path,
    quoted_safe,
    token_scopes,
)

RESOURCE = "http://127.0.0.1:8770/mcp/files"
METADATA = "http://127.0.0.1:8770" + metadata_path("files")

# RFC 7235 §2.1 / RFC 9110 §11: auth-param = token BWS "=" BWS ( token / quoted-string )
_PARAM = re.compile(r'\s*([!#$%&\'*+\-.^_`|~0-9A-Za-z]+)="((?:[^"\\]|\\.)*)"\s*(,|$)')


def parse_challenge(value: str) -> dict[str, str]:
    """A strict reader of `Bearer k="v", ...`: fails on anything it does not fully consume."""
    assert value.startswith("Bearer "), value
    rest, params = value[len("Bearer ") :], {}
    while rest:
        match = _PARAM.match(rest)
        assert match, f"unparseable challenge: {value!r}"
        params[match.group(1)] = match.group(2)
        rest = rest[match.end() :]
    return params


@pytest.fixture(scope="module")
def idp():
    with OidcProvider() as provider:
        yield provider


def server(idp: OidcProvider, *, scopes: list[str] | None = None, jwks: bool = True, **auth) -> ResourceServer:
    config = GatewayAuth(issuer=idp.url, jwks_uri=idp.jwks_uri if jwks else None, scopes_required=scopes or [], **auth)
    return ResourceServer(config, RESOURCE, METADATA, resource_name="files")


def refused(rs: ResourceServer, authorization: str | None) -> Challenge:
    with pytest.raises(Challenge) as caught:
        rs.authenticate(authorization)
    return caught.value


def test_a_good_token_gives_its_principal(idp):
    rs = server(idp)
    token = idp.mint("alice", aud=RESOURCE, scope="mcp:tools files:read")
    assert rs.fetch_due(f"Bearer {token}")  # first use: the keys must be fetched
    principal = rs.authenticate(f"Bearer {token}")
    assert isinstance(principal, Principal)
    assert principal.subject == "alice"
    assert principal.claims["aud"] == RESOURCE and principal.claims["iss"] == idp.url
    assert principal.scopes == {"mcp:tools", "files:read"}
    assert principal.token_digest == hashlib.sha256(token.encode()).hexdigest()
    assert token not in repr(principal)
    assert not rs.fetch_due(f"Bearer {token}")  # the keys are cached now
    # The scheme is case-insensitive (RFC 9110 §11.1).
    assert rs.authenticate(f"bearer {token}").subject == "alice"
    assert rs.authenticate(f"BEARER   {token}").subject == "alice"


def test_the_jwks_uri_comes_from_discovery_when_not_configured(idp):
    rs = server(idp, jwks=False)
    token = idp.mint("bob", aud=RESOURCE)
    assert rs.fetch_due(f"Bearer {token}")
    assert rs.authenticate(f"Bearer {token}").subject == "bob"
    assert not rs.fetch_due(f"Bearer {token}")


def test_es256_tokens_are_accepted(idp):
    assert server(idp).authenticate(f"Bearer {idp.mint('carol', aud=RESOURCE, alg='ES256')}").subject == "carol"


@pytest.mark.parametrize("authorization", [None, "", "   "])
def test_no_token_is_a_bare_401_pointing_at_the_metadata(idp, authorization):
    challenge = refused(server(idp), authorization)
    assert challenge.status == 401
    params = parse_challenge(challenge.headers["WWW-Authenticate"])
    assert params == {"resource_metadata": METADATA}  # RFC 6750 §3.1: no error code without credentials
    assert challenge.body["jsonrpc"] == "2.0" and "id" not in challenge.body
    assert "Authorization: Bearer" in challenge.body["error"]["message"]


@pytest.mark.parametrize(
    "authorization",
    ["Basic YWxpY2U6c2VjcmV0", "Token abc", "Bearer", "Bearer a b", "Bearerabc", 'Bearer "abc"', "Bearer ab\x00c"],
)
def test_another_scheme_or_a_malformed_header_is_invalid_token(idp, authorization):
    challenge = refused(server(idp), authorization)
    assert challenge.status == 401
    params = parse_challenge(challenge.headers["WWW-Authenticate"])
    assert params["error"] == "invalid_token" and params["resource_metadata"] == METADATA
    assert "Bearer <access token>" in params["error_description"] or "characters" in params["error_description"]
    assert "YWxpY2U6c2VjcmV0" not in challenge.headers["WWW-Authenticate"]  # the header is never echoed


def _invalid(idp, token: str, rs: ResourceServer | None = None) -> dict[str, str]:
    challenge = refused(rs or server(idp), f"Bearer {token}")
    assert challenge.status == 401, challenge.body
    params = parse_challenge(challenge.headers["WWW-Authenticate"])
    assert params["error"] == "invalid_token" and params["resource_metadata"] == METADATA
    assert params["error_description"] in quoted_safe(challenge.body["error"]["message"], 10_000)
    return params


def test_an_expired_token_is_refused(idp):
    assert "expired" in _invalid(idp, idp.mint("alice", aud=RESOURCE, expired=True))["error_description"]


@pytest.mark.parametrize(
    "audience", [DEFAULT_AUDIENCE, "http://127.0.0.1:8770/mcp/other", "http://evil.example/mcp/files"]
)
def test_a_token_for_another_audience_is_refused(idp, audience):
    # The provider's default `mcp-acp` audience is the STDIO proxy's API, not this endpoint (RFC 8707).
    assert "audience" in _invalid(idp, idp.mint("alice", aud=audience))["error_description"]


def test_the_provider_default_token_is_refused(idp):
    assert "audience" in _invalid(idp, idp.mint("alice"))["error_description"]


def test_a_configured_audience_replaces_the_resource_url(idp):
    rs = server(idp, audience="https://api.example/mcp")
    assert rs.authenticate(f"Bearer {idp.mint('alice', aud='https://api.example/mcp')}").subject == "alice"
    assert "audience" in _invalid(idp, idp.mint("alice", aud=RESOURCE), rs)["error_description"]


def test_a_token_from_another_issuer_is_refused(idp):
    assert "issued" in _invalid(idp, idp.mint("alice", aud=RESOURCE, iss="http://127.0.0.1:1"))["error_description"]


def test_alg_none_is_refused(idp):
    assert "'none'" in _invalid(idp, idp.mint("alice", aud=RESOURCE, alg="none"))["error_description"]


def test_a_token_signed_by_a_foreign_key_is_refused(idp):
    assert "signature" in _invalid(idp, idp.mint("alice", aud=RESOURCE, foreign_key=True))["error_description"]


def test_an_unknown_key_id_is_refused_without_breaking_the_header(idp):
    # The kid is the attacker's text; it reaches the description only made quote-safe.
    params = _invalid(idp, idp.mint("alice", aud=RESOURCE, kid='evil"\\, error="none'))
    assert "unknown key" in params["error_description"]
    assert params["error"] == "invalid_token"


def test_a_token_without_sub_is_refused(idp):
    assert "sub" in _invalid(idp, idp.mint(None, aud=RESOURCE))["error_description"]


def test_garbage_is_refused(idp):
    assert "not a JWT" in _invalid(idp, "abc.def.ghi")["error_description"]


def test_missing_scopes_are_a_403_naming_the_required_scope(idp):
    rs = server(idp, scopes=["mcp:tools", "files:read"])
    challenge = refused(rs, f"Bearer {idp.mint('alice', aud=RESOURCE, scope='mcp:tools')}")
    assert challenge.status == 403
    params = parse_challenge(challenge.headers["WWW-Authenticate"])
    assert params["error"] == "insufficient_scope"
    assert params["scope"] == "mcp:tools files:read"
    assert params["resource_metadata"] == METADATA
    assert "files:read" in challenge.body["error"]["message"]
    # With every scope (here in Entra's `scp` list form) the same server lets the token in.
    token = idp.mint("alice", aud=RESOURCE, scope=None, scp=["mcp:tools", "files:read"])
    assert rs.authenticate(f"Bearer {token}").scopes == {"mcp:tools", "files:read"}


def test_metadata_is_rfc_9728(idp):
    rs = server(idp, scopes=["mcp:tools"])
    assert rs.metadata() == {
        "resource": RESOURCE,
        "authorization_servers": [idp.url],
        "scopes_supported": ["mcp:tools"],
        "bearer_methods_supported": ["header"],
        "resource_name": "files",
    }
    assert metadata_path("files") == "/.well-known/oauth-protected-resource/mcp/files"


def test_a_provider_that_is_down_fails_closed():
    port = free_port()
    with OidcProvider(port=port) as provider:
        token = provider.mint("alice", aud=RESOURCE)
    # The provider is gone: no keys were ever fetched, so nothing can be verified.
    for jwks in (True, False):
        rs = server(provider, jwks=jwks)
        challenge = refused(rs, f"Bearer {token}")
        assert challenge.status == 503
        assert "cannot verify" in challenge.body["error"]["message"]
        assert challenge.headers.get("Retry-After")
        # Discovery is not retried at once: the next request fails without waiting on the network.
        assert not rs.fetch_due(f"Bearer {token}")
        assert refused(rs, f"Bearer {token}").status == 503


def test_tokens_are_read_from_the_header_only():
    # There is no other way in: authenticate() takes the Authorization header and nothing else.
    assert bearer_token(None) is None
    assert bearer_token("Bearer abc.def-ghi_~+/==") == "abc.def-ghi_~+/=="
    with pytest.raises(ValueError):
        bearer_token("access_token=abc")


def test_scopes_read_both_claim_forms():
    assert token_scopes({"scope": "a b  c"}) == {"a", "b", "c"}
    assert token_scopes({"scp": ["a", 3, ""], "scope": "b"}) == {"a", "b"}
    assert token_scopes({"scp": "x y"}) == {"x", "y"}
    assert token_scopes({"scope": 7}) == frozenset()


# --- property tests: nothing a token or header carries can break the challenge ----------


@given(st.text())
def test_quoted_safe_never_lets_a_quote_a_backslash_or_a_control_through(text):
    safe = quoted_safe(text)
    assert '"' not in safe and "\\" not in safe
    assert all(" " <= char <= "~" for char in safe)
    assert len(safe) <= 200


@given(description=st.text(), scope=st.text(), error=st.sampled_from(["invalid_token", "insufficient_scope"]))
def test_www_authenticate_always_parses(description, scope, error):
    rs = ResourceServer(GatewayAuth(issuer="https://idp.example"), RESOURCE, METADATA)
    value = rs.www_authenticate(error, description, scope=scope)
    assert "\r" not in value and "\n" not in value
    params = parse_challenge(value)
    assert params["resource_metadata"] == METADATA and params["error"] == error


@given(st.text())
def test_any_authorization_header_gets_a_well_formed_challenge_or_a_token(authorization):
    rs = ResourceServer(
        GatewayAuth(issuer="https://idp.example", jwks_uri="http://127.0.0.1:1/jwks"), RESOURCE, METADATA
    )
    try:
        token = bearer_token(authorization)
    except ValueError:
        token = None
        with pytest.raises(Challenge) as caught:
            rs.authenticate(authorization)
        header = caught.value.headers["WWW-Authenticate"]
        assert "\r" not in header and "\n" not in header
        assert parse_challenge(header)["error"] == "invalid_token"
    if token is not None:
        assert re.fullmatch(r"[A-Za-z0-9\-._~+/]+=*", token)
