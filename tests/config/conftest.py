"""The fixture the config tests share: MCP_ACP_HOME pointed at a fresh folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcp_acp.config import paths


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private MCP_ACP_HOME for the code under test."""
    folder = tmp_path / "acp-home"
    monkeypatch.setenv(paths.HOME_ENV, str(folder))
    return folder
