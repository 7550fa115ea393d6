"""Who is signed in, until when, whether the stored token still verifies, and each proxy's client
certificate: what `mcp-acp auth status` prints and the manager's auth-status route serves."""

from __future__ import annotations

from mcp_acp import secret_store
from mcp_acp.config.models import ManagerConfig
from mcp_acp.config.store import list_proxy_names, load_proxy_config
from mcp_acp.identity import tokens as token_store
from mcp_acp.identity.jwt_check import JwksCache, TokenChecker, TokenInvalid
from mcp_acp.identity.oidc import OidcClient, OidcError


def unverified_claims(token: str | None) -> dict:
    """Display-only claims (who, until when); the proxies verify tokens properly."""
    import jwt  # with cryptography: only where a token is shown

    return jwt.decode(token, options={"verify_signature": False}) if token else {}


def auth_status(manager: ManagerConfig) -> dict:
    """The sign-in state, shared by `auth status` and the manager API. Blocking: it asks the
    identity provider for its keys to verify the stored token."""
    status: dict = {"mode": manager.auth.mode, "storage": secret_store.backend_name()}
    if manager.auth.mode == "local":
        return {
            **status,
            "authenticated": False,
            "message": "unauthenticated single-user mode (local): no identity provider, requests run as the OS user",
        }
    settings = manager.auth.oidc_settings
    status["oidc"] = {"issuer": settings.issuer, "client_id": settings.client_id, "audience": settings.audience}
    tokens = token_store.load()
    if tokens is None:
        return {**status, "authenticated": False, "message": "not signed in: run 'mcp-acp auth login'"}
    claims = unverified_claims(tokens.id_token) or unverified_claims(tokens.access_token)
    status.update(
        {
            "user": {k: claims[k] for k in ("sub", "email", "name") if k in claims},
            "expires_at": tokens.expires_at,
            "expires_in_seconds": round(tokens.expires_in()),
            "refresh_token": bool(tokens.refresh_token),
        }
    )
    try:
        client = OidcClient(settings)
        TokenChecker(settings.issuer, settings.audience, JwksCache(client.document["jwks_uri"])).claims(
            tokens.access_token
        )
        status.update(authenticated=True, message="signed in; the access token verifies")
    except (OidcError, TokenInvalid) as exc:
        status.update(authenticated=False, message=f"the stored token does not verify: {exc}")
    return status


def mtls_status_by_proxy() -> dict:
    """Client certificate health per proxy that uses one (expiry warnings at 14 and 7 days)."""
    try:
        from mcp_acp.backends.tls import mtls_status
    except ImportError:  # mTLS support not installed in this build
        return {}
    found = {}
    for name in list_proxy_names():
        config = load_proxy_config(name)
        if config.mtls:
            found[name] = mtls_status(config)
    return found
