"""The browser side of the UI tests (issue 8): Debian's Chromium driven by Playwright for Python,
against a real manager daemon and real proxy subprocesses in front of the fixture backend.

Playwright only drives the browser: it is never asked to download one (`/usr/bin/chromium`,
from `apt-get install chromium`). The browser signs in the way a user does, through the
manager's one-time `/ui-login` link, so the API token only ever travels as an HttpOnly cookie.

Each test saves screenshots under tests/e2e/screenshots/ (ignored by git) to look at.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from playwright.async_api import Browser, Page

from tests.support.manager import ManagerHome

CHROMIUM = "/usr/bin/chromium"
# Root needs --no-sandbox; the rest keep Chromium off the (closed) network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-sync",
    "--disable-background-networking",
    "--disable-component-update",
]
SCREENSHOTS = Path(__file__).parent / "screenshots"
UI_TIMEOUT_MS = 30_000  # an upper bound for anything the UI shows, on a loaded 2-core box


@dataclass
class UI:
    home: ManagerHome
    page: Page
    browser: Browser

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.home.port}"

    async def sign_in(self, page: Page | None = None) -> None:
        """Follow a one-time link from `POST /api/manager/ui-login-code`, as `manager open` does."""
        link = self.home.api("POST", "/api/manager/ui-login-code").json()["url"]
        await (page or self.page).goto(link)

    async def screenshot(self, name: str) -> None:
        SCREENSHOTS.mkdir(exist_ok=True)
        await self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True, animations="disabled")

    async def open_proxy(self, name: str) -> None:
        await self.page.goto(f"{self.base}/")
        await self.page.get_by_role("link", name=name).first.click()
        await self.page.get_by_role("heading", level=1, name=name).wait_for()
