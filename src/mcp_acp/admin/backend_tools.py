"""The backend's real tools (`mcp-acp proxy tools`, docs/cli.md#mcp-acp-proxy-tools-name---json): ask the
server itself, with a real MCP client, how the proxy would reach it.

A STDIO backend is started for the question and stopped when it is answered (the client's
context closes its stdin and waits for it); an HTTP backend gets the proxy's API key. Never
prompts or prints: problems are BackendToolsError with a message that says what to do.
"""

from __future__ import annotations

import os
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any

import anyio

from mcp_acp.backends.child_env import child_environment
from mcp_acp.config.models import ProxyConfig

LIST_TIMEOUT = 30.0  # seconds for the whole question: start, handshake, every page of tools/list


class BackendToolsError(Exception):
    """The tools could not be listed; the message says why."""


@dataclass(frozen=True)
class BackendTool:
    name: str
    title: str | None = None
    description: str | None = None
    annotations: dict[str, Any] = field(default_factory=dict)  # readOnlyHint, destructiveHint, …


def _stdio_transport(config: ProxyConfig, proxy_name: str) -> AbstractAsyncContextManager[Any]:
    from mcp.client.stdio import StdioServerParameters, stdio_client

    from mcp_acp.backends.attestation import attest

    assert config.backend.stdio is not None
    stdio = config.backend.stdio
    attest(stdio.command, stdio.attestation)  # the same binary checks as `start`: never run what it would refuse
    params = StdioServerParameters(
        command=stdio.command, args=list(stdio.args), env=child_environment(proxy_name, stdio)
    )
    # The backend's own stderr (banners, logs) would bury the table: it goes nowhere.
    return stdio_client(params, errlog=open(os.devnull, "w"))


def _http_transport(config: ProxyConfig, proxy_name: str) -> AbstractAsyncContextManager[Any]:
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    from mcp_acp.backends.credentials import auth_headers

    assert config.backend.http is not None
    http = config.backend.http
    if config.mtls:
        from mcp_acp.backends.tls import client_ssl_context

        verify: Any = client_ssl_context(mtls=config.mtls)
    else:
        verify = True
    client = httpx2.AsyncClient(headers=auth_headers(config, proxy_name), verify=verify, timeout=http.timeout)
    return streamable_http_client(http.url, http_client=client)


def _transports(config: ProxyConfig, proxy_name: str) -> list[tuple[str, Any]]:
    """What to try, in the proxy's order: `auto` prefers HTTP and falls back to STDIO."""
    backend = config.backend
    tries: list[tuple[str, Any]] = []
    if backend.http and backend.transport in ("streamablehttp", "auto"):
        tries.append((backend.http.url, lambda: _http_transport(config, proxy_name)))
    if backend.stdio and backend.transport in ("stdio", "auto"):
        label = " ".join([backend.stdio.command, *backend.stdio.args])
        tries.append((label, lambda: _stdio_transport(config, proxy_name)))
    return tries


async def _list_with(transport: Any) -> list[BackendTool]:
    from mcp import Client

    tools: list[BackendTool] = []
    async with Client(transport, read_timeout_seconds=LIST_TIMEOUT) as client:
        cursor: str | None = None
        while True:
            page = await client.list_tools(cursor=cursor)
            for tool in page.tools:
                data = tool.model_dump(by_alias=True, exclude_none=True, mode="json")
                tools.append(
                    BackendTool(
                        name=tool.name,
                        title=data.get("title") or (data.get("annotations") or {}).get("title"),
                        description=data.get("description"),
                        annotations={k: v for k, v in (data.get("annotations") or {}).items() if k != "title"},
                    )
                )
            cursor = page.next_cursor
            if not cursor:
                return tools


async def list_backend_tools(config: ProxyConfig, proxy_name: str) -> list[BackendTool]:
    """The backend's tools as its tools/list says, every page; BackendToolsError if it cannot answer."""
    problems: list[str] = []
    for label, make in _transports(config, proxy_name):
        try:
            with anyio.fail_after(LIST_TIMEOUT):
                return await _list_with(make())
        except TimeoutError:
            problems.append(f"{label}: no answer within {LIST_TIMEOUT:.0f} s")
        except Exception as exc:
            problems.append(f"{label}: {_describe(exc)}")
    raise BackendToolsError(
        "the backend did not list its tools (" + "; ".join(problems) + "). Check that it runs on its own "
        "(the command, or the URL), then try again."
    )


def _describe(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(_describe(inner) for inner in exc.exceptions)  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
