"""Issue 19's UI items, in real Chromium against a real manager and real proxies in front of the
fixture backend: a broken policy fixed in the raw editor, a rule made from the backend's own tool
names, the client picker's VS Code snippet and "write it into my client", and the limits and
discovery setting edited in the Config form. Nothing is timed: every wait is Playwright's auto-wait.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import json5
from playwright.async_api import Page, expect

from tests.e2e.ui import UI, UI_TIMEOUT_MS
from tests.support.config import proxy_config_dir

expect.set_options(timeout=UI_TIMEOUT_MS)

ECHO_ONLY = {"rules": [{"id": "echo-ok", "effect": "allow", "conditions": {"tool_name": "echo"}}]}
POLICY_DENIED = -32001

BROKEN = """{
  "rules": [
    {"id": "echo-ok", "effect": "allow", "conditions": {"tool_name": "echo"}},
    {
      "id": "adds",
      "effect": "alow",
      "conditions": {"tool_nam": "add"}
    }
  ]
}
"""


async def open_running(ui: UI, name: str) -> None:
    """The proxy's page once the manager knows it runs (so the page shows what the proxy keeps)."""
    await ui.page.goto(f"{ui.base}/")
    await expect(ui.page.locator(f'[data-testid="proxy-card"][data-proxy="{name}"]')).to_have_attribute(
        "data-status", "running"
    )
    await ui.page.get_by_role("link", name=name).first.click()
    await ui.page.get_by_role("heading", level=1, name=name).wait_for()


def problem_at(page: Page, line: int):
    return page.get_by_test_id("policy-problems").locator(f'li[data-line="{line}"]')


async def test_a_broken_policy_opens_the_raw_editor_and_is_fixed_there(ui: UI) -> None:
    ui.home.add_proxy("brk", ECHO_ONLY)
    proxy = await ui.home.start_proxy("brk")
    policy_file = proxy_config_dir(ui.home.env, "brk") / "policy.json"
    policy_file.write_text(BROKEN, encoding="utf-8")  # broken behind the running proxy's back

    await open_running(ui, "brk")
    await ui.page.get_by_role("tab", name="Policy").click()
    await expect(ui.page.get_by_test_id("broken-policy")).to_be_visible()
    await expect(ui.page.get_by_test_id("kept-version")).to_have_text("The proxy keeps policy v1 meanwhile.")
    editor = ui.page.get_by_label("Policy JSON")
    await expect(editor).to_have_value(BROKEN)
    await expect(problem_at(ui.page, 6)).to_contain_text("'alow'")
    await expect(problem_at(ui.page, 7)).to_contain_text("tool_nam: unknown field")
    await expect(ui.page.get_by_test_id("policy-problems").locator("li")).to_have_count(2)
    await expect(ui.page.locator('.line-gutter [data-line="6"]')).to_have_class("line-bad")
    await ui.screenshot("policy-broken-raw-editor")
    assert "result" in await proxy.call_tool("echo", {"text": "v1 still runs"})

    # A JSON mistake while editing is found as you type, at its line.
    await editor.fill(BROKEN.replace('"id": "adds",', '"id": "adds"'))
    await expect(problem_at(ui.page, 6)).to_contain_text("not valid JSON")
    await ui.screenshot("policy-broken-json-error")

    fixed = BROKEN.replace('"alow"', '"allow"').replace('"tool_nam"', '"tool_name"')
    await editor.fill(fixed)
    await expect(ui.page.get_by_test_id("policy-problems")).to_have_count(0)
    await ui.page.get_by_role("button", name="Save policy").click()
    await expect(ui.page.get_by_test_id("broken-policy")).to_have_count(0)
    await expect(ui.page.get_by_test_id("rule-card")).to_have_count(2)
    await ui.screenshot("policy-fixed")

    assert json.loads(policy_file.read_text())["rules"][1]["conditions"]["tool_name"] == "add"
    answer = await proxy.call_tool("add", {"a": 2, "b": 3})  # the proxy reloaded the fixed file
    assert "5" in json.dumps(answer["result"]), answer


async def test_a_rule_is_added_with_a_tool_name_the_backend_suggests(ui: UI) -> None:
    ui.home.add_proxy("sug", ECHO_ONLY)
    proxy = await ui.home.start_proxy("sug")
    assert (await proxy.call_tool("add", {"a": 1, "b": 2}))["error"]["code"] == POLICY_DENIED

    await open_running(ui, "sug")
    await ui.page.get_by_role("tab", name="Policy").click()
    await ui.page.get_by_role("button", name="Add rule").click()
    dialog = ui.page.get_by_role("dialog", name="Add rule")
    suggestions = dialog.get_by_role("group", name="The backend's tools")
    await expect(suggestions.get_by_role("button", name="Use tool write_file")).to_be_visible()  # the backend's own
    tool_name = dialog.get_by_label("Tool name")
    await tool_name.fill("ad")
    await expect(suggestions.get_by_role("button", name="Use tool write_file")).to_have_count(0)  # filtered
    await ui.screenshot("policy-rule-tool-suggestions")
    await suggestions.get_by_role("button", name="Use tool add").click()
    await expect(tool_name).to_have_value("add")
    options = await dialog.locator("datalist option").evaluate_all("(nodes) => nodes.map((n) => n.value)")
    assert {"echo", "add", "write_file"} <= set(options), options
    await dialog.get_by_label("Effect").select_option("allow")
    await dialog.get_by_role("button", name="Save rule").click()
    await expect(ui.page.get_by_test_id("rule-card")).to_have_count(2)

    saved = json.loads((proxy_config_dir(ui.home.env, "sug") / "policy.json").read_text())
    assert saved["rules"][-1]["effect"] == "allow" and saved["rules"][-1]["conditions"]["tool_name"] == "add"
    answer = await proxy.call_tool("add", {"a": 2, "b": 3})
    assert "5" in json.dumps(answer["result"]), answer


