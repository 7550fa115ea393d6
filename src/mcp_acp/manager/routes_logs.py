"""A proxy's logs read from disk by the manager (docs/manager.md#editing-a-proxy-from-the-api): the same answers as the proxy's own
`/api/logs/…`, whether the proxy runs or not. Plain functions: FastAPI runs them in its thread
pool, so reading a large log never stalls the manager."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from fastapi import APIRouter, Query, Request

from mcp_acp.audit.log_api import log_answer
from mcp_acp.audit.log_query import logs_metadata
from mcp_acp.config import paths
from mcp_acp.localhttp.errors import api_error
from mcp_acp.manager.routes_proxies import find_proxy
from mcp_acp.manager.state import ManagerState


def router(state: ManagerState) -> APIRouter:
    api = APIRouter()

    def proxy_logs(proxy_id: str) -> tuple[Path, bool]:
        found = find_proxy(proxy_id)
        if found is None:
            raise api_error(404, "PROXY_NOT_FOUND", f"no configured proxy has the id {proxy_id!r}")
        name, config = found
        return paths.proxy_log_dir(state.config.log_path, name), config.log_level == "DEBUG"

    @api.get("/api/manager/proxies/{proxy_id}/logs/metadata")
    def metadata(proxy_id: str) -> dict:
        return logs_metadata(*proxy_logs(proxy_id))

    @api.get("/api/manager/proxies/{proxy_id}/logs/{log_type}")
    def logs(
        request: Request,
        proxy_id: str,
        log_type: str,
        time_range: Literal["5m", "1h", "24h", "all"] = "5m",
        limit: int = Query(100, ge=1, le=1000),
        before: str | None = None,
    ) -> dict:
        log_dir, debug = proxy_logs(proxy_id)
        return log_answer(request, log_dir, log_type, debug, time_range=time_range, limit=limit, before=before)

    return api
