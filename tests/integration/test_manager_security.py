"""The manager's local API is an attack surface (issue 6 §4, docs/manager.md#the-local-api-and-its-protection): every request here is one
a hostile web page, another local user or a rogue process could make, and each must be refused.

One real manager (`mcp-acp manager _run`) and one real proxy `p1` (without --headless, in front of
the fixture backend) serve the whole module. Requests whose bytes matter (Host headers, encoded
dots, NULs, lying Content-Length) are written to the socket by hand, so no client library
normalises them away.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import socket
import stat
from http.cookies import SimpleCookie

import orjson
import psutil
import pytest

from tests.support.events import EventStream
from tests.support.manager import MANAGER_TIMEOUT, ManagerHome
from tests.support.processes import wait_until

MIB = 1024 * 1024


@pytest.fixture(scope="module")
def mgr(tmp_path_factory):
    """The manager with proxy p1 registered and reachable through it."""
    home = ManagerHome(tmp_path_factory.mktemp("security"))
    try:
        home.add_proxy("p1")
        home.start_manager()
        home.start_idle_proxy("p1")
        wait_until(lambda: "p1" in (home.status() or {}).get("proxies", []), 90, "p1 to register")
        wait_until(
            lambda: home.tcp("GET", "/api/proxy/p1/control/status").status_code == 200,
            90,
            "p1's API through the manager",
        )
        yield home
    finally:
        home.cleanup()
        print(home.diagnostics())
    assert not home.manager_processes()


def raw(
    home: ManagerHome,
    target: str,
    *,
    method: str = "GET",
    host: str | None = None,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    token: str | bool | None = True,
    unix: bool = False,
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 request written byte for byte (`target` is sent as is); (status, headers, body)."""
    lines = [
        f"{method} {target} HTTP/1.1",
        f"Host: {host if host is not None else f'127.0.0.1:{home.port}'}",
        "Connection: close",
    ]
    if token is True:
        token = home.token
    if token:
        lines.append(f"Authorization: Bearer {token}")
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body and not any(name.lower() in ("content-length", "transfer-encoding") for name in headers or {}):
        lines.append(f"Content-Length: {len(body)}")
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
    family, address = (
        (socket.AF_UNIX, str(home.path("manager_api_socket_path")))
        if unix
        else (socket.AF_INET, ("127.0.0.1", home.port))
    )
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(30)
        sock.connect(address)
        sock.sendall(request)
        return _read_response(sock)


def _read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        headers[name] = f"{headers[name]}\n{value.strip()}" if name in headers else value.strip()
    length = int(headers.get("content-length", -1))
    while length < 0 or len(body) < length:
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            break
        if not chunk:
            break
        body += chunk
    return int(status_line.split()[1]), headers, body


# --------------------------------------------------------------------------- DNS rebinding


@pytest.mark.parametrize(
    "host",
    [
        "evil.example",
        "127.0.0.1.evil.example",
        "evil.example:{port}",
        "localhost.evil.example:{port}",
        "127.0.0.2:{port}",
        "0.0.0.0:{port}",
        "",
    ],
)
@pytest.mark.parametrize("target", ["/api/manager/status", "/", "/metrics"])
def test_wrong_host_header_is_refused(mgr, host, target):
    status, _, body = raw(mgr, target, host=host.format(port=mgr.port))
    assert status == 403, body
    assert b"Host" in body and b"proxies" not in body


@pytest.mark.parametrize("host", ["127.0.0.1:{port}", "localhost:{port}", "[::1]:{port}", "LOCALHOST:{port}"])
def test_loopback_host_headers_are_accepted(mgr, host):
    status, _, body = raw(mgr, "/api/manager/status", host=host.format(port=mgr.port))
    assert status == 200 and orjson.loads(body)["running"] is True


# --------------------------------------------------------------------------- CSRF


