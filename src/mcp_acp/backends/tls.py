"""mTLS to HTTP backends (docs/auth.md#mtls-to-http-backends): check the client certificate, key and CA bundle before use,
grade the certificate's expiry, and build the SSL context the HTTP client connects with.

The files stay on disk (never in the keychain). They are checked at `proxy add` and at every
start: the three files exist and are PEM, the key is not encrypted and belongs to the
certificate, and the certificate is valid now. Expiry: more than 14 days left is ok, 14 or
fewer a warning, 7 or fewer critical, none: the proxy refuses to start. `mtls_status()` reports
the same without raising, for status displays. mTLS only applies to https:// backends.
"""

from __future__ import annotations

import math
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mcp_acp.backends import BackendError
from mcp_acp.config.models import MTLSConfig, ProxyConfig

WARNING_DAYS = 14
CRITICAL_DAYS = 7
FIELDS = (
    ("client_cert_path", "client certificate"),
    ("client_key_path", "client key"),
    ("ca_bundle_path", "CA bundle"),
)


class MTLSError(BackendError):
    """The mTLS files are missing, unreadable, not PEM, mismatched, encrypted, or the certificate expired."""


@dataclass(frozen=True)
class CertificateStatus:
    path: str
    subject: str
    issuer: str
    serial: str
    not_before: datetime
    not_after: datetime
    days_left: int  # whole days until expiry (negative: whole days since)
    level: str  # ok | warning | critical | expired | not_yet_valid

    @property
    def message(self) -> str:
        when = self.not_after.strftime("%Y-%m-%d %H:%M UTC")
        if self.level == "expired":
            return (
                f"the mTLS client certificate {self.path} ({self.subject}) expired on {when}. "
                "Renew it, then update 'mtls.client_cert_path'/'client_key_path' in the proxy's config.json."
            )
        if self.level == "not_yet_valid":
            return (
                f"the mTLS client certificate {self.path} ({self.subject}) is not valid before "
                f"{self.not_before.strftime('%Y-%m-%d %H:%M UTC')}. Check the system clock or the certificate."
            )
        days = f"{self.days_left} day{'s' if self.days_left != 1 else ''}"
        if self.level == "critical":
            return (
                f"CRITICAL: the mTLS client certificate {self.path} ({self.subject}) expires in {days} "
                f"(on {when}); renew it now, the proxy will refuse to start once it has expired."
            )
        if self.level == "warning":
            return (
                f"the mTLS client certificate {self.path} ({self.subject}) expires in {days} (on {when}); "
                "renew it soon."
            )
        return f"the mTLS client certificate {self.path} ({self.subject}) is valid for {days} (until {when})."

    def as_dict(self) -> dict[str, Any]:
        return {
            "client_cert_path": self.path,
            "subject": self.subject,
            "issuer": self.issuer,
            "serial": self.serial,
            "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
            "days_left": self.days_left,
            "level": self.level,
            "message": self.message,
        }


def expiry_level(not_before: datetime, not_after: datetime, now: datetime | None = None) -> tuple[str, int]:
    """(level, whole days left) for a certificate's validity window."""
    now = now or datetime.now(UTC)
    left = not_after - now
    days_left = math.trunc(left.total_seconds() / 86400)  # 0 in the last day, -1 a day after expiry
    if left <= timedelta(0):
        return "expired", days_left
    if now < not_before:
        return "not_yet_valid", days_left
    if left <= timedelta(days=CRITICAL_DAYS):
        return "critical", days_left
    if left <= timedelta(days=WARNING_DAYS):
        return "warning", days_left
    return "ok", days_left


def expand(path: str) -> str:
    """How paths are stored: `~` expanded, absolute."""
    return str(Path(path).expanduser().absolute())


def _read(path: str, what: str) -> bytes:
    file = Path(path).expanduser()
    if not file.is_file():
        raise MTLSError(
            f"the mTLS {what} {file} does not exist (or is not a file). Fix 'mtls' in the proxy's config.json."
        )
    try:
        return file.read_bytes()
    except OSError as exc:
        raise MTLSError(f"cannot read the mTLS {what} {file}: {exc.strerror}. Check its permissions.") from None


