"""A decision entry written while the backend works (read-only discovery) still comes before
the answer, and an entry that cannot be written keeps the backend's answer from the client.

The relay runs in-process in front of the real fixture backend (a child over STDIO); the gate's
request hook stands in for the enforcer so the test controls the entry's write."""

from __future__ import annotations

import asyncio
import os
import sys

import orjson

from mcp_acp.backends.stdio import StdioBackend
from mcp_acp.proxy.gate import Gate, LogWhileForwarded
from mcp_acp.proxy.relay import Relay
from tests.support.processes import BACKEND

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 0,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}},
}


class Client:
    """What the relay wrote to its client, and a way to wait for the answer to one id."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.arrived = asyncio.Event()

    async def write(self, data: bytes) -> None:
        self.received.append(orjson.loads(data))
        self.arrived.set()

    def answers_to(self, request_id) -> list[dict]:
        return [m for m in self.received if m.get("id") == request_id and "method" not in m]

    async def ask(self, relay: Relay, message: dict) -> dict:
        await relay.from_client(orjson.dumps(message) + b"\n")
        while not self.answers_to(message["id"]):
            self.arrived.clear()
            await asyncio.wait_for(self.arrived.wait(), 15)
        return self.answers_to(message["id"])[0]


async def start_relay(write_entry) -> tuple[Relay, Client]:
    """tools/list is logged while forwarded, with `write_entry(client)` as its entry's write."""
    client = Client()

    def request(message: dict, parsed):
        return LogWhileForwarded(lambda: write_entry(client)) if message["method"] == "tools/list" else None

    relay = Relay(StdioBackend("fixture", sys.executable, [BACKEND], dict(os.environ)), Gate(request), client.write)
    await relay.start()
    assert "result" in await client.ask(relay, INITIALIZE)
    await relay.from_client(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
    return relay, client


def noting_answers_to_1(seen: list[list[dict]]):
    """An entry write that succeeds and notes what the client had received for id 1 by then."""

    def write_entry(client: Client):
        seen.append(client.answers_to(1))
        return None

    return write_entry


async def test_the_entry_is_written_before_the_answer_reaches_the_client():
    seen_at_write: list[list[dict]] = []
    relay, client = await start_relay(noting_answers_to_1(seen_at_write))
    try:
        answer = await client.ask(relay, {"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        assert any(tool["name"] == "echo" for tool in answer["result"]["tools"])
        assert seen_at_write == [[]]  # written once, and the client had no answer yet
    finally:
        await relay.close()


async def test_an_entry_that_cannot_be_written_answers_with_its_error_only():
    def write_entry(client: Client):
        return {"code": -32603, "message": "Audit log failure: logged to fallback, proxy shutting down"}

    relay, client = await start_relay(write_entry)
    try:
        refused = await client.ask(relay, {"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        assert refused["error"]["message"].startswith("Audit log failure")
        # The backend answers in order: once the ping's answer is here, the list's came and went.
        assert "result" in await client.ask(relay, {"jsonrpc": "2.0", "id": 2, "method": "ping"})
        assert client.answers_to(1) == [refused]
    finally:
        await relay.close()


async def test_a_request_that_cannot_be_forwarded_is_logged_before_its_error():
    seen_at_write: list[list[dict]] = []
    relay, client = await start_relay(noting_answers_to_1(seen_at_write))
    try:
        relay.backend._proc.kill()  # the backend is gone: forwarding fails and the relay answers itself
        await relay.backend._proc.wait()
        failed = await client.ask(relay, {"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        assert failed["error"]["code"] == -32000 and "unavailable" in failed["error"]["message"]
        assert seen_at_write == [[]]
    finally:
        await relay.close()
