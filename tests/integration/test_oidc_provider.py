"""The test OIDC provider (tests/fixtures/oidc_provider.py) behaves like a real one.

Other suites trust this fixture to play Auth0 for the product (docs/auth.md), so here it is driven
by hand with a plain httpx client -- no product code -- and its tokens are checked with pyjwt
against its own JWKS, the way a resource server would.
"""

from __future__ import annotations

import time

import httpx
import jwt
import pytest
from oidc_provider import DEVICE_GRANT, OidcProvider

AUDIENCE = "mcp-acp-test-api"
CLIENT_ID = "mcp-acp-test-cli"
INTERVAL = 1  # seconds; short so the polling tests stay quick


@pytest.fixture
def idp(tmp_path):
    with OidcProvider(
        audience=AUDIENCE, client_id=CLIENT_ID, interval=INTERVAL, state_dir=tmp_path / "idp"
    ) as provider:
        yield provider


# --- a hand-rolled client: exactly what the product must send --------------------------------


def start_login(idp: OidcProvider, **extra: str) -> dict:
    response = httpx.post(
        idp.discovery()["device_authorization_endpoint"],
        data={"client_id": CLIENT_ID, "scope": "openid profile offline_access", "audience": AUDIENCE, **extra},
    )
    assert response.status_code == 200, response.text
    return response.json()


def poll(idp: OidcProvider, device_code: str) -> httpx.Response:
    return httpx.post(
        f"{idp.url}/oauth/token", data={"grant_type": DEVICE_GRANT, "device_code": device_code, "client_id": CLIENT_ID}
    )


def refresh(idp: OidcProvider, refresh_token: str) -> httpx.Response:
    return httpx.post(
        f"{idp.url}/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": CLIENT_ID},
    )


def login(idp: OidcProvider, sub: str = "alice") -> dict:
    """The whole device flow with the user approving at once; returns the token response."""
    code = start_login(idp)
    idp.approve(code["user_code"], sub)
    response = poll(idp, code["device_code"])
    assert response.status_code == 200, response.text
    return response.json()


def error_of(response: httpx.Response) -> str:
    assert response.status_code == 400, response.text
    return response.json()["error"]


def verify(idp: OidcProvider, token: str, audience: str = AUDIENCE) -> dict:
    """Validate like a resource server: key by kid from the JWKS, then signature and claims."""
    keys = {key.key_id: key for key in jwt.PyJWKSet.from_dict(idp.jwks()).keys}
    kid = jwt.get_unverified_header(token).get("kid")
    if kid not in keys:
        raise jwt.InvalidKeyError(f"kid {kid!r} is not in the JWKS")
    return jwt.decode(
        token,
        keys[kid],
        algorithms=["RS256", "ES256"],
        audience=audience,
        issuer=idp.url,
        options={"require": ["exp", "iat", "sub", "iss", "aud"]},
    )


# --- discovery -----------------------------------------------------------------------------


def test_discovery_document_names_this_issuer_and_the_device_grant(idp):
    document = idp.discovery()
    assert document["issuer"] == idp.url == f"http://127.0.0.1:{idp.port}"
    assert document["jwks_uri"] == f"{idp.url}/.well-known/jwks.json"
    for endpoint in ("device_authorization_endpoint", "token_endpoint", "end_session_endpoint"):
        assert document[endpoint].startswith(idp.url)
    assert {DEVICE_GRANT, "refresh_token"} <= set(document["grant_types_supported"])
    assert {"RS256", "ES256"} <= set(document["id_token_signing_alg_values_supported"])
    assert httpx.get(document["end_session_endpoint"]).status_code == 200


# --- the device flow -----------------------------------------------------------------------


