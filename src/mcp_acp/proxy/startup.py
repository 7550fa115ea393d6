"""Starting a proxy and ending it (docs/architecture.md#inside-the-proxy-process): configuration, the audit trail (exclusive lock, full
verification, exit 10 on any doubt), the user's identity, the config and policy history; at the
end, the session's last entry and a clean close of the trail.

Every refusal to start raises one `StartupRefused`, carrying the event recorded in the proxy's
bootstrap.jsonl and the exit code; `cli/start.py` catches it, records it and exits.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace

from mcp_acp import __version__
from mcp_acp.audit import auth_log, emergency
from mcp_acp.audit.chain import utc_now
from mcp_acp.audit.history import record_load
from mcp_acp.audit.opening import Checkpointing, OpenTrail, close_trail, open_trail
from mcp_acp.audit.sharing import AlreadyRunning, FolderLocks
from mcp_acp.audit.shutdown import ShutdownCoordinator, append_fsynced
from mcp_acp.audit.system_log import SystemLogHandler
from mcp_acp.audit.verify import AuditFailure
from mcp_acp.audit.writer import AuditLog, AuditWriteError
from mcp_acp.config import paths
from mcp_acp.config.models import ManagerConfig, ProxyConfig
from mcp_acp.config.private_modes import require_private_modes
from mcp_acp.config.store import ConfigError, load_manager_config, load_proxy_config
from mcp_acp.identity.local import Identity
from mcp_acp.identity.oidc import OidcError
from mcp_acp.identity.provider import (
    AuthenticationError,
    IdentityUnverifiable,
    LocalIdentities,
    OidcIdentities,
    startup_identity,
)
from mcp_acp.policy.model import Policy
from mcp_acp.policy.policy_file import load_policy
from mcp_acp.policy.protected import ProtectedPaths
from mcp_acp.proxy.approvals import Approver
from mcp_acp.proxy.session import SessionInputs

log = logging.getLogger("mcp_acp.start")
IDENTITY_FAILURE_EXIT = 12
AUTHENTICATION_FAILURE_EXIT = 13
Say = Callable[..., object]  # prints one line of rich markup to stderr (the CLI's err_console.print)


class StartupRefused(Exception):
    """The proxy must not start: `event` and `exit_code` say why, for bootstrap.jsonl and the shell."""

    def __init__(self, event: str, error: Exception, exit_code: int = 1) -> None:
        super().__init__(str(error))
        self.event = event
        self.error_type = type(error).__name__
        self.exit_code = exit_code


def record_refusal(name: str, refused: StartupRefused) -> None:
    """docs/configuration.md#files-mcp-acp-writes-besides-the-logs: startup failures go to the proxy's bootstrap.jsonl for later diagnosis."""
    if not paths.proxy_config_dir(name).is_dir():
        return
    entry = {
        "time": utc_now(),
        "event": refused.event,
        "error_message": str(refused),
        "error_type": refused.error_type,
        "exit_code": refused.exit_code,
        "component": "cli",
        "source": "cli_start",
    }
    with contextlib.suppress(OSError):
        append_fsynced(paths.bootstrap_log_path(name), entry)


@dataclass
class Started:
    """A proxy whose trail is open and whose user is known: what its session is built from."""

    name: str
    manager: ManagerConfig
    config: ProxyConfig
    policy: Policy
    opened: OpenTrail
    locks: FolderLocks  # shared with the proxy's other processes (one per client), held for its lifetime
    slot: int  # this process's place among them: names its API socket
    identities: LocalIdentities | OidcIdentities
    identity: Identity
    session_id: str
    shutdown: ShutdownCoordinator
    config_version: str
    policy_version: str

    @property
    def audit(self) -> AuditLog:
        return self.opened.audit

    def inputs(self, approver: Approver | None = None) -> SessionInputs:
        return SessionInputs(
            name=self.name,
            config=self.config,
            policy=self.policy,
            policy_version=self.policy_version,
            config_version=self.config_version,
            audit=self.audit,
            shutdown=self.shutdown,
            identities=self.identities,
            identity=self.identity,
            session_id=self.session_id,
            slot=self.slot,
            policy_path=paths.proxy_policy_path(self.name),
            protected=ProtectedPaths(
                [paths.config_dir(), paths.product_log_root(self.manager.log_path), paths.runtime_dir()]
            ),
            approver=approver,
        )

    def banner(self) -> list[str]:
        config, manager, identity, opened = self.config, self.manager, self.identity, self.opened
        if manager.auth.mode == "local":
            who = (
                f"  identity: local user '{identity.subject_id}' [yellow](unauthenticated single-user "
                "mode: no identity provider)[/]"
            )
        else:
            assert manager.auth.oidc is not None
            who = f"  identity: '{identity.subject_id}' via OIDC ({manager.auth.oidc.issuer}), token verified on every request"
        return [
            f"mcp-acp {__version__} · proxy [bold]{self.name}[/] ({config.proxy_id}) → "
            f"backend [bold]{config.backend.server_name}[/]",
            who,
            f"  audit: {self.audit.log_dir} (hash-chained{', keyed' if opened.key else ''}"
            f"{' with a key created now' if opened.key_created else ''}"
            f"{', fsync' if config.audit_durable else ''})",
        ]

    def finish(self, code: int | None, say: Say) -> int:
        """The session's last entry, then a clean close of the trail (unless a security shutdown
        closed it); 10 when that entry could not be written."""
        end_reason = "normal" if code == 0 else "error"
        shutdown, audit = self.shutdown, self.audit
        if not shutdown.is_shutting_down:
            try:
                auth_log.session_ended(audit, self.session_id, self.identity, end_reason)
            except AuditWriteError as exc:  # nothing is lost: the entry goes to the fallback chain
                shutdown.record_with_fallback(
                    "auth",
                    {"event_type": "session_ended", "end_reason": end_reason, "bound_session_id": self.session_id},
                    str(exc),
                )
                say(f"[bold red]Error:[/] audit log failure at shutdown: {exc}")
                code = AuditFailure.exit_code
        close_trail(self.name, self.opened) if not shutdown.is_shutting_down else audit.close()
        self.locks.close()
        return 1 if code is None else code


