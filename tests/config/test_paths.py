"""Where config/paths.py puts things: every location under MCP_ACP_HOME, a relative or `~` home
made absolute, nothing under it when it is unset; and sockets only in a folder that is ours alone,
however deep the home (never a guessable shared path in /tmp, which another user could make first)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from mcp_acp.config import paths
from mcp_acp.config.models import (
    ManagerConfig,
)
from mcp_acp.config.private_dir import UnsafeFolder
from mcp_acp.localhttp.server import bind_private_socket
from tests.config.test_private_dir import NOBODY, as_root, mode

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


# --------------------------------------------------------------------------- where paths puts sockets


def test_every_socket_is_in_a_checked_private_folder(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(paths.HOME_ENV, str(env / "h"))
    for path in (
        paths.manager_socket_path(),
        paths.manager_api_socket_path(),
        paths.proxy_socket_path("p"),
        paths.manager_pid_path(),
        paths.manager_lock_path(),
    ):
        assert path.parent == env / "h" / "run"
    assert mode(env / "h" / "run") == 0o700


def test_a_squatted_runtime_folder_is_refused_by_every_socket_path(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(paths.HOME_ENV, str(env / "h"))
    (env / "h").mkdir(mode=0o700)
    (env / "h" / "run").symlink_to(tempfile.gettempdir())
    for function in (
        paths.manager_socket_path,
        paths.manager_api_socket_path,
        paths.manager_pid_path,
        paths.manager_lock_path,
        lambda: paths.proxy_socket_path("p"),
    ):
        with pytest.raises(UnsafeFolder, match="symbolic link"):
            function()


def deep_home(env: Path) -> Path:
    return env / ("d" * 60) / ("e" * 60)


@pytest.fixture
def short_dir():
    """A folder short enough to hold a socket (pytest's own folders can be too deep for that)."""
    folder = Path(tempfile.mkdtemp(prefix="acp-"))
    yield folder
    shutil.rmtree(folder)


def bound(path: Path) -> Path:
    """Bind `path` as the manager and proxies do (which makes its folder), then let it go."""
    bind_private_socket(path).close()
    return path


def test_a_deep_home_puts_sockets_in_the_nearest_private_folder_above_it(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(paths.HOME_ENV, str(deep_home(env)))
    short = paths.proxy_socket_path("files")
    assert len(os.fsencode(short)) <= paths.MAX_SOCKET_PATH
    assert short == paths.proxy_socket_path("files")  # every process computes the same one
    assert short != paths.proxy_socket_path("other") != paths.manager_socket_path()
    assert short.parent.name == paths.STAND_IN_FOLDER and env.is_relative_to(short.parent.parent)
    assert short.parent.parent != Path(tempfile.gettempdir())  # never a folder in /tmp anyone could make first
    bound(short)
    assert mode(short.parent) == 0o700 and os.lstat(short.parent).st_uid == os.getuid()


def test_the_stand_in_depends_on_mcp_acp_home_alone(
    env: Path, short_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A proxy started by an MCP client may see another HOME and no $XDG_RUNTIME_DIR: it must
    still find the manager the CLI started."""
    monkeypatch.setenv(paths.HOME_ENV, str(deep_home(env)))
    first = paths.manager_socket_path()
    monkeypatch.setenv("HOME", str(short_dir))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(short_dir))
    assert paths.manager_socket_path() == first


def test_without_a_private_folder_above_the_home_xdg_runtime_dir_then_the_home_are_used(
    env: Path, short_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    xdg, home = short_dir / "xdg", short_dir / "home"
    xdg.mkdir(mode=0o700)
    home.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(xdg))
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv(paths.HOME_ENV, str(deep_home(env)))
    usable = {xdg, home}
    monkeypatch.setattr(paths, "usable_base", lambda path: path in usable)  # no folder of ours above the home
    assert paths.manager_socket_path().parent == xdg / "mcp-acp"
    usable.discard(xdg)
    assert paths.manager_socket_path().parent == home / paths.STAND_IN_FOLDER
    assert mode(bound(paths.manager_socket_path()).parent) == 0o700


def test_xdg_runtime_dir_is_the_runtime_folder_when_it_is_ours(
    env: Path, short_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(short_dir))
    monkeypatch.delenv(paths.HOME_ENV, raising=False)
    assert paths.runtime_dir() == short_dir / "mcp-acp"
    assert paths.manager_socket_path() == short_dir / "mcp-acp" / "manager.sock"


@pytest.mark.parametrize(
    "problem", ["group-writable", "world-writable", "symlink"] + (["someone else's"] if os.getuid() == 0 else [])
)
def test_an_unusable_xdg_runtime_dir_is_passed_over(env: Path, monkeypatch: pytest.MonkeyPatch, problem: str) -> None:
    xdg = env / "xdg"
    if problem == "symlink":
        (env / "real").mkdir(mode=0o700)
        xdg.symlink_to(env / "real")
    else:
        xdg.mkdir(mode=0o700)
        xdg.chmod({"group-writable": 0o770, "world-writable": 0o1777}.get(problem, 0o700))
        if problem == "someone else's":
            os.chown(xdg, NOBODY, NOBODY)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(xdg))
    monkeypatch.delenv(paths.HOME_ENV, raising=False)
    assert not paths.runtime_dir().is_relative_to(xdg)
    assert not paths.runtime_dir().is_relative_to(env / "real")


def test_without_any_runtime_folder_the_home_is_used_not_tmp(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(paths.HOME_ENV, raising=False)
    monkeypatch.setattr(paths, "_runtime_bases", lambda: [])  # no $XDG_RUNTIME_DIR, no /run/user/<uid>
    assert paths.runtime_dir() == env / "user-home" / paths.STAND_IN_FOLDER


@as_root
def test_a_squatted_stand_in_folder_is_refused_not_skipped(short_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(paths.HOME_ENV, str(deep_home(short_dir)))
    monkeypatch.setattr(paths, "usable_base", lambda path: path == short_dir)
    squatted = short_dir / paths.STAND_IN_FOLDER
    assert paths.manager_socket_path().parent == squatted
    squatted.mkdir(mode=0o777)
    os.chown(squatted, NOBODY, NOBODY)
    for function in (paths.manager_socket_path, paths.manager_api_socket_path, lambda: paths.proxy_socket_path("p")):
        with pytest.raises(UnsafeFolder) as info:
            function()
        assert str(squatted) in str(info.value) and "not to you" in str(info.value)
    with pytest.raises(UnsafeFolder):
        bind_private_socket(squatted / "x.sock")
    assert list(squatted.iterdir()) == []


def test_looking_a_socket_up_makes_nothing_where_nobody_else_can_write(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(paths.HOME_ENV, str(env / "h"))
    paths.manager_socket_path(), paths.proxy_socket_path("p"), paths.manager_pid_path()
    assert not (env / "h").exists()


def test_a_missing_folder_in_a_shared_sticky_folder_is_claimed_at_once(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = env / "shared"
    shared.mkdir()
    shared.chmod(0o1777)  # as /tmp: someone else could make `run` first, so looking it up claims it
    monkeypatch.setenv(paths.HOME_ENV, str(shared))
    paths.manager_socket_path()
    assert mode(shared / "run") == 0o700


def test_no_short_private_folder_is_a_clear_error(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(deep_home(env) / "user"))
    monkeypatch.setenv(paths.HOME_ENV, str(deep_home(env)))
    monkeypatch.setattr(paths, "usable_base", lambda path: False)  # no folder of ours on the way
    with pytest.raises(UnsafeFolder, match="Set MCP_ACP_HOME to a shorter folder, or XDG_RUNTIME_DIR"):
        paths.manager_socket_path()
