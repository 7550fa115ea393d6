"""For the audit export tests: a home with one proxy, entries written by the real audit writer,
RFC 5424 messages parsed back, and receivers (a TLS syslog listener, an OTLP/HTTP collector)."""

from __future__ import annotations

import json
import os
import re
import socket
import ssl
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mcp_acp.audit.state import IntegrityState
from mcp_acp.audit.writer import AuditLog, Rotation
from tests.support.processes import free_port, wait_for_port

MCP_ACP = str(Path(sys.executable).parent / "mcp-acp")

# <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD] MSG
RFC5424 = re.compile(
    r"^<(?P<pri>\d{1,3})>1 (?P<ts>\S+) (?P<host>\S+) (?P<app>\S+) (?P<procid>\S+) (?P<msgid>\S+) "
    r'\[(?P<sdid>mcp-acp@32473) (?P<params>(?:[a-z_]+="(?:[^"\\\]]|\\.)*" ?)+)\] (?P<msg>.*)$'
)
PARAM = re.compile(r'([a-z_]+)="((?:[^"\\\]]|\\.)*)"')


@dataclass
class Syslog:
    pri: int
    timestamp: str
    host: str
    app: str
    msgid: str
    params: dict[str, str]
    msg: str

    @property
    def key(self) -> tuple[str, int]:
        return self.params["file"], int(self.params["sequence"])


def parse(line: str) -> Syslog:
    match = RFC5424.match(line)
    assert match, f"not an RFC 5424 message: {line[:300]!r}"
    params = {
        k: v.replace('\\"', '"').replace("\\]", "]").replace("\\\\", "\\") for k, v in PARAM.findall(match["params"])
    }
    return Syslog(int(match["pri"]), match["ts"], match["host"], match["app"], match["msgid"], params, match["msg"])


def make_home(root: Path, proxy: str = "files") -> dict[str, str]:
    """An MCP_ACP_HOME with one proxy (its backend is never started), made with the CLI."""
    env = {
        **os.environ,
        "MCP_ACP_HOME": str(root / "home"),
        "HOME": str(root / "user"),
        "MCP_ACP_SECRET_BACKEND": "file",
        "NO_COLOR": "1",
    }
    (root / "user").mkdir(parents=True, exist_ok=True)
    for args in (
        ["init", "--auth", "local"],
        ["proxy", "add", proxy, "--server-name", proxy, "--command", "/bin/true"],
    ):
        done = subprocess.run([MCP_ACP, *args], env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
    return env


def log_dir(env: dict[str, str], proxy: str = "files") -> Path:
    return Path(env["MCP_ACP_HOME"]) / "logs" / "mcp-acp" / "proxies" / proxy


class Writer:
    """The proxy's own audit writer on the proxy's log folder; small segments, so exports cross
    sealed and compressed segments."""

    def __init__(self, folder: Path, max_bytes: int = 64 * 1024) -> None:
        self.log = AuditLog(folder, IntegrityState.load(folder), None, rotation=Rotation(max_bytes=max_bytes))
        self.written: dict[str, list[dict[str, Any]]] = {}

    def write(self, count: int) -> None:
        kinds = ("operations", "decisions", "auth")
        for number in range(count):
            name = kinds[number % 3]
            fields: dict[str, Any] = {"event": "test", "note": f'entry {number} "quoted" ] é', "n": number}
            if name == "decisions":
                fields["decision"] = "deny" if number % 2 else "allow"
            entry = self.log.write(name, fields)
            self.written.setdefault(self.log.files[name].rel, []).append(entry)

    def total(self) -> int:
        return sum(len(entries) for entries in self.written.values())

    def close(self) -> None:
        self.log.close()


def export_settings(folder: Path, **settings: Any) -> Path:
    path = folder / "export.json"
    path.write_text(json.dumps(settings))
    return path


def check_stream(received: list[Syslog], written: dict[str, list[dict[str, Any]]]) -> int:
    """Nothing lost, nothing out of order: per log, every entry arrived, each arrival is the next
    entry or a re-send from an earlier one (never a jump ahead), and every copy is the entry as
    written. Returns the number of duplicates."""
    by_file: dict[str, list[Syslog]] = {}
    for message in received:
        by_file.setdefault(message.params["file"], []).append(message)
    duplicates = 0
    for rel, entries in written.items():
        arrived = by_file.get(rel, [])
        previous = 0
        for message in arrived:
            sequence = int(message.params["sequence"])
            assert sequence <= previous + 1, f"{rel}: entry {sequence} arrived right after {previous}"
            duplicates += sequence <= previous
            previous = max(previous, sequence)
            assert json.loads(message.msg) == entries[sequence - 1], f"{rel}: entry {sequence} differs"
        assert previous == len(entries), f"{rel}: {previous} of {len(entries)} entries arrived"
    return duplicates


class TlsSyslogReceiver:
    """A TLS (RFC 5425) syslog listener with octet-counted framing, recording every message."""

    def __init__(self, cert: Path, key: Path) -> None:
        self.port = free_port()
        self.messages: list[str] = []
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._context.load_cert_chain(cert, key)
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        wait_for_port(self.port)

    def _serve(self) -> None:
        while True:
            try:
                raw, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._session, args=(raw,), daemon=True).start()

    def _session(self, raw: socket.socket) -> None:
        try:
            with self._context.wrap_socket(raw, server_side=True) as conn:
                buffer = b""
                while chunk := conn.recv(65536):
                    buffer += chunk
                    while b" " in buffer:
                        size, rest = buffer.split(b" ", 1)
                        if len(rest) < int(size):
                            break
                        self.messages.append(rest[: int(size)].decode())
                        buffer = rest[int(size) :]
        except (OSError, ssl.SSLError):
            return

    def close(self) -> None:
        self._listener.close()


@dataclass
class OtlpCollector:
    """An OTLP/HTTP logs receiver (JSON) on loopback, run by uvicorn in a thread; `refuse` makes
    it answer 503, as a collector that is overloaded or restarting."""

    port: int = field(default_factory=free_port)
    records: list[dict[str, Any]] = field(default_factory=lambda: [])
    refused: int = 0
    refuse: bool = False

    def __post_init__(self) -> None:
        async def logs(request: Request) -> Response:
            if self.refuse:
                self.refused += 1
                return Response("busy", status_code=503)
            body = await request.json()
            for resource in body["resourceLogs"]:
                for scope in resource["scopeLogs"]:
                    self.records.extend(scope["logRecords"])
            return JSONResponse({})

        app = Starlette(routes=[Route("/v1/logs", logs, methods=["POST"])])
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        wait_for_port(self.port)

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
