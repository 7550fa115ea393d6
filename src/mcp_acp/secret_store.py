"""Secrets (audit keys now; API keys and tokens later): the OS keychain through `keyring`,
or, where no keychain exists (a headless Linux host), 0600 files in a 0700 folder of the
config directory. `backend_name()` says which one is in use.
"""

from __future__ import annotations

import re

from mcp_acp.config import paths
from mcp_acp.config.store import ensure_private_dir, write_private_text

SERVICE = "mcp-acp"


def _keyring():
    """The usable OS keychain, or None."""
    try:
        import keyring
        from keyring.backends import fail
    except ImportError:
        return None
    backend = keyring.get_keyring()
    if isinstance(backend, fail.Keyring) or "fail" in type(backend).__module__:
        return None
    return keyring


def backend_name() -> str:
    ring = _keyring()
    return f"keychain ({type(ring.get_keyring()).__name__})" if ring else f"file store ({_folder()})"


def _folder():
    return paths.config_dir() / "secrets"


def _file(name: str):
    return _folder() / re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def get(name: str) -> str | None:
    if ring := _keyring():
        return ring.get_password(SERVICE, name)
    try:
        return _file(name).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


def put(name: str, value: str) -> None:
    if ring := _keyring():
        ring.set_password(SERVICE, name, value)
        return
    ensure_private_dir(_folder())
    write_private_text(_file(name), value)


def delete(name: str) -> None:
    if ring := _keyring():
        try:
            ring.delete_password(SERVICE, name)
        except Exception:  # keyring raises PasswordDeleteError when absent
            pass
        return
    _file(name).unlink(missing_ok=True)
