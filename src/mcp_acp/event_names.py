"""The one catalogue of event names: what a proxy reports to the manager and the manager streams to
browsers (the `type` of every server-sent event).

Every Python sender names its events from here, and the web UI's names are checked against it
(tests/test_event_names.py), so a renamed or new event cannot drift between the two.
"""

from __future__ import annotations

from enum import StrEnum


class Event(StrEnum):
    # --- sent by a proxy (proxy/events.py), relayed by the manager with proxy_name and proxy_id
    POLICY_RELOADED = "policy_reloaded"
    POLICY_RELOAD_FAILED = "policy_reload_failed"
    CACHED_SNAPSHOT = "cached_snapshot"  # the approval cache as it is now
    CACHE_CLEARED = "cache_cleared"
    CACHE_ENTRY_DELETED = "cache_entry_deleted"
    PENDING_CREATED = "pending_created"
    PENDING_RESOLVED = "pending_resolved"
    PENDING_TIMEOUT = "pending_timeout"
    PENDING_CANCELLED = "pending_cancelled"
    PENDING_NOT_FOUND = "pending_not_found"
    RATE_LIMIT_TRIGGERED = "rate_limit_triggered"
    RATE_LIMIT_APPROVED = "rate_limit_approved"
    RATE_LIMIT_DENIED = "rate_limit_denied"
    STATS_UPDATED = "stats_updated"
    NEW_LOG_ENTRIES = "new_log_entries"
    CRITICAL_SHUTDOWN = "critical_shutdown"

    # --- sent by the manager to browsers
    SNAPSHOT = "snapshot"  # the pending approvals as they are now
    PROXY_REGISTERED = "proxy_registered"
    PROXY_DISCONNECTED = "proxy_disconnected"
    PROXY_DELETED = "proxy_deleted"
    UI_STATUS = "ui_status"
    HEARTBEAT = "heartbeat"
    INCIDENTS_UPDATED = "incidents_updated"
    AUTH_LOGIN = "auth_login"
    AUTH_LOGIN_FAILED = "auth_login_failed"
    AUTH_LOGOUT = "auth_logout"
    TOKEN_UPDATE = "token_update"  # also to every proxy: the signed-in user's tokens
    TOKEN_CLEARED = "token_cleared"

    # --- incident classes the manager's incidents page follows; no sender today but critical_shutdown
    AUDIT_INIT_FAILED = "audit_init_failed"
    DEVICE_HEALTH_FAILED = "device_health_failed"
    SESSION_HIJACKING = "session_hijacking"
    AUDIT_TAMPERING = "audit_tampering"
    AUDIT_MISSING = "audit_missing"
    AUDIT_PERMISSION_DENIED = "audit_permission_denied"
    HEALTH_DEGRADED = "health_degraded"
    HEALTH_MONITOR_FAILED = "health_monitor_failed"

    # --- known to the web UI, with no sender today
    POLICY_ROLLBACK = "policy_rollback"
    BACKEND_CONNECTED = "backend_connected"
    CONFIG_CHANGE_DETECTED = "config_change_detected"


# Events after which the incidents page has something new.
INCIDENT_EVENTS = frozenset(
    {
        Event.CRITICAL_SHUTDOWN,
        Event.AUDIT_INIT_FAILED,
        Event.DEVICE_HEALTH_FAILED,
        Event.SESSION_HIJACKING,
        Event.AUDIT_TAMPERING,
        Event.AUDIT_MISSING,
        Event.AUDIT_PERMISSION_DENIED,
        Event.HEALTH_DEGRADED,
        Event.HEALTH_MONITOR_FAILED,
    }
)
