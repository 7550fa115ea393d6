"""The start-up check of mcp-acp's own folders (issue 16, class 8): what is ours and too open is
tightened, what is someone else's is reported with what to do, links are never followed."""

from __future__ import annotations

import os
import socket
import stat
from pathlib import Path

import pytest

from mcp_acp.config.private_modes import private_mode_problems, require_private_modes
from mcp_acp.config.store import ConfigError

NOBODY = 65534
as_root = pytest.mark.skipif(os.getuid() != 0, reason="giving a file to another user needs root")


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A config folder as an old version (or a umask of 022) left it: readable by everyone."""
    root = tmp_path / "config"
    (root / "proxies" / "files").mkdir(parents=True, mode=0o755)
    for folder in (root, root / "proxies", root / "proxies" / "files"):
        folder.chmod(0o755)
    for name, file_mode in (
        ("manager.json", 0o644),
        ("proxies/files/policy.json", 0o664),
        ("proxies/files/config.json", 0o600),
        ("manager_token", 0o604),
    ):
        (root / name).write_text("{}")
        (root / name).chmod(file_mode)
    return root


def test_what_is_ours_and_too_open_is_tightened(tree: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert private_mode_problems([tree]) == []
    for path in [tree, *tree.rglob("*")]:
        assert mode(path) == (0o700 if path.is_dir() else 0o600), path
    assert "manager_token was 0604: made it 0600" in caplog.text
    require_private_modes(tree)  # nothing left to refuse


def test_tighter_than_0600_is_left_alone(tree: Path) -> None:
    (tree / "manager.json").chmod(0o400)
    assert private_mode_problems([tree]) == []
    assert mode(tree / "manager.json") == 0o400


def test_missing_folders_are_skipped(tmp_path: Path) -> None:
    assert private_mode_problems([tmp_path / "never-made"]) == []


def test_a_link_inside_is_not_followed(tree: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("someone's file")
    outside.chmod(0o644)
    (tree / "link.json").symlink_to(outside)
    assert private_mode_problems([tree]) == []
    assert mode(outside) == 0o644  # not ours to change through a link


def test_a_linked_folder_is_reported_and_left_alone(tmp_path: Path) -> None:
    real = tmp_path / "shared"
    real.mkdir(mode=0o1777)
    real.chmod(0o1777)  # as /tmp: tightening it through the link would break everyone else
    (tmp_path / "run").symlink_to(real)
    problems = private_mode_problems([tmp_path / "run"])
    assert len(problems) == 1 and "is a symbolic link" in problems[0]
    assert mode(real) == 0o1777


def test_sockets_keep_their_mode(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir(mode=0o700)
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(run / "s.sock"))
        (run / "s.sock").chmod(0o777)
        assert private_mode_problems([run]) == []
        assert mode(run / "s.sock") == 0o777  # what guards a socket is its 0700 folder


@as_root
def test_what_belongs_to_someone_else_is_reported_and_refused(tree: Path) -> None:
    os.chown(tree / "proxies" / "files" / "policy.json", NOBODY, NOBODY)
    os.chown(tree / "proxies", NOBODY, NOBODY)
    problems = private_mode_problems([tree])
    assert len(problems) == 1  # the folder; what is inside a folder that is not ours is not walked
    assert f"{tree / 'proxies'} belongs to" in problems[0] and f"uid {NOBODY}" in problems[0]
    assert "chown" in problems[0]
    with pytest.raises(ConfigError) as info:
        require_private_modes(tree)
    assert "not private to you" in str(info.value) and info.value.problems == problems
    assert mode(tree / "manager.json") == 0o600  # the rest was still tightened
