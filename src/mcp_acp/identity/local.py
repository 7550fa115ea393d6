"""Local single-user mode: no identity provider, the subject is the OS user running the proxy."""

from __future__ import annotations

import getpass
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Identity:
    subject_id: str
    # Where the subject came from, highest trust first: "token" (a verified OIDC token)
    # or "local" (the operating-system account; nothing was authenticated).
    provenance: str
    claims: dict[str, Any] = field(default_factory=dict)


def local_identity() -> Identity:
    return Identity(subject_id=getpass.getuser(), provenance="local")
