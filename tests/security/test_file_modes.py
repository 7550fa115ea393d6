"""Nobody else on the machine can read what mcp-acp writes: after a real session, every folder
mcp-acp created under its home is 0700 and every file 0600, the manager's lock included
(issue 16, class 8: log folders were 0755, `manager.lock` 0644). Folders that `mkdir(parents=True)`
creates on the way are the ones that used to slip."""

from __future__ import annotations

import stat
from pathlib import Path

from tests.security.conftest import ALLOW_ALL, Home, text_of


def loose(root: Path) -> list[str]:
    found = []
    for path in [root, *root.rglob("*")]:
        if path.is_symlink():
            continue
        mode = stat.S_IMODE(path.lstat().st_mode)
        if path.is_socket():
            continue  # sockets sit in a 0700 folder; their own mode is not what guards them
        wanted = 0o700 if path.is_dir() else 0o600
        if mode & 0o077:
            found.append(f"{oct(mode)} (wanted {oct(wanted)}) {path.relative_to(root)}")
    return found


def test_every_folder_and_file_is_private_after_a_session(home: Home) -> None:
    home.add_hostile("modes", ALLOW_ALL)
    proxy = home.start("modes")
    assert "EXECUTED echo" in text_of(proxy.call("echo", {"text": "private"}))
    proxy.finish()
    home.cli("manager", "start", check=False)  # the manager takes manager.lock
    home.cli("manager", "stop", check=False)
    assert loose(home.acp_home) == []
