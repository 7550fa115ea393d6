"""The policy editor's "Preview changes" (docs/policies.md#testing-a-policy-and-previewing-a-change), in real Chromium
against a real manager and a real proxy: before an edited policy is saved, the UI shows what it
would change in the proxy's recorded requests, each change linked to its audit entry; nothing is saved."""

from __future__ import annotations

import json

from playwright.async_api import expect

from tests.e2e.ui import UI, UI_TIMEOUT_MS
from tests.support.audit import read_jsonl
from tests.support.config import proxy_config_dir, proxy_log_dir

expect.set_options(timeout=UI_TIMEOUT_MS)

ECHO_ONLY = {"rules": [{"id": "echo-ok", "effect": "allow", "conditions": {"tool_name": "echo"}}]}
ADD_ONLY = {"rules": [{"id": "add-ok", "effect": "allow", "conditions": {"tool_name": "add"}}]}


async def test_preview_shows_what_an_edited_policy_would_change_before_it_is_saved(ui: UI) -> None:
    ui.home.add_proxy("prev", ECHO_ONLY)
    policy_file = proxy_config_dir(ui.home.env, "prev") / "policy.json"
    before = policy_file.read_text()
    proxy = await ui.home.start_proxy("prev")
    for text in ("one", "two"):
        assert "result" in await proxy.call_tool("echo", {"text": text})
    assert "error" in await proxy.call_tool("add", {"a": 1, "b": 2})

    await ui.open_proxy("prev")
    await ui.page.get_by_role("tab", name="Policy").click()
    await ui.page.get_by_role("button", name="Raw JSON").click()
    await ui.page.get_by_label("Policy JSON").fill(json.dumps(ADD_ONLY, indent=2))
    await ui.page.get_by_role("button", name="Preview changes").click()
    preview = ui.page.get_by_test_id("policy-preview")
    await expect(preview).to_contain_text("3 of 3 recorded decisions would change.")
    await expect(ui.page.get_by_test_id("preview-allow-deny")).to_contain_text("allow → deny: 2")
    await expect(ui.page.get_by_test_id("preview-deny-allow")).to_contain_text("deny → allow: 1")
    add = next(
        e
        for e in read_jsonl(proxy_log_dir(ui.home.env, "prev") / "audit" / "decisions.jsonl")
        if e.get("tool_name") == "add"
    )
    await expect(ui.page.get_by_test_id("preview-deny-allow")).to_contain_text(
        f"audit/decisions.jsonl #{add['sequence']}"
    )
    await ui.screenshot("policy-preview")
    assert policy_file.read_text() == before  # a preview saves nothing