@pytest.mark.parametrize(
    "origin",
    [
        "http://evil.example",
        "null",
        "http://127.0.0.1.evil.example:{port}",
        "https://127.0.0.1:{port}",
        "http://127.0.0.1:{other}",
        "http://localhost:{port}.evil.example",
    ],
)
def test_cross_origin_post_is_refused_even_with_the_token(mgr, origin):
    origin = origin.format(port=mgr.port, other=mgr.port + 1)
    response = mgr.tcp("POST", "/api/manager/ui-login-code", headers={"Origin": origin})
    assert response.status_code == 403, response.text
    assert "url" not in response.json()  # no sign-in link was minted for the attacker
    assert mgr.tcp("DELETE", "/api/manager/proxies/px_00000000:x", headers={"Origin": origin}).status_code == 403
    assert mgr.tcp("GET", "/api/manager/status", headers={"Origin": origin}).status_code == 403


def test_same_origin_post_with_the_token_is_accepted(mgr):
    for origin in (f"http://127.0.0.1:{mgr.port}", f"http://localhost:{mgr.port}"):
        response = mgr.tcp("POST", "/api/manager/ui-login-code", headers={"Origin": origin})
        assert response.status_code == 200 and "/ui-login?code=" in response.json()["url"]


def test_mutation_without_origin_needs_a_valid_token(mgr):
    none = mgr.tcp("POST", "/api/manager/ui-login-code", token=None)
    assert none.status_code == 403 and "Origin" in none.json()["error"]
    assert mgr.tcp("DELETE", "/api/manager/proxies/px_00000000:x", token=None).status_code == 403
    assert mgr.tcp("POST", "/api/proxy/p1/control/reload-policy", token=None).status_code == 403
    wrong = mgr.tcp("POST", "/api/manager/ui-login-code", token=secrets.token_hex(32))
    assert wrong.status_code == 401 and wrong.json() == {"error": "Unauthorized"}
    # A same-origin page without the token (no cookie) gets nothing either.
    same_origin = {"Origin": f"http://127.0.0.1:{mgr.port}"}
    assert mgr.tcp("POST", "/api/manager/ui-login-code", token=None, headers=same_origin).status_code == 401


# --------------------------------------------------------------------------- the API token


@pytest.mark.parametrize(
    "path",
    [
        "/api/manager/status",
        "/metrics",
        "/api/events",
        "/api/proxy/p1/control/status",
        "/api/stats",
        "/api/manager/proxies",
    ],
)
def test_no_token_or_a_wrong_token_is_refused(mgr, path):
    token = mgr.token
    for presented in (None, secrets.token_hex(32), token[:-1], token + "0", token.upper(), ""):
        response = mgr.tcp("GET", path, token=presented)
        assert response.status_code == 401, (presented, response.text)
        assert response.json() == {"error": "Unauthorized"}
    status, _, _ = raw(mgr, path, token=None, headers={"Authorization": f"Basic {token}"})
    assert status == 401


def test_token_in_the_cookie_works(mgr):
    good = mgr.tcp("GET", "/api/manager/status", token=None, headers={"Cookie": f"api_token={mgr.token}"})
    assert good.status_code == 200 and good.json()["running"] is True
    bad = mgr.tcp("GET", "/api/manager/status", token=None, headers={"Cookie": f"api_token={secrets.token_hex(32)}"})
    assert bad.status_code == 401


async def test_query_token_works_only_for_the_event_stream(mgr):
    async with EventStream(mgr, query_token=True) as events:
        assert events.status_code == 200 and events.events[0]["type"] == "snapshot"
    for path in ("/api/manager/status", "/metrics", "/api/proxy/p1/control/status", "/api/stats"):
        response = mgr.tcp("GET", path, token=None, params={"token": mgr.token})
        assert response.status_code == 401, path
    assert mgr.tcp("GET", "/api/events", token=None, params={"token": secrets.token_hex(32)}).status_code == 401


# --------------------------------------------------------------------------- path traversal


def _assert_nothing_leaked(mgr: ManagerHome, headers: dict, body: bytes) -> None:
    text = body.decode("latin-1") + repr(headers)
    assert mgr.token not in text
    for secret_file_content in ("root:x:", '"ui_port"', "echo-ok", "BEGIN", '"proxies_connected"'):
        assert secret_file_content not in text, text[:500]


