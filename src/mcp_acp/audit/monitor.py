"""The audit health monitor (docs/audit.md#fail-closed): every protected file re-verified on a timer, so tampering
while the proxy sits idle is caught within one interval, not at the next request."""

from __future__ import annotations

import asyncio
import logging
import os

from mcp_acp.audit.shutdown import ShutdownCoordinator
from mcp_acp.audit.writer import AuditLog

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_SECONDS = 30.0
INTERVAL_ENV = "MCP_ACP_AUDIT_CHECK_SECONDS"  # tests shorten it


def interval() -> float:
    return float(os.environ.get(INTERVAL_ENV, DEFAULT_INTERVAL_SECONDS))


async def watch(audit: AuditLog, shutdown: ShutdownCoordinator) -> None:
    every = interval()
    while not shutdown.is_shutting_down:
        await asyncio.sleep(every)
        try:
            problems = audit.health_problems()
        except Exception as exc:  # a crashed check is itself a failure, never a silent pass
            problems = [f"the audit health check crashed: {exc!r}"]
        if problems:
            shutdown.initiate(
                "audit_failure", "; ".join(problems), 10, {"source": "health_monitor", "paths": [str(audit.log_dir)]}
            )
            return
