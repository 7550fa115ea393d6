"""The server's roots: the folders it resolves relative paths against (issue 15).

A server reads `notes/a.txt` against its own root, not the proxy's working folder, so the
proxy must know that root to judge the path. Three sources, all kept (a relative path is judged
against each, and the strictest outcome wins):
- the proxy config's `roots` list;
- the command line of servers whose arguments are their folders (the official filesystem
  server: every argument after the package; `mcp-server-git --repository DIR`);
- the roots the client declares, in its answers to the server's `roots/list`.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterable, Iterator
from typing import cast
from urllib.parse import unquote, urlsplit

from mcp_acp.config.models import ProxyConfig

FILESYSTEM_SERVER = "server-filesystem"
GIT_SERVERS = ("mcp-server-git", "mcp_server_git")
MAX_ROOTS = 256


def _absolute(folder: str) -> str | None:
    folder = os.path.expanduser(folder)
    return posixpath.normpath(folder) if posixpath.isabs(folder) else None


def roots_from_command(command: str, args: list[str]) -> list[str]:
    """Folders named on the command line of a well-known server."""
    words = [command, *args]
    for index, word in enumerate(words):
        if FILESYSTEM_SERVER in word:  # npx -y @modelcontextprotocol/server-filesystem DIR…
            return [root for arg in words[index + 1 :] if not arg.startswith("-") and (root := _absolute(arg))]
        if any(name in word for name in GIT_SERVERS):
            found: list[str] = []
            for flag, value in zip(words[index + 1 :], words[index + 2 :], strict=False):
                if flag in ("--repository", "-r") and (root := _absolute(value)):
                    found.append(root)
            return found
    return []


def roots_from_client(result: object) -> list[str]:
    """The folders of a `roots/list` result (`file://` URIs)."""
    roots: object = cast("dict[str, object]", result).get("roots") if isinstance(result, dict) else None
    found: list[str] = []
    for root in cast("list[object]", roots) if isinstance(roots, list) else ():
        uri = cast("dict[str, object]", root).get("uri") if isinstance(root, dict) else None
        if isinstance(uri, str) and uri[:7].lower() == "file://" and (folder := _absolute(unquote(urlsplit(uri).path))):
            found.append(folder)
    return found


class ServerRoots:
    """The roots known so far; only ever grows during a session (a root the client drops may
    still be in the server's list until it asks again)."""

    def __init__(self, roots: Iterable[str] = ()) -> None:
        self._roots: dict[str, None] = {}
        self.add(roots)

    def add(self, roots: Iterable[str]) -> list[str]:
        """Add roots; returns the new ones."""
        new: list[str] = []
        for root in roots:
            folder = _absolute(root)
            if folder and folder not in self._roots and len(self._roots) < MAX_ROOTS:
                self._roots[folder] = None
                new.append(folder)
        return new

    def __iter__(self) -> Iterator[str]:
        return iter(self._roots)

    def __len__(self) -> int:
        return len(self._roots)

    def snapshot(self) -> tuple[str, ...]:
        return tuple(self._roots)


def configured_roots(roots: Iterable[str], command: str | None = None, args: Iterable[str] = ()) -> ServerRoots:
    """The roots known before the client says anything: the config's `roots`, and the folders on
    a well-known server's command line (`command`/`args` of a STDIO backend)."""
    return ServerRoots([*roots, *(roots_from_command(command, list(args)) if command else ())])


def server_roots(config: ProxyConfig) -> ServerRoots:
    """The folders a proxy's server resolves relative paths against, known before the client says
    anything: the config's `roots`, and the folders on a well-known server's command line."""
    stdio = config.backend.stdio
    return configured_roots(config.roots, stdio.command if stdio else None, stdio.args if stdio else ())