@pytest.mark.parametrize(
    "target",
    [
        "/api/proxy/..%2F..%2Fetc/passwd",
        "/api/proxy/..%2f..%2fetc%2fpasswd/x",
        "/api/proxy/x/../../manager/status",
        "/api/proxy/p1/../../manager/status",
        "/api/proxy/p1/logs/..%2F..%2Fconfig",
        "/api/proxy/p1/logs/../../../config/manager_token",
        "/api/proxy/p1/logs/%2e%2e/%2e%2e/config",
        "/api/proxy/p1/logs/..%5C..%5Cconfig",
        "/api/proxy/p1/logs/decisions%00",
        "/api/proxy/p1/logs/%00/../../x",
        "/api/proxy/p1%00/control/status",
        "/api/proxy/%2e%2e/control/status",
        "/api/proxy/p1//control/status",
        "/api/proxy/p1/./control/status",
        "/api/proxy/p1/logs/%252e%252e%252f%252e%252e%252fconfig",  # encoded twice: decoded again by the proxy
        "/api/proxy/p1/%252e%252e%252fmanager/status",
        "/api/proxy/p1/logs/%252e%252e/%252e%252e/config",
        "/api/logs/..%2F..%2Fconfig",
        "/api/..%2Fmanager/status",
    ],
)
def test_path_traversal_through_the_proxy_routes_is_refused(mgr, target):
    status, headers, body = raw(mgr, target)
    assert status in (400, 404), (status, body[:300])
    _assert_nothing_leaked(mgr, headers, body)


@pytest.mark.parametrize(
    "target",
    [
        "/..%2F..%2Fconfig/manager_token",
        "/../../config/manager_token",
        "/%2e%2e/%2e%2e/config/manager_token",
        "/assets/..%2F..%2F..%2F..%2F..%2Fconfig%2Fmanager_token",
        "/..%2F..%2F..%2F..%2F..%2F..%2F..%2F..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd",
        "//etc/passwd",
        "/{token_file}",
    ],
)
def test_static_path_traversal_never_returns_the_token(mgr, target):
    target = target.format(token_file=mgr.home / "config" / "manager_token")
    for token in (None, True):  # the UI needs no token; with one, nothing more may leak either
        status, headers, body = raw(mgr, target, token=token)
        assert status in (200, 400, 404), (status, body[:300])
        _assert_nothing_leaked(mgr, headers, body)
        assert "api_token" not in headers.get("set-cookie", "")


# --------------------------------------------------------------------------- body size


@pytest.mark.parametrize("unix", [False, True], ids=["tcp", "unix-socket"])
@pytest.mark.parametrize(
    "path", ["/api/manager/proxies/notify-deleted", "/api/proxy/p1/control/reload-policy", "/api/manager/proxies"]
)
def test_declared_oversize_body_is_refused_before_it_is_read(mgr, path, unix):
    # Only the headers are sent: the refusal must come without waiting for 2 MiB.
    status, _, body = raw(
        mgr,
        path,
        method="POST",
        unix=unix,
        headers={"Content-Type": "application/json", "Content-Length": str(2 * MIB)},
    )
    assert status == 413, body
    assert b"too large" in body.lower()


def test_invalid_content_length_is_refused(mgr):
    status, _, _ = raw(
        mgr, "/api/manager/proxies/notify-deleted", method="POST", headers={"Content-Length": "12abc"}, body=b"{}"
    )
    assert status == 400


