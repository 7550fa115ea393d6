"""A proxy's config.json on disk, read and edited from the UI (docs/manager.md#editing-a-proxy-from-the-api, docs/configuration.md#a-proxys-configjson).

The config never holds a secret (an HTTP backend's API key is only named by `credential_key`),
so it is shown as it is. An edit is deep-merged into the saved file, validated by the config
model and saved; a running proxy keeps the config it started with until it restarts, and at
that start it records the new version in its config history (audit/history.py). `compare` shows
the config the running proxy loaded (the snapshot its config history holds) beside the saved one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Body
from pydantic import ValidationError

from mcp_acp.admin.api_key import ApiKeyError, delete_api_key, set_api_key, store_name
from mcp_acp.audit.log_query import LOG_FILES, lines_backwards
from mcp_acp.config import paths
from mcp_acp.config.models import ProxyConfig
from mcp_acp.config.store import (
    ConfigError,
    load_proxy_config,
    read_json,
    save_model,
    validation_problems,
)
from mcp_acp.localhttp.errors import api_error
from mcp_acp.manager.routes_proxies import find_proxy
from mcp_acp.manager.state import ManagerState, ProxyUnavailable

FIXED = ("proxy_id", "created_at")  # identity of the proxy: never changed by an edit
DELETE = None  # a null in the body removes the key (an optional block such as `mtls`)


def deep_merge(base: dict, change: dict) -> dict:
    merged = dict(base)
    for key, value in change.items():
        if value is DELETE:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _problems(error: ValidationError) -> list[str]:
    return validation_problems(
        error, "unknown field (check the spelling; secrets such as API keys never go in config.json)"
    )


def _loaded_snapshot(log_dir: Path) -> tuple[str | None, dict | None]:
    """(version, config) the proxy loaded at its last start, from its config history: the last
    `config_loaded` names the version, the newest entry of that version with a snapshot holds it."""
    version = None
    try:
        for raw in lines_backwards(log_dir / LOG_FILES["config_history"]):
            try:
                entry = json.loads(raw)
            except ValueError:
                continue
            if version is None and entry.get("event") == "config_loaded":
                version = entry.get("config_version")
            if version is not None and entry.get("config_version") == version and entry.get("snapshot"):
                return version, json.loads(entry["snapshot"])
    except (FileNotFoundError, ValueError):
        pass
    return version, None


class ProxyConfigFile:
    """One proxy's config file (blocking: run in a thread)."""

    def __init__(self, state: ManagerState, proxy_id: str) -> None:
        found = find_proxy(proxy_id)
        if found is None:
            raise api_error(404, "PROXY_NOT_FOUND", f"no configured proxy has the id {proxy_id!r}")
        self.name, self.config = found
        self.path = paths.proxy_config_path(self.name)
        self.log_dir = paths.proxy_log_dir(state.config.log_path, self.name)

    def update(self, change: dict) -> ProxyConfig:
        try:
            current, _ = read_json(self.path, f"Re-create it with 'mcp-acp proxy add {self.name}'.")
        except ConfigError as exc:
            raise api_error(404, "CONFIG_NOT_FOUND", str(exc)) from None
        if not isinstance(current, dict):
            raise api_error(
                400,
                "CONFIG_INVALID",
                f"{self.path} does not hold a JSON object; re-create it with 'mcp-acp proxy add {self.name}'",
            )
        for key in FIXED:
            if key in change and change[key] != current.get(key):
                raise api_error(
                    400,
                    "CONFIG_INVALID",
                    f"'{key}' identifies the proxy and cannot be changed; leave it out of the body",
                    validation_errors=[f"field '{key}': cannot be changed"],
                )
        try:
            updated = ProxyConfig.model_validate(deep_merge(current, change))
        except ValidationError as exc:
            problems = _problems(exc)
            raise api_error(
                400,
                "CONFIG_INVALID",
                f"the config was not saved: {'; '.join(problems)}. Fix the fields named and send the change again.",
                validation_errors=problems,
            ) from None
        try:
            save_model(self.path, updated)
        except OSError as exc:
            raise api_error(500, "CONFIG_SAVE_FAILED", f"cannot write {self.path}: {exc.strerror or exc}") from None
        return updated

    def compare(self) -> dict:
        saved = load_proxy_config(self.name).model_dump(mode="json")
        version, loaded = _loaded_snapshot(self.log_dir)
        if loaded is not None:
            with contextlib.suppress(ValidationError):  # an invalid one is shown as recorded
                loaded = ProxyConfig.model_validate(loaded).model_dump(mode="json")
        return {"saved": saved, "running": loaded, "running_config_version": version}


