"""Secrets (audit keys, OIDC tokens): never written in plaintext (docs/auth.md#where-secrets-are-kept).

Two backends, chosen on every call from the environment:
- the OS keychain through `keyring` (service "mcp-acp": macOS Keychain, Secret Service,
  Windows Credential Locker) when a real one is usable;
- otherwise one encrypted file, `secrets.enc` in the config folder (0600): a Fernet token
  holding the JSON object name -> value, its key derived from this machine's identity.

`MCP_ACP_SECRET_BACKEND=keychain|file` forces one (tests, headless hosts); a forced keychain
that is unusable is an error, never a silent fallback. `backend_name()` says which is in use.
Every failure is a `SecretStoreError` naming the cause and the fix.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import os
import re
import socket
from contextlib import suppress
from pathlib import Path

from mcp_acp.config import paths
from mcp_acp.config.store import ConfigError, ensure_private_dir, write_private_text

SERVICE = "mcp-acp"
BACKEND_ENV = "MCP_ACP_SECRET_BACKEND"
MACHINE_ID_FILES = ("/etc/machine-id", "/var/lib/dbus/machine-id")
KDF_SALT = b"mcp-acp-v1"
KDF_ITERATIONS = 100_000
_LOCK_TIMEOUT = 30.0
_RECREATE = (
    "move it aside and store the secrets again ('mcp-acp auth login' for tokens; "
    "an audit key lost this way cannot be recovered)"
)


class SecretStoreError(ConfigError):
    """The secret store cannot be read or written; the message names the cause and the fix."""


# ---------------------------------------------------------------------------- keychain


def _real_keychain(backend) -> bool:
    module = type(backend).__module__
    if module.startswith("keyrings.alt") or module.endswith((".fail", ".null")):
        return False  # no keychain at all, or keyrings.alt's plaintext / password-prompt files
    if module.endswith(".chainer"):
        return any(_real_keychain(b) for b in getattr(backend, "backends", []))
    return True


def _usable_keyring():
    """(the keyring backend, None) when a real OS keychain is usable, else (None, why not)."""
    try:
        import keyring
    except ImportError:
        return None, "the 'keyring' package is not installed"
    backend = keyring.get_keyring()  # chosen (and cached) by keyring itself
    if not _real_keychain(backend):
        return None, (
            f"keyring found no OS keychain (it chose {type(backend).__module__}."
            f"{type(backend).__name__}; on Linux a Secret Service such as gnome-keyring must be "
            "running on the D-Bus session bus)"
        )
    return backend, None


class _Keychain:
    def __init__(self, ring) -> None:
        self.ring = ring
        self.name = f"keychain ({ring.name})"

    def _fail(self, doing: str, exc: Exception) -> SecretStoreError:
        return SecretStoreError(
            f"the {self.name} refused to {doing}: {str(exc).rstrip('.!') or type(exc).__name__}. "
            f"Unlock the keychain, or set {BACKEND_ENV}=file to keep secrets in the encrypted file instead."
        )

    def get(self, name: str) -> str | None:
        try:
            return self.ring.get_password(SERVICE, name)
        except Exception as exc:  # locked, D-Bus gone, access denied ...
            raise self._fail(f"read {name!r}", exc) from exc

    def put(self, name: str, value: str) -> None:
        try:
            self.ring.set_password(SERVICE, name, value)
        except Exception as exc:
            raise self._fail(f"store {name!r}", exc) from exc

    def delete(self, name: str) -> None:
        from keyring.errors import PasswordDeleteError

        try:
            self.ring.delete_password(SERVICE, name)
        except PasswordDeleteError:
            pass  # not there: nothing to delete
        except Exception as exc:
            raise self._fail(f"delete {name!r}", exc) from exc


# ---------------------------------------------------------------------- encrypted file


def _key_material() -> str:
    """`<machine-id>:<hostname>:mcp-acp-token-storage` (docs/auth.md#where-secrets-are-kept)."""
    machine_id = ""
    for candidate in MACHINE_ID_FILES:
        with suppress(OSError, UnicodeDecodeError):
            machine_id = Path(candidate).read_text(encoding="ascii").strip()
        if machine_id:
            break
    # No machine-id (macOS and Windows, which have a keychain anyway; some minimal containers):
    # a fixed stand-in keeps the key stable, so the file stays readable; it is then tied to
    # this host by its hostname only, and guarded, as always, by its 0600 mode.
    return f"{machine_id or 'no-machine-id'}:{socket.gethostname()}:mcp-acp-token-storage"


@functools.lru_cache(maxsize=4)
def _fernet(material: str):
    """The Fernet for `material`, derived once per process (PBKDF2 at 100k rounds is ~50 ms)."""
    from cryptography.fernet import Fernet
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

    kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=KDF_SALT, iterations=KDF_ITERATIONS)
    return Fernet(base64.urlsafe_b64encode(kdf.derive(material.encode())))


