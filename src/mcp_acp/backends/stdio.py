"""A STDIO backend: the MCP server as a child process, one JSON message per line."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import shutil
import signal
import sys
from typing import Any

import orjson

from mcp_acp.backends import UNREADABLE, BackendError, BackendUnavailable, Deliver, OnLost

log = logging.getLogger(__name__)

# asyncio's readline refuses lines above its limit; MCP results can be many megabytes.
LINE_LIMIT = 256 * 1024 * 1024
CLOSE_GRACE_SECONDS = 2.0


def _die_with_parent() -> None:
    """Linux: the child gets SIGTERM if the proxy is killed, so it is never orphaned."""
    if sys.platform.startswith("linux"):
        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def resolve_command(command: str) -> str:
    found = shutil.which(command)
    if found is None:
        raise BackendError(
            f"backend command {command!r} was not found or is not executable. "
            "Install it, or fix 'backend.stdio.command' in the proxy's config.json."
        )
    return found


class StdioBackend:
    transport = "stdio"
    reconnects = False

    def __init__(self, server_name: str, command: str, args: list[str], env: dict[str, str]) -> None:
        self.server_name = server_name
        self._command = command
        self._args = args
        self._env = env
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task | None = None

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs (the gateway's status shows it)."""
        proc = self._proc
        return proc.pid if proc is not None and proc.returncode is None else None

    async def start(self, deliver: Deliver, on_lost: OnLost) -> None:
        executable = resolve_command(self._command)
        try:
            self._proc = await asyncio.create_subprocess_exec(
                executable,
                *self._args,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                limit=LINE_LIMIT,
                env=self._env,
                preexec_fn=_die_with_parent,
            )
        except OSError as exc:
            raise BackendError(f"cannot start backend {self._command!r}: {exc.strerror}.") from None
        self._reader = asyncio.create_task(self._read_loop(deliver, on_lost))

    async def _read_loop(self, deliver: Deliver, on_lost: OnLost) -> None:
        assert self._proc and self._proc.stdout
        reason = "the backend closed its output"
        try:
            while line := await self._proc.stdout.readline():
                try:
                    message = orjson.loads(line)
                except orjson.JSONDecodeError as exc:
                    if not line.strip():
                        continue
                    # Not JSON, or nested too deeply to read: the relay records it and answers
                    # the request it seems to answer, which must not wait for ever.
                    message = {UNREADABLE: f"the line is not JSON the proxy can read ({exc})"}
                if not isinstance(message, dict):
                    message = {UNREADABLE: "the line is not one JSON-RPC object"}
                await deliver(message, line if line.endswith(b"\n") else line + b"\n")
            code = await self._proc.wait()
            reason = f"the backend process exited with code {code}"
        except (ValueError, asyncio.LimitOverrunError):
            reason = "the backend sent a message larger than 256 MiB"
        on_lost(reason)

    async def send(self, message: dict[str, Any], raw: bytes) -> None:
        proc = self._proc
        if proc is None or proc.returncode is not None or proc.stdin is None or proc.stdin.is_closing():
            raise BackendUnavailable("the backend process is not running")
        try:
            proc.stdin.write(raw)
            await proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            raise BackendUnavailable("the backend process closed its input") from None

    async def close(self) -> None:
        """Close the child's stdin (the MCP way to ask it to exit), then escalate."""
        proc = self._proc
        if proc is None:
            return
        if proc.returncode is None:
            with contextlib.suppress(Exception):
                if proc.stdin is not None:
                    proc.stdin.close()
            for stop in (None, proc.terminate, proc.kill):
                if stop is not None:
                    with contextlib.suppress(ProcessLookupError):
                        stop()
                try:
                    await asyncio.wait_for(proc.wait(), CLOSE_GRACE_SECONDS)
                    break
                except TimeoutError:
                    continue
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._reader, 1.0)
