"""Binary attestation of a STDIO backend, before it is spawned (docs/auth.md#binary-attestation-for-stdio-backends).

The command is resolved through PATH and then realpath (a symlink is followed to the file that
really runs), and every configured check must pass:

* `expected_sha256`: the file's SHA-256 equals the pinned one;
* `require_signature`: on macOS, `codesign -v --strict` accepts it (10 s); elsewhere there is no
  such check and it is reported as skipped;
* `slsa_owner`: `gh attestation verify --owner OWNER FILE` accepts its SLSA provenance (30 s);
  configured without the GitHub CLI installed is an error, not a skip.

Any failure raises AttestationError (a BackendError): the proxy refuses to start.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field

from mcp_acp.backends import BackendError
from mcp_acp.config.models import Attestation

CODESIGN_TIMEOUT = 10
SLSA_TIMEOUT = 30
FIX = "fix 'backend.stdio.attestation' in the proxy's config.json"


class AttestationError(BackendError):
    """The backend binary failed a configured attestation check."""


@dataclass
class AttestationReport:
    path: str  # the realpath that was checked
    sha256: str
    checks: dict[str, str] = field(default_factory=dict)  # check -> "passed" | "skipped: why"

    @property
    def skipped(self) -> dict[str, str]:
        return {name: result for name, result in self.checks.items() if result.startswith("skipped")}


def resolve_binary(command: str) -> str:
    """The file `command` runs: looked up in PATH (or taken as a path), then symlinks resolved."""
    found = shutil.which(command)
    if found is None:
        raise AttestationError(
            f"backend command {command!r} was not found or is not executable, so it "
            "cannot be attested. Install it, or fix 'backend.stdio.command'."
        )
    return os.path.realpath(found)


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(1024 * 1024):
                digest.update(chunk)
    except OSError as exc:
        raise AttestationError(f"cannot read the backend binary {path} to attest it: {exc.strerror}.") from None
    return digest.hexdigest()


def _run(argv: list[str], timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout, check=False)


def _tail(result: subprocess.CompletedProcess) -> str:
    text = (result.stderr or result.stdout or "").strip()
    return text.splitlines()[-1] if text else f"exit code {result.returncode}"


def check_signature(path: str) -> str:
    codesign = shutil.which("codesign")
    if sys.platform != "darwin" or codesign is None:
        return "skipped: code signatures are only checked on macOS (codesign)"
    try:
        result = _run([codesign, "-v", "--strict", path], CODESIGN_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise AttestationError(f"code signature check of {path} timed out after {CODESIGN_TIMEOUT} s.") from None
    if result.returncode != 0:
        raise AttestationError(
            f"the backend binary {path} has no valid code signature "
            f"(codesign -v --strict: {_tail(result)}). Re-install it from a trusted "
            f"source, or {FIX} (require_signature)."
        )
    return "passed"


def check_slsa(path: str, owner: str) -> str:
    gh = shutil.which("gh")
    if gh is None:
        raise AttestationError(
            f"SLSA provenance is required (slsa_owner {owner!r}) but the GitHub CLI 'gh' is "
            "not installed or not on PATH. Install gh and sign in ('gh auth login'), or "
            f"{FIX} (remove slsa_owner)."
        )
    try:
        result = _run([gh, "attestation", "verify", "--owner", owner, path], SLSA_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise AttestationError(
            f"SLSA provenance check of {path} timed out after {SLSA_TIMEOUT} s "
            "('gh attestation verify' needs network access)."
        ) from None
    if result.returncode != 0:
        raise AttestationError(
            f"SLSA provenance of {path} could not be verified for owner {owner!r} "
            f"(gh attestation verify: {_tail(result)})."
        )
    return "passed"


def attest(command: str, attestation: Attestation | None) -> AttestationReport | None:
    """Run every configured check on the binary `command` resolves to; None when none is configured.
    Blocking (hashing, subprocesses): call it in a worker thread from async code."""
    if attestation is None or not (
        attestation.expected_sha256 or attestation.require_signature or attestation.slsa_owner
    ):
        return None
    path = resolve_binary(command)
    report = AttestationReport(path, sha256_file(path))
    if attestation.expected_sha256:
        expected = attestation.expected_sha256.lower()
        if report.sha256 != expected:
            raise AttestationError(
                f"backend binary {path} failed attestation: expected SHA-256 {expected}, actual {report.sha256}. "
                "The file changed since its hash was pinned. If the change is legitimate, put the new hash in "
                "'backend.stdio.attestation.expected_sha256' (config.json)."
            )
        report.checks["sha256"] = "passed"
    if attestation.require_signature:
        report.checks["signature"] = check_signature(path)
    if attestation.slsa_owner:
        report.checks["slsa"] = check_slsa(path, attestation.slsa_owner)
    return report
