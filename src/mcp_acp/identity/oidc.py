"""Talking to the identity provider (docs/auth.md#setting-up-the-identity-provider): discovery, the device authorization grant
(RFC 8628) and token refresh.

Endpoints come from the issuer's `/.well-known/openid-configuration`, never from a guess at
one vendor's paths. The client is public (no secret): the device grant is made for CLIs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from mcp_acp.config.models import OIDCConfig
from mcp_acp.identity.tokens import StoredTokens

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
HTTP_TIMEOUT = 30.0
LOGIN_TIMEOUT = 300.0


class OidcError(Exception):
    """The provider refused or could not be reached; the message says what to do."""


def discover(issuer: str, client: httpx.Client | None = None) -> dict:
    url = f"{issuer}/.well-known/openid-configuration"
    try:
        with client or httpx.Client(timeout=HTTP_TIMEOUT) as http:
            response = http.get(url)
            response.raise_for_status()
            document = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise OidcError(
            f"cannot read the identity provider's discovery document at {url}: {exc}. "
            "Check the issuer in manager.json ('mcp-acp init') and your network."
        ) from None
    if document.get("issuer", "").rstrip("/") != issuer:
        raise OidcError(
            f"the discovery document at {url} names issuer {document.get('issuer')!r}, "
            f"not {issuer!r}: refusing a provider that claims to be someone else"
        )
    return document


@dataclass(frozen=True)
class DeviceCode:
    device_code: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str | None
    expires_in: int
    interval: int


def _token_request(endpoint: str, form: dict) -> httpx.Response:
    try:
        return httpx.post(endpoint, data=form, timeout=HTTP_TIMEOUT)
    except httpx.HTTPError as exc:
        raise OidcError(f"cannot reach the identity provider's token endpoint {endpoint}: {exc}") from None


def _tokens_from(payload: dict, previous: StoredTokens | None = None) -> StoredTokens:
    now = time.time()
    return StoredTokens(
        access_token=payload["access_token"],
        refresh_token=payload.get("refresh_token") or (previous.refresh_token if previous else None),
        id_token=payload.get("id_token") or (previous.id_token if previous else None),
        expires_at=now + float(payload.get("expires_in", 3600)),
        issued_at=now,
    )


class OidcClient:
    def __init__(self, settings: OIDCConfig, document: dict | None = None) -> None:
        self.settings = settings
        self._document = document

    @property
    def document(self) -> dict:
        if self._document is None:
            self._document = discover(self.settings.issuer)
        return self._document

    def _endpoint(self, name: str) -> str:
        endpoint = self.document.get(name)
        if not endpoint:
            raise OidcError(
                f"the identity provider {self.settings.issuer} does not offer '{name}' "
                "(the device authorization grant); enable it for this client at the provider"
            )
        return endpoint

    def start_device_login(self) -> DeviceCode:
        response = _token_request(
            self._endpoint("device_authorization_endpoint"),
            {
                "client_id": self.settings.client_id,
                "scope": " ".join(self.settings.scopes),
                "audience": self.settings.audience,
            },
        )
        if response.status_code != 200:
            raise OidcError(f"the identity provider refused to start a login: {_describe(response)}")
        body = response.json()
        return DeviceCode(
            body["device_code"],
            body["user_code"],
            body["verification_uri"],
            body.get("verification_uri_complete"),
            int(body.get("expires_in", 600)),
            int(body.get("interval", 5)),
        )

    def wait_for_login(self, code: DeviceCode, sleep: Callable[[float], None] = time.sleep) -> StoredTokens:
        """Poll the token endpoint as RFC 8628 says until the user approves, refuses or time runs out."""
        endpoint = self._endpoint("token_endpoint")
        interval = max(code.interval, 1)
        deadline = time.monotonic() + min(code.expires_in, LOGIN_TIMEOUT)
        while time.monotonic() < deadline:
            sleep(interval)
            response = _token_request(
                endpoint,
                {"grant_type": DEVICE_GRANT, "device_code": code.device_code, "client_id": self.settings.client_id},
            )
            if response.status_code == 200:
                return _tokens_from(response.json())
            error = _error_code(response)
            if error == "authorization_pending":
                continue
            if error == "slow_down":
                interval += 5
                continue
            if error == "access_denied":
                raise OidcError("the login was refused at the identity provider")
            if error == "expired_token":
                break
            raise OidcError(f"the login failed: {_describe(response)}")
        raise OidcError("the login code expired before it was approved; run 'mcp-acp auth login' again")

    def refresh(self, tokens: StoredTokens) -> StoredTokens:
        if not tokens.refresh_token:
            raise OidcError("the session expired and there is no refresh token; run 'mcp-acp auth login'")
        response = _token_request(
            self._endpoint("token_endpoint"),
            {
                "grant_type": "refresh_token",
                "refresh_token": tokens.refresh_token,
                "client_id": self.settings.client_id,
            },
        )
        if response.status_code != 200:
            raise OidcError(f"the session could not be renewed ({_describe(response)}); run 'mcp-acp auth login'")
        return _tokens_from(response.json(), tokens)

    def logout_url(self) -> str | None:
        endpoint = self.document.get("end_session_endpoint")
        return f"{endpoint}?client_id={self.settings.client_id}" if endpoint else None


def _error_code(response: httpx.Response) -> str | None:
    try:
        return response.json().get("error")
    except ValueError:
        return None


def _describe(response: httpx.Response) -> str:
    try:
        body = response.json()
        return f"{body.get('error', response.status_code)}: {body.get('error_description', '')}".rstrip(": ")
    except ValueError:
        return f"HTTP {response.status_code}"