def _chunked(size: int, piece: int = 64 * 1024) -> bytes:
    chunk = b"%x\r\n" % piece + b" " * piece + b"\r\n"
    return chunk * (size // piece) + b"0\r\n\r\n"


CHUNKED_TARGETS = ["/api/manager/proxies/notify-deleted", "/api/proxy/p1/control/reload-policy"]


@pytest.mark.parametrize("path", CHUNKED_TARGETS)
def test_chunked_oversize_body_is_413_and_never_forwarded(mgr, path):
    before = mgr.tcp("GET", "/api/proxy/p1/control/status").json()["reload_count"]
    status, _, body = _send_chunked(mgr, path)
    assert status == 413, (status, body)
    assert mgr.tcp("GET", "/api/proxy/p1/control/status").json()["reload_count"] == before


def _send_chunked(mgr: ManagerHome, path: str) -> tuple[int, dict, bytes]:
    """POST a 2 MiB chunked body (no Content-Length); the server may stop reading early."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{mgr.port}\r\nConnection: close\r\n"
        f"Authorization: Bearer {mgr.token}\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", mgr.port), timeout=30) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # it stopped reading: the answer is there
            sock.sendall(head + _chunked(2 * MIB))
        return _read_response(sock)


# --------------------------------------------------------------------------- files and sockets


def mode(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_sockets_token_and_folders_are_private(mgr):
    sockets = [
        mgr.path("manager_socket_path"),
        mgr.path("manager_api_socket_path"),
        mgr.path("proxy_socket_path", "p1"),
    ]
    for path in sockets:
        info = os.lstat(path)
        assert stat.S_ISSOCK(info.st_mode), path
        assert mode(path) == 0o600, (path, oct(mode(path)))
        assert info.st_uid == os.getuid()
        assert mode(path.parent) == 0o700, (path.parent, oct(mode(path.parent)))
    assert mode(mgr.path("runtime_dir")) == 0o700
    assert mode(mgr.home / "config" / "manager_token") == 0o600
    assert mode(mgr.home / "config") == 0o700
    assert mode(mgr.path("manager_pid_path")) & 0o077 == 0


def test_security_headers_are_set(mgr):
    responses = {
        "api": mgr.tcp("GET", "/api/manager/status"),
        "refused": mgr.tcp("GET", "/api/manager/status", token=None),
        "forwarded": mgr.tcp("GET", "/api/proxy/p1/control/status"),
        "routing error": mgr.tcp("GET", "/api/proxy/nope/control/status"),
        "ui": mgr.tcp("GET", "/", token=None),
        "metrics": mgr.tcp("GET", "/metrics"),
        "unix socket": mgr.api("GET", "/api/manager/status"),
    }
    for what, response in responses.items():
        headers = response.headers
        assert headers.get("x-content-type-options") == "nosniff", what
        assert headers.get("x-frame-options") == "DENY", what
        assert "default-src 'self'" in headers.get("content-security-policy", ""), what
        assert headers.get("referrer-policy") == "same-origin", what
        if what != "ui":
            assert "no-store" in headers.get("cache-control", ""), what
        assert "access-control-allow-origin" not in headers, what


def _non_loopback_ipv4() -> str | None:
    candidates = [socket.gethostbyname(socket.gethostname())]
    candidates += [
        address.address
        for addresses in psutil.net_if_addrs().values()
        for address in addresses
        if address.family == socket.AF_INET
    ]
    return next((ip for ip in candidates if not ip.startswith("127.")), None)


def test_the_tcp_server_listens_on_loopback_only(mgr):
    pid = mgr.status()["pid"]
    listening = [c for c in psutil.Process(pid).net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
    assert listening and {c.laddr.ip for c in listening} == {"127.0.0.1"}, listening
    ip = _non_loopback_ipv4()
    if ip is None:
        pytest.skip("this machine has no non-loopback IPv4 address to try")
    with pytest.raises(OSError):
        socket.create_connection((ip, mgr.port), timeout=5).close()


# --------------------------------------------------------------------------- handing the token to the UI


def test_ui_login_code_sets_a_strict_cookie_once(mgr):
    printed = mgr.cli("manager", "open", "--print", check=True).stdout
    match = re.search(r"http://127\.0\.0\.1:(\d+)(/ui-login\?code=[A-Za-z0-9_\-]+)", "".join(printed.split()))
    assert match and int(match.group(1)) == mgr.port, printed
    link = match.group(2)

    status, headers, _ = raw(mgr, link, token=None)
    assert status in (302, 303), headers
    cookie = SimpleCookie()
    cookie.load(headers["set-cookie"])
    assert cookie["api_token"].value == mgr.token
    attributes = headers["set-cookie"].lower()
    assert "httponly" in attributes and "samesite=strict" in attributes
    assert mgr.token not in headers.get("location", "")

    again, headers, _ = raw(mgr, link, token=None)
    assert again == 403 and "set-cookie" not in headers
    forged, headers, _ = raw(mgr, "/ui-login?code=" + secrets.token_urlsafe(24), token=None)
    assert forged == 403 and "set-cookie" not in headers
    empty, headers, _ = raw(mgr, "/ui-login", token=None)
    assert empty == 403 and "set-cookie" not in headers


# --------------------------------------------------------------------------- the registration protocol


class Registration:
    """A raw NDJSON connection to manager.sock, as a (possibly rogue) proxy would open it."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, mgr: ManagerHome) -> Registration:
        return cls(*await asyncio.open_unix_connection(str(mgr.path("manager_socket_path"))))

    async def send(self, message: dict | bytes) -> None:
        self.writer.write(message if isinstance(message, bytes) else orjson.dumps(message) + b"\n")
        await self.writer.drain()

    async def receive(self) -> dict | None:
        """The next message; None when the manager closed the connection."""
        line = await asyncio.wait_for(self.reader.readline(), MANAGER_TIMEOUT)
        return orjson.loads(line) if line else None

    async def closed_by_manager(self) -> bool:
        while (message := await self.receive()) is not None:
            assert message["type"] in ("ui_status", "heartbeat", "token_update"), message
        return True

    def close(self) -> None:
        self.writer.close()


def register(mgr: ManagerHome, name: str, **changes) -> dict:
    message = {
        "type": "register",
        "proxy_name": name,
        "proxy_id": f"px_{secrets.token_hex(4)}:{name}",
        "instance_id": secrets.token_hex(8),
        "config_summary": {"backend_id": "rogue"},
        "socket_path": str(mgr.path("proxy_socket_path", name)),
    }
    message.update(changes)
    return {key: value for key, value in message.items() if value is not None}


BAD_REGISTRATIONS = {
    "invalid JSON": lambda mgr: b"this is not json\n",
    "a JSON array": lambda mgr: b"[1, 2]\n",
    "wrong type": lambda mgr: register(mgr, "ghost", type="event"),
    "missing proxy_id": lambda mgr: register(mgr, "ghost", proxy_id=None),
    "missing instance_id": lambda mgr: register(mgr, "ghost", instance_id=None),
    "missing socket_path": lambda mgr: register(mgr, "ghost", socket_path=None),
    "malformed proxy_id": lambda mgr: register(mgr, "ghost", proxy_id="../../etc"),
    "path in the name": lambda mgr: register(mgr, "../evil", socket_path=str(mgr.path("runtime_dir") / "x.sock")),
    "someone else's socket": lambda mgr: register(mgr, "ghost", socket_path="/tmp/evil.sock"),
    "another proxy's socket": lambda mgr: register(mgr, "ghost", socket_path=str(mgr.path("proxy_socket_path", "p1"))),
    "the manager's own API socket": lambda mgr: register(
        mgr, "ghost", socket_path=str(mgr.path("manager_api_socket_path"))
    ),
}


@pytest.mark.parametrize("case", list(BAD_REGISTRATIONS))
async def test_a_bad_registration_is_refused(mgr, case):
    connection = await Registration.open(mgr)
    try:
        await connection.send(BAD_REGISTRATIONS[case](mgr))
        answer = await connection.receive()
        assert answer is not None and answer["type"] == "registered", answer
        assert answer["ok"] is False and answer["error"], answer
        assert await connection.receive() is None  # and the connection is closed
    finally:
        connection.close()
    assert "ghost" not in mgr.status()["proxies"]


async def test_a_registered_proxy_events_are_relayed_with_its_own_ids(mgr):
    async with EventStream(mgr) as events:
        connection = await Registration.open(mgr)
        try:
            message = register(mgr, "relayed")
            await connection.send(message)
            assert await connection.receive() == {"type": "registered", "ok": True}
            ui = await connection.receive()
            assert ui["type"] == "ui_status" and ui["browser_connected"] is True and ui["subscriber_count"] >= 1
            registered = await events.wait_for(
                lambda e: e["type"] == "proxy_registered" and e["proxy_name"] == "relayed", "the registration"
            )
            assert (registered["proxy_id"], registered["instance_id"]) == (message["proxy_id"], message["instance_id"])

            # Another browser subscribing or leaving is told to the proxy (it routes approvals by it).
            async with EventStream(mgr):
                more = await connection.receive()
                assert more["type"] == "ui_status" and more["subscriber_count"] == ui["subscriber_count"] + 1
            fewer = await connection.receive()
            assert fewer["type"] == "ui_status" and fewer["subscriber_count"] == ui["subscriber_count"]

            # Garbage and unknown messages are ignored; the connection stays up.
            await connection.send(b"{not json\n")
            await connection.send({"type": "no_such_message"})
            await connection.send({"type": "event", "event_type": "Bad Type!", "data": {}})
            # A proxy cannot speak for another: the ids on its events are the manager's.
            await connection.send(
                {
                    "type": "event",
                    "event_type": "policy_reloaded",
                    "data": {"message": "reloaded", "proxy_name": "p1", "proxy_id": "px_00000000:p1"},
                }
            )
            relayed = await events.wait_for(
                lambda e: e["type"] == "policy_reloaded" and e.get("message") == "reloaded", "the relayed event"
            )
            assert (relayed["proxy_name"], relayed["proxy_id"]) == ("relayed", message["proxy_id"])

            # An incident-class event also tells the incidents page to refresh.
            await connection.send({"type": "event", "event_type": "audit_tampering", "data": {"severity": "critical"}})
            await events.wait_for(
                lambda e: e["type"] == "audit_tampering" and e["proxy_name"] == "relayed", "the incident event"
            )
            incident = await events.wait_for(lambda e: e["type"] == "incidents_updated", "incidents_updated")
            assert incident == {
                "type": "incidents_updated",
                "proxy_name": "relayed",
                "trigger_event": "audit_tampering",
            }
            assert "relayed" in mgr.status()["proxies"]
        finally:
            connection.close()
        gone = await events.wait_for(
            lambda e: e["type"] == "proxy_disconnected" and e["proxy_name"] == "relayed", "the disconnect"
        )
        assert gone["disconnect_reason"] is None
    assert "relayed" not in mgr.status()["proxies"]


async def test_a_second_registration_with_the_same_name_replaces_the_first(mgr):
    async with EventStream(mgr) as events:
        first, second = await Registration.open(mgr), await Registration.open(mgr)
        try:
            one, two = register(mgr, "twin"), register(mgr, "twin")
            await first.send(one)
            assert (await first.receive())["ok"] is True
            await second.send(two)
            assert (await second.receive())["ok"] is True
            assert await first.closed_by_manager()

            registrations = [e for e in await _registrations(events, "twin", 2)]
            assert [e["instance_id"] for e in registrations] == [one["instance_id"], two["instance_id"]]
            assert mgr.status()["proxies"].count("twin") == 1
            assert not events.of_type("proxy_disconnected", "twin")  # the replaced one is not a disconnect
        finally:
            first.close()
            second.close()
        gone = await events.wait_for(
            lambda e: e["type"] == "proxy_disconnected" and e["proxy_name"] == "twin", "the disconnect of the second"
        )
        assert gone["instance_id"] == two["instance_id"]
        assert len(events.of_type("proxy_disconnected", "twin")) == 1


async def _registrations(events: EventStream, name: str, count: int) -> list[dict]:
    await events.wait_for(
        lambda e: len(events.of_type("proxy_registered", name)) >= count, f"{count} registrations of {name}"
    )
    return events.of_type("proxy_registered", name)


def test_the_built_ui_is_served_with_its_assets_and_client_routes(mgr):
    """The committed UI build: `/` and any client route answer index.html, whose scripts and
    styles are same-origin assets cached for good (their names change with their content)."""
    status, headers, index = raw(mgr, "/", token=None)
    assert status == 200 and headers["content-type"].startswith("text/html")
    assets = re.findall(rb'(?:src|href)="(/assets/[^"]+)"', index)
    assert any(a.endswith(b".js") for a in assets) and any(a.endswith(b".css") for a in assets), index
    assert not re.findall(rb'(?:src|href)="(?:https?:)?//', index)  # nothing loaded from elsewhere
    for route in ("/proxy/px_1234abcd:files", "/incidents", "/auth"):
        assert raw(mgr, route, token=None)[2] == index
    for asset in assets:
        status, headers, body = raw(mgr, asset.decode(), token=None)
        assert status == 200 and body and "immutable" in headers["cache-control"]
