"""The running gateway's status, over its Unix socket (0600: the operating system is the
authentication, as for a proxy's own API). None when no gateway runs."""

from __future__ import annotations

import httpx

from mcp_acp.config import paths
from mcp_acp.localhttp.proxy_client import UNREACHABLE


def gateway_status(timeout: float = 5) -> dict | None:
    transport = httpx.HTTPTransport(uds=str(paths.gateway_socket_path()))
    try:
        with httpx.Client(transport=transport, base_url="http://gateway", timeout=timeout) as client:
            response = client.get("/status")
    except UNREACHABLE:
        return None
    response.raise_for_status()
    return response.json()


async def gateway_status_async(timeout: float = 5) -> dict | None:
    transport = httpx.AsyncHTTPTransport(uds=str(paths.gateway_socket_path()))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway", timeout=timeout) as client:
            response = await client.get("/status")
    except UNREACHABLE:
        return None
    response.raise_for_status()
    return response.json()
