"""The information-flow guard end to end (issue 22): the "lethal trifecta" asks, one leg alone does not.

A real `mcp-acp start --proxy NAME --headless` runs as a subprocess in front of
tests/fixtures/info_flow_server.py, whose `read_private` reads a local file, `fetch_url` really
fetches a page from an HTTP server this test runs on loopback, and `send_message` writes to an
outbox file (so a send that reached the server is visible). The client is the official MCP SDK.
The policy allows every tool, labels the three tools, and has the trifecta rule: egress asks once
private data and untrusted content were both touched. Headless, nobody can approve, so an ask
ends denied with the `hitl` decision and its outcome in decisions.jsonl.

Each scenario is its own client process, so its own proxy session: labels are per session.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from mcp.shared.exceptions import MCPError

from tests.support.info_flow import PAGE, POLICY_DENIED, SECRET, SEND, calls_of, flow_setup, run_session, sent, web_page

pytestmark = pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")


@pytest.fixture
def web() -> Iterator[str]:
    with web_page() as url:
        yield url


@pytest.fixture
def flow(cli, acp_env, tmp_path: Path) -> dict:
    return flow_setup(cli, acp_env, tmp_path)


async def test_private_data_then_untrusted_content_then_egress_asks(flow: dict, web: str) -> None:
    read, fetched, send = await run_session(
        flow, [("read_private", {"path": flow["notes"]}), ("fetch_url", {"url": web}), SEND]
    )
    assert read == SECRET and fetched == PAGE  # both really ran
    assert isinstance(send, MCPError)
    assert send.error.code == POLICY_DENIED
    assert "no approver is available" in send.error.message
    assert "asked because this session read private data" in send.error.message
    assert sent(flow) == 0  # the send never reached the server

    first, second, third = calls_of(flow)
    assert (first["decision"], second["decision"]) == ("allow", "allow")
    assert third["decision"] == "hitl" and third["final_rule"] == "trifecta"
    assert third["hitl_outcome"] is not None and third["hitl_outcome"] != "user_allowed"
    sources = {s["label"]: s for s in third["label_sources"]}
    assert set(sources) == {"private_data", "untrusted_content"}
    assert sources["private_data"]["request_id"] == first["request_id"]
    assert sources["private_data"]["tool_name"] == "read_private"
    assert sources["private_data"]["target"] == flow["notes"]
    assert sources["untrusted_content"]["request_id"] == second["request_id"]
    assert sources["untrusted_content"]["target"] == web
    assert f"read_private {flow['notes']}" in third["reason"]
    assert f"fetch_url {web}" in third["reason"]


@pytest.mark.parametrize("leg", ["read", "fetch"])
async def test_one_leg_alone_is_not_asked(flow: dict, web: str, leg: str) -> None:
    first = ("read_private", {"path": flow["notes"]}) if leg == "read" else ("fetch_url", {"url": web})
    before, send = await run_session(flow, [first, SEND])
    assert before in (SECRET, PAGE)
    assert send == "sent" and sent(flow) == 1
    entries = calls_of(flow)
    assert [e["decision"] for e in entries] == ["allow", "allow"]
    assert entries[1]["final_rule"] == "tools" and "label_sources" not in entries[1]


async def test_labels_are_per_session(flow: dict, web: str) -> None:
    """A read in one session and a fetch in the next do not add up (docs/policies.md: labels
    are remembered per proxy session)."""
    await run_session(flow, [("read_private", {"path": flow["notes"]})])
    _, send = await run_session(flow, [("fetch_url", {"url": web}), SEND])
    assert send == "sent"
    assert [e["decision"] for e in calls_of(flow)] == ["allow", "allow", "allow"]
