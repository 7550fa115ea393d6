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
    slot: int = 0,
) -> httpx.Response:
    """One request over the socket of proxy `name`'s session `slot`, whatever it answers;
    NotRunning when nothing answers."""
    transport = httpx.HTTPTransport(uds=str(paths.proxy_socket_path(name, slot)))
    try:
        with httpx.Client(transport=transport, base_url=BASE_URL, timeout=timeout) as client:
            return client.request(method, path, json=json, headers=headers, params=params)
    except UNREACHABLE:
        raise NotRunning(name) from None


def call_proxy(name: str, method: str, path: str, timeout: float = 10, slot: int = 0) -> Any:  # the route's JSON
    """The JSON answer of a running proxy; an HTTP error raises httpx.HTTPStatusError."""
    response = proxy_request(name, method, path, timeout=timeout, slot=slot)
    response.raise_for_status()
    return response.json()


def session_slots(name: str) -> list[int]:
    """The sessions of proxy `name` that have a socket: one process per MCP client
    (audit/sharing.py). A socket left by a killed process answers NotRunning."""
    return [slot for slot in range(paths.MAX_SESSIONS) if paths.proxy_socket_path(name, slot).exists()]


def running_sessions(name: str) -> int:
    """How many sessions of proxy `name` answer on their socket: the MCP clients using it."""
    import socket

    def accepts(slot: int) -> bool:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(1.0)
            try:
                sock.connect(str(paths.proxy_socket_path(name, slot)))
                return True
            except OSError:
                return False

    return sum(accepts(slot) for slot in session_slots(name))


def call_sessions(name: str, method: str, path: str, timeout: float = 10) -> list[tuple[int, Any]]:
    """(slot, JSON answer) of every running session of proxy `name`; NotRunning when none answers."""
    answers = []
    for slot in session_slots(name):
        try:
            answers.append((slot, call_proxy(name, method, path, timeout, slot)))
        except NotRunning:
            continue
    if not answers:
        raise NotRunning(name)
    return answers


def notify_running_proxies(names: list[str], path: str) -> list[str]:
    """Tell every session of every running proxy that something changed (a login, a logout);
    returns the proxies reached."""
    reached = []
    for name in names:
        for slot in session_slots(name):
            try:
                call_proxy(name, "POST", path, timeout=5, slot=slot)
            except (NotRunning, httpx.HTTPError):
                continue
            if name not in reached:
                reached.append(name)
    return reached


def join_answers(answers: list[Any]) -> Any:
    """The answers of a proxy's sessions as one (the manager and the CLI ask each). Lists are
    joined; a cached-approvals answer ({"approvals": [...], "count": n, ...}) is joined by its
    approvals and counts. Each approval keeps the id its session gave it."""
    if all(isinstance(a, list) for a in answers):
        return [item for answer in answers for item in answer]
    dicts = [a for a in answers if isinstance(a, dict)]
    merged: dict[str, Any] = dict(dicts[0]) if dicts else {}
    merged["approvals"] = [item for a in dicts for item in a.get("approvals") or []]
    for counter in ("count", "cleared"):
        if any(counter in a for a in dicts):
            merged[counter] = sum(int(a.get(counter) or 0) for a in dicts)
    if any("deleted" in a for a in dicts):
        merged["deleted"] = any(a.get("deleted") for a in dicts)
    return merged


def async_proxy_client(socket_path: str, **options) -> httpx.AsyncClient:
    """An async client for the proxy API on `socket_path`: paths are relative to BASE_URL."""
    return httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(uds=socket_path), base_url=BASE_URL, **options)
