"""Sign-in state for the UI and the CLI's notices (SPEC §8.3, §7.5): status, reload after a
login elsewhere, clear, and logout. The token service (OIDC mode only) tells the proxies."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter

from mcp_acp.cli.auth import auth_status
from mcp_acp.identity import tokens as token_store
from mcp_acp.manager.state import ManagerState

LOCAL_MODE = "local mode (no identity provider): there is no login to {}"


def _status_view(state: ManagerState) -> dict:
    info = auth_status(state.config)
    oidc = state.config.auth.oidc
    user = info.get("user", {})
    expires_in = info.get("expires_in_seconds")
    return {"configured": state.config.auth.mode == "oidc", "authenticated": info["authenticated"],
            "subject_id": user.get("sub"), "email": user.get("email"), "name": user.get("name"),
            "provider": oidc.issuer if oidc else None, "client_id": oidc.client_id if oidc else None,
            "audience": oidc.audience if oidc else None, "scopes": oidc.scopes if oidc else [],
            "token_expires_in_hours": round(expires_in / 3600, 2) if expires_in is not None else None,
            "has_refresh_token": info.get("refresh_token", False), "storage_backend": info["storage"],
            "mode": info["mode"], "message": info["message"]}


def router(state: ManagerState) -> APIRouter:
    api = APIRouter()

    @api.get("/api/manager/auth/status")
    async def status() -> dict:
        return await asyncio.to_thread(_status_view, state)

    # The token service's methods write to the proxies' connections: called on the event loop.
    @api.post("/api/manager/auth/reload")
    async def reload() -> dict:
        if state.tokens is None:
            return {"ok": True, "message": LOCAL_MODE.format("reload")}
        state.tokens.reload()
        return {"ok": True, "message": "login reloaded from storage and sent to the running proxies"}

    @api.post("/api/manager/auth/clear")
    async def clear() -> dict:
        if state.tokens is None:
            return {"ok": True, "message": LOCAL_MODE.format("clear")}
        state.tokens.clear()
        return {"ok": True, "message": "login cleared in the manager and the running proxies"}

    @api.post("/api/manager/auth/logout")
    async def logout() -> dict:
        await asyncio.to_thread(token_store.delete)
        if state.tokens is not None:
            state.tokens.clear()
        message = "Signed out: stored tokens deleted" + ("" if state.tokens is None else
                                                         "; running proxies deny requests from now on")
        state.hub.publish({"type": "auth_logout", "severity": "info", "message": message})
        return {"ok": True, "message": message}

    return api
