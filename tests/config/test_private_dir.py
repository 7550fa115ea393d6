"""Sockets live only in a folder that is ours alone (config/private_dir.py, issue 16, class 8): the
check itself, and a running proxy's manager client that stops for good at a folder taken over.
Where paths puts sockets is in test_paths.py; the same refusals, by real processes and a real
second user, are in tests/security/test_local_surface.py."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import pytest

from mcp_acp.config import paths
from mcp_acp.config.private_dir import UnsafeFolder, check_private_dir, private_dir
from mcp_acp.config.store import ConfigError

NOBODY = 65534
as_root = pytest.mark.skipif(os.getuid() != 0, reason="giving a folder to another user needs root")


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


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
