"""Issue 21: the gateway's approvals page, live across replicas, in real Chromium.

Three `mcp-acp serve` replicas share their state through a real redis-server (the fixtures of
tests/integration/test_replicas.py, with the real OIDC provider). Alice's 2025-era client (the mcp
SDK) calls `add`, which the policy asks a human about, through replica 1; Chromium opens replica
2's approvals page (the link's `?approval=`), alice pastes her token, and allows it once there: the
call on replica 1 completes. With the page left open, a second call raised through replica 3
appears on it without a reload (the page follows `GET /events/<proxy>`), and a click denies it.
Nothing is timed: every wait is Playwright's auto-wait or a bounded poll.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from mcp.shared.exceptions import MCPError
from oidc_provider import OidcProvider
from playwright.async_api import Page, async_playwright, expect

from tests.e2e.ui import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS, UI_TIMEOUT_MS
from tests.integration.conftest import launcher  # noqa: F401  (the fixture `replicas` needs)
from tests.integration.test_replicas import WAIT, base, idp, pending, replicas, token  # noqa: F401
from tests.support.gateway import gateway_client
from tests.support.processes import wait_until_async
from tests.support.topology import Topology

expect.set_options(timeout=UI_TIMEOUT_MS)
pytestmark = pytest.mark.timeout(300)
HOSTILE = "<img src=x onerror=window.pwned=1>"  # what a requester may put in their arguments


@pytest.fixture
async def page() -> AsyncIterator[Page]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (make system-deps does it)")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(viewport={"width": 1280, "height": 860})
            context.set_default_timeout(UI_TIMEOUT_MS)
            yield await context.new_page()
        finally:
            await browser.close()


async def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True, animations="disabled")


async def test_approvals_raised_on_other_replicas_are_listed_live_and_decided_in_one_replicas_page(
    idp: OidcProvider,  # noqa: F811
    replicas: Topology,  # noqa: F811
    page: Page,
) -> None:
    alice = token(idp, replicas, "alice")
    async with gateway_client(replicas.replica_url(1, "files"), "legacy", alice) as client:
        first = asyncio.ensure_future(client.call_tool("add", {"a": 2, "b": 3}))
        [waiting] = await wait_until_async(lambda: pending(replicas, 2, alice), WAIT, "alice's approval")

        # The link a modern client would be given, on replica 2 (not the one holding the request).
        opened = await page.goto(f"{base(replicas, 2)}/approvals/proxy/{waiting['proxy_id']}?approval={waiting['id']}")
        assert opened is not None and "frame-ancestors 'none'" in opened.headers["content-security-policy"]
        await page.get_by_label("Access token").fill(alice)  # the token never goes into the URL
        await page.get_by_role("button", name="Show").click()
        item = page.get_by_role("group", name="Approval for add by alice")
        await expect(item).to_have_attribute("data-id", waiting["id"])
        await expect(item).to_have_attribute("data-replica", "gw-1")
        await expect(item).to_have_attribute("aria-current", "true")  # the one the link names
        await expect(item).to_contain_text("on replica gw-1")
        await expect(item.locator("pre")).to_contain_text('"a": 2')
        await expect(item.get_by_test_id("time-left")).to_contain_text("left")
        await expect(page.get_by_test_id("status")).to_have_attribute("data-live", "on")
        assert alice not in page.url
        await page.evaluate("window.sameDocument = true")  # gone if the page reloads
        await screenshot(page, "gateway-replicas-approval-waiting")

        await item.get_by_role("button", name="Allow once").click()
        decided = page.get_by_test_id("decided")
        await expect(decided).to_contain_text(f"Allowed once: add asked by alice ({waiting['id']})")
        result = await asyncio.wait_for(first, WAIT)
        assert not result.is_error and result.structured_content == {"result": 5.0}
        await expect(page.get_by_test_id("approval")).to_have_count(0)

    # The page stays open, following the live events: a call through replica 3 shows up on it.
    async with gateway_client(replicas.replica_url(3, "files"), "legacy", alice) as client:
        second = asyncio.ensure_future(client.call_tool("add", {"a": 40, "b": 2, "note": HOSTILE}))
        item = page.get_by_role("group", name="Approval for add by alice")
        await expect(item).to_have_attribute("data-replica", "gw-3")
        await expect(item.locator("pre")).to_contain_text('"a": 40')
        await expect(item.locator("pre")).to_contain_text(HOSTILE)  # shown as text, never as markup
        assert await page.locator("img").count() == 0 and await page.evaluate("window.pwned") is None
        await expect(item).not_to_have_attribute("aria-current", "true")
        await screenshot(page, "gateway-replicas-approval-live")
        second_id = await item.get_attribute("data-id")
        await item.get_by_role("button", name="Deny").click()
        await expect(decided).to_contain_text(f"Denied: add asked by alice ({second_id})")
        with pytest.raises(MCPError, match=r"(?i)denied"):
            await asyncio.wait_for(second, WAIT)
    await expect(page.get_by_test_id("approval")).to_have_count(0)
    assert await page.evaluate("window.sameDocument === true")  # live: never reloaded
