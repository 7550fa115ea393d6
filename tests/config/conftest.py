"""Fixtures the config tests share: MCP_ACP_HOME pointed at a fresh folder; a private base folder,
and one with HOME under it and no XDG_RUNTIME_DIR (where paths must find a folder for sockets)."""

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


@pytest.fixture
def base(tmp_path: Path) -> Path:
    tmp_path.chmod(0o700)
    return tmp_path


@pytest.fixture
def env(base: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(base / "user-home"))
    (base / "user-home").mkdir(mode=0o700)
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    return base
