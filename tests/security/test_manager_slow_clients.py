"""The manager's TCP port against slow and idle clients (issue 16, class 8: 1,003 connections
that never finished their headers exhausted it).

A real manager (`mcp-acp manager _run`) runs with a small file-descriptor limit (256, as macOS
gives by default), so that connections that are held open would exhaust it as they did. Clients
that owe headers or a body get a fixed deadline however slowly they trickle bytes, and when many
connections are waiting for a request the oldest ones are closed, so a client that sends a whole
request with the token is served at once.
"""

from __future__ import annotations

import contextlib
import resource
import socket
import subprocess
import threading
import time

import psutil
import pytest

from mcp_acp.manager.http_limits import BODY_TIMEOUT, HEADER_TIMEOUT, KEEP_ALIVE_TIMEOUT, MAX_WAITING
from tests.support.manager import MANAGER_TIMEOUT, ManagerHome
from tests.support.processes import MCP_ACP, wait_until

FD_LIMIT = 256
SLOW_CLIENTS = 600  # well past what 256 descriptors allow
SLACK = 10.0  # on top of a deadline: a loaded 2-core box may be late, never early


@pytest.fixture(scope="module")
def mgr(tmp_path_factory):
    home = ManagerHome(tmp_path_factory.mktemp("slow"))

    def small_fd_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))

    log = open(home.root / "manager-slow.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [MCP_ACP, "manager", "_run", "--port", str(home.port)],
        env=home.env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=small_fd_limit,
    )
    try:
        wait_until(
            lambda: process.poll() is not None or home.status() is not None,
            MANAGER_TIMEOUT,
            "the manager's API to answer",
        )
        assert process.poll() is None, (home.root / "manager-slow.log").read_text()
        home.process = process
        yield home
    finally:
        home.cleanup()
        if process.poll() is None:
            process.kill()
        process.wait(10)
        log.close()
        print(home.diagnostics())


def connect(mgr: ManagerHome) -> socket.socket:
    return socket.create_connection(("127.0.0.1", mgr.port), timeout=5)


def request_head(mgr: ManagerHome, method: str = "GET", path: str = "/api/manager/status", extra: str = "") -> bytes:
    return (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{mgr.port}\r\nAuthorization: Bearer {mgr.token}\r\n{extra}\r\n"
    ).encode()


def closed_after(sock: socket.socket, trickle: bytes = b"", every: float = 0.5, limit: float = 120) -> float:
    """Seconds until the server closes `sock`, sending it one byte of `trickle` every `every` s."""
    start = time.monotonic()
    sock.setblocking(False)
    pending = iter(trickle)
    while time.monotonic() - start < limit:
        with contextlib.suppress(BlockingIOError):
            try:
                if not sock.recv(65536):
                    return time.monotonic() - start
            except (ConnectionResetError, BrokenPipeError):
                return time.monotonic() - start
        byte = next(pending, None)
        if byte is not None:
            try:
                sock.send(bytes([byte]))
            except (ConnectionResetError, BrokenPipeError):
                return time.monotonic() - start
        time.sleep(every)
    raise AssertionError(f"the connection was still open after {limit:g} s")


def test_a_silent_connection_is_closed_within_the_header_deadline(mgr: ManagerHome) -> None:
    with connect(mgr) as sock:
        assert closed_after(sock) < HEADER_TIMEOUT + SLACK


def test_a_trickled_request_is_closed_within_the_header_deadline(mgr: ManagerHome) -> None:
    """One byte every half second: each byte used to reset nothing, and nothing closed it."""
    with connect(mgr) as sock:
        assert closed_after(sock, b"GET /api/manager/status HTTP/1.1\r\nX-Slow: " + b"a" * 400) < HEADER_TIMEOUT + SLACK


def test_a_trickled_body_is_closed_within_the_body_deadline(mgr: ManagerHome) -> None:
    head = request_head(
        mgr, "POST", "/api/manager/proxies/notify-deleted", "Content-Type: application/json\r\nContent-Length: 5000\r\n"
    )
    with connect(mgr) as sock:
        sock.sendall(head + b'{"proxy_id": "')
        assert closed_after(sock, b"x" * 1000) < BODY_TIMEOUT + SLACK


def test_a_slow_second_request_on_a_kept_alive_connection_is_closed(mgr: ManagerHome) -> None:
    """uvicorn's keep-alive timer stops at the first byte of the next request; ours does not."""
    with connect(mgr) as sock:
        sock.sendall(request_head(mgr))
        assert b"200 OK" in sock.recv(65536)
        elapsed = closed_after(sock, b"GET /api/manager/status HTTP/1.1\r\nX-Slow: " + b"a" * 400)
        assert elapsed < KEEP_ALIVE_TIMEOUT + HEADER_TIMEOUT + SLACK


class SlowClients:
    """Many connections that send a request line and then one header byte at a time, for ever."""

    def __init__(self, mgr: ManagerHome, count: int) -> None:
        self.mgr = mgr
        self.sockets: list[socket.socket] = []
        self.stop = threading.Event()
        self.open(count)
        self.thread = threading.Thread(target=self._trickle, daemon=True)
        self.thread.start()

    def open(self, count: int) -> None:
        for _ in range(count):
            with contextlib.suppress(OSError):
                sock = socket.create_connection(("127.0.0.1", self.mgr.port), timeout=2)
                sock.setblocking(False)
                with contextlib.suppress(OSError):
                    sock.send(b"GET /api/manager/status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
                self.sockets.append(sock)

    def _trickle(self) -> None:
        while not self.stop.wait(0.5):
            for sock in list(self.sockets):
                with contextlib.suppress(OSError):
                    sock.send(b"a")

    def close(self) -> None:
        self.stop.set()
        self.thread.join(10)
        for sock in self.sockets:
            sock.close()


def test_slow_clients_without_the_token_do_not_starve_a_request_with_it(mgr: ManagerHome) -> None:
    attack = SlowClients(mgr, SLOW_CLIENTS)
    try:
        assert len(attack.sockets) > FD_LIMIT  # more than the manager could ever hold open
        for _ in range(3):
            # Served while the attack goes on, well before any header deadline could free a slot
            # (a bound on "does not hang", not a speed test).
            response = mgr.tcp("GET", "/api/manager/status", timeout=HEADER_TIMEOUT * 0.8)
            assert response.status_code == 200 and response.json()["running"] is True
            attack.open(50)  # fresh ones keep arriving
        # The waiting connections the manager keeps are bounded, whatever the attack.
        held = [
            c
            for c in psutil.Process(mgr.process.pid).net_connections(kind="tcp")
            if c.status == psutil.CONN_ESTABLISHED
        ]
        assert len(held) <= MAX_WAITING + 2, len(held)
    finally:
        attack.close()
    assert mgr.tcp("GET", "/api/manager/status").status_code == 200
