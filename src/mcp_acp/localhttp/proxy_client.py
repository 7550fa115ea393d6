"""The one way to a running proxy's API: HTTP over the proxy's Unix socket (docs/manager.md#a-proxys-own-api: the socket's
0600 permissions are the authentication). The CLI calls it synchronously; the manager and the
demo use the async client, pooled per socket by the manager."""

from __future__ import annotations

from typing import Any

import httpx

from mcp_acp.config import paths

BASE_URL = "http://proxy"
UNREACHABLE = (httpx.ConnectError, FileNotFoundError, ConnectionRefusedError)  # nothing listens there


class NotRunning(Exception):
    """Nothing answers on the proxy's socket."""


def proxy_request(
    name: str,
    method: str,
    path: str,
    *,
    json: object = None,
    headers: dict | None = None,
    params: dict | None = None,
    timeout: float = 10,
) -> httpx.Response:
    """One request over proxy `name`'s socket, whatever it answers; NotRunning when nothing answers."""
    transport = httpx.HTTPTransport(uds=str(paths.proxy_socket_path(name)))
    try:
        with httpx.Client(transport=transport, base_url=BASE_URL, timeout=timeout) as client:
            return client.request(method, path, json=json, headers=headers, params=params)
    except UNREACHABLE:
        raise NotRunning(name) from None


def call_proxy(name: str, method: str, path: str, timeout: float = 10) -> Any:  # the route's JSON
    """The JSON answer of a running proxy; an HTTP error raises httpx.HTTPStatusError."""
    response = proxy_request(name, method, path, timeout=timeout)
    response.raise_for_status()
    return response.json()


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


def async_proxy_client(socket_path: str, **options) -> httpx.AsyncClient:
    """An async client for the proxy API on `socket_path`: paths are relative to BASE_URL."""
    return httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(uds=socket_path), base_url=BASE_URL, **options)
