"""Syslog over TCP: RFC 5424 messages, RFC 6587 octet-counting framing, TLS per RFC 5425.

TCP syslog has no acknowledgement. A batch counts as taken once the receiver's kernel has
acknowledged every byte (the socket's send queue is empty) and the connection is still open;
what a receiver had acknowledged but not yet read when it died is covered by sending the last
`resend_on_reconnect` entries of each log again after a reconnection.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import socket
import ssl
import struct
import termios
import time
from typing import Any

from mcp_acp.audit.export.reader import Record
from mcp_acp.config.export import SyslogSettings

APP_NAME = "mcp-acp"
SD_ID = "mcp-acp@32473"  # 32473: the example enterprise number of RFC 5612
DRAIN_SECONDS = 30.0
_SEVERITY = {"DEBUG": 7, "INFO": 6, "WARNING": 4, "ERROR": 3, "CRITICAL": 2}


class SendError(Exception):
    """The receiver did not take a batch; the message says what to check."""


def severity(entry: dict[str, Any]) -> int:
    """The system log's own level; notice for a denied decision; warning for a failed or refused
    operation and a session that ended in failure; info otherwise."""
    level = entry.get("level")
    if isinstance(level, str) and level in _SEVERITY:
        return _SEVERITY[level]
    if entry.get("decision") == "deny":
        return 5
    if str(entry.get("status", "")).lower() in ("failure", "refused"):  # operations, auth
        return 4
    return 6


def _sd_value(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def _token(value: str, size: int) -> str:
    """A header field: printable US-ASCII without spaces, at most `size` characters, or '-'."""
    cleaned = "".join(c if 33 <= ord(c) <= 126 else "_" for c in value)[:size]
    return cleaned or "-"


def message(record: Record, facility: int, hostname: str, procid: str) -> bytes:
    """One entry as an RFC 5424 message; MSG is the entry's line exactly as in the file."""
    kind = record.rel.rsplit("/", 1)[-1].removesuffix(".jsonl")
    time_value = record.entry.get("time")
    timestamp = time_value if isinstance(time_value, str) and time_value else "-"
    params = (
        f'replica="{_sd_value(hostname)}" proxy="{_sd_value(record.proxy)}" file="{_sd_value(record.rel)}" '
        f'sequence="{record.sequence}" entry_hash="{_sd_value(record.entry.get("entry_hash", ""))}"'
    )
    header = (
        f"<{facility * 8 + severity(record.entry)}>1 {timestamp} {_token(hostname, 255)} {APP_NAME} "
        f"{_token(procid, 128)} {_token(kind, 32)} [{SD_ID} {params}] "
    )
    return header.encode() + record.line


def frame(payload: bytes) -> bytes:
    return str(len(payload)).encode() + b" " + payload


class SyslogSender:
    def __init__(self, settings: SyslogSettings, hostname: str) -> None:
        self.settings = settings
        self.hostname = hostname
        self.name = f"syslog-{settings.host}-{settings.port}"
        self.procid = str(os.getpid())
        self._sock: socket.socket | None = None
        self.resend_on_reconnect = settings.resend_on_reconnect

    def describe(self) -> str:
        tls = " (TLS)" if self.settings.tls else ""
        return f"syslog receiver {self.settings.host}:{self.settings.port}{tls}"

    def _connect(self) -> socket.socket:
        try:
            raw = socket.create_connection((self.settings.host, self.settings.port), timeout=10)
        except OSError as exc:
            raise SendError(
                f"cannot connect: {exc.strerror or exc}; check that the receiver runs and listens for "
                "TCP syslog there, and the 'export.syslog' host and port"
            ) from None
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        tls = self.settings.tls
        if tls is None:
            return raw
        try:
            context = ssl.create_default_context(cafile=tls.ca_file)
            if tls.cert_file and tls.key_file:
                context.load_cert_chain(tls.cert_file, tls.key_file)
            return context.wrap_socket(raw, server_hostname=self.settings.host)
        except (OSError, ssl.SSLError) as exc:
            raw.close()
            raise SendError(
                f"TLS with the syslog receiver failed: {exc}; check 'export.syslog.tls' (ca_file "
                "must be the CA that signed the receiver's certificate, issued for this host name)"
            ) from None

    def send(self, batch: list[Record]) -> None:
        if self._sock is None:
            self._sock = self._connect()
        data = b"".join(frame(message(r, self.settings.facility, self.hostname, self.procid)) for r in batch)
        try:
            self._sock.sendall(data)
            self._drained(self._sock)
        except (OSError, SendError) as exc:
            self.close()
            detail = str(exc) if isinstance(exc, SendError) else (exc.strerror or str(exc))
            raise SendError(f"the receiver dropped the connection: {detail}") from None

    @staticmethod
    def _drained(sock: socket.socket) -> None:
        """Wait until the receiver's kernel acknowledged every byte; a receiver never sends
        anything, so a readable socket means it closed (or reset) the connection."""
        deadline = time.monotonic() + DRAIN_SECONDS
        while True:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable and _closed(sock):
                raise SendError("the receiver closed the connection")
            queued = struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, b"\0\0\0\0"))[0]
            if queued == 0:
                return
            if time.monotonic() > deadline:
                raise SendError(f"the receiver did not take {queued} bytes within {DRAIN_SECONDS:g} s")
            time.sleep(0.001)

    def close(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
            self._sock = None


def _closed(sock: socket.socket) -> bool:
    """Readable: the end of the stream, or (TLS 1.3) a session ticket the TLS layer takes in."""
    sock.setblocking(False)
    try:
        return sock.recv(4096) == b""
    except (ssl.SSLWantReadError, BlockingIOError):
        return False
    finally:
        sock.settimeout(10)
