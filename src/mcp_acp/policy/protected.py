"""The proxy's own folders (config, logs) are off limits to every backend, whatever the policy says.

A path is judged by where it really leads: `~` expanded, `//`, `.` and `..` collapsed and
symlinks followed. Comparison ignores case and Unicode normal form, so the check also holds on
case-insensitive or normalising filesystems (macOS). Changing a folder that contains a protected
one (moving or deleting `~/.config`, say) is refused too.
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Iterable

from mcp_acp.policy.paths import OTHER, JudgedPath, as_filesystem_text


def _key(path: str) -> str:
    return unicodedata.normalize("NFC", path).casefold().rstrip("/") or "/"


def real(text: str) -> str:
    """Where `text` leads on this machine: symlinks followed, then `..` (the kernel's reading)."""
    return os.path.realpath(as_filesystem_text(text))


class ProtectedPaths:
    def __init__(self, folders: Iterable[str | os.PathLike[str]]) -> None:
        self.folders = tuple(dict.fromkeys(real(os.fspath(folder)) for folder in folders))
        self._keys = tuple(_key(folder) for folder in self.folders)

    def _inside(self, key: str) -> bool:
        return any(key == folder or key.startswith(folder + "/") for folder in self._keys)

    def _contains_protected(self, key: str) -> bool:
        return any(folder.startswith(key + "/") or key == "/" for folder in self._keys)

    def violation(self, judged: Iterable[JudgedPath], modifies: bool) -> str | None:
        """The first path (as written) that reaches a protected folder in any of its readings, or
        None. When the request `modifies` what its path arguments name, one that contains a
        protected folder is refused too: moving or deleting it would take the folder with it."""
        for item in judged:
            for key in map(_key, item.readings):
                if self._inside(key) or (modifies and item.role != OTHER and self._contains_protected(key)):
                    return item.written
        return None
