"""The client-facing side: asyncio streams over the proxy's own stdin and stdout.

MCP clients connect with pipes. When stdin or stdout is a regular file instead (a
redirect, a test harness), asyncio cannot watch it, so a thread does the blocking I/O.
"""

from __future__ import annotations

import asyncio
import os
import stat
import sys
from typing import BinaryIO

from mcp_acp.backends.stdio import LINE_LIMIT


def _pollable(fd: int) -> bool:
    # Character devices other than terminals (/dev/null) cannot be polled: uvloop aborts on them.
    mode = os.fstat(fd).st_mode
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or (stat.S_ISCHR(mode) and os.isatty(fd))


class _FileReader:
    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle

    async def readline(self) -> bytes:
        return await asyncio.to_thread(self._handle.readline)


class _FileWriter:
    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle

    def write(self, data: bytes) -> None:
        self._handle.write(data)
        self._handle.flush()

    async def drain(self) -> None:
        return None


async def open_stdio():
    """Returns (reader with async readline(), writer with write() and async drain())."""
    loop = asyncio.get_running_loop()
    # Keep the protocol stream on a private copy of fd 1 and point fd 1 at stderr, so a stray
    # print() anywhere in the process can never corrupt the JSON-RPC stream.
    sys.stdout.flush()
    stdout = os.fdopen(os.dup(sys.stdout.fileno()), "wb", buffering=0)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())

    if _pollable(sys.stdin.fileno()):
        reader = asyncio.StreamReader(limit=LINE_LIMIT)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin.buffer)
    else:
        reader = _FileReader(sys.stdin.buffer)
    if _pollable(stdout.fileno()):
        transport, protocol = await loop.connect_write_pipe(asyncio.streams.FlowControlMixin, stdout)
        writer = asyncio.StreamWriter(transport, protocol, None, loop)
    else:
        writer = _FileWriter(stdout)
    return reader, writer
