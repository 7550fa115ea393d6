"""Sockets live only in a folder that is ours alone (issue 16, class 8): the check itself, and
where `paths` puts sockets when the home is too deep for one (never a guessable shared path in
/tmp, which another user could make first). The same refusals, by real processes and a real
second user, are in tests/security/test_local_surface.py."""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
import tempfile
from pathlib import Path

import pytest

from mcp_acp.config import paths
from mcp_acp.config.private_dir import UnsafeFolder, check_private_dir, private_dir
from mcp_acp.config.store import ConfigError
from mcp_acp.localhttp.server import bind_private_socket

NOBODY = 65534
as_root = pytest.mark.skipif(os.getuid() != 0, reason="giving a folder to another user needs root")


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.fixture
def base(tmp_path: Path) -> Path:
    tmp_path.chmod(0o700)
    return tmp_path


def test_a_missing_folder_is_made_0700_with_its_parents(base: Path) -> None:
    folder = private_dir(base / "a" / "b" / "run")
    assert folder.is_dir()
    assert [mode(base / "a"), mode(base / "a" / "b"), mode(folder)] == [0o700] * 3


def test_an_existing_private_folder_of_ours_passes(base: Path) -> None:
    (base / "run").mkdir(mode=0o700)
    assert check_private_dir(base / "run") == base / "run"
    (base / "tighter").mkdir(mode=0o500)
    assert check_private_dir(base / "tighter") == base / "tighter"


@pytest.mark.parametrize("loose", [0o750, 0o705, 0o777, 0o701])
def test_a_folder_others_can_enter_is_refused_not_fixed(base: Path, loose: int) -> None:
    folder = base / "run"
    folder.mkdir()
    folder.chmod(loose)
    with pytest.raises(UnsafeFolder) as info:
        private_dir(folder)
    message = str(info.value)
    assert str(folder) in message and f"{loose:04o}" in message and f"chmod 700 {folder}" in message
    assert mode(folder) == loose  # refused, not silently tightened: something may already be in it


def test_a_symlink_is_refused_even_to_a_private_folder_of_ours(base: Path) -> None:
    (base / "real").mkdir(mode=0o700)
    (base / "run").symlink_to(base / "real")
    with pytest.raises(UnsafeFolder, match="symbolic link"):
        private_dir(base / "run")


def test_a_file_is_refused(base: Path) -> None:
    (base / "run").write_text("")
    with pytest.raises(UnsafeFolder, match="not a folder"):
        private_dir(base / "run")


@as_root
def test_a_folder_that_belongs_to_someone_else_is_refused(base: Path) -> None:
    folder = base / "run"
    folder.mkdir(mode=0o700)
    os.chown(folder, NOBODY, NOBODY)
    with pytest.raises(UnsafeFolder) as info:
        private_dir(folder)
    message = str(info.value)
    assert "not to you" in message and f"uid {NOBODY}" in message and "remove it" in message
    assert isinstance(info.value, ConfigError)  # the CLI prints it as one line, like every config error


def test_a_parent_others_can_write_is_refused_unless_sticky(base: Path) -> None:
    shared = base / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(UnsafeFolder, match="other users can write to"):
        private_dir(shared / "run")
    shared.chmod(0o1777)  # as /tmp: nobody can rename or remove what is ours
    assert private_dir(shared / "run") == shared / "run"


@as_root
def test_a_parent_that_belongs_to_someone_else_is_refused(base: Path) -> None:
    theirs = base / "theirs"
    theirs.mkdir(mode=0o755)
    (theirs / "run").mkdir(mode=0o700)
    os.chown(theirs, NOBODY, NOBODY)
    with pytest.raises(UnsafeFolder, match="who could replace it"):
        check_private_dir(theirs / "run")


# --------------------------------------------------------------------------- where paths puts sockets


@pytest.fixture
def env(base: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(base / "user-home"))
    (base / "user-home").mkdir(mode=0o700)
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    return base


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


# --------------------------------------------------------------------------- a proxy that is already running


@as_root
async def test_the_manager_client_stops_for_good_at_a_folder_taken_over(
    env: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A proxy whose runtime folder turns out to be someone else's while it runs says so once
    and never connects again: it keeps serving its client without the manager."""
    from mcp_acp.proxy.events import ProxyEvents
    from mcp_acp.proxy.manager_link import ManagerClient

    monkeypatch.setenv(paths.HOME_ENV, str(env / "h"))
    (env / "h").mkdir(mode=0o700)
    (env / "h" / "run").mkdir(mode=0o700)
    os.chown(env / "h" / "run", NOBODY, NOBODY)
    client = ManagerClient("files", "px_00000000:files", ProxyEvents(), {})
    await asyncio.wait_for(client.run(autostart=False), 10)  # returns: no retry loop against that folder
    assert "not connecting to the manager" in caplog.text and "belongs to" in caplog.text
    assert not client.registered
