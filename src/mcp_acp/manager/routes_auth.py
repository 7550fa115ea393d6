"""Sign-in state for the UI and the CLI's notices (docs/manager.md#the-managers-routes, docs/manager.md#what-the-manager-knows): status, reload after a
login elsewhere, clear, logout, and the device-flow login itself. The token service (OIDC mode
only) tells the proxies."""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import jwt
from fastapi import APIRouter

from mcp_acp.admin.auth_status import auth_status
from mcp_acp.config.store import list_proxy_names
from mcp_acp.event_names import Event
from mcp_acp.identity import tokens as token_store
from mcp_acp.identity.oidc import OidcClient, OidcError
from mcp_acp.identity.tokens import StoredTokens
from mcp_acp.localhttp.errors import api_error
from mcp_acp.localhttp.proxy_client import notify_running_proxies
from mcp_acp.manager.state import ManagerState
from mcp_acp.secret_store import SecretStoreError

log = logging.getLogger("mcp_acp.manager")

LOCAL_MODE = "local mode (no identity provider): there is no login to {}"
NO_PROVIDER = (
    "no identity provider is configured (local mode), so there is nothing to sign in to. To use one, "
    "run 'mcp-acp init --auth oidc --oidc-issuer URL --oidc-client-id ID --oidc-audience AUD' "
    "and restart the manager."
)
MAX_LOGIN_FLOWS = 100
# Each waiting login sleeps in a thread of its own pool: a login that takes minutes must not
# hold one of the few threads of the default pool that every other endpoint needs.
LOGIN_POOL = ThreadPoolExecutor(max_workers=MAX_LOGIN_FLOWS, thread_name_prefix="device-login")


class LoginCancelled(Exception):
    """The manager is stopping: a waiting login gives up."""


def _claims(tokens: StoredTokens) -> dict:
    """Display-only claims (who signed in); proxies verify tokens properly."""
    for token in (tokens.id_token, tokens.access_token):
        try:
            return jwt.decode(token, options={"verify_signature": False}) if token else {}
        except jwt.PyJWTError:
            continue
    return {}


async def _wait_for_login(state: ManagerState, client: OidcClient, code) -> None:
    """The background half of a device login: poll (slow_down adds 5 s, oidc.py), store the
    tokens as `mcp-acp auth login` does, hand them to the proxies, tell the browser."""
    stop = threading.Event()

    def sleep(seconds: float) -> None:
        if stop.wait(seconds):
            raise LoginCancelled()

    try:
        tokens = await asyncio.get_running_loop().run_in_executor(
            LOGIN_POOL, partial(client.wait_for_login, code, sleep=sleep)
        )
        await asyncio.to_thread(token_store.save, tokens)
    except asyncio.CancelledError:
        stop.set()
        raise
    except Exception as exc:
        if not isinstance(exc, OidcError | SecretStoreError | OSError | LoginCancelled):
            log.exception("the device login failed unexpectedly")
        state.hub.publish(
            {
                "type": Event.AUTH_LOGIN_FAILED,
                "severity": "error",
                "user_code": code.user_code,
                "message": f"Sign-in failed: {exc}",
            }
        )
        return
    if state.tokens is not None:  # the manager's token service: renewal, and token_update to every proxy
        state.tokens.tokens = tokens
        state.tokens.broadcast(state.tokens.message())
    await asyncio.to_thread(notify_running_proxies, list_proxy_names(), "/api/auth/notify-login")
    claims = _claims(tokens)
    who = claims.get("email") or claims.get("name") or claims.get("sub")
    state.hub.publish(
        {
            "type": Event.AUTH_LOGIN,
            "severity": "success",
            "user_code": code.user_code,
            "message": f"Signed in as {who}",
            "subject_id": claims.get("sub"),
            "email": claims.get("email"),
            "name": claims.get("name"),
        }
    )


async def _sign_out(state: ManagerState) -> str:
    await asyncio.to_thread(token_store.delete)
    if state.tokens is not None:
        state.tokens.clear()
    message = "Signed out: stored tokens deleted" + (
        "" if state.tokens is None else "; running proxies deny requests from now on"
    )
    state.hub.publish({"type": Event.AUTH_LOGOUT, "severity": "info", "message": message})
    return message


def _status_view(state: ManagerState) -> dict:
    info = auth_status(state.config)
    oidc = state.config.auth.oidc
    user = info.get("user", {})
    expires_in = info.get("expires_in_seconds")
    return {
        "configured": state.config.auth.mode == "oidc",
        "authenticated": info["authenticated"],
        "subject_id": user.get("sub"),
        "email": user.get("email"),
        "name": user.get("name"),
        "provider": oidc.issuer if oidc else None,
        "client_id": oidc.client_id if oidc else None,
        "audience": oidc.audience if oidc else None,
        "scopes": oidc.scopes if oidc else [],
        "token_expires_in_hours": round(expires_in / 3600, 2) if expires_in is not None else None,
        "has_refresh_token": info.get("refresh_token", False),
        "storage_backend": info["storage"],
        "mode": info["mode"],
        "message": info["message"],
    }


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
        return {"ok": True, "message": await _sign_out(state)}

    @api.post("/api/manager/auth/logout-federated")
    async def logout_federated() -> dict:
        oidc = state.config.auth.oidc if state.config.auth.mode == "oidc" else None
        if oidc is None:
            raise api_error(400, "AUTH_PROVIDER_UNAVAILABLE", NO_PROVIDER)
        message = await _sign_out(state)
        try:  # the provider's own end_session_endpoint; Auth0's path when it names none
            url = await asyncio.to_thread(OidcClient(oidc).logout_url)
        except OidcError:
            url = None
        url = url or f"{oidc.issuer}/v2/logout?client_id={oidc.client_id}"
        return {
            "ok": True,
            "message": f"{message}. Open logout_url to sign out at the identity provider too.",
            "logout_url": url,
        }

    flows: set[asyncio.Task] = set()
    starting = [0]  # logins asked of the provider, not yet waiting

    @api.post("/api/manager/auth/login")
    async def login() -> dict:
        oidc = state.config.auth.oidc if state.config.auth.mode == "oidc" else None
        if oidc is None:
            raise api_error(400, "AUTH_PROVIDER_UNAVAILABLE", NO_PROVIDER)
        if len(flows) + starting[0] >= MAX_LOGIN_FLOWS:
            raise api_error(
                429,
                "AUTH_DEVICE_FLOW_LIMIT",
                f"{MAX_LOGIN_FLOWS} sign-ins are already waiting for approval; finish one or wait until they expire",
            )
        # The token service's client knows the provider's endpoints already (one discovery).
        client = getattr(state.tokens, "client", None) or OidcClient(oidc)
        starting[0] += 1
        try:
            code = await asyncio.to_thread(client.start_device_login)
        except OidcError as exc:
            raise api_error(502, "AUTH_DEVICE_FLOW_FAILED", str(exc)) from None
        finally:
            starting[0] -= 1
        task = asyncio.create_task(_wait_for_login(state, client, code))
        flows.add(task)
        task.add_done_callback(flows.discard)
        return {
            "user_code": code.user_code,
            "verification_uri": code.verification_uri,
            "verification_uri_complete": code.verification_uri_complete,
            "expires_in": code.expires_in,
            "interval": code.interval,
            "message": f"Open {code.verification_uri} and enter {code.user_code}; the result arrives as the "
            "event auth_login or auth_login_failed",
        }

    return api
