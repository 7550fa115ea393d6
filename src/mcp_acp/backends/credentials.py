"""The HTTP backend's API key (docs/configuration.md#a-proxys-configjson, docs/auth.md#api-keys-for-http-backends): kept in the secret store (OS keychain, or its
fallback) under `proxy:<name>:backend`; config.json holds only that reference
(`backend.http.credential_key`). The key is sent as `Authorization: Bearer <key>`.
"""

from __future__ import annotations

import re

from mcp_acp.backends import BackendError
from mcp_acp.config.models import ProxyConfig

_KEY_NAME = re.compile(r"^proxy:(?P<name>.+):backend$")


class CredentialError(BackendError):
    """The configured backend API key cannot be loaded."""


def credential_key(proxy_name: str) -> str:
    """The secret-store entry of a proxy's backend API key."""
    return f"proxy:{proxy_name}:backend"


def api_key_problem(value: str) -> str | None:
    """Why `value` cannot be sent as a Bearer token, or None."""
    if not value:
        return "the API key is empty"
    if any(ord(char) < 0x21 or ord(char) == 0x7F for char in value):
        return "the API key contains spaces or control characters"
    if not value.isascii():
        return "the API key contains non-ASCII characters"
    return None


def _proxy_label(config: ProxyConfig, proxy_name: str | None, key: str) -> str:
    if proxy_name is None and (match := _KEY_NAME.match(key)):
        proxy_name = match["name"]
    return proxy_name or config.proxy_id


def auth_headers(config: ProxyConfig, proxy_name: str | None = None) -> dict[str, str]:
    """`{"Authorization": "Bearer …"}` when the proxy has a backend API key, else {}.
    A configured key that is missing from the secret store is an error naming the fix."""
    http = config.backend.http
    if http is None or not http.credential_key:
        return {}
    from mcp_acp import secret_store  # only proxies with an API key need it

    key = http.credential_key
    name = _proxy_label(config, proxy_name, key)
    try:
        secret = secret_store.get(key)
    except Exception as exc:  # keyring and file-store failures vary by platform
        raise CredentialError(
            f"proxy '{name}': cannot read the backend API key {key!r} from the secret store "
            f"({type(exc).__name__}: {exc})."
        ) from None
    if not secret:
        raise CredentialError(
            f"proxy '{name}': the backend API key {key!r} is not in the secret store. Store it with "
            f"'mcp-acp proxy auth set-key --proxy {name}', or stop using one with "
            f"'mcp-acp proxy auth delete-key --proxy {name}'."
        )
    if problem := api_key_problem(secret):
        raise CredentialError(
            f"proxy '{name}': the stored backend API key cannot be used: {problem}. "
            f"Store it again with 'mcp-acp proxy auth set-key --proxy {name}'."
        )
    return {"Authorization": f"Bearer {secret}"}
