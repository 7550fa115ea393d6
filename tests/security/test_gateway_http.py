"""Attacks on `mcp-acp serve` over HTTP, each with the exact refusal it must get.

One gateway for the module, with an issuer (the real test provider, tests/fixtures/oidc_provider.py),
a required scope and small body limits, in front of two proxies: `h`, over
tests/fixtures/hostile_server.py, which writes every line it receives to a file (so a test proves
that nothing reached the backend), and `web`, over tests/fixtures/scripted_http_backend.py
--record-raw, which records every header and body it receives (so a test proves the client's
token never reached it). The rate limit gets a gateway of its own, with a tiny budget.

Each attack carries a fresh marker; "nothing reached the backend" is the marker's absence from
what the backend recorded, and the control test shows the same request with a good token does
put it there. Waits are upper bounds ("does not hang"), never speed assertions.
"""

from __future__ import annotations

import itertools
import json
import select
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.fixtures.oidc_provider import OidcProvider
from tests.security.conftest import Home, received_text
from tests.support.gateway import GatewayProcess, write_gateway_config
from tests.support.processes import ROOT, free_port, wait_for_port

SCRIPTED = ROOT / "tests" / "fixtures" / "scripted_http_backend.py"  # 2025 era only
MODERN_BACKEND = ROOT / "tests" / "fixtures" / "modern_http_backend.py"  # 2026-07-28 only
MODERN = "2026-07-28"
VERSION_KEY = "io.modelcontextprotocol/protocolVersion"
ACCEPT = "application/json, text/event-stream"
SCOPE = "mcp:tools"
MAX_BODY = 16384
BODY_TIMEOUT = 2
HEADER_MISMATCH = -32020
ECHO_ONLY = {"rules": [{"id": "echo", "effect": "allow", "conditions": {"tool_name": "echo"}}]}
HANG = 60.0  # no answer within this is a hang
ids = itertools.count(1)


class Served:
    def __init__(
        self, home: Home, idp: OidcProvider, gateway: GatewayProcess, record: Path, web_logs: dict[str, str]
    ) -> None:
        self.home = home
        self.idp = idp
        self.gateway = gateway
        self.record = record  # what the hostile backend behind `h` received
        self.web_logs = web_logs  # per HTTP proxy, GET here: what its backend received
        self.endpoint = gateway.endpoint("h")

    def token(self, sub: str, aud: str | None = None, **claims: Any) -> str:
        claims.setdefault("scope", f"openid {SCOPE}")
        return self.idp.mint(sub, aud=aud or self.endpoint, **claims)


def start_recording_backend(script: Path, log: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, str(script), "--port", str(port), "--record-raw"],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    wait_for_port(port, timeout=30)
    return process, port


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("gateway-http")
    home = Home(root / "home")
    record = home.add_hostile("h", ECHO_ONLY)
    backends, web_logs = [], {}
    for name, script in (("web", SCRIPTED), ("modern", MODERN_BACKEND)):
        process, web_port = start_recording_backend(script, root / f"{name}.log")
        backends.append(process)
        home.cli("proxy", "add", name, "--server-name", name, "--url", f"http://127.0.0.1:{web_port}/mcp")
        home.write_policy(name, ECHO_ONLY)
        web_logs[name] = f"http://127.0.0.1:{web_port}/_log"
    port = free_port()
    try:
        with OidcProvider() as idp:
            write_gateway_config(
                home.env,
                {
                    "auth": {"issuer": idp.url, "scopes_required": [SCOPE]},
                    "limits": {
                        "max_body_bytes": MAX_BODY,
                        "body_timeout_seconds": BODY_TIMEOUT,
                        "header_timeout_seconds": BODY_TIMEOUT,
                        "requests_per_minute": 60000,
                        "burst": 10000,
                    },
                },
            )
            with GatewayProcess(home.env, root / "gateway.log", port=port) as gateway:
                yield Served(home, idp, gateway, record, web_logs)
                print(gateway.output())  # shown when a test failed
    finally:
        for process in backends:
            process.terminate()
            process.wait(10)
        home.close()


def marker() -> str:
    return f"canary-{uuid.uuid4().hex}"


