"""How the `mcp-acp approvals` commands reach a running proxy: one request over its 0600 Unix
socket, the waiting approvals of the proxies asked for, and the approver's proof of identity.

Kept apart from the commands so that each command reads as what it asks and what it prints.
"""

from __future__ import annotations

import contextlib

import httpx

from mcp_acp.cli.output import fail
from mcp_acp.config import paths
from mcp_acp.config.store import ConfigError, list_proxy_names, load_manager_config, load_proxy_config
from mcp_acp.localhttp.proxy_client import NotRunning, join_answers, proxy_request, session_slots

APPROVER_HEADER = "X-Approver-Token"


def error_text(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip() or f"HTTP {response.status_code}"
    detail = body.get("detail", body) if isinstance(body, dict) else body
    if isinstance(detail, dict):
        return str(detail.get("message") or detail.get("error") or detail)
    return str(detail)


def get_json(name: str, path: str, slot: int = 0) -> dict | list:
    """GET `path` from a running proxy's session; an error answer ends the command with its message."""
    try:
        response = proxy_request(name, "GET", path, slot=slot)
    except httpx.HTTPError as exc:
        fail(
            f"proxy '{name}' did not answer on {paths.proxy_socket_path(name)} ({exc}); is it still starting? "
            "Try again."
        )
    if response.status_code >= 400:
        fail(f"proxy '{name}' refused {path}: {error_text(response)}")
    return response.json()


def checked_names(name: str | None) -> list[str]:
    """The proxy asked for (which must exist), or every configured one."""
    if name is not None:
        load_proxy_config(name)  # an unknown name fails here, listing the configured ones
        return [name]
    return list_proxy_names()


def pending_of(names: list[str]) -> tuple[list[str], list[dict]]:
    """(the running proxies among `names`, every approval waiting on them)."""
    running, waiting = [], []
    for proxy_name in names:
        for slot in session_slots(proxy_name):  # one process per MCP client, each with its own requests
            try:
                approvals = get_json(proxy_name, "/api/approvals/pending/list", slot)
            except NotRunning:
                continue
            if proxy_name not in running:
                running.append(proxy_name)
            waiting.extend(
                {**approval, "proxy_name": approval.get("proxy_name") or proxy_name, "session": slot}
                for approval in approvals
            )
    return running, waiting


def approver_headers() -> dict[str, str]:
    """In OIDC mode the decider proves who they are with their stored login (docs/approvals.md#who-is-asked)."""
    try:
        manager = load_manager_config()
    except ConfigError:
        return {}  # no manager.json: local mode is all there can be; the proxy says otherwise if not
    if manager.auth.mode != "oidc":
        return {}
    from mcp_acp.identity import tokens

    stored = tokens.load()
    if stored is None:
        fail(
            "you are not signed in, and only the signed-in user who made a request may decide it. "
            "Run 'mcp-acp auth login', then decide again."
        )
    if stored.expires_in() <= 0:
        fail(
            "your login has expired. Run 'mcp-acp auth login' (or wait for a running proxy to renew it), "
            "then decide again."
        )
    return {APPROVER_HEADER: stored.access_token}


def find_waiting(approval_id: str, names: list[str], only: str | None) -> dict:
    running, waiting = pending_of(names)
    for approval in waiting:
        if approval.get("id") == approval_id:
            return approval
    if only and not running:
        fail(f"proxy '{only}' is not running, so no approval {approval_id} waits there.")
    if not running:
        fail(f"no proxy is running, so no approval {approval_id} is waiting.")
    where = f"on proxy '{only}'" if only else f"on any running proxy ({', '.join(running)})"
    fail(
        f"no approval {approval_id} is waiting {where}: it was decided, withdrawn or timed out. "
        "See what waits with 'mcp-acp approvals pending'."
    )


def known_proxy(name: str) -> str:
    load_proxy_config(name)  # an unknown name fails here, listing the configured ones
    return name


def cache_request(name: str, method: str, path: str, params: dict | None = None) -> httpx.Response:
    """The request to every running session of the proxy (each remembers its own approvals); the
    answer is the first session's, with the counts and lists of all of them."""
    try:
        responses = []
        for slot in session_slots(name):
            with contextlib.suppress(NotRunning):
                responses.append(proxy_request(name, method, path, params=params, slot=slot))
        if not responses:
            raise NotRunning(name)
        return _joined(responses)
    except NotRunning:
        fail(
            f"proxy '{name}' is not running; a proxy remembers approvals only while it runs, so there is "
            "nothing to show or clear."
        )
    except httpx.HTTPError as exc:
        fail(
            f"proxy '{name}' did not answer on {paths.proxy_socket_path(name)} ({exc}); is it still starting? "
            "Try again."
        )


def _joined(responses: list[httpx.Response]) -> httpx.Response:
    """One answer for several sessions: a failure as it is; else lists, counts and `deleted` joined."""
    failed = next((r for r in responses if r.status_code >= 400 and r.status_code != 404), None)
    if failed is not None or len(responses) == 1:
        return failed or responses[0]
    found = [r for r in responses if r.status_code < 400]
    if not found:
        return responses[0]
    return httpx.Response(200, json=join_answers([r.json() for r in found]))


def cached_approvals(name: str) -> dict:
    response = cache_request(name, "GET", "/api/approvals/cached")
    if response.status_code >= 400:
        fail(f"proxy '{name}' refused to list its remembered approvals: {error_text(response)}")
    return response.json()
