"""The incident records (docs/configuration.md#files-mcp-acp-writes-besides-the-logs) of every proxy, merged into one timeline:
- shutdowns.jsonl in each proxy's log folder (security shutdowns),
- bootstrap.jsonl in each proxy's config folder (start-up failures),
- emergency_audit.jsonl in the config folder (audit entries of last resort, for all proxies,
  attributed by their `proxy_name`).
These files are plain JSONL written by crashing processes: a line that does not parse, or has no
readable time, is skipped. Everything here reads the disk: call it from a thread.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from mcp_acp.audit.files import SHUTDOWNS
from mcp_acp.config import paths
from mcp_acp.config.models import proxy_name_problem
from mcp_acp.config.store import (
    ConfigError,
    list_proxy_names,
    load_manager_config,
    load_proxy_config,
)

INCIDENT_TYPES = ("shutdown", "bootstrap", "emergency")
CRITICAL_TYPES = ("shutdown", "emergency")
TIME_RANGES = {"5m": timedelta(minutes=5), "1h": timedelta(hours=1), "24h": timedelta(hours=24), "all": None}
TAIL_BYTES = 64 * 1024  # the last shutdown is in the last line; no need to read years of them


def parse_time(value: object) -> datetime | None:
    """An ISO 8601 time as aware UTC, or None."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _entry(line: bytes) -> tuple[datetime, dict] | None:
    try:
        entry = json.loads(line)
    except ValueError:
        return None
    if not isinstance(entry, dict) or (when := parse_time(entry.get("time"))) is None:
        return None
    return when, entry


def _read(path: Path) -> list[tuple[datetime, dict]]:
    try:
        data = path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return []
    return [found for line in data.splitlines() if line.strip() and (found := _entry(line))]


def _proxy_ids() -> dict[str, str | None]:
    """Configured proxy names and their ids; a proxy whose config is broken still has incidents
    (most likely a bootstrap failure saying so), just no id."""
    ids = {}
    for name in list_proxy_names():
        try:
            ids[name] = load_proxy_config(name).proxy_id
        except ConfigError:
            ids[name] = None
    return ids


def read_incidents(
    log_root: Path, proxy: str | None = None, incident_type: str | None = None
) -> list[tuple[datetime, dict]]:
    """(time, entry) newest first; each entry gains incident_type, proxy_name and proxy_id.
    `proxy` filters by name; only configured names are turned into paths."""
    ids = _proxy_ids()
    found = []

    def add(kind: str, items, name: str | None, proxy_id: str | None) -> None:
        found.extend(
            (when, {**entry, "incident_type": kind, "proxy_name": name, "proxy_id": proxy_id}) for when, entry in items
        )

    for name, proxy_id in ids.items():
        if proxy is not None and name != proxy:
            continue
        if incident_type in (None, "shutdown"):
            add("shutdown", _read(paths.proxy_log_dir(log_root, name) / SHUTDOWNS), name, proxy_id)
        if incident_type in (None, "bootstrap"):
            add("bootstrap", _read(paths.bootstrap_log_path(name)), name, proxy_id)
    if incident_type in (None, "emergency"):
        for when, entry in _read(paths.emergency_audit_path()):
            name = entry.get("proxy_name") if isinstance(entry.get("proxy_name"), str) else None
            if proxy is None or name == proxy:
                add(
                    "emergency",
                    [(when, entry)],
                    name,
                    entry.get("proxy_id") or (ids.get(name) if name is not None else None),
                )
    found.sort(key=lambda item: item[0], reverse=True)
    return found


def query(
    log_root: Path, proxy: str | None, incident_type: str | None, time_range: str, limit: int, before: datetime | None
) -> dict:
    """The timeline page docs/manager.md#the-managers-routes describes: newest first, `before` is the cursor of the next page."""
    since = TIME_RANGES[time_range]
    oldest = datetime.now(UTC) - since if since else None
    matching = [
        entry
        for when, entry in read_incidents(log_root, proxy, incident_type)
        if (oldest is None or when >= oldest) and (before is None or when < before)
    ]
    return {
        "entries": matching[:limit],
        "total_returned": min(limit, len(matching)),
        "has_more": len(matching) > limit,
        "filters_applied": {
            "proxy": proxy,
            "incident_type": incident_type,
            "time_range": time_range,
            "before": before.isoformat() if before else None,
            "limit": limit,
        },
    }


def summary(log_root: Path, since: datetime | None = None, proxy: str | None = None) -> dict:
    incidents = read_incidents(log_root, proxy)
    counts = {kind: sum(1 for _, entry in incidents if entry["incident_type"] == kind) for kind in INCIDENT_TYPES}
    latest = next((entry["time"] for _, entry in incidents if entry["incident_type"] in CRITICAL_TYPES), None)
    return {
        "shutdowns_count": counts["shutdown"],
        "emergency_count": counts["emergency"],
        "bootstrap_count": counts["bootstrap"],
        "latest_critical_timestamp": latest,
        # The UI's unread badge: incidents after the user's last visit (all of them without one).
        "since": since.isoformat() if since else None,
        "new_count": sum(1 for when, _ in incidents if since is None or when > since),
    }


def last_shutdown(proxy_name: str, max_age_seconds: float = 30, log_dir: Path | None = None) -> dict | None:
    """The proxy's last security shutdown if it is at most `max_age_seconds` old, else None:
    why a proxy that just disconnected stopped (docs/manager.md#what-the-manager-knows). A malformed last line means None."""
    if proxy_name_problem(proxy_name):
        return None
    log_root = log_dir if log_dir is not None else load_manager_config().log_path
    path = paths.proxy_log_dir(log_root, proxy_name) / SHUTDOWNS
    try:
        with path.open("rb") as handle:
            handle.seek(max(0, path.stat().st_size - TAIL_BYTES))
            lines = [line for line in handle.read().splitlines() if line.strip()]
    except OSError:
        return None
    found = _entry(lines[-1]) if lines else None
    if found is None:
        return None
    when, entry = found
    if not 0 <= (datetime.now(UTC) - when).total_seconds() <= max_age_seconds:
        return None
    return {key: entry.get(key) for key in ("failure_type", "reason", "exit_code", "time")}
