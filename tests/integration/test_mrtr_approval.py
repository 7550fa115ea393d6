"""Asking the human in band for modern clients (issue 18, docs/approvals.md#modern-clients-the-link-in-the-answer).

Real processes: a `mcp-acp start --proxy NAME` subprocess (registered with a real manager
daemon) in front of the fixture backend, spoken to in raw JSON-RPC over its STDIO as a
2026-07-28 client would: no `initialize`, every request carrying its own `_meta` (protocol
version and capabilities, URL-mode elicitation among them). The human decides through the
manager's HTTP API on 127.0.0.1 with the API token, the very call the web UI's approval buttons
make. A browser is played by an httpx client following the manager's events (test_approvals.py).

The fixture backend (FastMCP on mcp 2.3.0) refuses any `requestState` it did not issue itself
("Invalid or expired requestState"), so a call that runs after an in-band approval also proves
the proxy's own state never reached it.

The policy allows `echo` and asks for `write_file` under a folder; no discovery request is sent
(a modern client's `server/discover` is another engineer's part of issue 18). Nothing is timed.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_approvals import (
    CALL_TIMEOUT,
    PROXY,
    Client,
    add_hitl_proxy,
    assert_denied,
    assert_wrote,
    binding_of,
    created_count,
    decide,
    pending_created,
    write,
)
from tests.support.audit import read_jsonl
from tests.support.config import proxy_log_dir
from tests.support.events import EventStream
from tests.support.manager import ManagerHome
from tests.support.proxies import LiveProxy

pytestmark = pytest.mark.timeout(300)

INPUT_KEY = "mcp-acp/approval"


@pytest.fixture
async def home(tmp_path):
    """A home with a free UI port and no display (so never a native dialog); nothing outlives it."""
    home = ManagerHome(tmp_path)
    for name in ("DISPLAY", "WAYLAND_DISPLAY"):
        home.env.pop(name, None)
    try:
        yield home
    finally:
        await home.aclose()
        print(home.diagnostics())  # shown only when the test failed
    assert not home.manager_processes(), "a manager outlived its test"


@pytest.fixture
def files(tmp_path) -> Path:
    folder = tmp_path / "files"
    folder.mkdir()
    return Path(os.path.realpath(folder))


MODERN_META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientInfo": {"name": "modern-raw-client", "version": "1.0"},
    "io.modelcontextprotocol/clientCapabilities": {"elicitation": {"form": {}, "url": {}}},
}


class ModernClient(Client):
    """A 2026-07-28 client: each tools/call carries `_meta`; retries add requestState/inputResponses."""

    async def tools_call(self, tool: str, arguments: dict, meta: dict | None = MODERN_META, **extra: Any) -> dict:
        self._next += 1
        request_id = self._next
        future = asyncio.get_running_loop().create_future()
        self.waiting[request_id] = future
        params: dict[str, Any] = {"name": tool, "arguments": arguments, **extra}
        if meta is not None:
            params["_meta"] = meta
        await self.proxy.send({"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params})
        return await asyncio.wait_for(future, CALL_TIMEOUT)

    async def retry(self, tool: str, arguments: dict, state: str, action: str = "accept") -> dict:
        return await self.tools_call(
            tool, arguments, requestState=state, inputResponses={INPUT_KEY: {"action": action}}
        )


async def start_modern(home: ManagerHome, events: EventStream, name: str = PROXY) -> ModernClient:
    """The proxy, registered with the manager, with no `initialize` (modern clients send none)."""
    proxy = await LiveProxy.start(home.env, name, home.root / f"proxy-{name}.log")
    home._live_proxies.append(proxy)  # killed with the home
    await events.wait_for(lambda e: e["type"] == "proxy_registered" and e["proxy_name"] == name, "registration")
    await events.wait_for(lambda e: e["type"] == "snapshot" and e.get("proxy_name") == name, "snapshot")
    return ModernClient(proxy)


def link_of(answer: dict) -> tuple[str, str]:
    """(url, state) of an in-band ask; fails unless the answer is exactly that."""
    assert "error" not in answer, answer
    result = answer["result"]
    assert result["resultType"] == "input_required", result
    asked = result["inputRequests"][INPUT_KEY]
    assert asked["method"] == "elicitation/create" and asked["params"]["mode"] == "url", asked
    return asked["params"]["url"], result["requestState"]


def audit(home: ManagerHome, name: str, log: str) -> list[dict]:
    return read_jsonl(proxy_log_dir(home.env, name) / "audit" / f"{log}.jsonl")


async def test_approved_in_the_ui_the_retry_runs_the_call(home, files: Path):
    proxy_id = add_hitl_proxy(home, files)
    home.start_manager()
    async with EventStream(home) as events:
        client = await start_modern(home, events)
        try:
            target = files / "a.txt"
            before = created_count(events)
            url, state = link_of(await client.tools_call("write_file", write(target, "in band")))
            approval = await pending_created(events, str(target), after=before)
            assert url == f"http://127.0.0.1:{home.port}/proxy/{proxy_id.replace(':', '%3A')}?approval={approval['id']}"
            assert not target.exists()

            # Not decided yet: the same approval again, with a fresh state.
            url_again, state_again = link_of(await client.retry("write_file", write(target, "in band"), state))
            assert url_again == url and state_again != state

            response = await decide(home, approval["id"], "allow-once", binding=binding_of(approval))
            assert response.status_code == 200, response.text
            assert_wrote(await client.retry("write_file", write(target, "in band"), state_again), target, "in band")
        finally:
            await client.close()

    hitl = [e for e in audit(home, PROXY, "decisions") if e.get("mcp_method") == "tools/call"]
    assert [e["hitl_outcome"] for e in hitl] == ["asked_in_band", "asked_in_band", "user_allowed"]
    assert all(e["decision"] == "hitl" for e in hitl)
    operations = audit(home, PROXY, "operations")
    # The proxy's own input request is recorded like a 2025 server-to-client request...
    asked = [e for e in operations if e.get("direction") == "server_to_client" and e.get("input_key") == INPUT_KEY]
    assert len(asked) == 2 and all(e["method"] == "elicitation/create" for e in asked)
    assert asked[0]["summary"]["mode"] == "url"
    # ...and the client's answers like the 2025 answers; the retries' states by digest only.
    answers = [e for e in operations if e.get("direction") == "client_to_server" and e.get("input_key") == INPUT_KEY]
    assert [e["summary"]["action"] for e in answers] == ["accept", "accept"]
    retries = [e for e in operations if e.get("mrtr")]
    assert [e["mrtr"]["request_state"]["owner"] for e in retries] == ["proxy", "proxy"]
    assert not any(token in str(e) for e in operations for token in (state, state_again))


async def test_a_denial_in_the_ui_denies_the_retry(home, files: Path):
    add_hitl_proxy(home, files)
    home.start_manager()
    async with EventStream(home) as events:
        client = await start_modern(home, events)
        try:
            target = files / "no.txt"
            before = created_count(events)
            _, state = link_of(await client.tools_call("write_file", write(target, "x")))
            approval = await pending_created(events, str(target), after=before)
            assert (await decide(home, approval["id"], "deny", binding=binding_of(approval))).status_code == 200
            assert_denied(await client.retry("write_file", write(target, "x"), state), "User denied")
            assert not target.exists()
        finally:
            await client.close()


async def test_other_arguments_ask_again_and_a_state_does_not_carry_over(home, files: Path):
    add_hitl_proxy(home, files)
    home.start_manager()
    async with EventStream(home) as events:
        client = await start_modern(home, events)
        try:
            first, second = files / "one.txt", files / "two.txt"
            before = created_count(events)
            _, state = link_of(await client.tools_call("write_file", write(first, "1")))
            approval = await pending_created(events, str(first), after=before)
            assert (await decide(home, approval["id"], "approve", binding=binding_of(approval))).status_code == 200

            # The approved state, presented with other arguments: refused, not run.
            refused = await client.retry("write_file", write(second, "2"), state)
            assert_denied(refused, "requestState")
            assert "another call" in refused["error"]["message"]
            assert not second.exists()

            # The same tool with other arguments, asked afresh: a new approval.
            before = created_count(events)
            link_of(await client.tools_call("write_file", write(second, "2")))
            other = await pending_created(events, str(second), after=before)
            assert other["id"] != approval["id"]
        finally:
            await client.close()
    refusals = [e for e in audit(home, PROXY, "decisions") if e.get("final_rule") == "request_state_invalid"]
    assert [e["reason"] for e in refusals] == ["other_request"]


async def held_then_approved(home: ManagerHome, events: EventStream, client: ModernClient, target: Path, meta) -> None:
    """The call waits, unanswered, until the human approves it in the UI; then it runs."""
    before = created_count(events)
    call = asyncio.ensure_future(client.tools_call("write_file", write(target, "held"), meta=meta))
    approval = await pending_created(events, str(target), after=before)
    assert not call.done()  # held: no answer until someone decides
    response = await decide(home, approval["id"], "allow-once", binding=binding_of(approval))
    assert response.status_code == 200, response.text
    assert_wrote(await call, target, "held")


async def test_a_legacy_client_is_still_held_while_the_human_decides(home, files: Path):
    add_hitl_proxy(home, files)
    home.start_manager()
    async with EventStream(home) as events:
        proxy = await home.start_proxy(PROXY)  # initialize: the 2025 handshake, and no _meta on calls
        await events.wait_for(lambda e: e["type"] == "snapshot" and e.get("proxy_name") == PROXY, "snapshot")
        client = ModernClient(proxy)
        try:
            await held_then_approved(home, events, client, files / "legacy.txt", meta=None)
        finally:
            await client.close()
    assert not [e for e in audit(home, PROXY, "decisions") if e.get("hitl_outcome") == "asked_in_band"]


async def test_a_modern_client_without_url_elicitation_is_held_too(home, files: Path):
    add_hitl_proxy(home, files)
    home.start_manager()
    form_only = {**MODERN_META, "io.modelcontextprotocol/clientCapabilities": {"elicitation": {}}}
    async with EventStream(home) as events:
        client = await start_modern(home, events)
        try:
            await held_then_approved(home, events, client, files / "form-only.txt", meta=form_only)
        finally:
            await client.close()
    assert not [e for e in audit(home, PROXY, "decisions") if e.get("hitl_outcome") == "asked_in_band"]
