"""Fixtures every suite shares: a private MCP_ACP_HOME, the real CLI, the fixture backend."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.processes import MCP_ACP, HttpBackendServer
from tests.support.redis import RedisServer

# A runner that starts the suite as a background job hands it SIGINT ignored, and every process
# started from here would inherit that: the tests that press Ctrl-C (`approvals watch`, `logs
# tail`) would then wait forever. Python's own handler is reset to the default on exec.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def acp_env(tmp_path: Path) -> dict[str, str]:
    """Environment for CLI subprocesses: everything under a temp MCP_ACP_HOME."""
    # The encrypted-file secret store: a test must never write to a developer's real keychain.
    return {
        **os.environ,
        "MCP_ACP_HOME": str(tmp_path / "acp-home"),
        "HOME": str(tmp_path / "user-home"),
        "MCP_ACP_SECRET_BACKEND": "file",
    }


@pytest.fixture
def cli(acp_env):
    """Run the real `mcp-acp` executable, never attached to a terminal (`input=` pipes text to it)."""

    def run(*args: str, check: bool = False, **kwargs: Any) -> subprocess.CompletedProcess:
        if "input" not in kwargs:
            kwargs["stdin"] = subprocess.DEVNULL
        result = subprocess.run([MCP_ACP, *args], env=acp_env, capture_output=True, text=True, timeout=60, **kwargs)
        if check and result.returncode != 0:
            raise AssertionError(f"mcp-acp {' '.join(args)} failed: {result.stderr}")
        return result

    run("init", "--auth", "local", check=True)
    return run


@pytest.fixture
def http_backend():
    server = HttpBackendServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_server(tmp_path: Path):
    """A private redis-server on a free loopback port (fails, never skips, without the binary: CI installs it)."""
    server = RedisServer(tmp_path / "redis")
    yield server
    server.stop()