def call(text: str, name: str = "echo") -> dict:
    """A 2026-07-28 tools/call: one POST, no session, so the attack is the only request."""
    meta = {
        VERSION_KEY: MODERN,
        "io.modelcontextprotocol/clientInfo": {"name": "attacker", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    params = {"name": name, "arguments": {"text": text}, "_meta": meta}
    return {"jsonrpc": "2.0", "id": next(ids), "method": "tools/call", "params": params}


def headers_for(message: dict, token: str | None, **extra: str) -> dict:
    headers = {"Accept": ACCEPT, "Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    method = message.get("method")
    if method:
        headers |= {"MCP-Protocol-Version": MODERN, "Mcp-Method": method}
    if method == "tools/call":
        headers["Mcp-Name"] = message["params"]["name"]
    return headers | extra


def post(url: str, message: dict, token: str | None, **extra: str) -> httpx.Response:
    return httpx.post(url, content=json.dumps(message), headers=headers_for(message, token, **extra), timeout=HANG)


def answer_of(response: httpx.Response) -> dict:
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        data = [line[5:].strip() for line in response.text.splitlines() if line.startswith("data:")]
        return json.loads(data[-1])
    return response.json()


def reached_backend(served: Served, canary: str) -> bool:
    return canary in received_text(served.record)


# --- the control: a good token gets through (so an absent marker means something) -----------


def test_control_a_good_token_reaches_the_backend(served: Served) -> None:
    canary = marker()
    response = post(served.endpoint, call(canary), served.token("control"))
    assert response.status_code == 200, response.text
    assert answer_of(response)["result"]["content"][0]["text"].startswith("EXECUTED echo")
    assert reached_backend(served, canary)


# --- tokens -------------------------------------------------------------------------------


def bad_tokens(served: Served) -> dict[str, str | None]:
    other_endpoint = served.gateway.endpoint("web")
    return {
        "no token": None,
        "expired": served.token("alice", expired=True),
        "the provider's default audience": served.idp.mint("alice", scope=f"openid {SCOPE}"),
        "another endpoint's URL as audience": served.token("alice", aud=other_endpoint),
        "the gateway's base URL as audience": served.token("alice", aud=served.gateway.url),
        "the wrong issuer": served.token("alice", iss="http://127.0.0.1:1/not-the-issuer"),
        "alg=none": served.token("alice", alg="none"),
        "a foreign key": served.token("alice", foreign_key=True),
        "no subject": served.token(None),  # type: ignore[arg-type]
        "not a bearer token": "not-a-jwt",
    }


def test_every_bad_token_gets_401_invalid_token_and_nothing_reaches_the_backend(served: Served) -> None:
    for label, token in bad_tokens(served).items():
        canary = marker()
        response = post(served.endpoint, call(canary), token)
        assert response.status_code == 401, f"{label}: {response.status_code} {response.text}"
        challenge = response.headers["www-authenticate"]
        assert challenge.startswith("Bearer ") and "resource_metadata=" in challenge, label
        if token is None:
            assert "error=" not in challenge, label  # RFC 6750 §3.1: no error code without a token
        else:
            assert 'error="invalid_token"' in challenge, f"{label}: {challenge}"
        assert response.json()["error"]["code"] == -32001, label
        assert not reached_backend(served, canary), label


def test_a_token_without_the_required_scope_gets_403_insufficient_scope(served: Served) -> None:
    canary = marker()
    response = post(served.endpoint, call(canary), served.token("alice", scope="openid profile"))
    assert response.status_code == 403, response.text
    challenge = response.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in challenge and f'scope="{SCOPE}"' in challenge
    assert not reached_backend(served, canary)


def test_a_token_in_the_query_string_is_not_a_token(served: Served) -> None:
    canary = marker()
    token = served.token("alice")
    response = post(f"{served.endpoint}?access_token={token}", call(canary), None)
    assert response.status_code == 401 and not reached_backend(served, canary)


# --- Host and Origin ------------------------------------------------------------------------


def test_a_foreign_origin_is_refused_with_403(served: Served) -> None:
    canary = marker()
    response = post(served.endpoint, call(canary), served.token("alice"), Origin="https://evil.example")
    assert response.status_code == 403 and "Origin" in response.json()["error"]["message"], response.text
    assert not reached_backend(served, canary)


def test_a_foreign_host_is_refused_with_403_dns_rebinding(served: Served) -> None:
    canary = marker()
    response = post(served.endpoint, call(canary), served.token("alice"), Host=f"evil.example:{served.gateway.port}")
    assert response.status_code == 403 and "DNS rebinding" in response.json()["error"]["message"], response.text
    assert not reached_backend(served, canary)


# --- the MCP headers against the body ---------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "value"),
    [("Mcp-Method", "tools/list"), ("Mcp-Name", "secret"), ("MCP-Protocol-Version", "2025-11-25")],
)
def test_a_header_that_disagrees_with_the_body_is_400_header_mismatch(served: Served, header: str, value: str) -> None:
    canary = marker()
    response = post(served.endpoint, call(canary), served.token("alice"), **{header: value})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == HEADER_MISMATCH and "Header mismatch" in error["message"], error
    assert not reached_backend(served, canary)


def test_a_modern_request_without_its_mcp_headers_is_400_header_mismatch(served: Served) -> None:
    canary = marker()
    message = call(canary)
    headers = {"Accept": ACCEPT, "Content-Type": "application/json", "Authorization": f"Bearer {served.token('a')}"}
    response = httpx.post(served.endpoint, content=json.dumps(message), headers=headers, timeout=HANG)
    assert response.status_code == 400 and response.json()["error"]["code"] == HEADER_MISMATCH, response.text
    assert not reached_backend(served, canary)


# --- body size and deadline -----------------------------------------------------------------


def test_an_oversize_body_is_413_declared_or_chunked(served: Served) -> None:
    token = served.token("alice")
    canary = marker()
    big = call(canary + "x" * MAX_BODY)
    declared = post(served.endpoint, big, token)
    assert declared.status_code == 413, declared.text

    def chunks():
        body = json.dumps(big).encode()
        for start in range(0, len(body), 1000):
            yield body[start : start + 1000]

    chunked = httpx.post(served.endpoint, content=chunks(), headers=headers_for(big, token), timeout=HANG)
    assert chunked.status_code == 413, chunked.text
    assert not reached_backend(served, canary)


def raw_request(served: Served, token: str, length: int) -> bytes:
    return (
        f"POST /mcp/h HTTP/1.1\r\nHost: 127.0.0.1:{served.gateway.port}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nAccept: {ACCEPT}\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


def trickle_until_closed(sock: socket.socket, limit: float = HANG) -> bytes:
    """Send one byte of body every quarter second until the server closes the connection;
    returns what the server sent before closing. Fails if it is still open after `limit`."""
    received = b""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        readable, _, _ = select.select([sock], [], [], 0.25)
        if readable:
            try:
                data = sock.recv(4096)
            except ConnectionResetError:
                return received
            if not data:
                return received
            received += data
            continue
        try:
            sock.sendall(b" ")
        except (BrokenPipeError, ConnectionResetError):
            return received
    raise AssertionError(f"a body trickled for {limit} s and the connection is still open")


def test_a_slow_body_is_cut_off_by_the_body_deadline(served: Served) -> None:
    canary = marker()
    start = json.dumps(call(canary))[:-1].encode()  # never finished: the closing brace never comes
    with socket.create_connection(("127.0.0.1", served.gateway.port), timeout=HANG) as sock:
        sock.sendall(raw_request(served, served.token("slow"), len(start) + 100_000) + start)
        answered = trickle_until_closed(sock)
    # Closed without a success: either silently or with an error status.
    assert not answered.startswith(b"HTTP/1.1 2"), answered[:200]
    assert not reached_backend(served, canary)
    # The cut-off body is a refusal, not a crash of the request handler.
    assert "Traceback" not in served.gateway.output(), served.gateway.output()[-3000:]


def test_many_slow_connections_do_not_starve_a_good_client(served: Served) -> None:
    token = served.token("slow")
    slow: list[socket.socket] = []
    try:
        for number in range(24):
            sock = socket.create_connection(("127.0.0.1", served.gateway.port), timeout=HANG)
            if number % 2:  # headers that never end (slowloris)
                sock.sendall(b"POST /mcp/h HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            else:  # headers, then a body that never comes
                sock.sendall(raw_request(served, token, 5000) + b"{")
            slow.append(sock)
        canary = marker()
        response = post(served.endpoint, call(canary), served.token("good"))
        assert response.status_code == 200, response.text
        assert answer_of(response)["result"]["content"][0]["text"].startswith("EXECUTED echo")
    finally:
        for sock in slow:
            sock.close()


# --- token passthrough ----------------------------------------------------------------------


def legacy_call(endpoint: str, token: str, text: str) -> dict:
    """A 2025-era session opened with `token`, and one tools/call on it (raw HTTP: the scripted
    backend lists no real tools, which the SDK client would insist on)."""
    auth = {"Authorization": f"Bearer {token}", "Accept": ACCEPT}
    hello = {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "c", "version": "1"}},
    }
    opened = httpx.post(endpoint, json=hello, headers=auth, timeout=HANG)
    assert opened.status_code == 200, opened.text
    session = {**auth, "Mcp-Session-Id": opened.headers["mcp-session-id"]}
    ready = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    assert httpx.post(endpoint, json=ready, headers=session, timeout=HANG).status_code == 202
    message = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "echo", "arguments": {"text": text}},
    }
    answered = httpx.post(endpoint, json=message, headers=session, timeout=HANG)
    assert answered.status_code == 200, answered.text
    return answer_of(answered)


