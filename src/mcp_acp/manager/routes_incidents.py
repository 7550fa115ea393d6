"""The incidents timeline across proxies (docs/manager.md#the-managers-routes): security shutdowns, start-up failures and
emergency audit entries, newest first, read from disk by manager/incidents.py."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Query

from mcp_acp.localhttp.errors import api_error
from mcp_acp.manager import incidents
from mcp_acp.manager.state import ManagerState


def _time_param(name: str, value: str | None) -> datetime | None:
    if value is None:
        return None
    parsed = incidents.parse_time(value)
    if parsed is None:
        raise api_error(422, "VALIDATION_ERROR", f"{name} must be an ISO 8601 time, e.g. 2025-01-31T12:00:00Z")
    return parsed


def router(state: ManagerState) -> APIRouter:
    api = APIRouter()

    # Plain `def` endpoints: FastAPI runs them in its threadpool, off the event loop, as file reads must.
    @api.get("/api/manager/incidents")
    def list_incidents(
        proxy: str | None = None,
        incident_type: Literal["shutdown", "bootstrap", "emergency"] | None = None,
        time_range: Literal["5m", "1h", "24h", "all"] = "all",
        limit: int = Query(100, ge=1, le=1000),
        before: str | None = None,
    ) -> dict:
        return incidents.query(
            state.config.log_path, proxy, incident_type, time_range, limit, _time_param("before", before)
        )

    @api.get("/api/manager/incidents/summary")
    def incidents_summary(since: str | None = None, proxy: str | None = None) -> dict:
        return incidents.summary(state.config.log_path, _time_param("since", since), proxy)

    return api
