"""A proxy's HTTP backend API key: stored in the secret store (OS keychain, or its fallback)
under `proxy:<name>:backend`; config.json only names it in `backend.http.credential_key`.
Shared by `mcp-acp proxy auth` and the manager's API. A running proxy keeps the key it
started with: changes apply at its next start."""

from __future__ import annotations

import json
from typing import Any, cast

from mcp_acp.backends.credentials import api_key_problem, credential_key
from mcp_acp.config import paths
from mcp_acp.config.models import ProxyConfig
from mcp_acp.config.store import (
    ConfigError,
    load_proxy_config,
    read_json,
    write_private_text,
)


class ApiKeyError(Exception):
    """The key was not stored or deleted; the message says why and what to do."""


def _store():
    from mcp_acp import (
        secret_store,  # imported late: the keyring backends are slow to load
    )

    return secret_store


def store_name() -> str:
    try:
        return _store().backend_name()
    except Exception:
        return "the secret store"


def _set_reference(name: str, reference: str | None) -> None:
    """Set or clear `backend.http.credential_key`, leaving the rest of the file as it is."""
    path = paths.proxy_config_path(name)
    data, _ = read_json(path, f"Re-create it with 'mcp-acp proxy add {name}'.")
    http = cast("dict[str, Any]", data)["backend"]["http"]
    if reference is None:
        http.pop("credential_key", None)
    else:
        http["credential_key"] = reference
    try:
        ProxyConfig.model_validate(data)
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    write_private_text(path, json.dumps(data, indent=2) + "\n")


def store_api_key(name: str, api_key: str) -> None:
    """Put the key in the secret store (not touching config.json)."""
    try:
        _store().put(credential_key(name), api_key)
    except Exception as exc:  # keyring and file-store failures vary by platform
        raise ApiKeyError(f"cannot store the API key in the secret store ({type(exc).__name__}: {exc})") from None


def set_api_key(name: str, api_key: str) -> str:
    """Validate and store the key, and point config.json at it; returns the secret's name."""
    if load_proxy_config(name).backend.http is None:
        raise ApiKeyError(
            f"proxy {name!r} has no HTTP backend (backend.http.url): an API key is only sent to HTTP backends"
        )
    api_key = api_key.strip()
    if problem := api_key_problem(api_key):
        raise ApiKeyError(f"{problem}; nothing was stored")
    store_api_key(name, api_key)
    _set_reference(name, credential_key(name))
    return credential_key(name)


def stored_key(name: str) -> tuple[str, str | None, bool]:
    """(secret name, config.json's reference or None, whether the secret exists)."""
    config = load_proxy_config(name)
    reference = config.backend.http.credential_key if config.backend.http else None
    key = reference or credential_key(name)
    try:
        return key, reference, _store().get(key) is not None
    except Exception as exc:
        raise ApiKeyError(f"cannot read the secret store ({type(exc).__name__}: {exc})") from None


def delete_api_key(name: str) -> tuple[bool, bool]:
    """Delete the secret and config.json's reference; returns (secret existed, reference existed)."""
    key, reference, stored = stored_key(name)
    if stored:
        try:
            _store().delete(key)
        except Exception as exc:
            raise ApiKeyError(f"cannot delete {key!r} from the secret store ({type(exc).__name__}: {exc})") from None
    if reference is not None:
        _set_reference(name, None)
    return stored, reference is not None
