"""Deleting proxies through the manager (docs/manager.md#the-managers-routes): `DELETE /api/manager/proxies/{proxy_id}` and
`POST /api/manager/proxies/notify-deleted` (the CLI's notice after `mcp-acp proxy delete`).

Both end in a `proxy_deleted` event, so every open UI drops the proxy's card.
"""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter
from pydantic import BaseModel

from mcp_acp.admin import deletion
from mcp_acp.config.models import ProxyName
from mcp_acp.event_names import Event
from mcp_acp.localhttp.errors import api_error

log = logging.getLogger("mcp_acp.manager")


class DeletedNotice(BaseModel):
    proxy_id: str
    proxy_name: ProxyName
    archive_name: str | None = None


def _announce(state, proxy_name: str, proxy_id: str, archive_name: str | None, by: str) -> None:
    where = f"archived as {archive_name}" if archive_name else "purged"
    message = f"proxy {proxy_name} was deleted ({where}) by the {by}"
    log.warning("%s", message, extra={"proxy_name": proxy_name})  # WARNING: kept in the manager's system.jsonl
    try:  # best effort: a failed broadcast never fails a deletion that happened
        state.hub.publish(
            {
                "type": Event.PROXY_DELETED,
                "proxy_name": proxy_name,
                "proxy_id": proxy_id,
                "archive_name": archive_name,
                "severity": "warning",
                "message": message,
            }
        )
    except Exception:
        log.exception("could not broadcast the deletion of proxy %s", proxy_name)


def router(state) -> APIRouter:
    api = APIRouter()

    @api.delete("/api/manager/proxies/{proxy_id}")
    async def delete_proxy(proxy_id: str, purge: bool = False) -> dict:
        name = await asyncio.to_thread(deletion.find_proxy_by_id, proxy_id)
        if name is None:
            raise api_error(404, "PROXY_NOT_FOUND", f"no configured proxy has the id {proxy_id!r}")
        log_dir = state.config.log_path
        if state.registry.by_id(proxy_id) or await asyncio.to_thread(deletion.proxy_running, name, log_dir):
            raise api_error(
                409,
                "PROXY_RUNNING",
                f"proxy {name} is running; stop it (close its MCP client) before deleting it",
                proxy_name=name,
            )
        try:
            result = await asyncio.to_thread(deletion.delete_proxy, name, purge, "api", log_dir)
        except deletion.ProxyRunning as exc:  # it started between our check and the deletion
            raise api_error(409, "PROXY_RUNNING", str(exc), proxy_name=name) from None
        except deletion.ProxyNotFound as exc:  # deleted by someone else meanwhile
            raise api_error(404, "PROXY_NOT_FOUND", str(exc)) from None
        except (deletion.DeletionError, OSError) as exc:
            log.error("deleting proxy %s failed: %s", name, exc)
            raise api_error(
                500, "PROXY_DELETION_FAILED", f"deleting proxy {name} failed: {exc}", proxy_name=name
            ) from None
        for warning in result.warnings:
            log.warning("deleting proxy %s: %s", name, warning)
        _announce(state, name, proxy_id, result.archive_name, "API")
        return result.as_dict()

    @api.post("/api/manager/proxies/notify-deleted")
    async def notify_deleted(notice: DeletedNotice) -> dict:
        _announce(state, notice.proxy_name, notice.proxy_id, notice.archive_name, "CLI")
        return {"ok": True}

    return api
