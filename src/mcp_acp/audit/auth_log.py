"""auth.jsonl: the session lifecycle (no per-request success noise)."""

from __future__ import annotations

import secrets

from mcp_acp.audit.writer import AuditLog
from mcp_acp.identity.local import Identity


def new_bound_session_id(identity: Identity) -> str:
    return f"{identity.subject_id}:{secrets.token_urlsafe(32)}"


def session_started(audit: AuditLog, session_id: str, identity: Identity, mode: str) -> None:
    audit.write(
        "auth",
        {
            "event_type": "session_started",
            "status": "success",
            "bound_session_id": session_id,
            "subject": {"subject_id": identity.subject_id, "provenance": identity.provenance},
            "method": mode,
            "message": f"session started ({mode} identity)",
        },
    )


def session_ended(audit: AuditLog, session_id: str, identity: Identity, end_reason: str) -> None:
    audit.write(
        "auth",
        {
            "event_type": "session_ended",
            "status": "success" if end_reason in ("normal", "idle") else "failure",
            "bound_session_id": session_id,
            "subject": {"subject_id": identity.subject_id, "provenance": identity.provenance},
            "end_reason": end_reason,
        },
    )