@pytest.mark.parametrize(("era", "proxy"), [("legacy", "web"), (MODERN, "modern")])
def test_the_clients_token_never_reaches_the_backend(served: Served, era: str, proxy: str) -> None:
    endpoint = served.gateway.endpoint(proxy)
    token = served.idp.mint("alice", aud=endpoint, scope=f"openid {SCOPE}")
    canary = marker()
    if era == "legacy":
        answered = legacy_call(endpoint, token, canary)
        expected = "echo"  # the scripted backend answers with the tool's name
    else:
        response = post(endpoint, call(canary), token)
        assert response.status_code == 200, response.text
        answered, expected = answer_of(response), canary
    assert answered.get("result", {}).get("content", [{}])[0].get("text") == expected, answered
    seen = httpx.get(served.web_logs[proxy], timeout=HANG).json()
    calls = [entry for entry in seen if canary in entry.get("raw_body", "")]
    assert len(calls) == 1, seen  # the call did reach the backend: what it was sent is on record
    signature = token.rsplit(".", 1)[-1]
    for entry in seen:
        for name, value in entry.get("all_headers", []):
            assert token not in value and signature not in value, (name, value)
            assert name.lower() != "authorization", entry  # no backend credential configured: none at all
        assert token not in entry.get("raw_body", "") and signature not in entry.get("raw_body", ""), entry


