"""A client that tries to slip past the information-flow guard (issue 22; docs/security.md item 38).

The same real processes as tests/integration/test_info_flow.py (tests/support/info_flow.py):
`mcp-acp start --headless` in front of tests/fixtures/info_flow_server.py under the trifecta
policy, the official MCP SDK as the client, an untrusted page on loopback. The client:

- spells the labelled tools in another case (labels, like tool_name, ignore case; a call the
  server then fails was still forwarded, so it still touches its labels);
- puts terminal escapes and a fake log line in the URL it fetches: the reason and the audit
  entry that name it stay printable;
- asks again after the refusal: still asked, the send never reaches the server.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from mcp.shared.exceptions import MCPError

from tests.support.info_flow import POLICY_DENIED, SEND, calls_of, flow_setup, run_session, sent, web_page

pytestmark = pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")


@pytest.fixture
def web() -> Iterator[str]:
    with web_page() as url:
        yield url


@pytest.fixture
def flow(cli, acp_env, tmp_path: Path) -> dict:
    return flow_setup(cli, acp_env, tmp_path)


async def test_case_tricks_and_hostile_urls_do_not_slip_past(flow: dict, web: str) -> None:
    hostile = web + "?\x1b[2J\nFAKE decision allow\u202e"
    outcomes = await run_session(
        flow,
        [
            ("READ_PRIVATE", {"path": flow["notes"]}),  # the server knows no such tool: forwarded, it fails
            ("fetch_url", {"url": hostile}),
            SEND,
            SEND,
        ],
    )
    read, _fetched, first, again = outcomes
    assert read == "tool error: Unknown tool: READ_PRIVATE"  # forwarded: the server answered
    for refused in (first, again):
        assert isinstance(refused, MCPError)
        assert refused.error.code == POLICY_DENIED
        assert refused.error.message.isprintable()
    assert sent(flow) == 0

    entries = calls_of(flow)
    assert [e["decision"] for e in entries] == ["allow", "allow", "hitl", "hitl"]
    for entry in entries[2:]:
        assert entry["final_rule"] == "trifecta"
        assert entry["reason"].isprintable() and "\n" not in entry["reason"]
        sources = {s["label"]: s for s in entry["label_sources"]}
        assert sources["private_data"]["tool_name"] == "READ_PRIVATE"
        target = sources["untrusted_content"]["target"]
        assert target.isprintable() and target.startswith(web) and "FAKE decision allow" in target
