"""A STDIO backend's environment in the UI, in real Chromium against a real manager: set in the
Add-proxy dialog and in the Config tab's Backend environment section. Secret values go in and
never come back: not in any API answer the page receives, not in the page once saved."""

from __future__ import annotations

import asyncio
import json
import secrets
import sys

from playwright.async_api import Response, expect

from mcp_acp import secret_store
from mcp_acp.backends.child_env import secret_env_key
from tests.e2e.ui import UI, UI_TIMEOUT_MS
from tests.support.config import home as in_home
from tests.support.config import proxy_config_dir
from tests.support.processes import BACKEND

expect.set_options(timeout=UI_TIMEOUT_MS)


async def test_environment_and_secrets_from_the_add_dialog_and_the_config_tab(ui: UI) -> None:
    first, second = f"first-{secrets.token_hex(12)}", f"second-{secrets.token_hex(12)}"
    answers: list[Response] = []
    # Every API answer but the event stream (which never ends; it carries no config).
    ui.page.on(
        "response",
        lambda response: (
            answers.append(response) if "/api/" in response.url and "/api/events" not in response.url else None
        ),
    )

    await ui.page.goto(f"{ui.base}/")
    await ui.page.get_by_role("button", name="Add proxy").first.click()
    dialog = ui.page.get_by_role("dialog", name="Add proxy")
    await dialog.get_by_label("Name", exact=True).fill("envui")
    await dialog.get_by_label("Command").fill(sys.executable)
    await dialog.get_by_label("Arguments").fill(BACKEND)
    await dialog.get_by_label("Environment").fill("LEVEL=info\nURL=postgres://h/db?a=b")
    await dialog.get_by_role("button", name="Add a secret environment value").click()
    await dialog.get_by_label("Secret name").fill("GITHUB_TOKEN")
    secret_input = dialog.get_by_label("Secret value")
    await secret_input.fill(first)
    assert await secret_input.get_attribute("type") == "password"
    await ui.screenshot("env-add-proxy")
    await dialog.get_by_role("button", name="Create proxy").click()
    await expect(dialog.get_by_test_id("snippet")).to_contain_text('"envui"')
    await dialog.get_by_role("button", name="Done").click()

    config_path = proxy_config_dir(ui.home.env, "envui") / "config.json"
    stdio = json.loads(config_path.read_text())["backend"]["stdio"]
    assert stdio["env"] == {"LEVEL": "info", "URL": "postgres://h/db?a=b"} and stdio["secret_env"] == ["GITHUB_TOKEN"]

    await ui.open_proxy("envui")
    await ui.page.get_by_role("tab", name="Config").click()
    section = ui.page.get_by_test_id("env-section")
    await expect(section.get_by_role("row", name="LEVEL")).to_contain_text("info")
    await expect(section.get_by_role("row", name="GITHUB_TOKEN")).to_contain_text("secret, stored")

    # A second secret, set from the Config tab; the plain LEVEL removed.
    await section.get_by_label("Variable").fill("API_TOKEN")
    await section.get_by_label("Secret", exact=True).check()
    await section.get_by_label("Secret value").fill(second)
    await section.get_by_role("button", name="Set").click()
    await expect(section.get_by_role("row", name="API_TOKEN")).to_contain_text("secret, stored")
    await section.get_by_role("row", name="LEVEL").get_by_role("button", name="Remove").click()
    await expect(section.get_by_role("row", name="LEVEL")).to_have_count(0)
    await ui.screenshot("env-config-tab")
    # A name the config would refuse is named under its field.
    await section.get_by_label("Variable").fill("9LIVES")
    await expect(section.get_by_text("not a valid environment variable name")).to_be_visible()
    await expect(section.get_by_role("button", name="Set")).to_be_disabled()

    stdio = json.loads(config_path.read_text())["backend"]["stdio"]
    assert stdio.get("env") == {"URL": "postgres://h/db?a=b"}
    assert stdio["secret_env"] == ["GITHUB_TOKEN", "API_TOKEN"]
    assert first not in config_path.read_text() and second not in config_path.read_text()
    with in_home(ui.home.env):
        assert secret_store.get(secret_env_key("envui", "GITHUB_TOKEN")) == first
        assert secret_store.get(secret_env_key("envui", "API_TOKEN")) == second

    # Nothing the page received or shows holds a secret value.
    assert answers, "no API answer was seen"
    bodies = []
    for response in answers:
        try:
            body = await asyncio.wait_for(response.text(), 10)
        except Exception:  # a body the browser no longer keeps
            continue
        assert first not in body and second not in body, response.url
        bodies.append(body)
    assert any("GITHUB_TOKEN" in body for body in bodies), "the env listing was never read: the search saw nothing"
    content = await ui.page.content()
    assert first not in content and second not in content
