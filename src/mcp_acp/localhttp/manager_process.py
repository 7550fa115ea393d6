"""Is the manager running, start it once for many proxies, stop it (docs/manager.md#starting-and-stopping): what the CLI and
the proxies do before they talk to the manager, and the daemon checks at its own start."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil
from filelock import FileLock, Timeout

from mcp_acp.config import paths
from mcp_acp.localhttp.server import socket_accepts

READY_TIMEOUT = 10.0  # the original design said 5 s; a cold start on a loaded machine can take longer
POLL_SECONDS = 0.2


def socket_answers() -> bool:
    return socket_accepts(paths.manager_socket_path())


def recorded_pid() -> int | None:
    """The PID in manager.pid when that process is alive and is a manager; else None."""
    try:
        pid = int(paths.manager_pid_path().read_text().strip())
        process = psutil.Process(pid)
        return pid if "manager" in " ".join(process.cmdline()) else None
    except (OSError, ValueError, psutil.Error):
        return None


def is_running() -> bool:
    return recorded_pid() is not None and socket_answers()


def ensure_running(extra_args: tuple[str, ...] = ()) -> bool:
    """Start the manager unless it runs. Two proxies starting at once make one manager: the
    second waits on the lock, then finds the first one's manager (checked before and after)."""
    if socket_answers():
        return True
    try:
        with FileLock(str(paths.manager_lock_path()), timeout=READY_TIMEOUT * 2, mode=0o600):
            if socket_answers():
                return True
            spawn(extra_args)
            return wait_until(socket_answers, READY_TIMEOUT)
    except Timeout:
        return socket_answers()


def spawn(extra_args: tuple[str, ...] = ()) -> subprocess.Popen:
    """The daemon, detached: its own session, no terminal, outliving whoever started it."""
    return subprocess.Popen(
        [sys.executable, "-m", "mcp_acp", "manager", "_run", *extra_args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
    )


def wait_until(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(POLL_SECONDS)
    return condition()


def stop(timeout: float = 10.0) -> bool | None:
    """SIGTERM the manager and wait: True stopped, False still running, None was not running."""
    pid = recorded_pid()
    if pid is None:
        return None
    os.kill(pid, signal.SIGTERM)
    return wait_until(lambda: _gone(pid), timeout)


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def can_open_browser() -> bool:
    """A graphical browser can open: a desktop session, and the user did not opt out. (Without a
    display `webbrowser` may pick a text browser that would take over the terminal.)"""
    if os.environ.get("MCP_ACP_NO_BROWSER"):
        return False
    return sys.platform in ("darwin", "win32") or bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
