"""Opening a proxy's audit trail at start, and closing it at a clean stop.

Start: verify (verify_on_startup), create the audit key if the proxy should have one and has
none, open the writer, then record how far the trail reaches outside the log folder
(trail.py). Stop: record the final heads. Both records are what a later start or `audit verify`
holds the folder to, so a wiped or rolled-back folder is caught.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from mcp_acp.audit import trail
from mcp_acp.audit.checkpointer import Checkpointer
from mcp_acp.audit.keys import AuditKey, create_audit_key, load_audit_key
from mcp_acp.audit.sharing import START_TIMEOUT_SECONDS, FolderLocks
from mcp_acp.audit.signing import SigningError, load_or_create, publish
from mcp_acp.audit.verify import AuditFailure, verify_on_startup
from mcp_acp.audit.writer import AuditLog, AuditWriteError, Rotation
from mcp_acp.config.checkpoints import CheckpointSettings
from mcp_acp.config.models import ProxyConfig
from mcp_acp.config.store import ConfigError

log = logging.getLogger(__name__)


@dataclass
class OpenTrail:
    audit: AuditLog
    key: AuditKey | None
    warnings: list[str]
    key_created: bool = False


@dataclass(frozen=True)
class Checkpointing:
    """Signed checkpoints for this trail (the gateway asks for them): who signs, how often, and
    the log root whose `replicas/` folder gets the public key."""

    replica: str
    settings: CheckpointSettings
    log_root: Path | None = None


def _checkpointer(name: str, log_dir: Path, key: AuditKey | None, wanted: Checkpointing) -> Checkpointer:
    try:
        signer = load_or_create(wanted.replica)
        if wanted.log_root is not None:
            publish(signer, wanted.log_root)
    except (SigningError, ConfigError, OSError) as exc:
        raise AuditFailure(f"cannot set up the audit signing key of replica {wanted.replica}: {exc}") from None
    settings = wanted.settings
    return Checkpointer(
        log_dir, name, signer, settings.every_entries, settings.every_seconds, dict(key.since) if key else None
    )


def rotation_of(config: ProxyConfig) -> Rotation:
    settings = config.log_rotation
    return Rotation(settings.max_bytes, settings.max_age_hours * 3600, settings.compress)


def open_trail(
    name: str,
    log_dir: Path,
    config: ProxyConfig,
    locks: FolderLocks | None = None,
    checkpointing: Checkpointing | None = None,
) -> OpenTrail:
    """Raises AuditFailure (exit 10) when the trail cannot be trusted or opened. With `locks`,
    other processes of the proxy may be running: nothing is written while this one verifies."""
    if locks is None:
        return _open_trail(name, log_dir, config, None, checkpointing)
    try:
        with locks.held(START_TIMEOUT_SECONDS):
            return _open_trail(name, log_dir, config, locks, checkpointing)
    except TimeoutError as exc:
        raise AuditFailure(f"cannot open the audit logs in {log_dir}: {exc}") from None


def _open_trail(
    name: str, log_dir: Path, config: ProxyConfig, locks: FolderLocks | None, checkpointing: Checkpointing | None
) -> OpenTrail:
    try:
        key = load_audit_key(name)
    except (ConfigError, ValueError, KeyError) as exc:
        raise AuditFailure(f"cannot read the audit key of proxy {name}: {exc}") from None
    state, warnings = verify_on_startup(log_dir, name, key)
    created = False
    # A key is created only by a process that is alone: its siblings would go on unkeyed.
    if key is None and config.audit_key and (locks is None or locks.alone()):
        # Keyed from the next entry of every file on: what is already there keeps its plain hashes.
        since = {rel: f.last_sequence + 1 for rel, f in state.files.items()}
        try:
            key = create_audit_key(name, since)
            created = True
        except ConfigError as exc:  # no keychain and no usable file store: stay unkeyed, say so
            warnings.append(f"could not create an audit key ({exc}); the trail stays unkeyed")
        else:
            state.key = key.key
    signer = _checkpointer(name, log_dir, key, checkpointing) if checkpointing else None
    try:
        audit = AuditLog(log_dir, state, key, config.audit_durable, rotation_of(config), locks, signer)
    except OSError as exc:
        raise AuditFailure(f"cannot open the audit logs in {log_dir}: {exc.strerror or exc}") from None
    except AuditWriteError as exc:
        raise AuditFailure(f"cannot open the audit logs in {log_dir}: {exc}") from None
    try:
        trail.save(name, key, state)
    except (ConfigError, OSError) as exc:
        audit.close()
        raise AuditFailure(f"cannot record the audit trail of proxy {name} outside its log folder: {exc}") from None
    return OpenTrail(audit, key, warnings, created)


def close_trail(name: str, opened: OpenTrail) -> None:
    """A clean stop: the record outside the folder moves to the final entries."""
    try:
        with opened.audit.turn():
            trail.save(name, opened.key, opened.audit.state)
    except (ConfigError, OSError, AuditWriteError) as exc:
        log.warning("could not record the audit trail's final entries: %s", exc)
    opened.audit.close()
