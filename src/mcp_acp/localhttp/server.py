"""What the proxy's and the manager's HTTP servers share: a private Unix socket, a uvicorn server
that leaves the process's signal handlers alone, and the probe that tells whether one listens."""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path

import uvicorn

from mcp_acp.config.private_dir import private_dir


class EmbeddedServer(uvicorn.Server):
    """uvicorn inside a process that owns SIGINT/SIGTERM/SIGHUP itself."""

    @contextlib.contextmanager
    def capture_signals(self):
        yield


def bind_private_socket(path: Path) -> socket.socket:
    """A listening Unix socket only this user can connect to: 0600 in a 0700 folder of ours
    (made if missing, and checked again here, just before binding), tightened before listen() so
    nobody can connect in between. A stale file from a crashed run is replaced (callers make sure
    no live instance owns it)."""
    private_dir(path.parent)
    path.unlink(missing_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    os.chmod(path, 0o600)
    sock.listen(100)
    return sock


def socket_accepts(path: Path, timeout: float = 1.0) -> bool:
    """True when something accepts connections on the Unix socket `path`."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(str(path))
            return True
        except OSError:
            return False
