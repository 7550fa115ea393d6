"""Issue 19's UI misses, in real Chromium against a real manager: an unknown proxy URL says so, the
Auth page reads cleanly in local mode, and the sign-in page's claim about restarts is true."""

from __future__ import annotations

from playwright.async_api import expect

from tests.e2e.ui import UI, UI_TIMEOUT_MS

expect.set_options(timeout=UI_TIMEOUT_MS)


async def test_unknown_proxy_url_says_so_and_links_back(ui: UI) -> None:
    ui.home.add_proxy("files")
    await ui.page.goto(f"{ui.base}/proxy/px_0000dead%3Agone")
    alert = ui.page.get_by_test_id("not-found")
    await expect(alert).to_contain_text("No proxy named px_0000dead:gone")
    await expect(ui.page.get_by_test_id("proxy-card")).to_have_count(0)  # not the list in disguise
    await ui.screenshot("proxy-not-found")
    await ui.page.get_by_role("link", name="Show all proxies").click()
    await expect(ui.page.get_by_role("heading", level=1, name="Proxies")).to_be_visible()
    await expect(ui.page.get_by_test_id("proxy-card")).to_have_count(1)

    await ui.page.goto(f"{ui.base}/no/such/page")
    await expect(ui.page.get_by_test_id("not-found")).to_contain_text("No such page")


async def test_auth_page_in_local_mode_reads_cleanly(ui: UI) -> None:
    await ui.page.goto(f"{ui.base}/auth")
    await expect(ui.page.get_by_test_id("auth-mode")).to_have_text("local mode")
    note = ui.page.get_by_test_id("auth-note")
    await expect(note).to_contain_text("nothing to sign in to")
    panel = ui.page.locator("section.panel")
    await expect(panel).not_to_contain_text("unauthenticated single-user mode")
    await expect(panel).not_to_contain_text("Token expires in")
    await expect(panel).to_contain_text("mcp-acp init --auth oidc")
    await ui.screenshot("auth-local-mode")


async def test_a_manager_restart_keeps_the_browser_signed_in(ui: UI) -> None:
    """What the sign-in page now says: the token is kept per install, so the cookie still works."""
    await ui.page.goto(f"{ui.base}/")
    await expect(ui.page.get_by_role("heading", level=1, name="Proxies")).to_be_visible()
    ui.home.cli("manager", "stop", check=True, timeout=30)
    ui.home.start_manager()
    await ui.page.reload()
    await expect(ui.page.get_by_role("heading", level=1, name="Proxies")).to_be_visible()
    await expect(ui.page.get_by_role("heading", name="Sign in")).to_have_count(0)
