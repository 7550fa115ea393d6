"""The CLI's way to a running proxy: HTTP over the proxy's Unix socket (SPEC §6: the socket's
0600 permissions are the authentication)."""

from __future__ import annotations

from typing import Any

import httpx

from mcp_acp.config import paths


class NotRunning(Exception):
    """Nothing answers on the proxy's socket."""


def call_proxy(name: str, method: str, path: str, timeout: float = 10) -> Any:  # the route's JSON
    socket_path = paths.proxy_socket_path(name)
    try:
        with httpx.Client(transport=httpx.HTTPTransport(uds=str(socket_path)), timeout=timeout) as client:
            response = client.request(method, f"http://proxy{path}")
            response.raise_for_status()
            return response.json()
    except (httpx.ConnectError, FileNotFoundError):
        raise NotRunning(name) from None


def notify_running_proxies(names: list[str], path: str) -> list[str]:
    """Tell every running proxy something changed (a login, a logout); returns those reached."""
    reached = []
    for name in names:
        try:
            call_proxy(name, "POST", path, timeout=5)
            reached.append(name)
        except (NotRunning, httpx.HTTPError):
            continue
    return reached
