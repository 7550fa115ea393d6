"""One log read for an HTTP answer (docs/manager.md#a-proxys-own-api): the proxy's `/api/logs/{type}` and the manager's
`/api/manager/proxies/{id}/logs/{type}` give the same answers and the same errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request

from mcp_acp.audit.log_query import (
    FILTERS,
    LogNotAvailable,
    UnknownLog,
    log_path,
    query_log,
)
from mcp_acp.localhttp.errors import api_error


def log_answer(
    request: Request, log_dir: Path, log_type: str, debug: bool, *, time_range: str, limit: int, before: str | None
) -> dict[str, Any]:
    try:
        path = log_path(log_dir, log_type, debug)
    except UnknownLog as exc:
        raise api_error(404, "NOT_FOUND", str(exc)) from None
    except LogNotAvailable as exc:
        raise api_error(
            404, "LOG_NOT_AVAILABLE", f'{exc}; set "log_level": "DEBUG" in the proxy\'s config and restart it'
        ) from None
    filters = {name: request.query_params.get(name) for name in FILTERS}
    try:
        return query_log(path, time_range=time_range, limit=limit, before=before, filters=filters)
    except ValueError as exc:
        raise api_error(422, "VALIDATION_ERROR", str(exc)) from None
