"""Proxies built in process exactly as `mcp-acp start` builds them (proxy/session.py), over real
chained audit files in a temp folder, with a scripted approver where a test needs one."""

from __future__ import annotations

import json
from pathlib import Path

from mcp_acp.audit.shutdown import ShutdownCoordinator
from mcp_acp.audit.state import IntegrityState
from mcp_acp.audit.writer import AuditLog
from mcp_acp.config.models import BackendConfig, LimitsConfig, ProxyConfig, StdioBackend
from mcp_acp.identity.local import Identity
from mcp_acp.identity.provider import LocalIdentities
from mcp_acp.policy.model import parse_policy
from mcp_acp.policy.protected import ProtectedPaths
from mcp_acp.proxy.approvals import Approver
from mcp_acp.proxy.session import ProxySession, SessionInputs


def build_session(
    tmp_path: Path,
    rules: list[dict],
    *,
    approver: Approver | None = None,
    limits: LimitsConfig | None = None,
    name: str = "t",
    proxy_id: str = "px_00000000:t",
    subject: str = "alice",
) -> ProxySession:
    """A session of proxy `name` (backend "fs", session "s1", policy version "v1", config version
    "c1") for the local user `subject`; its logs in tmp_path/logs, its policy in tmp_path/policy.json."""
    log_dir = tmp_path / "logs"
    log_dir.mkdir(exist_ok=True)
    audit = AuditLog(log_dir, IntegrityState.load(log_dir), None)
    policy_file = tmp_path / "policy.json"
    policy_file.write_text(json.dumps({"rules": rules}))
    config = ProxyConfig(
        proxy_id=proxy_id,
        backend=BackendConfig(server_name="fs", stdio=StdioBackend(command="fixture-server")),
        limits=limits or LimitsConfig(),
    )
    identity = Identity(subject, "local")
    inputs = SessionInputs(
        name=name,
        config=config,
        policy=parse_policy({"rules": rules}),
        policy_version="v1",
        config_version="c1",
        audit=audit,
        shutdown=ShutdownCoordinator(log_dir, name, proxy_id),
        identities=LocalIdentities(identity),
        identity=identity,
        session_id="s1",
        policy_path=policy_file,
        protected=ProtectedPaths([tmp_path / "cfg"]),
        approver=approver,
    )
    return ProxySession(inputs)
