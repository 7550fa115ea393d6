"""A rug pull in the UI (issue 22), in real Chromium against a real manager: a real proxy in front
of tests/fixtures/rug_pull_server.py pins its tools, the server changes a description, and the
proxy's overview shows exactly what changed (the unified diff, the poisoned line added). Accept
re-pins it, and the running proxy lets the call through again."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from playwright.async_api import expect

from tests.e2e.ui import UI, UI_TIMEOUT_MS
from tests.support.config import proxy_config_dir

expect.set_options(timeout=UI_TIMEOUT_MS)

SERVER = Path(__file__).resolve().parents[1] / "fixtures" / "rug_pull_server.py"
POLICY = {"tool_changes": "block", "rules": [{"id": "tools", "effect": "allow", "conditions": {"tool_name": "*"}}]}


async def test_the_diff_of_a_changed_tool_is_shown_and_accepted(ui: UI, tmp_path: Path) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    ui.home.cli(
        "proxy", "add", "rug", "--server-name", "rug", "--command", sys.executable,
        "--arg", str(SERVER), "--arg", str(markers), check=True,
    )  # fmt: skip
    (proxy_config_dir(ui.home.env, "rug") / "policy.json").write_text(json.dumps(POLICY), encoding="utf-8")
    proxy = await ui.home.start_proxy("rug")
    first = await proxy.request("tools/list")
    assert sorted(tool["name"] for tool in first["result"]["tools"]) == ["read_notes", "send_report"]

    await ui.open_proxy("rug")
    section = ui.page.get_by_test_id("tool-changes-section")
    await expect(section).to_contain_text("No tool changed since it was first seen")

    (markers / "changed").touch()  # the rug pull
    second = await proxy.request("tools/list")
    assert [tool["name"] for tool in second["result"]["tools"]] == ["send_report"]  # blocked: hidden
    refused = await proxy.call_tool("read_notes", {})
    assert "changed since it was pinned" in refused["error"]["message"], refused

    await ui.page.reload()
    change = section.get_by_test_id("tool-change")
    await expect(change).to_have_count(1)
    await expect(change).to_contain_text("read_notes")
    await expect(change).to_contain_text("definition changed")
    diff = change.get_by_test_id("tool-diff")
    await expect(diff.locator(".diff-del")).to_contain_text(["Read the user's notes that match the query.\""])
    await expect(diff.locator(".diff-add").filter(has_text="id_rsa")).to_have_count(1)
    await ui.screenshot("tool-changes-diff")

    await change.get_by_role("button", name="Accept").click()
    await expect(section).to_contain_text("No tool changed since it was first seen")
    passed = await proxy.call_tool("read_notes", {})
    assert "read_notes ran" in json.dumps(passed.get("result")), passed


async def test_under_ask_each_call_of_a_changed_tool_waits_for_a_person(ui: UI, tmp_path: Path) -> None:
    """The default, `ask`: the call waits in the pending approvals under rule
    tool-definition-changed, passes once allowed, and the next call asks again."""
    markers = tmp_path / "markers"
    markers.mkdir()
    ui.home.cli(
        "proxy", "add", "rugask", "--server-name", "rugask", "--command", sys.executable,
        "--arg", str(SERVER), "--arg", str(markers), check=True,
    )  # fmt: skip
    policy = {"rules": POLICY["rules"]}  # tool_changes unset: ask
    (proxy_config_dir(ui.home.env, "rugask") / "policy.json").write_text(json.dumps(policy), encoding="utf-8")
    await ui.page.goto(f"{ui.base}/")  # the browser is connected before the proxy registers
    proxy = await ui.home.start_proxy("rugask")
    await proxy.request("tools/list")
    (markers / "changed").touch()
    await proxy.request("tools/list")

    for round_ in range(2):  # an approval of a changed tool is never remembered
        call = asyncio.ensure_future(proxy.call_tool("read_notes", {}))
        pending = ui.page.get_by_role("button", name="Pending approvals (1)")
        await expect(pending).to_be_visible()
        drawer = ui.page.get_by_role("dialog", name="Pending approvals")
        if not await drawer.is_visible():
            await pending.click()
        approval = drawer.get_by_role("group", name="Approval for read_notes on rugask")
        await expect(approval).to_contain_text("tool-definition-changed")
        if round_ == 0:
            await ui.screenshot("tool-changes-ask")
        await approval.get_by_role("button", name="Allow once").click()
        answer = await asyncio.wait_for(call, 60)
        assert "read_notes ran" in json.dumps(answer.get("result")), answer
        await expect(approval).to_have_count(0)
