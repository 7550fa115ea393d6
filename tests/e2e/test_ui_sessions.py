"""Issue 19: the UI shows a proxy's sessions, one per MCP client (docs/ui.md#sessions).

Three real MCP client processes (the mcp SDK over STDIO, tests/fixtures/scripted_client.py) each
start `mcp-acp start --proxy ap`, so the proxy runs three processes, registered with a real
manager. Real Chromium shows the proxy page's Sessions card with one row per client, named from
the client's clientInfo, and the list card says "3 sessions". One client's write waits for
approval in its session; closing another client makes that client's row go without a reload,
while the proxy stays running and the waiting approval stays shown, and is denied from the page.
Every wait is Playwright's bounded auto-wait: nothing is timed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from playwright.async_api import expect

from tests.e2e.ui import UI, UI_TIMEOUT_MS
from tests.integration.test_several_clients import PROXY, ScriptedClient, policy

expect.set_options(timeout=UI_TIMEOUT_MS)
pytestmark = pytest.mark.timeout(300)
CLIENTS = ["client-0", "client-1", "client-2"]


def card(ui: UI):
    return ui.page.locator(f'[data-testid="proxy-card"][data-proxy="{PROXY}"]')


def row_of(ui: UI, client: str):
    return ui.page.locator(f'[data-testid="proxy-session"][data-client="{client}"]')


async def test_three_clients_three_sessions_and_one_leaves(ui: UI, tmp_path: Path) -> None:
    files = Path(os.path.realpath(tmp_path / "files"))
    files.mkdir()
    ui.home.add_proxy(PROXY, policy(files))  # echo allowed, add denied, writes under files/ ask
    for name in ("DISPLAY", "WAYLAND_DISPLAY"):  # no proxy opens a browser of its own
        ui.home.env.pop(name, None)
    clients = [ScriptedClient(ui.home, name) for name in CLIENTS]
    try:
        for client in clients:
            assert await client.line() == {"ready": True}

        # The list: one card, running, "3 sessions".
        await ui.page.goto(f"{ui.base}/")
        await expect(card(ui)).to_have_attribute("data-status", "running")
        await expect(card(ui).get_by_test_id("proxy-sessions")).to_have_text("3 sessions")

        # The proxy page: a row per session, each with its own client.
        await ui.open_proxy(PROXY)
        rows = ui.page.get_by_test_id("proxy-session")
        await expect(rows).to_have_count(3)
        for name in CLIENTS:
            await expect(row_of(ui, name)).to_have_count(1)
            await expect(row_of(ui, name)).to_contain_text(name)
        slots = sorted([await rows.nth(i).get_attribute("data-session") for i in range(3)])
        assert slots == ["0", "1", "2"]
        await expect(ui.page.get_by_test_id("proxy-session-count")).to_have_text("3")
        await expect(ui.page.get_by_test_id("proxy-status")).to_have_text("running")
        await ui.screenshot("sessions-three")

        # Allowed and denied calls in their own sessions.
        assert (await clients[0].call("echo", text="hi"))["text"] == "hi"
        denied = await clients[1].call("add", a=1, b=2)
        assert "error" in denied or denied.get("is_error"), denied

        # client-2's write waits for a person, in client-2's session.
        target = files / "asked.txt"
        asker = clients[2]
        asker.process.stdin.write(
            json.dumps({"tool": "write_file", "arguments": {"path": str(target), "content": "x"}}) + "\n"
        )
        asker.process.stdin.flush()
        waiting = ui.page.locator('section[aria-labelledby="pending-title"]').get_by_role(
            "group", name=f"Approval for write_file on {PROXY}"
        )
        await expect(waiting).to_contain_text(str(target))
        await expect(row_of(ui, "client-2")).to_have_attribute("data-pending", "1")
        await expect(row_of(ui, "client-0")).to_have_attribute("data-pending", "0")

        # Another client closes: its row goes, live, and the proxy runs on for the other two,
        # with client-2's approval still waiting.
        clients[1].close()
        await expect(row_of(ui, "client-1")).to_have_count(0)
        await expect(rows).to_have_count(2)
        for name in ("client-0", "client-2"):
            await expect(row_of(ui, name)).to_have_count(1)
        await expect(ui.page.get_by_test_id("proxy-status")).to_have_text("running")
        await expect(waiting).to_contain_text(str(target))
        await ui.screenshot("sessions-one-left")

        # Denied from the page: the decision reaches client-2's session.
        await waiting.get_by_role("button", name="Deny").click()
        answer = await asker.line()
        assert "error" in answer or answer.get("is_error"), answer
        assert not target.exists()
        await expect(row_of(ui, "client-2")).to_have_attribute("data-pending", "0")

        await ui.page.goto(f"{ui.base}/")
        await expect(card(ui).get_by_test_id("proxy-sessions")).to_have_text("2 sessions")
        await expect(card(ui)).to_have_attribute("data-status", "running")

        # The last ones close: no session, the proxy is inactive and the card says nothing of sessions.
        await ui.open_proxy(PROXY)
        await expect(rows).to_have_count(2)
        clients[0].close()
        clients[2].close()
        await expect(rows).to_have_count(0)
        await expect(ui.page.get_by_test_id("proxy-status")).to_have_text("inactive")
        await ui.page.goto(f"{ui.base}/")
        await expect(card(ui)).to_have_attribute("data-status", "inactive")
        await expect(card(ui).get_by_test_id("proxy-sessions")).to_have_count(0)
    finally:
        for client in clients:
            client.close()