def router(state: ManagerState) -> APIRouter:
    api = APIRouter()

    async def config_file(proxy_id: str) -> ProxyConfigFile:
        return await asyncio.to_thread(ProxyConfigFile, state, proxy_id)

    @api.get("/api/manager/proxies/{proxy_id}/config")
    async def get_config(proxy_id: str) -> dict:
        target = await config_file(proxy_id)
        return target.config.model_dump(mode="json")

    @api.put("/api/manager/proxies/{proxy_id}/config")
    async def put_config(proxy_id: str, change: dict[str, Any] = Body(...)) -> dict:
        target = await config_file(proxy_id)
        updated = await asyncio.to_thread(target.update, change)
        running = state.registry.get(target.name) is not None
        return {
            "config": updated.model_dump(mode="json"),
            "restart_required": running,
            "message": f"Saved. Proxy {target.name} uses the new config from its next start (restart its MCP client)."
            if running
            else "Saved.",
        }

    @api.get("/api/manager/proxies/{proxy_id}/config/compare")
    async def compare(proxy_id: str) -> dict:
        target = await config_file(proxy_id)
        found = await asyncio.to_thread(target.compare)
        info = None
        if state.registry.get(target.name) is not None:
            try:
                answer = await state.ask_proxy(target.name, "GET", "/api/proxies")
                info = answer.json()[0] if answer.status_code == 200 else None
            except (ProxyUnavailable, ValueError, IndexError):
                info = None
        if info is None:  # not running: nothing runs with any config
            return {
                "running": None,
                "saved": found["saved"],
                "differs": False,
                "running_info": None,
                "running_config_version": None,
            }
        return {**found, "differs": found["running"] != found["saved"], "running_info": info}

    @api.put("/api/manager/proxies/{proxy_id}/config/api-key")
    async def set_key(proxy_id: str, body: dict[str, Any] = Body(...)) -> dict:
        target = await config_file(proxy_id)
        if not isinstance(body.get("api_key"), str):
            raise api_error(
                422, "VALIDATION_ERROR", 'send {"api_key": "..."}', validation_errors=["api_key: required, a string"]
            )
        try:
            secret = await asyncio.to_thread(set_api_key, target.name, body["api_key"])
        except (ApiKeyError, ConfigError) as exc:
            raise api_error(400, "CONFIG_INVALID", str(exc)) from None
        return {
            "ok": True,
            "credential_key": secret,
            "restart_required": state.registry.get(target.name) is not None,
            "message": f"API key stored in {await asyncio.to_thread(store_name)}; the proxy sends it from its "
            "next start.",
        }

    @api.delete("/api/manager/proxies/{proxy_id}/config/api-key")
    async def delete_key(proxy_id: str) -> dict:
        target = await config_file(proxy_id)
        try:
            stored, referenced = await asyncio.to_thread(delete_api_key, target.name)
        except (ApiKeyError, ConfigError) as exc:
            raise api_error(500, "CONFIG_SAVE_FAILED", str(exc)) from None
        if not stored and not referenced:
            raise api_error(404, "NOT_FOUND", f"proxy {target.name} has no backend API key")
        return {"ok": True, "message": "API key removed; the proxy stops sending it from its next start."}

    return api