# --- rate limit per principal ---------------------------------------------------------------


def test_the_rate_limit_is_per_principal(tmp_path: Path) -> None:
    home = Home(tmp_path / "home")
    home.add_hostile("h", ECHO_ONLY)
    port = free_port()
    try:
        with OidcProvider() as idp:
            limits = {"requests_per_minute": 1, "burst": 3}
            write_gateway_config(home.env, {"auth": {"issuer": idp.url}, "limits": limits})
            with GatewayProcess(home.env, tmp_path / "gateway.log", port=port) as gateway:
                endpoint = gateway.endpoint("h")
                alice, bob = idp.mint("alice", aud=endpoint), idp.mint("bob", aud=endpoint)
                answers = [post(endpoint, call(f"alice {n}"), alice) for n in range(4)]
                assert [a.status_code for a in answers] == [200, 200, 200, 429], [a.text for a in answers]
                assert int(answers[-1].headers["retry-after"]) >= 1
                served = post(endpoint, call("bob"), bob)
                assert served.status_code == 200, served.text
                assert answer_of(served)["result"]["content"][0]["text"].startswith("EXECUTED echo")
    finally:
        home.close()


# --- arbitrary bodies -----------------------------------------------------------------------

METHODS = ["initialize", "ping", "tools/list", "tools/call", "resources/read", "prompts/get", "nope", ""]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
requests = st.fixed_dictionaries(
    {"jsonrpc": st.sampled_from(["2.0", "1.0"]), "method": st.sampled_from(METHODS)},
    optional={
        "id": st.one_of(st.integers(), st.text(max_size=8), st.none(), st.lists(st.integers(), max_size=2)),
        "params": st.fixed_dictionaries(
            {},
            optional={
                "name": st.sampled_from(["echo", "hold", "secret", ""]),
                "arguments": st.dictionaries(st.text(max_size=8), json_values, max_size=3),
                "_meta": st.fixed_dictionaries({VERSION_KEY: st.sampled_from([MODERN, "2025-11-25", "1999-01-01"])}),
            },
        ),
    },
)
bodies = st.one_of(
    st.binary(max_size=512),
    json_values.map(lambda value: json.dumps(value).encode()),
    requests.map(lambda value: json.dumps(value).encode()),
)


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(body=bodies, mirror=st.booleans())
@example(body=b'{"jsonrpc": "2.0", "method": "initialize"}', mirror=False)  # hung: an initialize without id
@example(body=b'{"jsonrpc": "2.0", "id": [1], "method": "ping"}', mirror=False)
@example(body=b"\xff\xfe{", mirror=False)
def test_arbitrary_bodies_never_get_a_5xx_or_a_hang(served: Served, body: bytes, mirror: bool) -> None:
    token = fuzz_token(served)
    headers = {"Accept": ACCEPT, "Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    if mirror:  # the MCP headers a modern client would send for it, when the body has a method
        try:
            decoded = json.loads(body)
        except ValueError:
            decoded = None
        if isinstance(decoded, dict) and isinstance(decoded.get("method"), str) and decoded["method"]:
            headers |= {"MCP-Protocol-Version": MODERN, "Mcp-Method": decoded["method"]}
            params = decoded.get("params")
            if isinstance(params, dict) and isinstance(params.get("name"), str) and params["name"]:
                headers["Mcp-Name"] = params["name"]
    response = httpx.post(served.endpoint, content=body, headers=headers, timeout=HANG)
    assert response.status_code < 500, (body, response.status_code, response.text)
    if response.status_code == 202:
        return
    answer = answer_of(response)
    assert answer.get("jsonrpc") == "2.0" and ("error" in answer or "result" in answer), (body, answer)


_fuzz_tokens: dict[int, str] = {}


def fuzz_token(served: Served) -> str:
    key = id(served)
    if key not in _fuzz_tokens:
        _fuzz_tokens[key] = served.token("fuzzer")
    return _fuzz_tokens[key]