Identify = Callable[[ManagerConfig, AuditLog], tuple[LocalIdentities | OidcIdentities, Identity]]


def open_proxy(name: str, identify: Identify | None = None, checkpointing: Checkpointing | None = None) -> Started:
    """Everything before the session: raises StartupRefused when the proxy must not start.
    `identify` says who the process acts as (default: the user at this machine; the gateway
    passes its own service identity and authenticates each remote caller per request).
    `checkpointing`: sign checkpoints of the trail (the gateway's replicas; docs/audit.md)."""
    try:
        manager = load_manager_config()
        config = load_proxy_config(name)
        policy = load_policy(name)
        log_dir = paths.proxy_log_dir(manager.log_path, name)
        require_private_modes(paths.config_dir(), log_dir, paths.runtime_dir())  # 0700/0600, ours, at every start
    except ConfigError as exc:
        raise StartupRefused("config_invalid", exc) from None
    try:
        locks = FolderLocks(log_dir)
        slot = locks.claim_slot(paths.MAX_SESSIONS)
    except AlreadyRunning as exc:
        raise StartupRefused("startup_failed", exc) from None
    except OSError as exc:
        failure = AuditFailure(f"cannot use the log folder {log_dir}: {exc.strerror or exc}")
        raise StartupRefused("audit_failure", failure, AuditFailure.exit_code) from None
    try:
        if checkpointing is not None:
            checkpointing = replace(checkpointing, log_root=paths.product_log_root(manager.log_path))
        opened = open_trail(name, log_dir, config, locks, checkpointing)
    except AuditFailure as exc:
        locks.close()
        raise StartupRefused("audit_failure", exc, AuditFailure.exit_code) from None
    except OSError as exc:
        locks.close()
        failure = AuditFailure(f"cannot open the audit logs in {log_dir}: {exc}")
        raise StartupRefused("audit_failure", failure, 10) from None
    audit = opened.audit

    identities, identity = (identify or _verified_identity)(manager, audit)
    session_id = auth_log.new_bound_session_id(identity)
    shutdown = ShutdownCoordinator(log_dir, name, config.proxy_id)
    shutdown.audit = audit
    emergency.reserve()  # room for the records of last resort that a full disk cannot take
    shutdown.on_shutdown.append(
        lambda: auth_log.session_ended(
            audit,
            session_id,
            identity,
            "session_binding_violation" if shutdown.failure_type == "session_binding_violation" else "error",
        )
    )
    logging.getLogger().addHandler(SystemLogHandler(audit, shutdown, session_id))
    try:
        for warning in opened.warnings:
            log.warning(warning)
        versions = [
            record_load(audit, kind, path, path.read_text(encoding="utf-8"))
            for kind, path in (("config", paths.proxy_config_path(name)), ("policy", paths.proxy_policy_path(name)))
        ]
        auth_log.session_started(audit, session_id, identity, manager.auth.mode)
    except AuditWriteError as exc:
        failure = AuditFailure(f"cannot write the audit logs: {exc}")
        raise StartupRefused("audit_failure", failure, AuditFailure.exit_code) from None
    return Started(
        name, manager, config, policy, opened, locks, slot, identities, identity, session_id, shutdown, *versions
    )


def _verified_identity(manager: ManagerConfig, audit: AuditLog) -> tuple[LocalIdentities | OidcIdentities, Identity]:
    """Who this session belongs to (docs/auth.md#what-the-proxy-checks): the OS user, or the verified OIDC user.
    No usable token refuses the start with exit 13; keys that cannot be fetched, exit 12."""
    if manager.auth.mode == "local":
        local = LocalIdentities()
        return local, local.identity

    def record(event: dict) -> None:
        audit.write("auth", {**event, "method": "oidc"})

    try:
        oidc = OidcIdentities(manager.auth.oidc_settings, on_auth_event=record)
        return oidc, startup_identity(oidc)
    except (IdentityUnverifiable, OidcError) as exc:
        raise StartupRefused("identity_verification_failed", exc, IDENTITY_FAILURE_EXIT) from None
    except AuthenticationError as exc:
        raise StartupRefused("not_authenticated", exc, AUTHENTICATION_FAILURE_EXIT) from None
