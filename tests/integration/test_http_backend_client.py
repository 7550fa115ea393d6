"""HttpBackend, driven directly, against a real HTTP server that misbehaves on cue
(tests/fixtures/scripted_http_backend.py): answers, errors, resumption, session loss and reopening."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from mcp_acp import jsonrpc
from mcp_acp.backends.http import HttpBackend
from tests.support.processes import ROOT, HttpBackendServer, wait_until_async

SCRIPTED = str(ROOT / "tests" / "fixtures" / "scripted_http_backend.py")
WAIT = 15.0  # upper bound for anything to arrive; never a timing assertion
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 0,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}},
}
INITIALIZED = {"jsonrpc": "2.0", "method": "notifications/initialized"}


async def eventually(check: Callable[[], Awaitable[Any]], what: str) -> Any:
    """`wait_until_async` for a condition that has to ask the server."""
    for _ in range(int(WAIT / 0.02)):
        if value := await check():
            return value
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out after {WAIT:g} s waiting for {what}")


class ScriptedServer(HttpBackendServer):
    """The scripted server as a subprocess on a free loopback port; restartable on the same port."""

    def __init__(self, *flags: str) -> None:
        super().__init__(SCRIPTED, "--port", *flags)

    async def log(self) -> list[dict]:
        async with httpx.AsyncClient(trust_env=False) as client:
            return (await client.get(f"http://127.0.0.1:{self.port}/_log")).json()

    async def posts(self, method: str | None = None) -> list[dict]:
        return [e for e in await self.log() if e["verb"] == "POST" and (method is None or e["method"] == method)]


class Client:
    """An HttpBackend with a recording `deliver` and `on_lost`, as the relay would start it."""

    def __init__(self, server: ScriptedServer, **kwargs: Any) -> None:
        self.backend = HttpBackend("scripted", server.url, timeout=10, **kwargs)
        self.delivered: list[tuple[dict, bytes | None]] = []
        self.lost: list[str] = []

    async def start(self) -> Client:
        async def deliver(message: dict, raw: bytes | None) -> None:
            self.delivered.append((message, raw))

        await self.backend.start(deliver, self.lost.append)
        return self

    async def send(self, message: dict) -> None:
        await self.backend.send(message, jsonrpc.encode(message))  # the line, as the relay passes it

    async def answer(self, request_id: Any) -> tuple[dict, bytes | None]:
        """The response delivered for `request_id` (message, raw)."""

        def found() -> tuple | None:
            return next(((m, r) for m, r in self.delivered if m.get("id") == request_id and "method" not in m), None)

        return await wait_until_async(found, WAIT, f"the answer to {request_id!r}", interval=0.02)

    async def call(self, request_id: Any, name: str, arguments: dict | None = None) -> dict:
        await self.send(
            {
                "jsonrpc": "2.0",
                "id": request_id,
                "method": "tools/call",
                "params": {"name": name, "arguments": arguments or {}},
            }
        )
        return (await self.answer(request_id))[0]

    async def open_session(self) -> dict:
        await self.send(INITIALIZE)
        answer = (await self.answer(0))[0]
        await self.send(INITIALIZED)
        return answer


def server_fixture(*flags: str):
    @pytest.fixture
    def fixture():
        server = ScriptedServer(*flags)
        server.start()
        yield server
        server.stop()

    return fixture


server = server_fixture()
server_2026 = server_fixture("--protocol-version", "2026-07-28")
server_no_get = server_fixture("--no-get-stream")


@pytest.fixture
async def client(server):
    started = await Client(server, headers={"Authorization": "Bearer t0ken"}).start()
    yield started
    await started.backend.close()


def error_of(message: dict) -> tuple[int, str]:
    assert "result" not in message, message
    return message["error"]["code"], message["error"]["message"]


# --- answers ------------------------------------------------------------------------------


async def test_json_answers_and_raw_bytes(client, server):
    init = await client.open_session()
    assert init["result"]["protocolVersion"] == "2025-06-18"
    echo = await client.call(1, "echo")
    assert echo["result"]["content"][0]["text"] == "echo"
    # A one-line body is passed on byte for byte; a pretty-printed one only parsed.
    assert (await client.answer(1))[1] == json.dumps(echo, separators=(",", ":")).encode() + b"\n"
    pretty = await client.call(2, "pretty")
    assert pretty["result"]["content"][0]["text"] == "pretty"
    assert (await client.answer(2))[1] is None
    assert client.lost == []


async def test_sse_answer_comes_after_the_notification_on_its_stream(client):
    await client.open_session()
    answer = await client.call("a", "sse")
    assert answer["result"]["content"][0]["text"] == "sse"
    on_stream = [m for m, _ in client.delivered if m.get("method") == "notifications/progress" or m.get("id") == "a"]
    assert [m.get("method", "answer") for m in on_stream] == ["notifications/progress", "answer"]


async def test_stream_closed_before_the_answer_is_resumed_with_last_event_id(client, server):
    await client.open_session()
    answer = await client.call(7, "resumable")
    assert answer["result"]["content"][0]["text"] == "resumable"
    resumes = [e for e in await server.log() if e["verb"] == "GET" and "last-event-id" in e["headers"]]
    assert [e["headers"]["last-event-id"] for e in resumes] == ["e1"]
    assert resumes[0]["headers"]["mcp-session-id"] == "s1"


@pytest.mark.parametrize(
    ("tool", "code", "words"),
    [
        ("accepted", jsonrpc.INVALID_REQUEST, "accepted the request but sent no answer"),
        ("redirect", jsonrpc.INVALID_REQUEST, "redirected to http://127.0.0.1:{port}/elsewhere"),
        ("rpcerror", -32602, "bad params"),
        ("garbage", jsonrpc.PARSE_ERROR, "something other than a JSON-RPC message"),
    ],
)
async def test_answers_that_are_not_answers_become_errors_for_the_request(client, server, tool, code, words):
    await client.open_session()
    answer = await client.call(f"id-{tool}", tool)
    assert answer["id"] == f"id-{tool}"  # the request's own id, even where the backend sent null
    got_code, message = error_of(answer)
    assert got_code == code and words.format(port=server.port) in message
    assert not [e for e in await server.log() if e.get("path") == "/elsewhere"]  # the redirect was not followed
    assert client.lost == []


@pytest.mark.parametrize("tool", ["sse-null-id", "json-null-id"])
async def test_an_answer_on_a_requests_own_stream_is_that_requests_answer(client, tool):
    await client.open_session()
    await client.send({"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": tool}})
    await wait_until_async(lambda: [m for m, _ in client.delivered if m.get("error")], WAIT, "the error")
    [(message, raw)] = [(m, r) for m, r in client.delivered if m.get("error")]
    assert message["id"] == 5 and message["error"]["code"] == -32602
    assert raw is None or json.loads(raw) == message  # what the relay writes is what it was told


# --- headers ------------------------------------------------------------------------------


async def test_headers_on_every_request(client, server):
    await client.open_session()
    await client.call(1, "echo")
    await client.call(2, "héllo")
    await wait_until_async(
        lambda: any(m.get("method") == "notifications/tools/list_changed" for m, _ in client.delivered),
        WAIT,
        "the GET stream",
    )
    log = await server.log()
    assert all(e["headers"]["user-agent"].startswith("mcp-acp/") for e in log if e["verb"] != "CLOSED")
    assert all(e["headers"]["authorization"] == "Bearer t0ken" for e in log if e["verb"] != "CLOSED")
    initialize, *later = [e for e in log if e["verb"] in ("POST", "GET")]
    assert initialize["method"] == "initialize"
    assert "mcp-protocol-version" not in initialize["headers"] and "mcp-session-id" not in initialize["headers"]
    assert [e["headers"].get("mcp-protocol-version") for e in later] == ["2025-06-18"] * len(later) and later
    assert all(e["headers"]["mcp-session-id"] == "s1" for e in later)
    calls = {e["id"]: e["headers"] for e in log if e.get("method") == "tools/call"}
    assert calls[1]["mcp-method"] == "tools/call" and calls[1]["mcp-name"] == "echo"
    assert calls[2]["mcp-name"] == f"=?base64?{base64.b64encode('héllo'.encode()).decode()}?="
    assert (await client.answer(2))[0]["result"]["content"][0]["text"] == "héllo"


async def test_close_ends_the_session_with_delete(client, server):
    await client.open_session()
    await client.backend.close()
    deletes = [e for e in await server.log() if e["verb"] == "DELETE"]
    assert [e["headers"].get("mcp-session-id") for e in deletes] == ["s1"]


async def test_delete_carries_the_protocol_version(client, server):
    await client.open_session()
    await client.backend.close()
    [delete] = [e for e in await server.log() if e["verb"] == "DELETE"]
    assert delete["headers"].get("mcp-protocol-version") == "2025-06-18"


# --- the server's own stream ---------------------------------------------------------------


async def gets(server: ScriptedServer, session: str | None = None) -> list[dict]:
    return [
        e for e in await server.log() if e["verb"] == "GET" and session in (None, e["headers"].get("mcp-session-id"))
    ]


async def test_server_messages_arrive_on_the_get_stream(client, server):
    await client.open_session()
    await wait_until_async(
        lambda: any(m.get("method") == "notifications/tools/list_changed" for m, _ in client.delivered),
        WAIT,
        "the GET stream's notification",
    )
    [get] = await gets(server)
    assert "text/event-stream" in get["headers"]["accept"] and get["headers"]["mcp-session-id"] == "s1"


async def test_a_backend_without_a_get_stream_is_fine(server_no_get):
    client = await Client(server_no_get).start()
    try:
        await client.open_session()
        await eventually(lambda: gets(server_no_get), "the GET stream to be tried")
        assert (await client.call(1, "echo"))["result"]["content"][0]["text"] == "echo"
        assert [e["verb"] for e in await server_no_get.log()] == ["POST", "POST", "GET", "POST"]  # tried once
        assert client.lost == []
        assert [m.get("id") for m, _ in client.delivered] == [0, 1]  # no error, nothing else
    finally:
        await client.backend.close()


# --- losing the session ----------------------------------------------------------------------


async def test_expired_session_is_reported_once_then_reopened(client, server):
    await client.open_session()
    await client.send({"jsonrpc": "2.0", "id": "x", "method": "tools/call", "params": {"name": "expire"}})
    await wait_until_async(lambda: client.lost, WAIT, "on_lost")
    assert len(client.lost) == 1 and "404" in client.lost[0]
    # The next request replays the handshake first and runs on the new session.
    assert (await client.call("after", "echo"))["result"]["content"][0]["text"] == "echo"
    assert len(client.lost) == 1
    posts = await server.posts()
    replay, initialized, after = posts[-3:]
    assert replay["method"] == "initialize" and replay["id"].startswith("mcp-acp-replay-")
    assert replay["params"] == INITIALIZE["params"] and "mcp-session-id" not in replay["headers"]
    assert initialized["method"] == "notifications/initialized" and initialized["headers"]["mcp-session-id"] == "s2"
    assert after["id"] == "after" and after["headers"]["mcp-session-id"] == "s2"
    # The replayed handshake is the proxy's business: its answer is not delivered.
    assert not [m for m, _ in client.delivered if str(m.get("id")).startswith("mcp-acp-replay-")]
    assert "x" not in [m.get("id") for m, _ in client.delivered]
    # The new session gets its own GET stream.
    await eventually(lambda: gets(server, "s2"), "a GET stream on the new session")


async def test_requests_sent_together_after_a_loss_both_run_on_the_new_session(client, server):
    await client.open_session()
    await client.send({"jsonrpc": "2.0", "id": "x", "method": "tools/call", "params": {"name": "expire"}})
    await wait_until_async(lambda: client.lost, WAIT, "on_lost")
    # The relay sends concurrently when a policy decision is asynchronous (an approval).
    sends = [
        client.send({"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": {"name": "echo"}}) for i in ("a", "b")
    ]
    await asyncio.gather(*sends)

    def settled() -> bool:
        return {m.get("id") for m, _ in client.delivered} >= {"a", "b"} or len(client.lost) > 1

    await wait_until_async(settled, WAIT, "both answers, or a second loss")
    assert len(client.lost) == 1, client.lost
    assert all("result" in m for m, _ in client.delivered if m.get("id") in ("a", "b"))
    assert all(
        e["headers"].get("mcp-session-id") == "s2" for e in await server.posts("tools/call") if e["id"] in ("a", "b")
    )


async def test_refused_connection_is_a_lost_session_and_the_next_request_reopens_it(client, server):
    await client.open_session()
    await client.call(1, "echo")
    server.stop()
    await client.send({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "echo"}})
    await wait_until_async(lambda: client.lost, WAIT, "on_lost")
    assert len(client.lost) == 1 and "connection" in client.lost[0].lower()
    server.start()  # a new process: it knows no session
    assert (await client.call(3, "echo"))["result"]["content"][0]["text"] == "echo"
    posts = await server.posts()
    assert [e["method"] for e in posts] == ["initialize", "notifications/initialized", "tools/call"]
    assert posts[0]["id"].startswith("mcp-acp-replay-") and posts[2]["id"] == 3
    assert posts[2]["headers"]["mcp-session-id"] == "s1"
    assert len(client.lost) == 1


# --- cancellation --------------------------------------------------------------------------


async def start_slow_call(client: Client, server: ScriptedServer) -> None:
    await client.open_session()
    await client.send({"jsonrpc": "2.0", "id": "slow", "method": "tools/call", "params": {"name": "slow"}})
    await eventually(lambda: server.posts("tools/call"), "the slow call to reach the server")


async def closes(server: ScriptedServer, closed: dict) -> bool:
    return closed in await server.log()


CANCEL = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": "slow"}}


async def test_cancel_closes_the_stream_where_that_is_the_protocol(server_2026):
    client = await Client(server_2026).start()
    try:
        await start_slow_call(client, server_2026)
        await client.send(CANCEL)
        # send() has returned: a POSTed notification would be in the log by now.
        assert await server_2026.posts("notifications/cancelled") == []
        closed = {"verb": "CLOSED", "stream": "POST", "id": "slow"}
        await eventually(lambda: closes(server_2026, closed), "the slow call's stream to be closed")
        assert client.lost == [] and "slow" not in [m.get("id") for m, _ in client.delivered]
    finally:
        await client.backend.close()


async def test_cancel_is_sent_at_older_versions(client, server):
    await start_slow_call(client, server)
    await client.send(CANCEL)
    cancels = await server.posts("notifications/cancelled")
    assert [e["params"] for e in cancels] == [{"requestId": "slow"}]
    assert [e for e in await server.log() if e["verb"] == "CLOSED" and e["stream"] == "POST"] == []


# --- envelopes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "message",
    [
        {"jsonrpc": "1.0", "id": 1, "method": "ping"},
        {"jsonrpc": "2.0", "id": True, "method": "ping"},
    ],
)
async def test_send_refuses_a_malformed_envelope(client, server, message):
    with pytest.raises(ValueError, match="not a valid JSON-RPC message"):
        await client.send(message)
    assert await server.log() == []


@pytest.mark.parametrize(
    "message",
    [
        {"jsonrpc": "2.0", "id": 1, "method": "ping"},
        {"jsonrpc": "2.0", "id": "a", "method": "tools/call", "params": {"name": "x"}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 1, "result": {}},
        {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "parse error"}},
    ],
)
def test_envelope_problem_accepts_valid_messages(message):
    assert jsonrpc.envelope_problem(message) is None


@pytest.mark.parametrize(
    "message",
    [
        {"id": 1, "method": "ping"},
        {"jsonrpc": "1.0", "id": 1, "method": "ping"},
        {"jsonrpc": "2.0", "id": True, "method": "ping"},
        {"jsonrpc": "2.0", "id": 1.5, "method": "ping"},
        {"jsonrpc": "2.0", "id": None, "method": "ping"},
        {"jsonrpc": "2.0", "id": 1, "method": 7},
        {"jsonrpc": "2.0", "id": 1, "method": "ping", "params": [1]},
        {"jsonrpc": "2.0", "id": 1},
        {"jsonrpc": "2.0", "id": 1, "result": {}, "error": {"code": 1, "message": "m"}},
        {"jsonrpc": "2.0", "result": {}},
    ],
)
def test_envelope_problem_rejects_malformed_messages(message):
    assert isinstance(jsonrpc.envelope_problem(message), str)
