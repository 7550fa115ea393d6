"""The active policy, and its hot reload (SPEC §2.5).

Triggers: `mcp-acp policy reload` (over the proxy's socket), SIGHUP, and saving policy.json
(the proxy watches the file). A new policy is read and compiled off to the side; only when it
is valid does it replace the running engine in one assignment. An invalid file leaves the last
good policy in force and says why. A successful reload clears cached approvals (they were
granted under the old rules) and bumps `policy_version` in the policy history. Either outcome is
reported as an event for the manager (SPEC §7.3).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from mcp_acp.audit.history import record_load
from mcp_acp.audit.writer import AuditLog
from mcp_acp.config.store import ConfigError, read_policy
from mcp_acp.policy.engine import PolicyEngine
from mcp_acp.policy.model import Policy
from mcp_acp.policy.protected import ProtectedPaths
from mcp_acp.proxy.approvals import ApprovalCache
from mcp_acp.proxy.events import ProxyEvents

log = logging.getLogger(__name__)


class PolicyReloader:
    def __init__(
        self,
        path: Path,
        policy: Policy,
        protected: ProtectedPaths,
        audit: AuditLog,
        approvals: ApprovalCache,
        version: str,
        events: ProxyEvents | None = None,
    ) -> None:
        self.path = path
        self.events = events or ProxyEvents()  # with no subscriber, emitting costs nothing
        self.audit = audit
        self.approvals = approvals
        self.engine = PolicyEngine(policy, protected)
        self.version = version
        self.reload_count = 0
        self.last_reload_at: str | None = None
        self.on_reloaded: list[Callable[[], object]] = []  # results ignored
        self._lock = asyncio.Lock()

    @property
    def rules_count(self) -> int:
        return len(self.engine.rules)

    async def reload(self, trigger: str) -> dict:
        """Load the file again; the result says what happened (SPEC §2.5 ReloadResult)."""
        async with self._lock:
            old_count = self.rules_count
            try:  # read and compile off the event loop: a large policy must not stall traffic
                engine, text = await asyncio.to_thread(self._compile)
            except ConfigError as exc:
                log.warning("policy reload (%s) failed; policy %s stays active: %s", trigger, self.version, exc)
                self.events.emit(
                    "policy_reload_failed",
                    severity="error",
                    message=f"Policy reload failed; {self.version} stays active: {exc}",
                    error=str(exc),
                    problems=exc.problems,
                    policy_version=self.version,
                    trigger=trigger,
                )
                return {
                    "status": "error",
                    "old_rules_count": old_count,
                    "new_rules_count": old_count,
                    "approvals_cleared": 0,
                    "error": str(exc),
                    "problems": exc.problems,
                    "policy_version": self.version,
                }
            try:
                self.version = record_load(self.audit, "policy", self.path, text, source=trigger)
            except Exception as exc:  # not recorded, not applied; the log call fails closed if it cannot be written
                log.error(
                    "policy reload (%s) could not be recorded in the audit trail; policy %s stays active: %s",
                    trigger,
                    self.version,
                    exc,
                )
                return {
                    "status": "error",
                    "old_rules_count": old_count,
                    "new_rules_count": old_count,
                    "approvals_cleared": 0,
                    "error": f"the reload could not be recorded: {exc}",
                    "problems": [],
                    "policy_version": self.version,
                }
            self.engine = engine
            cleared = self.approvals.clear()
            self.reload_count += 1
            self.last_reload_at = datetime.now(UTC).isoformat()
            for callback in self.on_reloaded:
                callback()
            self._report(trigger, old_count, cleared)
            return {
                "status": "success",
                "old_rules_count": old_count,
                "new_rules_count": self.rules_count,
                "approvals_cleared": cleared,
                "error": None,
                "policy_version": self.version,
            }

    def _report(self, trigger: str, old_count: int, cleared: int) -> None:
        self.events.emit(
            "policy_reloaded",
            severity="success",
            message=f"Policy reloaded: {self.rules_count} rules ({self.version})",
            old_rules_count=old_count,
            new_rules_count=self.rules_count,
            policy_version=self.version,
            approvals_cleared=cleared,
            trigger=trigger,
        )
        if cleared:
            self.events.emit(
                "cache_cleared",
                message=f"{cleared} cached approvals cleared by a policy reload",
                count=cleared,
                reason="policy_reload",
            )
            self.events.emit("cached_snapshot", **self.approvals.snapshot())

    def _compile(self) -> tuple[PolicyEngine, str]:
        policy, text = read_policy(self.path)
        return PolicyEngine(policy, self.engine.protected), text

    async def watch_file(self) -> None:
        """Reload whenever policy.json is saved (editors replace the file, so watch its folder)."""
        from watchfiles import awatch

        async for changes in awatch(self.path.parent, debounce=200, recursive=False):
            if any(Path(changed).name == self.path.name for _, changed in changes):
                await self.reload("file_change")
