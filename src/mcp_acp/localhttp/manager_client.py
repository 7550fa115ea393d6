"""The CLI's way to the manager: HTTP over the manager's 0600 Unix socket (docs/manager.md#the-local-api-and-its-protection: never TCP
without credentials; the socket's permissions are the authentication)."""

from __future__ import annotations

from typing import Any

import httpx

from mcp_acp.config import paths


class ManagerNotRunning(Exception):
    """Nothing answers on the manager's socket."""


def call_manager(method: str, path: str, json: object = None, timeout: float = 5.0) -> Any:  # the route's JSON
    """`path` is a manager API path such as /api/manager/status. HTTP errors raise httpx.HTTPStatusError."""
    try:
        transport = httpx.HTTPTransport(uds=str(paths.manager_api_socket_path()))
        with httpx.Client(transport=transport, timeout=timeout) as client:
            response = client.request(method, f"http://manager{path}", json=json)
            response.raise_for_status()
            return response.json()
    except (httpx.ConnectError, FileNotFoundError, ConnectionRefusedError):
        raise ManagerNotRunning() from None


def notify_manager(path: str, json: object = None) -> bool:
    """Fire-and-forget notice (a login, a deleted proxy); True when the manager took it."""
    try:
        call_manager("POST", path, json, timeout=3.0)
        return True
    except (ManagerNotRunning, httpx.HTTPError):
        return False
