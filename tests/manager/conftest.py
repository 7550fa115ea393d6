"""Fixtures the manager's router tests share: a home made by the real CLI, and the manager state over it."""

from __future__ import annotations

import pytest

from mcp_acp.config.store import load_manager_config
from mcp_acp.manager.state import ManagerState


@pytest.fixture
def home(cli, acp_env, monkeypatch) -> dict:
    """`init --auth local` done by the CLI; this process sees the same MCP_ACP_HOME."""
    for name in ("MCP_ACP_HOME", "HOME", "MCP_ACP_SECRET_BACKEND"):
        monkeypatch.setenv(name, acp_env[name])
    return acp_env


@pytest.fixture
def state(home) -> ManagerState:
    return ManagerState(config=load_manager_config())
