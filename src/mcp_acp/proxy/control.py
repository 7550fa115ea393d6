"""What the control socket (proxy/api.py) can see and act on, gathered in one place."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from mcp_acp.identity.local import Identity
from mcp_acp.proxy.approvals import ApprovalCache
from mcp_acp.proxy.policy_reload import PolicyReloader

SESSION_TTL = timedelta(hours=8)  # SPEC §9


@dataclass
class ControlState:
    reloader: PolicyReloader
    identities: object  # LocalIdentities | OidcIdentities (identity/provider.py)
    approvals: ApprovalCache
    session_id: str
    identity: Identity
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    started: float = field(default_factory=time.monotonic)

    def sessions(self) -> list[dict]:
        return [{"session_id": self.session_id, "user_id": self.identity.subject_id,
                 "started_at": self.started_at.isoformat(), "expires_at": (self.started_at + SESSION_TTL).isoformat()}]

    def auth_changed(self) -> int:
        """The CLI logged in or out: read the stored token again; cached approvals go (SPEC §9)."""
        reload = getattr(self.identities, "reload", None)
        if reload:
            reload()
        return self.approvals.clear()
