"""The Gateway page and the principal of each request (issue 20), in real Chromium against a real
manager and a real `mcp-acp serve` sharing its home: the mcp SDK's Client calls through the gateway,
and the page shows the endpoint, the principal (the local user) and its counts as the gateway's status
socket reports them; the proxy's decisions and operations logs show who made each call.
Nothing is timed: every wait is Playwright's auto-wait, bounded by UI_TIMEOUT_MS."""

from __future__ import annotations

import getpass
import json
from pathlib import Path

import pytest
from mcp.shared.exceptions import MCPError
from playwright.async_api import expect

from tests.e2e.ui import UI, UI_TIMEOUT_MS
from tests.support.gateway import GatewayProcess, gateway_client

expect.set_options(timeout=UI_TIMEOUT_MS)


async def test_the_gateway_page_shows_the_endpoint_and_each_principal_and_the_log_shows_who_called(
    ui: UI, tmp_path: Path
) -> None:
    ui.home.add_proxy("files")  # echo allowed, anything else denied
    await ui.page.goto(f"{ui.base}/")
    await ui.page.get_by_role("navigation", name="Main").get_by_role("link", name="Gateway").click()
    idle = ui.page.get_by_test_id("gateway-not-running")
    await expect(idle).to_contain_text("No gateway is running")
    await expect(idle).to_contain_text("mcp-acp serve")
    await expect(idle).to_contain_text("docs/gateway.md")
    await ui.screenshot("gateway-not-running")

    user = getpass.getuser()
    with GatewayProcess(ui.home.env, tmp_path / "gateway.log") as gateway:
        url = gateway.endpoint("files")
        async with gateway_client(url, "legacy") as client:
            await client.call_tool("echo", {"text": "through the gateway"})
            with pytest.raises(MCPError, match=r"(?i)denied"):
                await client.call_tool("add", {"a": 1, "b": 2})
            # What `mcp-acp status` reads from the same socket: the page must show the same figures.
            report = json.loads(ui.home.cli("status", "--json", check=True).stdout)["gateway"]
            [expected] = report["endpoints"][0]["principals"]
            assert expected["principal"] == user and expected["sessions"] == 1 and expected["denied"] == 1

            # The page polls: it turns from "not running" to the gateway without a reload.
            endpoint = ui.page.locator('[data-testid="gateway-endpoint"][data-proxy="files"]')
            await expect(endpoint.get_by_test_id("gateway-endpoint-url")).to_have_text(url)
            await expect(ui.page.get_by_test_id("gateway-base-url")).to_have_text(gateway.url)
            await expect(ui.page.get_by_test_id("gateway-auth")).to_contain_text("local user only")
            row = endpoint.locator(f'[data-testid="gateway-principal"][data-principal="{user}"]')
            for column in ("sessions", "requests", "allowed", "denied", "asked"):
                await expect(row.locator(f'td[data-col="{column}"]')).to_have_text(str(expected[column]))
            await expect(endpoint.get_by_test_id("gateway-backend").first).to_contain_text("shared")
            await endpoint.get_by_role("button", name="Copy URL").click()
            assert await ui.page.evaluate("navigator.clipboard.readText()") == url
            await ui.screenshot("gateway-running")

        # The proxy's decisions log: each call through the gateway shows whose it was.
        await ui.open_proxy("files")
        await ui.page.get_by_role("tab", name="Audit").click()
        for tool in ("echo", "add"):
            decision = ui.page.get_by_test_id("log-row").filter(has_text=tool).first
            await expect(decision.get_by_test_id("log-subject")).to_have_text(f"Principal {user}")
        await ui.screenshot("gateway-decisions-principal")
        await ui.page.get_by_label("Log", exact=True).select_option("operations")
        operation = ui.page.get_by_test_id("log-row").filter(has_text="echo").first
        await expect(operation.get_by_test_id("log-subject")).to_have_text(f"Principal {user}")