def inspect_mtls(mtls: MTLSConfig, now: datetime | None = None) -> CertificateStatus:
    """Check the three files (exist, PEM, unencrypted key that matches the certificate, CA bundle
    with at least one certificate) and grade the certificate's expiry. Expiry is not raised here."""
    from cryptography import x509  # imported here: only mTLS needs it, and it is slow to import
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    cert_pem = _read(mtls.client_cert_path, "client certificate")
    key_pem = _read(mtls.client_key_path, "client key")
    ca_pem = _read(mtls.ca_bundle_path, "CA bundle")
    try:
        chain = x509.load_pem_x509_certificates(cert_pem)
    except ValueError:
        chain = []
    if not chain:
        raise MTLSError(
            f"the mTLS client certificate {mtls.client_cert_path} is not a PEM certificate "
            "('-----BEGIN CERTIFICATE-----')."
        )
    cert = chain[0]
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except TypeError:
        raise MTLSError(
            f"the mTLS client key {mtls.client_key_path} is encrypted; mcp-acp needs an "
            "unencrypted key (protect it with file permissions, 0600), e.g. "
            f"'openssl pkey -in {mtls.client_key_path} -out client.key'."
        ) from None
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise MTLSError(f"the mTLS client key {mtls.client_key_path} is not a PEM private key ({exc}).") from None
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(*spki) != cert.public_key().public_bytes(*spki):
        raise MTLSError(
            f"the mTLS client key {mtls.client_key_path} does not belong to the certificate {mtls.client_cert_path}."
        )
    try:
        cas = x509.load_pem_x509_certificates(ca_pem)
    except ValueError:
        cas = []
    if not cas:
        raise MTLSError(f"the mTLS CA bundle {mtls.ca_bundle_path} holds no PEM certificate.")
    level, days_left = expiry_level(cert.not_valid_before_utc, cert.not_valid_after_utc, now)
    return CertificateStatus(
        path=mtls.client_cert_path,
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        serial=format(cert.serial_number, "x"),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        days_left=days_left,
        level=level,
    )


def check_mtls(mtls: MTLSConfig, now: datetime | None = None) -> CertificateStatus:
    """`inspect_mtls`, and refuse a certificate that is expired or not yet valid."""
    status = inspect_mtls(mtls, now)
    if status.level in ("expired", "not_yet_valid"):
        raise MTLSError(status.message)
    return status


def mtls_applies(config: ProxyConfig) -> bool:
    """mTLS is configured and there is an https:// backend to present it to."""
    http = config.backend.http
    return config.mtls is not None and http is not None and http.url.lower().startswith("https://")


def mtls_status(config: ProxyConfig, now: datetime | None = None) -> dict[str, Any]:
    """The client certificate's state for status displays; never raises.

    {"configured": False} without mTLS; otherwise the paths, "applies" (the backend URL is
    https://), and either the certificate's subject, issuer, not_after, days_left and
    level (ok | warning | critical | expired | not_yet_valid) with a message, or level "error"
    with the problem that would stop the proxy from starting.
    """
    mtls = config.mtls
    if mtls is None:
        return {"configured": False}
    result: dict[str, Any] = {
        "configured": True,
        "applies": mtls_applies(config),
        "client_cert_path": mtls.client_cert_path,
        "client_key_path": mtls.client_key_path,
        "ca_bundle_path": mtls.ca_bundle_path,
    }
    try:
        result |= inspect_mtls(mtls, now).as_dict()
    except MTLSError as exc:
        result |= {"level": "error", "message": str(exc)}
    return result


def _no_password() -> bytes:
    raise ssl.SSLError("the client key is encrypted")  # never let OpenSSL prompt on the terminal


def client_ssl_context(ca_bundle: str | None = None, mtls: MTLSConfig | None = None) -> ssl.SSLContext:
    """Verification is always on. A CA bundle replaces the system trust store (a private CA);
    with `mtls`, its CA bundle verifies the server and its certificate is presented to it."""
    cafile = mtls.ca_bundle_path if mtls else ca_bundle
    context = (
        ssl.create_default_context(cafile=str(Path(cafile).expanduser())) if cafile else ssl.create_default_context()
    )
    if mtls:
        try:
            context.load_cert_chain(
                str(Path(mtls.client_cert_path).expanduser()),
                str(Path(mtls.client_key_path).expanduser()),
                password=_no_password,
            )
        except (ssl.SSLError, OSError) as exc:
            raise MTLSError(f"cannot load the mTLS client certificate {mtls.client_cert_path}: {exc}") from None
    return context