def _looks_like_fernet(token: bytes) -> bool:
    try:
        raw = base64.urlsafe_b64decode(token)
    except (binascii.Error, ValueError):
        return False
    return len(raw) >= 57 and raw[0] == 0x80  # version, timestamp, IV, >=1 block, HMAC


class _EncryptedFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = f"encrypted file store ({path})"

    def _read(self) -> dict[str, str]:
        from cryptography.fernet import InvalidToken

        try:
            token = self.path.read_bytes().strip()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise SecretStoreError(
                f"cannot read the secret store {self.path}: {exc.strerror}. It must be a file of yours, mode 0600."
            ) from None
        if not _looks_like_fernet(token):
            raise SecretStoreError(
                f"the secret store {self.path} is damaged (it is not an encrypted mcp-acp "
                f"secret store). Restore it from a backup, or {_RECREATE}."
            )
        try:
            plain = _fernet(_key_material()).decrypt(token)
        except InvalidToken:
            raise SecretStoreError(
                f"the secret store {self.path} cannot be decrypted with this machine's key (derived from its "
                "machine-id and hostname): it was written on another machine, the hostname or machine-id "
                f"changed since, or the file was altered. Restore the old hostname to read it, or {_RECREATE}."
            ) from None
        try:
            data = json.loads(plain)
        except ValueError:
            data = None
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise SecretStoreError(
                f"the secret store {self.path} decrypts but holds no name -> secret object. "
                f"Restore it from a backup, or {_RECREATE}."
            )
        return data

    def _locked(self):
        from filelock import FileLock

        ensure_private_dir(self.path.parent)
        return FileLock(self.path.with_name(f".{self.path.name}.lock"), timeout=_LOCK_TIMEOUT, mode=0o600)

    def _update(self, change) -> None:
        """Read, `change` (True when it changed something) and rewrite under a lock, so that
        concurrent writers lose no update."""
        from filelock import Timeout

        try:
            with self._locked():
                data = self._read()
                if not change(data):
                    return
                if data:
                    token = _fernet(_key_material()).encrypt(json.dumps(data).encode())
                    write_private_text(self.path, token.decode("ascii") + "\n")
                else:
                    self.path.unlink(missing_ok=True)
        except Timeout:
            raise SecretStoreError(
                f"the secret store {self.path} stayed locked for {_LOCK_TIMEOUT:.0f} s by another "
                "mcp-acp process. Retry; if it persists, find that process."
            ) from None

    def get(self, name: str) -> str | None:
        return self._read().get(name)

    def put(self, name: str, value: str) -> None:
        def store(data: dict[str, str]) -> bool:
            data[name] = value
            return True

        self._update(store)

    def delete(self, name: str) -> None:
        if self.path.exists():  # nothing stored yet: create no folder, lock or file
            self._update(lambda data: data.pop(name, None) is not None)


# ------------------------------------------------------------------------ selection


def _backend() -> _Keychain | _EncryptedFile:
    choice = os.environ.get(BACKEND_ENV, "").strip().lower() or "auto"
    if choice not in ("auto", "keychain", "file"):
        raise SecretStoreError(
            f"{BACKEND_ENV}={os.environ[BACKEND_ENV]!r} is not a secret backend: use 'keychain', "
            "'file', or leave it unset to choose automatically."
        )
    if choice != "file":
        ring, why_not = _usable_keyring()
        if ring is not None:
            return _Keychain(ring)
        if choice == "keychain":
            raise SecretStoreError(
                f"{BACKEND_ENV}=keychain, but no OS keychain is usable: {why_not}. Start and "
                f"unlock one, or unset {BACKEND_ENV} to use the encrypted file."
            )
    return _EncryptedFile(paths.secret_store_path())


def _migrate_legacy(store: _Keychain | _EncryptedFile) -> None:
    """Earlier versions kept each secret in plaintext in config/secrets/<name with ':' as '_'>:
    move them into the store (a value already there wins) and delete them, temp files too."""
    folder = paths.config_dir() / "secrets"
    if not folder.is_dir():
        return
    for file in sorted(folder.iterdir()):
        if not file.is_file():
            continue
        if not file.name.startswith("."):  # dot files are the old writer's leftover temp files
            name = re.sub(r"^audit-hmac_", "audit-hmac:", file.name)  # the only ':' name they stored
            with suppress(FileNotFoundError):  # another process migrating at the same time
                value = file.read_text(encoding="utf-8")
                if store.get(name) is None:
                    store.put(name, value)
        file.unlink(missing_ok=True)
    with suppress(OSError):
        folder.rmdir()


def _store() -> _Keychain | _EncryptedFile:
    store = _backend()
    _migrate_legacy(store)
    return store


def backend_name() -> str:
    """Where secrets live, e.g. 'keychain (SecretService Keyring)' or 'encrypted file store (<path>)'."""
    try:
        return _backend().name
    except SecretStoreError as exc:
        return f"unusable secret store ({exc})"


def get(name: str) -> str | None:
    return _store().get(name)


def put(name: str, value: str) -> None:
    _store().put(name, value)


def delete(name: str) -> None:
    _store().delete(name)
