"""A replica's Ed25519 signing key for audit checkpoints (docs/audit.md#signed-checkpoints-and-verifying-replicas-offline).

The private key lives in the secret store (`audit-signing:<replica>`), created on first use; the
public key is published as PEM at `<log root>/replicas/<replica>.pub` and printed by
`mcp-acp audit public-key`. An auditor needs only the public key to check a checkpoint.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from mcp_acp import secret_store
from mcp_acp.config.store import ensure_private_dir

PUBLIC_FOLDER = "replicas"


class SigningError(Exception):
    """A key cannot be read or is not an Ed25519 key."""


def secret_name(replica: str) -> str:
    return f"audit-signing:{replica}"


def public_path(log_root: Path, replica: str) -> Path:
    return log_root / PUBLIC_FOLDER / f"{replica}.pub"


def public_pem(public: Ed25519PublicKey) -> str:
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def key_id(public: Ed25519PublicKey) -> str:
    """A short fingerprint, carried in every checkpoint: names the key that signed it."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


@dataclass(frozen=True)
class Signer:
    replica: str
    private: Ed25519PrivateKey

    @property
    def public(self) -> Ed25519PublicKey:
        return self.private.public_key()

    @property
    def key_id(self) -> str:
        return key_id(self.public)

    def sign(self, data: bytes) -> str:
        return base64.b64encode(self.private.sign(data)).decode()


def load_or_create(replica: str) -> Signer:
    """The replica's key from the secret store; a new one is made and stored on first use."""
    raw = secret_store.get(secret_name(replica))
    if raw is None:
        private = Ed25519PrivateKey.generate()
        raw = base64.b64encode(
            private.private_bytes(
                serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
            )
        ).decode()
        secret_store.put(secret_name(replica), raw)
    try:
        private = Ed25519PrivateKey.from_private_bytes(base64.b64decode(raw))
    except ValueError as exc:
        raise SigningError(f"the signing key {secret_name(replica)} in the secret store is damaged: {exc}") from None
    return Signer(replica, private)


def publish(signer: Signer, log_root: Path) -> Path:
    """Write the public key where an auditor finds it (rewritten only when it differs)."""
    path = public_path(log_root, signer.replica)
    pem = public_pem(signer.public)
    try:
        if path.read_text(encoding="ascii") == pem:
            return path
    except (OSError, UnicodeDecodeError):
        pass
    ensure_private_dir(path.parent)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(pem, encoding="ascii")
    partial.chmod(0o644)  # public on purpose
    partial.replace(path)
    return path


def load_public_key(path: Path) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except OSError as exc:
        raise SigningError(f"cannot read the public key {path}: {exc.strerror or exc}") from None
    except ValueError:
        raise SigningError(f"{path} is not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SigningError(f"{path} is not an Ed25519 public key")
    return key


def valid(public: Ed25519PublicKey, data: bytes, signature: str) -> bool:
    try:
        public.verify(base64.b64decode(signature, validate=True), data)
    except (InvalidSignature, ValueError):
        return False
    return True
