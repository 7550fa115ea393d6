"""Issue 18: a modern client's approval link, opened in real Chromium (docs/approvals.md#modern-clients-the-link-in-the-answer).

A `mcp-acp start --proxy NAME` subprocess, registered with a real manager, in front of the fixture
backend, is spoken to in raw 2026-07-28 JSON-RPC over its STDIO (no `initialize`; each request
carries `_meta` with URL-mode elicitation among its capabilities), as
tests/integration/test_mrtr_approval.py does. Its rule says "ask" for writes, so the first call is
answered `input_required` with a URL-mode elicitation. The test opens exactly that URL in Chromium,
decides on the approval the page shows, and the client's retry with the proxy's requestState runs
(or not). Nothing is timed: every wait is Playwright's auto-wait or an event, bounded.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from tests.e2e.ui import UI, UI_TIMEOUT_MS
from tests.integration.test_approvals import (
    PROXY,
    add_hitl_proxy,
    assert_denied,
    assert_wrote,
    binding_of,
    created_count,
    decide,
    pending_created,
    write,
)
from tests.integration.test_mrtr_approval import link_of, start_modern
from tests.support.audit import read_jsonl
from tests.support.config import proxy_log_dir
from tests.support.events import EventStream

expect.set_options(timeout=UI_TIMEOUT_MS)
pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def files(tmp_path: Path) -> Path:
    folder = tmp_path / "files"
    folder.mkdir()
    return Path(os.path.realpath(folder))


def panel(page: Page):
    return page.get_by_test_id("approval-link")


def hitl_outcomes(ui: UI) -> list[str]:
    decisions = read_jsonl(proxy_log_dir(ui.home.env, PROXY) / "audit" / "decisions.jsonl")
    return [e["hitl_outcome"] for e in decisions if e.get("mcp_method") == "tools/call"]


async def test_the_link_opens_on_the_approval_allow_there_and_the_retry_runs(ui: UI, files: Path) -> None:
    proxy_id = add_hitl_proxy(ui.home, files)
    async with EventStream(ui.home) as events:
        client = await start_modern(ui.home, events)
        try:
            target = files / "linked.txt"
            before = created_count(events)
            url, state = link_of(await client.tools_call("write_file", write(target, "via the link")))
            approval = await pending_created(events, str(target), after=before)
            assert url.startswith(f"{ui.base}/proxy/{proxy_id.replace(':', '%3A')}?approval=")  # a link to this UI

            await ui.page.goto(url)  # exactly the URL the client was given
            shown = panel(ui.page)
            await expect(shown).to_have_attribute("data-state", "waiting")
            await expect(shown).to_contain_text("Your MCP client asks for approval")
            await expect(shown).to_contain_text(approval["id"])
            item = shown.get_by_role("group", name=f"Approval for write_file on {PROXY}")
            await expect(item).to_contain_text(str(target))
            await expect(item).to_be_in_viewport()
            await ui.screenshot("inband-link-waiting")
            assert not target.exists()

            await item.get_by_role("button", name="Allow once").click()
            await expect(shown).to_have_attribute("data-state", "closed")
            await expect(shown).to_contain_text("Allowed once (write_file)")
            await expect(shown).to_contain_text("its retry runs the call")
            await ui.screenshot("inband-link-allowed")

            # The client retries with the proxy's state; the backend's answer arrives.
            assert_wrote(await client.retry("write_file", write(target, "via the link"), state), target, "via the link")
        finally:
            await client.close()
    assert hitl_outcomes(ui) == ["asked_in_band", "user_allowed"]


async def test_a_link_whose_approval_was_already_decided_says_it_is_no_longer_pending(ui: UI, files: Path) -> None:
    add_hitl_proxy(ui.home, files)
    async with EventStream(ui.home) as events:
        client = await start_modern(ui.home, events)
        try:
            target = files / "decided.txt"
            before = created_count(events)
            url, state = link_of(await client.tools_call("write_file", write(target, "x")))
            approval = await pending_created(events, str(target), after=before)
            # Decided elsewhere (another browser, the CLI) before this link is opened.
            response = await decide(ui.home, approval["id"], "deny", binding=binding_of(approval))
            assert response.status_code == 200, response.text
            await events.wait_for(
                lambda e: e["type"] == "pending_resolved" and e.get("approval_id") == approval["id"], "the decision"
            )

            await ui.page.goto(url)
            shown = panel(ui.page)
            await expect(shown).to_have_attribute("data-state", "gone")
            await expect(shown).to_contain_text("This approval is no longer pending")
            await expect(shown).to_contain_text("already decided, timed out or withdrawn")
            await expect(shown.get_by_role("button", name="Allow once")).to_have_count(0)
            await ui.screenshot("inband-link-no-longer-pending")
            await shown.get_by_role("button", name="See the audit log").click()
            await expect(ui.page.get_by_role("tab", name="Audit")).to_have_attribute("aria-selected", "true")
            await expect(shown).to_have_attribute("data-state", "gone")  # the panel stays with the tab

            # An id the proxy never issued reads the same; Dismiss leaves the proxy's page as it was.
            await ui.page.goto(url.split("?approval=")[0] + "?approval=never-issued")
            await expect(shown).to_have_attribute("data-state", "gone")
            await shown.get_by_role("button", name="Dismiss").click()
            await expect(shown).to_have_count(0)
            assert "approval=" not in ui.page.url

            assert_denied(await client.retry("write_file", write(target, "x"), state), "User denied")
            assert not target.exists()
        finally:
            await client.close()


async def test_a_browser_that_is_not_signed_in_is_told_how_to_reach_the_approval(ui: UI, files: Path) -> None:
    add_hitl_proxy(ui.home, files)
    async with EventStream(ui.home) as events:
        client = await start_modern(ui.home, events)
        try:
            target = files / "later.txt"
            before = created_count(events)
            url, state = link_of(await client.tools_call("write_file", write(target, "later")))
            approval = await pending_created(events, str(target), after=before)

            context = await ui.browser.new_context()  # a browser with no cookie: never signed in
            try:
                page = await context.new_page()
                await page.goto(url)
                note = page.get_by_test_id("approval-link-signin")
                await expect(note).to_contain_text("An approval is waiting behind this link")
                await expect(note).to_contain_text(approval["id"])
                await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
                await expect(page.get_by_text("mcp-acp manager open", exact=True)).to_be_visible()

                # As the panel says: sign in (the one-time link `mcp-acp manager open` opens, in
                # another tab), come back, reload: the approval is there.
                await ui.sign_in(await context.new_page())
                await page.get_by_role("button", name="I have signed in, reload").click()
                await expect(panel(page)).to_have_attribute("data-state", "waiting")
                await panel(page).get_by_role("button", name="Allow once").click()
                await expect(panel(page)).to_have_attribute("data-state", "closed")
            finally:
                await context.close()
            assert_wrote(await client.retry("write_file", write(target, "later"), state), target, "later")
        finally:
            await client.close()


async def test_the_retry_before_a_decision_asks_again_with_the_same_link(ui: UI, files: Path) -> None:
    """The link stays good while nobody has decided: the page still shows it waiting."""
    add_hitl_proxy(ui.home, files)
    async with EventStream(ui.home) as events:
        client = await start_modern(ui.home, events)
        try:
            target = files / "twice.txt"
            url, state = link_of(await client.tools_call("write_file", write(target, "twice")))
            url_again, state_again = link_of(await client.retry("write_file", write(target, "twice"), state))
            assert url_again == url
            await ui.page.goto(url_again)
            await expect(panel(ui.page)).to_have_attribute("data-state", "waiting")
            await panel(ui.page).get_by_role("button", name="Deny").click()
            await expect(panel(ui.page)).to_contain_text("Denied (write_file)")
            assert_denied(await client.retry("write_file", write(target, "twice"), state_again), "User denied")
        finally:
            await client.close()
    assert not target.exists()