def test_device_flow_pending_then_approved_yields_valid_tokens(idp):
    code = start_login(idp)
    assert code["interval"] == INTERVAL and code["expires_in"] > 0
    assert code["verification_uri"].startswith(idp.url)
    assert code["user_code"] in code["verification_uri_complete"]
    # The page a user would open shows the code to confirm.
    assert code["user_code"] in httpx.get(code["verification_uri_complete"]).text

    assert error_of(poll(idp, code["device_code"])) == "authorization_pending"
    idp.approve(code["user_code"], "alice")
    time.sleep(INTERVAL + 0.1)
    response = poll(idp, code["device_code"])

    assert response.status_code == 200, response.text
    tokens = response.json()
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] == 3600
    assert tokens["refresh_token"]
    claims = verify(idp, tokens["access_token"])
    assert claims["sub"] == "alice" and claims["azp"] == CLIENT_ID
    assert claims["scope"] == "openid profile offline_access"
    assert claims["exp"] - claims["iat"] == 3600
    assert verify(idp, tokens["id_token"], audience=CLIENT_ID)["sub"] == "alice"
    # A device code buys exactly one set of tokens.
    assert error_of(poll(idp, code["device_code"])) == "invalid_grant"


def test_approving_through_the_html_page_works_too(idp):
    code = start_login(idp)
    page = httpx.post(
        code["verification_uri"], data={"user_code": code["user_code"], "sub": "carol", "action": "approve"}
    )
    assert page.status_code == 200 and "approved" in page.text
    response = poll(idp, code["device_code"])
    assert response.status_code == 200, response.text
    assert verify(idp, response.json()["access_token"])["sub"] == "carol"


def test_polling_faster_than_the_interval_gets_slow_down_and_a_longer_interval(idp):
    code = start_login(idp)
    assert error_of(poll(idp, code["device_code"])) == "authorization_pending"
    assert error_of(poll(idp, code["device_code"])) == "slow_down"
    # The interval is now INTERVAL + 5 for good: waiting the old interval is still too fast.
    time.sleep(INTERVAL + 0.2)
    assert error_of(poll(idp, code["device_code"])) == "slow_down"
    assert idp.stats()["token_results"] == {"authorization_pending": 1, "slow_down": 2}


def test_polling_at_the_interval_never_gets_slow_down(idp):
    code = start_login(idp)
    for _ in range(3):
        assert error_of(poll(idp, code["device_code"])) == "authorization_pending"
        time.sleep(INTERVAL + 0.05)


def test_denied_login_gets_access_denied(idp):
    code = start_login(idp)
    idp.deny(code["user_code"])
    assert error_of(poll(idp, code["device_code"])) == "access_denied"


def test_unapproved_code_expires(idp):
    idp.configure(device_code_lifetime=1)
    code = start_login(idp)
    assert code["expires_in"] == 1
    time.sleep(1.2)
    assert error_of(poll(idp, code["device_code"])) == "expired_token"


def test_unknown_client_and_unknown_audience_are_refused(idp):
    wrong_client = httpx.post(f"{idp.url}/oauth/device/code", data={"client_id": "someone-else"})
    assert error_of(wrong_client) == "invalid_client"
    wrong_audience = httpx.post(
        f"{idp.url}/oauth/device/code", data={"client_id": CLIENT_ID, "audience": "another-api"}
    )
    assert error_of(wrong_audience) == "invalid_request"


def test_approving_an_unknown_code_is_an_error(idp):
    with pytest.raises(httpx.HTTPStatusError):
        idp.approve("NOPE-NOPE", "alice")


# --- refresh tokens ------------------------------------------------------------------------


def test_refresh_rotates_the_refresh_token(idp):
    first = login(idp)
    response = refresh(idp, first["refresh_token"])
    assert response.status_code == 200, response.text
    second = response.json()

    assert second["refresh_token"] != first["refresh_token"]
    assert verify(idp, second["access_token"])["sub"] == "alice"
    assert second["id_token"]
    # The used refresh token is dead; the new one works.
    assert error_of(refresh(idp, first["refresh_token"])) == "invalid_grant"
    assert refresh(idp, second["refresh_token"]).status_code == 200


def test_revoked_refresh_tokens_get_invalid_grant(idp):
    alice, bob = login(idp, "alice"), login(idp, "bob")
    assert idp.revoke("alice") == 1
    assert error_of(refresh(idp, alice["refresh_token"])) == "invalid_grant"
    assert refresh(idp, bob["refresh_token"]).status_code == 200, "only alice's sessions were revoked"

    carol = login(idp, "carol")
    assert idp.revoke(refresh_token=carol["refresh_token"]) == 1
    assert error_of(refresh(idp, carol["refresh_token"])) == "invalid_grant"


