"""Reading a proxy's logs for the APIs (docs/manager.md#a-proxys-own-api `GET /api/logs/…`): newest first, filtered, paged.

Pure functions over a proxy's log folder, shared by the proxy's own API and the manager (which
reads the files of proxies that are not running). A log is named by its type; the type is looked
up in a fixed table of relative paths, so nothing a caller sends ever becomes part of a path.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Generator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from mcp_acp.audit.files import DEBUG_FILES, PROTECTED

LOG_FILES = {kind.replace("-", "_"): rel for kind, rel in {**PROTECTED, **DEBUG_FILES}.items()}
DEBUG_LOGS = frozenset(kind.replace("-", "_") for kind in DEBUG_FILES)
TIME_RANGES = {"5m": timedelta(minutes=5), "1h": timedelta(hours=1), "24h": timedelta(hours=24), "all": None}
FILTERS = (
    "session_id",
    "bound_session_id",
    "request_id",
    "policy_version",
    "config_version",
    "decision",
    "hitl_outcome",
    "event_type",
    "level",
)
CHUNK = 64 * 1024


class UnknownLog(Exception):
    """No log of that type exists."""


class LogNotAvailable(Exception):
    """The log exists only with log_level DEBUG, which this proxy does not use."""


def log_path(log_dir: Path, log_type: str, debug_enabled: bool) -> Path:
    rel = LOG_FILES.get(log_type)
    if rel is None:
        raise UnknownLog(f"unknown log type {log_type!r}; known: {', '.join(LOG_FILES)}")
    if log_type in DEBUG_LOGS and not debug_enabled:
        raise LogNotAvailable(f"the {log_type} log is written only with log_level DEBUG")
    return log_dir / rel


def parse_time(text: str) -> datetime:
    """An ISO 8601 time; one without a zone is UTC. ValueError when it is not one."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def lines_backwards(path: Path) -> Generator[bytes, None, None]:
    """The non-blank lines of a file, last first, read in chunks from the end: a page of recent
    entries costs the same however large the log has grown."""
    with open(path, "rb") as handle:
        position = handle.seek(0, os.SEEK_END)
        head = b""  # the start of a line whose beginning lies in the chunk not yet read
        while position > 0:
            step = min(CHUNK, position)
            position -= step
            handle.seek(position)
            lines = (handle.read(step) + head).split(b"\n")
            head = lines.pop(0)
            yield from (line for line in reversed(lines) if line.strip())
        if head.strip():
            yield head


def _matches(entry: dict[str, Any], filters: dict[str, str]) -> bool:
    for name, wanted in filters.items():
        # auth entries say event_type, the others event
        value = entry.get("event_type", entry.get("event")) if name == "event_type" else entry.get(name)
        if value is None:
            return False
        if name == "level":
            if str(value).upper() != wanted.upper():
                return False
        elif str(value) != wanted:
            return False
    return True


def _scan(
    path: Path, since: datetime | None, until: datetime | None, wanted: dict[str, str], limit: int
) -> tuple[list[dict[str, Any]], int, bool]:
    """(up to `limit` matching entries newest first, lines scanned, whether more match)."""
    entries: list[dict[str, Any]] = []
    scanned = 0
    try:
        with contextlib.closing(lines_backwards(path)) as lines:
            for raw in lines:
                scanned += 1
                try:
                    entry = json.loads(raw)
                    moment = parse_time(entry["time"]) if since or until else None
                except (ValueError, TypeError, KeyError):
                    continue
                if not isinstance(entry, dict):
                    continue
                entry = cast("dict[str, Any]", entry)
                if since and moment and moment < since:
                    break
                if (until and moment and moment >= until) or not _matches(entry, wanted):
                    continue
                if len(entries) == limit:
                    return entries, scanned, True
                entries.append(entry)
    except FileNotFoundError:
        pass  # not written yet: no entries
    return entries, scanned, False


def query_log(
    path: Path,
    *,
    time_range: str = "5m",
    limit: int = 100,
    before: str | None = None,
    filters: dict[str, str | None] | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Entries of one log file, newest first, as the logs API returns them.

    `before` is the `time` of the last entry of the previous page. Logs are append-only, so file
    order is time order: the scan stops at the first entry older than the time range. Lines that
    are not JSON objects (a torn last line after a crash) are skipped. ValueError on a bad
    time_range or `before`.
    """
    if time_range not in TIME_RANGES:
        raise ValueError(f"time_range must be one of {', '.join(TIME_RANGES)}")
    if not 1 <= limit <= 1000:
        raise ValueError("limit must be between 1 and 1000")
    span = TIME_RANGES[time_range]
    since = (now or datetime.now(UTC)) - span if span else None
    until = parse_time(before) if before else None
    wanted = {name: str(value) for name, value in (filters or {}).items() if value not in (None, "")}
    unknown = set(wanted) - set(FILTERS)
    if unknown:
        raise ValueError(f"unknown filters: {', '.join(sorted(unknown))}")

    entries, scanned, has_more = _scan(path, since, until, wanted, limit)
    applied = {"time_range": time_range, **({"before": before} if before else {}), **wanted}
    return {
        "entries": entries,
        "total_returned": len(entries),
        "total_scanned": scanned,
        "log_file": str(path),
        "has_more": has_more,
        "filters_applied": applied,
    }


def _versions(path: Path, field: str) -> list[str]:
    found: set[str] = set()
    try:
        for raw in path.read_bytes().splitlines():
            try:
                version = json.loads(raw).get(field)
            except (ValueError, AttributeError):
                continue
            if isinstance(version, str):
                found.add(version)
    except FileNotFoundError:
        pass
    return sorted(found, key=lambda v: (len(v), v))  # v2 before v10


def logs_metadata(log_dir: Path, debug_enabled: bool) -> dict[str, Any]:
    """`GET /api/logs/metadata`: every readable log with its size and repair backups, grouped by
    folder, and the config/policy versions the history holds (for the version filters)."""
    folders: dict[str, list[dict[str, Any]]] = {}
    for log_type, rel in LOG_FILES.items():
        if log_type in DEBUG_LOGS and not debug_enabled:
            continue
        path = log_dir / rel
        try:
            size, exists = path.stat().st_size, True
        except FileNotFoundError:
            size, exists = 0, False
        folders.setdefault(Path(rel).parent.name, []).append(
            {
                "name": log_type,
                "path": str(path),
                "exists": exists,
                "size_bytes": size,
                "backups": sorted(p.name for p in path.parent.glob(f"{path.stem}.broken.*.jsonl")),
            }
        )
    return {
        "folders": [{"name": name, "files": files} for name, files in folders.items()],
        "debug_enabled": debug_enabled,
        "available_policy_versions": _versions(log_dir / LOG_FILES["policy_history"], "policy_version"),
        "available_config_versions": _versions(log_dir / LOG_FILES["config_history"], "config_version"),
    }
