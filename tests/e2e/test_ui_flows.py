"""Every flow issue 8 lists, in real Chromium against a real manager and real proxies.

The proxies are `mcp-acp start --proxy NAME` subprocesses (no --headless: they register with the
manager) in front of tests/fixtures/backend.py, spoken to in raw JSON-RPC as a client would.
Nothing is timed: every wait is Playwright's auto-wait, bounded by UI_TIMEOUT_MS.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from pathlib import Path

import pytest
from oidc_provider import OidcProvider
from playwright.async_api import Page, expect

from tests.e2e.ui import UI, UI_TIMEOUT_MS
from tests.support.audit import read_jsonl
from tests.support.config import proxy_config_dir, proxy_log_dir
from tests.support.processes import BACKEND

expect.set_options(timeout=UI_TIMEOUT_MS)

ECHO_ONLY = {"rules": [{"id": "echo-ok", "effect": "allow", "conditions": {"tool_name": "echo"}}]}
POLICY_DENIED = -32001


def card(page: Page, name: str):
    return page.locator(f'[data-testid="proxy-card"][data-proxy="{name}"]')


async def test_proxy_list_shows_running_proxies_and_a_stop_turns_its_card_inactive(ui: UI) -> None:
    for name in ("alpha", "beta"):
        ui.home.add_proxy(name, ECHO_ONLY)
    alpha = await ui.home.start_proxy("alpha")
    beta = await ui.home.start_proxy("beta")
    await alpha.call_tool("echo", {"text": "hello"})
    await ui.page.goto(f"{ui.base}/")
    await expect(card(ui.page, "alpha")).to_have_attribute("data-status", "running")
    await expect(card(ui.page, "beta")).to_have_attribute("data-status", "running")
    await expect(card(ui.page, "alpha")).to_contain_text("fixture")  # the server name
    await expect(card(ui.page, "alpha")).to_contain_text(re.compile(r"~[\d.,]+\s?(ms|s)"))  # median latency, live
    await ui.screenshot("proxy-list-running")

    code, _ = await beta.finish()  # the client disconnects: the proxy exits
    assert code == 0
    await expect(card(ui.page, "beta")).to_have_attribute("data-status", "inactive")  # live, no reload
    await expect(card(ui.page, "alpha")).to_have_attribute("data-status", "running")

    await ui.page.get_by_role("button", name="Inactive", exact=True).click()
    await expect(card(ui.page, "beta")).to_be_visible()
    await expect(card(ui.page, "alpha")).to_have_count(0)
    await ui.screenshot("proxy-list-one-stopped")
    await ui.page.set_viewport_size({"width": 800, "height": 860})
    await ui.page.get_by_role("button", name="All", exact=True).click()
    await ui.screenshot("proxy-list-800px")


async def test_pending_drawer_allow_completes_the_call_and_deny_fails_it(ui: UI, tmp_path: Path) -> None:
    files = tmp_path / "files"
    files.mkdir()
    ui.home.add_proxy(
        "ap",
        {
            "rules": [
                {
                    "id": "writes",
                    "effect": "hitl",
                    "description": "A human approves writes",
                    "conditions": {"tool_name": "write_file", "path_pattern": f"{files}/**"},
                }
            ]
        },
    )
    await ui.page.goto(f"{ui.base}/")  # the browser is connected before the proxy registers
    proxy = await ui.home.start_proxy("ap")
    await expect(card(ui.page, "ap")).to_have_attribute("data-status", "running")

    call = asyncio.ensure_future(proxy.call_tool("write_file", {"path": f"{files}/a.txt", "content": "approved"}))
    pending = ui.page.get_by_role("button", name="Pending approvals (1)")
    await expect(pending).to_be_visible()
    await expect(ui.page).to_have_title("🔴 (1) mcp-acp")
    await pending.click()
    drawer = ui.page.get_by_role("dialog", name="Pending approvals")
    approval = drawer.get_by_role("group", name="Approval for write_file on ap")
    await expect(approval).to_contain_text(f"{files}/a.txt")
    await ui.screenshot("pending-drawer")
    await approval.get_by_role("button", name="Allow once").click()
    answer = await asyncio.wait_for(call, 60)
    assert "result" in answer and not answer["result"].get("isError"), answer
    assert (files / "a.txt").read_text() == "approved"
    await expect(approval).to_have_count(0)

    call = asyncio.ensure_future(proxy.call_tool("write_file", {"path": f"{files}/b.txt", "content": "refused"}))
    approval = drawer.get_by_role("group", name="Approval for write_file on ap")
    if not await drawer.is_visible():
        await ui.page.get_by_role("button", name="Pending approvals (1)").click()
    await approval.get_by_role("button", name="Deny").click()
    answer = await asyncio.wait_for(call, 60)
    assert answer["error"]["code"] == POLICY_DENIED, answer
    assert not (files / "b.txt").exists()
    await expect(ui.page).to_have_title("mcp-acp")
    outcomes = [
        e["hitl_outcome"]
        for e in read_jsonl(proxy_log_dir(ui.home.env, "ap") / "audit" / "decisions.jsonl")
        if e.get("final_rule") == "writes"
    ]
    assert outcomes == ["user_allowed", "user_denied"]


async def test_policy_edited_in_the_visual_editor_allows_a_call_that_was_denied(ui: UI) -> None:
    ui.home.add_proxy("pol", ECHO_ONLY)
    proxy = await ui.home.start_proxy("pol")
    before = await proxy.call_tool("add", {"a": 2, "b": 3})
    assert before["error"]["code"] == POLICY_DENIED, before  # no rule allows it: default deny

    await ui.open_proxy("pol")
    await ui.page.get_by_role("tab", name="Policy").click()
    await expect(ui.page.get_by_test_id("rule-card")).to_have_count(1)
    await ui.page.get_by_role("button", name="Add rule").click()
    dialog = ui.page.get_by_role("dialog", name="Add rule")
    await dialog.get_by_label("Description").fill("Arithmetic is harmless")
    await dialog.get_by_label("Effect").select_option("allow")
    await dialog.get_by_label("Tool name").fill("add")
    await ui.screenshot("policy-add-rule")
    await dialog.get_by_role("button", name="Save rule").click()
    await expect(ui.page.get_by_test_id("rule-card")).to_have_count(2)
    await expect(ui.page.get_by_test_id("rule-card").nth(1)).to_contain_text("Arithmetic is harmless")
    await ui.screenshot("policy-visual-editor")

    saved = json.loads((proxy_config_dir(ui.home.env, "pol") / "policy.json").read_text())
    assert any(
        rule["effect"] == "allow" and rule["conditions"].get("tool_name") in ("add", ["add"]) for rule in saved["rules"]
    ), saved

    # The manager answered the save only after the running proxy reloaded the policy.
    answer = await proxy.call_tool("add", {"a": 2, "b": 3})
    assert "5" in json.dumps(answer["result"]), answer


async def test_an_invalid_policy_shows_the_error_and_the_old_policy_stays(ui: UI) -> None:
    ui.home.add_proxy("bad", ECHO_ONLY)
    policy_file = proxy_config_dir(ui.home.env, "bad") / "policy.json"
    before = policy_file.read_text()
    proxy = await ui.home.start_proxy("bad")
    await ui.open_proxy("bad")
    await ui.page.get_by_role("tab", name="Policy").click()
    await ui.page.get_by_role("button", name="Raw JSON").click()
    broken = {"rules": [{"id": "everything", "effect": "allow", "conditions": {}}]}  # empty conditions: invalid
    await ui.page.get_by_label("Policy JSON").fill(json.dumps(broken, indent=2))
    await ui.page.get_by_role("button", name="Save policy").click()
    alert = ui.page.get_by_role("alert").filter(has_text="condition")
    await expect(alert).to_be_visible()
    await ui.screenshot("policy-invalid")

    assert policy_file.read_text() == before
    assert "result" in await proxy.call_tool("echo", {"text": "still allowed"})
    assert (await proxy.call_tool("add", {"a": 1, "b": 1}))["error"]["code"] == POLICY_DENIED


async def test_audit_verify_detects_tampering_and_repair_restores_the_trail(ui: UI) -> None:
    ui.home.add_proxy("aud", ECHO_ONLY)
    proxy = await ui.home.start_proxy("aud")
    for text in ("one", "two", "three"):
        assert "result" in await proxy.call_tool("echo", {"text": text})
    code, _ = await proxy.finish()  # repair needs the proxy stopped
    assert code == 0

    await ui.open_proxy("aud")
    await ui.page.get_by_role("tab", name="Audit").click()
    operations = ui.page.locator('[data-testid="integrity-row"][data-file="operations"]')
    await ui.page.get_by_role("button", name="Verify").click()
    await expect(operations).to_have_attribute("data-status", "protected")
    await expect(operations).to_contain_text("protected")
    await ui.screenshot("audit-protected")

    log = proxy_log_dir(ui.home.env, "aud") / "audit" / "operations.jsonl"
    lines = log.read_text().splitlines(keepends=True)
    entry = json.loads(lines[1])
    entry["method"] = "tools/call-edited"
    lines[1] = json.dumps(entry) + "\n"
    log.write_text("".join(lines))

    await ui.page.get_by_role("button", name="Verify").click()
    await expect(operations).to_have_attribute("data-status", "broken")
    await expect(ui.page.get_by_test_id("integrity-overall")).to_contain_text("broken")
    await ui.screenshot("audit-broken")

    await ui.page.get_by_role("button", name="Repair").click()
    await ui.page.get_by_role("dialog", name="Repair audit logs").get_by_role("button", name="Repair").click()
    await expect(operations).not_to_have_attribute("data-status", "broken")
    await expect(ui.page.get_by_test_id("integrity-overall")).not_to_contain_text("broken")
    assert list(log.parent.glob("operations.broken.*.jsonl")), "repair keeps the broken log as a backup"
    await ui.page.get_by_role("button", name="Verify").click()
    # The repair stays on record: the panel lists it from then on.
    await expect(ui.page.get_by_test_id("integrity-repairs")).to_contain_text("audit/operations.jsonl backed_up")
    await ui.screenshot("audit-repaired")


async def test_incidents_show_a_security_shutdown(ui: UI) -> None:
    ui.home.add_proxy("sd", ECHO_ONLY)
    await ui.page.goto(f"{ui.base}/")
    proxy = await ui.home.start_proxy("sd")
    await expect(card(ui.page, "sd")).to_have_attribute("data-status", "running")
    assert "result" in await proxy.call_tool("echo", {"text": "before"})
    (proxy_log_dir(ui.home.env, "sd") / "audit" / "operations.jsonl").unlink()  # the audit trail is gone
    answer = await proxy.call_tool("echo", {"text": "after"})
    assert "result" not in answer  # fail closed
    code, _ = await proxy.finish()
    assert code == 10  # audit failure

    # The browser watched it happen: an error toast naming the reason, and an unread badge.
    await expect(ui.page.get_by_text("Proxy 'sd' stopped")).to_be_visible()
    badge = ui.page.locator("#incidents-unread")
    await expect(badge).to_have_attribute("aria-label", "1 new incident")
    await ui.page.get_by_role("link", name="Incidents").click()
    incident = ui.page.locator('[data-testid="incident"][data-type="shutdown"]')
    await expect(incident.first).to_contain_text("sd")
    await expect(incident.first).to_contain_text("audit")
    await expect(badge).to_have_count(0)  # visiting the page marks them read
    await ui.screenshot("incidents")
    await ui.page.get_by_label("Type").select_option("bootstrap")
    await expect(incident).to_have_count(0)


async def test_add_proxy_creates_it_and_copies_the_snippet(ui: UI) -> None:
    await ui.page.goto(f"{ui.base}/")
    await ui.page.get_by_role("button", name="Add proxy").first.click()  # the empty state offers one too
    dialog = ui.page.get_by_role("dialog", name="Add proxy")
    await dialog.get_by_label("Name", exact=True).fill("added")
    await dialog.get_by_label("Server name").fill("fixture")
    await dialog.get_by_label("Transport").select_option("stdio")
    await dialog.get_by_label("Command").fill(sys.executable)
    await dialog.get_by_label("Arguments").fill(BACKEND)
    await ui.screenshot("add-proxy-form")
    await dialog.get_by_role("button", name="Create proxy").click()

    snippet = dialog.get_by_test_id("snippet")
    await expect(snippet).to_contain_text('"added"')
    await dialog.get_by_role("button", name="Copy snippet").click()
    await expect(dialog.get_by_role("button", name="Copied")).to_be_visible()
    copied = await ui.page.evaluate("navigator.clipboard.readText()")
    assert json.loads(copied)["mcpServers"]["added"]["args"][-2:] == ["--proxy", "added"]
    await ui.screenshot("add-proxy-snippet")
    await dialog.get_by_role("button", name="Done").click()

    config = json.loads((proxy_config_dir(ui.home.env, "added") / "config.json").read_text())
    assert config["backend"]["stdio"]["command"] == sys.executable, config
    await expect(card(ui.page, "added")).to_have_attribute("data-status", "inactive")


@pytest.mark.parametrize("scheme", ["light", "dark"])
async def test_decision_explorer_explains_a_denial_and_dry_runs_a_request(ui: UI, scheme: str) -> None:
    await ui.page.emulate_media(color_scheme=scheme)
    ui.home.add_proxy("why", ECHO_ONLY)
    proxy = await ui.home.start_proxy("why")
    assert (await proxy.call_tool("add", {"a": 1, "b": 2}))["error"]["code"] == POLICY_DENIED
    await ui.open_proxy("why")
    await ui.page.get_by_role("tab", name="Audit").click()
    denied = ui.page.get_by_test_id("log-row").filter(has_text="add").first
    await denied.get_by_role("button", name="Why?").click()
    explain = ui.page.get_by_test_id("decision-explain")
    await expect(explain).to_contain_text("default")  # no rule matched: the default decided
    await ui.screenshot(f"decision-explorer-{scheme}")

    await ui.page.get_by_label("Tool name").fill("echo")
    await ui.page.get_by_label("Arguments (JSON)").fill('{"text": "hi"}')
    await ui.page.get_by_role("button", name="Evaluate").click()
    result = ui.page.get_by_test_id("dry-run-result")
    await expect(result).to_contain_text("allow")
    await expect(result).to_contain_text("echo-ok")
    await ui.screenshot(f"dry-run-{scheme}")
    calls = [
        e
        for e in read_jsonl(proxy_log_dir(ui.home.env, "why") / "audit" / "decisions.jsonl")
        if e.get("tool_name") == "echo"
    ]
    assert calls == [], "a dry run must not be logged as a decision"


async def test_the_banner_shows_when_the_manager_is_unreachable_and_goes_when_it_is_back(ui: UI) -> None:
    await ui.page.goto(f"{ui.base}/")
    await expect(ui.page.get_by_role("button", name="Add proxy").first).to_be_visible()
    banner = ui.page.get_by_role("status").filter(has_text="Reconnecting")
    await expect(banner).to_have_count(0)
    ui.home.cli("manager", "stop", check=True)
    await expect(banner.or_(ui.page.get_by_role("status").filter(has_text="Disconnected"))).to_be_visible()
    await ui.screenshot("connection-banner")
    ui.home.start_manager()
    await ui.page.get_by_role("status").get_by_role("button", name="Retry").click()
    await expect(ui.page.get_by_role("status").filter(has_text="Reconnecting")).to_have_count(0)
    await expect(ui.page.get_by_role("status").filter(has_text="Disconnected")).to_have_count(0)


async def test_the_keyboard_reaches_the_pending_drawer_and_the_tabs(ui: UI) -> None:
    ui.home.add_proxy("keys", ECHO_ONLY)
    await ui.open_proxy("keys")
    overview = ui.page.get_by_role("tab", name="Overview")
    await overview.focus()
    await ui.page.keyboard.press("ArrowRight")
    await expect(ui.page.get_by_role("tab", name="Audit")).to_be_focused()
    await ui.page.keyboard.press("Enter")
    await expect(ui.page.get_by_role("tab", name="Audit")).to_have_attribute("aria-selected", "true")

    pending = ui.page.get_by_role("button", name="Pending approvals (0)")
    for _ in range(30):  # Tab through the page until the Pending button has the focus
        if await pending.evaluate("element => element === document.activeElement"):
            break
        await ui.page.keyboard.press("Tab")
    await expect(pending).to_be_focused()
    await ui.page.keyboard.press("Enter")
    drawer = ui.page.get_by_role("dialog", name="Pending approvals")
    await expect(drawer).to_be_visible()
    await ui.page.keyboard.press("Escape")
    await expect(drawer).to_be_hidden()


async def test_device_flow_login_and_logout_from_the_auth_page(ui: UI, tmp_path: Path) -> None:
    """A real provider process; the user approves the code on the provider's own page, in the tab
    the UI opened, and the UI learns of it from the manager's event stream."""
    idp = OidcProvider(audience="mcp-acp", client_id="mcp-acp-cli", interval=1, state_dir=tmp_path / "idp")
    idp.start(timeout=60)
    try:
        path = ui.home.home / "config" / "manager.json"
        config = json.loads(path.read_text())
        config["auth"] = {
            "mode": "oidc",
            "oidc": {"issuer": idp.url, "client_id": "mcp-acp-cli", "audience": "mcp-acp"},
        }
        path.write_text(json.dumps(config))
        ui.home.cli("manager", "stop", check=True)  # it reads its config at start
        ui.home.start_manager()

        await ui.page.goto(f"{ui.base}/auth")
        status = ui.page.get_by_role("region", name="Status")
        await expect(status).to_contain_text("signed out")
        async with ui.page.context.expect_page() as opened:
            await ui.page.get_by_role("button", name="Log in", exact=True).click()
        code = await ui.page.get_by_label("Device code").inner_text()
        await ui.screenshot("auth-device-code")
        provider_page = await opened.value
        await expect(provider_page.get_by_label("Code")).to_have_value(code)
        await provider_page.get_by_role("button", name="Approve").click()
        await expect(provider_page.get_by_role("heading", name="Device approved")).to_be_visible()

        await expect(status).to_contain_text("signed in")
        await expect(status).to_contain_text("alice")
        await ui.screenshot("auth-signed-in")
        assert json.loads(ui.home.cli("auth", "status", "--json", check=True).stdout)["authenticated"] is True

        await status.get_by_role("button", name="Log out", exact=True).click()
        await expect(status).to_contain_text("signed out")
        assert json.loads(ui.home.cli("auth", "status", "--json").stdout)["authenticated"] is False
    finally:
        idp.stop()


async def test_config_edited_in_the_form_is_saved_and_asks_for_a_restart(ui: UI) -> None:
    ui.home.add_proxy("cfg", ECHO_ONLY)
    await ui.home.start_proxy("cfg")
    await ui.open_proxy("cfg")
    await ui.page.get_by_role("tab", name="Config").click()
    timeout = ui.page.get_by_label("Approval timeout (seconds)")
    await expect(timeout).to_have_value("60")
    await timeout.fill("45")
    await expect(ui.page.get_by_text("Unsaved changes (1)")).to_be_visible()
    await ui.screenshot("config-unsaved")
    await ui.page.get_by_role("button", name="Save", exact=True).click()
    await expect(ui.page.get_by_text("Restart required.")).to_be_visible()
    saved = json.loads((proxy_config_dir(ui.home.env, "cfg") / "config.json").read_text())
    assert saved["hitl"]["timeout_seconds"] == 45
    await ui.screenshot("config-saved")
