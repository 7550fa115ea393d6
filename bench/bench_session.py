"""An in-process proxy for the benchmarks, built by the production builder (proxy/session.py) over
real chained audit files, with limits a benchmark cannot trip: what the benches time is what
`mcp-acp start` runs."""

from __future__ import annotations

from pathlib import Path

from mcp_acp.audit.shutdown import ShutdownCoordinator
from mcp_acp.audit.state import IntegrityState
from mcp_acp.audit.writer import AuditLog
from mcp_acp.config.models import BackendConfig, LimitsConfig, ProxyConfig, StdioBackend
from mcp_acp.identity.provider import LocalIdentities
from mcp_acp.policy.model import parse_policy
from mcp_acp.policy.protected import ProtectedPaths
from mcp_acp.proxy.session import ProxySession, SessionInputs

UNLIMITED = LimitsConfig(requests_per_second=1e5, burst=1_000_000, tool_calls_per_window=1_000_000)


def bench_session(home: Path, rules: list[dict], roots: list[str] | None = None) -> ProxySession:
    """Proxy "bench" (backend "bench", session "s1", policy "v1") with its logs in home/logs."""
    log_dir = home / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    audit = AuditLog(log_dir, IntegrityState.load(log_dir), None)
    shutdown = ShutdownCoordinator(log_dir, "bench", "px_00000000:bench")
    shutdown.audit = audit
    identities = LocalIdentities()
    config = ProxyConfig(
        proxy_id="px_00000000:bench",
        backend=BackendConfig(server_name="bench", stdio=StdioBackend(command="bench-server")),
        limits=UNLIMITED,
        roots=roots or [],
    )
    return ProxySession(
        SessionInputs(
            name="bench",
            config=config,
            policy=parse_policy({"rules": rules}),
            policy_version="v1",
            config_version="v1",
            audit=audit,
            shutdown=shutdown,
            identities=identities,
            identity=identities.identity,
            session_id="s1",
            policy_path=home / "policy.json",
            protected=ProtectedPaths([home / "config", log_dir]),
        )
    )
