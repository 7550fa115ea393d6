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


def _key(path: str) -> str:
    return unicodedata.normalize("NFC", path).casefold().rstrip("/") or "/"


def real(path: str) -> str:
    if path.startswith("//"):  # POSIX keeps a leading "//"; the kernel reads it as "/"
        path = "/" + path.lstrip("/")
    return os.path.realpath(os.path.expanduser(path))


class ProtectedPaths:
    def __init__(self, folders: Iterable[str | os.PathLike]) -> None:
        self.folders = tuple(dict.fromkeys(real(os.fspath(folder)) for folder in folders))
        self._keys = tuple(_key(folder) for folder in self.folders)

    def _inside(self, key: str) -> bool:
        return any(key == folder or key.startswith(folder + "/") for folder in self._keys)

    def _contains_protected(self, key: str) -> bool:
        return any(folder.startswith(key + "/") or key == "/" for folder in self._keys)

    def violation(self, paths: Iterable[tuple[str, str]], modifies: bool) -> str | None:
        """The first path (as written, resolved) that reaches a protected folder, or None.
        `modifies`: the request may change what the path names, so folders that contain a
        protected one are refused as well."""
        for written, resolved in paths:
            key = _key(resolved)
            if self._inside(key) or (modifies and self._contains_protected(key)):
                return written
        return None
