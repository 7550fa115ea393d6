"""Fixtures for the browser tests (see tests/e2e/ui.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import async_playwright

from tests.e2e.ui import CHROMIUM, CHROMIUM_ARGS, UI, UI_TIMEOUT_MS
from tests.support.manager import ManagerHome


@pytest.fixture
async def ui(tmp_path: Path) -> AsyncIterator[UI]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (make system-deps does it)")
    home = ManagerHome(tmp_path)
    home.start_manager()
    try:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            context = await browser.new_context(viewport={"width": 1280, "height": 860})
            await context.grant_permissions(
                ["clipboard-read", "clipboard-write"], origin=f"http://127.0.0.1:{home.port}"
            )
            context.set_default_timeout(UI_TIMEOUT_MS)
            page = await context.new_page()
            session = UI(home, page, browser)
            await session.sign_in()
            try:
                yield session
            finally:
                await browser.close()
    finally:
        await home.aclose()
