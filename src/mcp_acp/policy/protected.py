"""The proxy's own folders (config, logs) are off limits to every backend, whatever the policy says.

A path is judged by where it really leads: `~` expanded, `//`, `.` and `..` collapsed and
symlinks followed. Comparison ignores case and Unicode normal form, so the check also holds on
case-insensitive or normalising filesystems (macOS). Changing a folder that contains a protected
one (moving or deleting `~/.config`, say) is refused too.
"""

from __future__ import annotations

import os
import posixpath
import unicodedata
from collections.abc import Iterable
from urllib.parse import unquote, urlsplit


def _key(path: str) -> str:
    return unicodedata.normalize("NFC", path).casefold().rstrip("/") or "/"


def _as_path(text: str) -> str:
    if text.startswith("file:"):
        text = unquote(urlsplit(text).path)
    text = text.split("\x00", 1)[0]  # a backend written in C stops at the first NUL
    if text.startswith("//"):  # POSIX keeps a leading "//"; the kernel reads it as "/"
        text = "/" + text.lstrip("/")
    return os.path.expanduser(text)


def real(text: str) -> str:
    """Where `text` leads on this machine: symlinks followed, then `..` (the kernel's reading)."""
    return os.path.realpath(_as_path(text))


def lexical_real(text: str) -> str:
    """Where `text` leads when `..` is collapsed before symlinks are followed (how Node's
    path.resolve and many backends read a path)."""
    return os.path.realpath(posixpath.normpath(_as_path(text)))


class ProtectedPaths:
    def __init__(self, folders: Iterable[str | os.PathLike]) -> None:
        self.folders = tuple(dict.fromkeys(real(os.fspath(folder)) for folder in folders))
        self._keys = tuple(_key(folder) for folder in self.folders)

    def _inside(self, key: str) -> bool:
        return any(key == folder or key.startswith(folder + "/") for folder in self._keys)

    def _contains_protected(self, key: str) -> bool:
        return any(folder.startswith(key + "/") or key == "/" for folder in self._keys)

    def violation(self, paths: Iterable[tuple[str, str]], modifies: bool, targets: Iterable[str | None] = ()) -> str | None:
        """The first path (as written, resolved) that reaches a protected folder, or None. When the
        request `modifies` its `targets` (its path, source, destination), a target that contains a
        protected folder is refused too: moving or deleting it would take the folder with it."""
        targets = set(targets)
        for written, resolved in paths:
            # With `..` after a symlink the two readings part ways; a backend may use either.
            readings = (resolved, lexical_real(written)) if ".." in written else (resolved,)
            for key in map(_key, readings):
                if self._inside(key) or (modifies and written in targets and self._contains_protected(key)):
                    return written
        return None