async def test_the_client_picker_gives_the_vs_code_shape_and_writes_it_into_the_project(ui: UI, tmp_path: Path) -> None:
    ui.home.add_proxy("files")
    ui.home.add_proxy("other")
    await ui.open_proxy("files")
    await ui.page.get_by_role("button", name="Connect a client").click()
    dialog = ui.page.get_by_role("dialog", name="Connect a client to files")
    snippet = dialog.get_by_test_id("client-snippet")
    await dialog.get_by_role("radio", name="VS Code").click()
    await expect(snippet).to_have_attribute("data-client", "vscode")
    await ui.screenshot("client-picker-vscode")
    shown = json.loads(await snippet.inner_text())
    assert list(shown) == ["servers"], shown  # VS Code's key, not mcpServers
    entry = shown["servers"]["files"]
    assert entry["type"] == "stdio" and Path(entry["command"]).is_absolute()
    assert entry["args"][-3:] == ["start", "--proxy", "files"]
    assert entry["env"] == {"MCP_ACP_HOME": ui.home.env["MCP_ACP_HOME"]}
    await dialog.get_by_role("button", name="Copy snippet").click()
    assert json.loads(await ui.page.evaluate("navigator.clipboard.readText()")) == shown

    # Write it into a project that already has a server of its own, and a comment (VS Code reads JSONC).
    project = tmp_path / "project"
    (project / ".vscode").mkdir(parents=True)
    target = project / ".vscode" / "mcp.json"
    original = '{\n  // my own server\n  "servers": {\n    "mine": {"type": "stdio", "command": "mine"}\n  }\n}\n'
    target.write_text(original, encoding="utf-8")
    await dialog.get_by_label("Project folder").fill(str(project))
    await dialog.get_by_role("button", name="Show the change").click()
    await expect(dialog.get_by_test_id("client-diff")).to_contain_text('+    "files": {')
    assert target.read_text(encoding="utf-8") == original  # shown, not written
    await dialog.get_by_role("button", name="Write it").click()
    await expect(dialog.get_by_test_id("client-write-plan")).to_contain_text("Written to")
    await ui.screenshot("client-written")
    written = target.read_text(encoding="utf-8")
    assert "// my own server" in written
    assert json5.loads(written)["servers"] == {"mine": {"type": "stdio", "command": "mine"}, "files": entry}
    assert [p.read_text(encoding="utf-8") for p in target.parent.glob("mcp.json.bak.*")] == [original]
    await dialog.get_by_role("button", name="Close").click()

    # Export all: every proxy, in the picked client's format.
    await ui.page.goto(f"{ui.base}/")
    await ui.page.get_by_role("button", name="Export all").click()
    dialog = ui.page.get_by_role("dialog", name="Export all proxies to a client")
    await dialog.get_by_role("radio", name="Cursor").click()
    await expect(dialog.get_by_test_id("client-snippet")).to_have_attribute("data-client", "cursor")
    exported = json.loads(await dialog.get_by_test_id("client-snippet").inner_text())
    assert sorted(exported["mcpServers"]) == ["files", "other"] and "type" not in exported["mcpServers"]["files"]


async def test_limits_and_discovery_edited_in_the_config_form_are_saved(ui: UI) -> None:
    ui.home.add_proxy("lim", ECHO_ONLY)
    await ui.open_proxy("lim")
    await ui.page.get_by_role("tab", name="Config").click()
    await ui.page.get_by_label("Requests per second").fill("7.5")
    await ui.page.get_by_label("Burst").fill("12")
    await ui.page.get_by_label("Calls per tool per window").fill("5")
    await ui.page.get_by_label("Window (seconds)").fill("30")
    await ui.page.get_by_role("button", name="Add tool limit").click()
    await ui.page.get_by_label("Tool name").fill("echo")
    await ui.page.get_by_label("Calls per window").fill("2")
    await ui.page.get_by_label("Discovery").select_option("filter")
    await ui.screenshot("config-limits-discovery")
    await ui.page.get_by_role("button", name="Save", exact=True).click()
    await expect(ui.page.get_by_role("button", name="Save", exact=True)).to_be_disabled()  # nothing unsaved

    # The button is disabled while the save is in flight too: wait for the file, not the button.
    config_path = proxy_config_dir(ui.home.env, "lim") / "config.json"
    for _ in range(300):
        saved = json.loads(config_path.read_text())
        if saved.get("discovery") == "filter":
            break
        await asyncio.sleep(0.1)
    assert saved["limits"] == {
        "requests_per_second": 7.5,
        "burst": 12,
        "tool_calls_per_window": 5,
        "window_seconds": 30,
        "per_tool": {"echo": 2},
    }, saved["limits"]
    assert saved["discovery"] == "filter"

    await ui.page.reload()  # what the form shows comes from the file
    await ui.page.get_by_role("tab", name="Config").click()
    await expect(ui.page.get_by_label("Burst")).to_have_value("12")
    await expect(ui.page.get_by_label("Discovery")).to_have_value("filter")

    # The proxy started with it hides what the policy denies from tools/list.
    proxy = await ui.home.start_proxy("lim")
    listed = await proxy.request("tools/list")
    assert [tool["name"] for tool in listed["result"]["tools"]] == ["echo"], listed
