"""What the control socket (proxy/api.py) can see and act on, gathered in one place."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from mcp_acp.identity.local import Identity
from mcp_acp.identity.provider import LocalIdentities, OidcIdentities
from mcp_acp.localhttp.sse import EventHub
from mcp_acp.metrics.stats import ProxyStats
from mcp_acp.policy.roots import ServerRoots
from mcp_acp.proxy.approvals import ApprovalCache
from mcp_acp.proxy.events import ProxyEvents
from mcp_acp.proxy.pending import PendingApprovals
from mcp_acp.proxy.policy_reload import PolicyReloader

SESSION_TTL = timedelta(hours=8)  # docs/auth.md#what-the-proxy-checks


class ManagerLink(Protocol):
    """What the control API needs of the manager connection."""

    browser_connected: bool


@dataclass
class ControlState:
    reloader: PolicyReloader
    identities: LocalIdentities | OidcIdentities
    approvals: ApprovalCache
    session_id: str
    identity: Identity
    stats: ProxyStats = field(default_factory=ProxyStats)
    events: ProxyEvents = field(default_factory=ProxyEvents)
    info: dict = field(default_factory=dict)  # info_from(), plus the runtime facts below
    log_dir: Path | None = None
    debug_logs: bool = False  # log_level DEBUG: the wire logs exist and may be read
    pending: PendingApprovals | None = None  # requests waiting for a human
    hub: EventHub = field(default_factory=EventHub)  # this proxy's own event stream (/api/approvals/pending)
    client_name: Callable[[], str | None] = lambda: None  # the MCP client's clientInfo.name, once known
    manager: ManagerLink | None = None  # proxy/manager_link.py ManagerClient, unless --headless
    roots: ServerRoots = field(default_factory=ServerRoots)  # the enforcer's: a dry run judges as it does
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    started: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.info = {
            "client_transport": "stdio",
            "pid": os.getpid(),
            "started_at": self.started_at.isoformat(),
            **self.info,
        }

    @staticmethod
    def info_from(name: str, config) -> dict:
        """The static facts `/api/proxies` shows, from the proxy's config (config/models.py ProxyConfig).
        The backend transport is the configured one until the backend has connected."""
        backend = config.backend
        return {
            "proxy_id": config.proxy_id,
            "proxy_name": name,
            "backend_id": backend.server_name,
            "command": backend.stdio.command if backend.stdio else None,
            "args": list(backend.stdio.args) if backend.stdio else [],
            "url": backend.http.url if backend.http else None,
            "backend_transport": backend.transport,
            "mtls_enabled": config.mtls is not None,
        }

    def ui_present(self) -> bool:
        """Is someone watching for approvals: a browser on the manager, or a client of our own stream?"""
        return bool(self.hub.subscribers) or bool(self.manager and self.manager.browser_connected)

    def pending_list(self) -> list[dict]:
        return self.pending.list() if self.pending else []

    @property
    def uptime_seconds(self) -> float:
        return round(time.monotonic() - self.started, 1)

    def sessions(self) -> list[dict]:
        return [
            {
                "session_id": self.session_id,
                "user_id": self.identity.subject_id,
                "started_at": self.started_at.isoformat(),
                "expires_at": (self.started_at + SESSION_TTL).isoformat(),
            }
        ]

    async def auth_changed(self) -> int:
        """The CLI logged in or out: read the stored token again; cached approvals go (docs/auth.md#what-the-proxy-checks)."""
        reload = getattr(self.identities, "reload", None)
        if reload:  # the secret store may be slow (a keychain): not on the event loop
            await asyncio.to_thread(reload)
        return self.clear_approvals("auth_changed")

    def clear_approvals(self, reason: str) -> int:
        return self.approvals.clear(reason)  # the cache announces it
