"""Where config/paths.py puts things: every location under MCP_ACP_HOME, a relative or `~` home
made absolute, nothing under it when it is unset, and sockets that fit however deep the home."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcp_acp.config import paths
from mcp_acp.config.models import (
    ManagerConfig,
)

# --- paths under MCP_ACP_HOME ------------------------------------------------------------


def test_mcp_acp_home_holds_every_location(home: Path) -> None:
    assert paths.config_dir() == home / "config"
    assert paths.default_log_dir() == home / "logs"
    assert paths.runtime_dir() == home / "run"
    for location in (
        paths.manager_config_path(),
        paths.proxies_config_dir(),
        paths.proxy_config_path("p"),
        paths.proxy_policy_path("p"),
        paths.bootstrap_log_path("p"),
        paths.archive_dir(),
        paths.emergency_audit_path(),
        paths.secret_store_path(),
        paths.proxy_socket_path("p"),
    ):
        assert location.is_relative_to(home), location
    assert paths.proxy_config_path("p") == home / "config" / "proxies" / "p" / "config.json"
    assert paths.proxy_log_dir(paths.default_log_dir(), "p") == home / "logs" / "mcp-acp" / "proxies" / "p"


def test_manager_config_default_log_dir_follows_mcp_acp_home(home: Path) -> None:
    assert Path(ManagerConfig().log_dir) == home / "logs"


def test_relative_mcp_acp_home_becomes_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(paths.HOME_ENV, "rel-home")
    assert paths.config_dir() == tmp_path / "rel-home" / "config"
    assert paths.config_dir().is_absolute()


def test_tilde_in_mcp_acp_home_is_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    monkeypatch.setenv(paths.HOME_ENV, "~/acp")
    assert paths.runtime_dir() == tmp_path / "user" / "acp" / "run"


def test_without_mcp_acp_home_nothing_points_at_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(paths.HOME_ENV, raising=False)
    assert paths.config_dir().name == "mcp-acp"
    assert not paths.config_dir().is_relative_to(tmp_path)


def test_socket_path_fits_a_unix_socket_however_deep_the_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A socket path longer than sun_path cannot be bound: deep homes get a short, stable stand-in."""
    monkeypatch.setenv(paths.HOME_ENV, str(tmp_path / "h"))
    assert paths.proxy_socket_path("files") == tmp_path / "h" / "run" / "proxy_files.sock"
    deep = tmp_path / ("d" * 120)
    monkeypatch.setenv(paths.HOME_ENV, str(deep))
    short = paths.proxy_socket_path("files")
    assert len(str(short)) <= paths.MAX_SOCKET_PATH
    assert short == paths.proxy_socket_path("files")  # every process computes the same one
    assert short != paths.proxy_socket_path("other")
