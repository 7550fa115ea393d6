"""admin/backend_tools.py against real backends: the fixture server over STDIO and over HTTP."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from mcp_acp.admin.backend_tools import BackendToolsError, list_backend_tools
from mcp_acp.config.models import Attestation, BackendConfig, HttpBackend, ProxyConfig, StdioBackend
from tests.support.processes import BACKEND, HttpBackendServer, free_port

FIXTURE_TOOLS = {"echo", "add", "big", "slow", "crash", "read_file", "write_file"}


def config(transport: str, *, command: str | None = None, args: tuple[str, ...] = (), url: str | None = None):
    return ProxyConfig(
        proxy_id="px_0123abcd:fixture",
        backend=BackendConfig(
            server_name="fixture",
            transport=transport,  # pyright: ignore[reportArgumentType]
            stdio=StdioBackend(command=command, args=list(args)) if command else None,
            http=HttpBackend(url=url, timeout=10) if url else None,
        ),
    )


async def test_stdio_backend_is_listed_then_stopped(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    wrapper = tmp_path / "wrapper.py"
    wrapper.write_text(
        f"import os, runpy\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
        f"runpy.run_path({BACKEND!r}, run_name='__main__')\n",
        encoding="utf-8",
    )
    tools = await list_backend_tools(config("stdio", command=sys.executable, args=(str(wrapper),)), "fx")
    assert {tool.name for tool in tools} == FIXTURE_TOOLS
    echo = next(tool for tool in tools if tool.name == "echo")
    assert echo.description == "Return the text unchanged." and echo.annotations == {}
    with pytest.raises(ProcessLookupError):  # started for the question, stopped (and reaped) after it
        os.kill(int(pid_file.read_text()), 0)


async def test_http_backend_is_listed() -> None:
    server = HttpBackendServer()
    server.start()
    try:
        tools = await list_backend_tools(config("streamablehttp", url=server.url), "fx")
    finally:
        server.stop()
    assert {tool.name for tool in tools} == FIXTURE_TOOLS


async def test_auto_falls_back_to_stdio_when_http_does_not_answer() -> None:
    unreachable = f"http://127.0.0.1:{free_port()}/mcp"
    tools = await list_backend_tools(config("auto", command=sys.executable, args=(BACKEND,), url=unreachable), "fx")
    assert "echo" in {tool.name for tool in tools}


async def test_a_backend_that_cannot_start_is_an_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-server"
    with pytest.raises(BackendToolsError) as caught:
        await list_backend_tools(config("stdio", command=str(missing)), "fx")
    assert str(missing) in str(caught.value) and "did not list its tools" in str(caught.value)


async def test_a_backend_that_fails_its_attestation_is_never_started(tmp_path: Path) -> None:
    """`proxy tools` runs the same binary checks as `start`: it must not run what `start` refuses."""
    ran = tmp_path / "ran"
    script = tmp_path / "server.sh"
    script.write_text(f"#!/bin/sh\ntouch {ran}\nexec {sys.executable} {BACKEND}\n", encoding="utf-8")
    script.chmod(0o755)
    pinned = config("stdio", command=str(script))
    assert pinned.backend.stdio is not None
    pinned.backend.stdio.attestation = Attestation(expected_sha256="0" * 64)
    with pytest.raises(BackendToolsError, match=r"(?i)sha-?256"):
        await list_backend_tools(pinned, "fx")
    assert not ran.exists()