def test_state_dir_keeps_keys_and_sessions_across_a_restart(idp):
    tokens = login(idp)
    kids = {key["kid"] for key in idp.jwks()["keys"]}
    idp.restart()
    assert {key["kid"] for key in idp.jwks()["keys"]} == kids
    assert verify(idp, tokens["access_token"])["sub"] == "alice"
    assert refresh(idp, tokens["refresh_token"]).status_code == 200


# --- keys and lifetimes --------------------------------------------------------------------


def test_key_rotation_replaces_the_kid_in_the_jwks(idp):
    before = login(idp)["access_token"]
    old_kid = jwt.get_unverified_header(before)["kid"]
    assert old_kid in {key["kid"] for key in idp.jwks()["keys"]}

    new_kids = idp.rotate_keys()

    published = {key["kid"] for key in idp.jwks()["keys"]}
    assert published == set(new_kids.values()) and old_kid not in published
    with pytest.raises(jwt.InvalidKeyError):
        verify(idp, before)
    after = login(idp)["access_token"]
    assert jwt.get_unverified_header(after)["kid"] == new_kids["RS256"]
    verify(idp, after)


def test_graceful_rotation_keeps_the_old_key_published(idp):
    before = idp.mint("alice")
    idp.rotate_keys(keep_old=True)
    assert len(idp.jwks()["keys"]) == 4
    verify(idp, before)


def test_short_lifetime_makes_tokens_expire(idp):
    idp.set_lifetime(2)
    tokens = login(idp)
    assert tokens["expires_in"] == 2
    claims = verify(idp, tokens["access_token"])
    assert claims["exp"] - claims["iat"] == 2
    time.sleep(3)
    with pytest.raises(jwt.ExpiredSignatureError):
        verify(idp, tokens["access_token"])


def test_es256_tokens_validate(idp):
    token = idp.mint("alice", alg="ES256")
    assert jwt.get_unverified_header(token)["alg"] == "ES256"
    assert verify(idp, token)["sub"] == "alice"


# --- forged tokens for negative tests -------------------------------------------------------


def test_minted_token_is_valid_by_default(idp):
    claims = verify(idp, idp.mint("dave", scope="openid"))
    assert claims["sub"] == "dave" and claims["scope"] == "openid" and claims["azp"] == CLIENT_ID


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"aud": "another-api"}, jwt.InvalidAudienceError),
        ({"iss": "http://127.0.0.1:1"}, jwt.InvalidIssuerError),
        ({"expired": True}, jwt.ExpiredSignatureError),
        ({"foreign_key": True}, jwt.InvalidSignatureError),
        ({"exp": None}, jwt.MissingRequiredClaimError),
        ({"kid": "no-such-key"}, jwt.InvalidKeyError),
    ],
)
def test_forged_tokens_fail_validation(idp, overrides, error):
    with pytest.raises(error):
        verify(idp, idp.mint("mallory", **overrides))


def test_alg_none_token_is_refused(idp):
    token = idp.mint("mallory", alg="none")
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "none" and header["kid"] in {key["kid"] for key in idp.jwks()["keys"]}
    with pytest.raises(jwt.InvalidAlgorithmError):
        verify(idp, token)


# --- counters ------------------------------------------------------------------------------


def test_stats_count_jwks_fetches_and_token_requests(idp):
    idp.reset_stats()
    jwks_uri = idp.jwks_uri  # fetched directly so only our own calls are counted
    for _ in range(3):
        httpx.get(jwks_uri)
    code = start_login(idp)  # fetches discovery once
    poll(idp, code["device_code"])

    stats = idp.stats()
    assert stats["jwks"] == 3 and stats["discovery"] == 1
    assert stats["device_authorization"] == 1 and stats["token"] == 1
    assert stats["token_results"] == {"authorization_pending": 1}
