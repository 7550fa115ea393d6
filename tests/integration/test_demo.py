"""`make demo` must keep working: run the demo end to end in a temp folder, as CI runs it (no
terminal, so the demo approves the write that asks a human itself)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path


def test_demo_runs_every_step_as_expected(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("MCP_ACP_HOME", "CI", "DISPLAY", "WAYLAND_DISPLAY")}
    env["COLUMNS"] = "200"
    result = subprocess.run(
        [sys.executable, "-m", "mcp_acp.demo"],
        check=False,
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    home = tmp_path / ".demo-home"
    for step in ("Read a file", "Write a file", "Escape the sandbox", "Read a resource", "Get a prompt"):
        assert step in out
    # The demo policy at work: an approval rule, a deny rule, the default deny, and the
    # protected config folder that no rule can open.
    # The write waited for a human: the demo showed how to decide it and, as `make demo` does
    # with no terminal, approved it itself through the proxy's approval API; the write completed.
    assert "No terminal to answer from (or CI is set)" in out
    approval_id = re.search(r"approvals decide ([0-9a-f]{16}) --approve", out)
    assert approval_id, out[-3000:]
    assert "Write a file (the policy asks a human): waiting for approval" in out
    # The proxy ran under the manager; with no display the demo printed the UI's one-time link,
    # and at the end stopped the manager it started, since nobody is watching.
    link = re.search(r"waits in the Pending drawer: (http://127\.0\.0\.1:\d+/ui-login\?code=\S+)", out)
    assert link, [line for line in out.splitlines() if "Pending drawer" in line] or out[-3000:]
    status = subprocess.run(
        [sys.executable, "-m", "mcp_acp", "manager", "status", "--json"],
        check=False,
        env={**env, "MCP_ACP_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert json.loads(status.stdout)["running"] is False, status.stdout
    assert f"POST /api/approvals/pending/{approval_id.group(1)}/approve" in out and "-> approved" in out
    assert "wrote 20 bytes to docs/todo.md" in out
    assert (home / "sandbox" / "docs" / "todo.md").read_text() == "- try a deny policy\n"
    assert "Policy denied: tools/call on" in out
    assert "reaches mcp-acp's own configuration or log folders" in out
    assert (home / "config" / "proxies" / "demo" / "config.json").is_file()
    assert "install mcp-json --proxy demo" in out
    assert "overall: passed" in out  # the session's audit trail verifies
    operations = home / "logs" / "mcp-acp" / "proxies" / "demo" / "audit" / "operations.jsonl"
    assert len(operations.read_text().splitlines()) >= 10
    decisions = [json.loads(line) for line in (operations.parent / "decisions.jsonl").read_text().splitlines()]
    finals = {entry["final_rule"] for entry in decisions}
    assert {
        "discovery_bypass",
        "read-demo-home",
        "no-secrets",
        "approve-writes",
        "default",
        "built_in_protected_path",
    } <= finals
    # The gateway step: the same proxy over streamable HTTP, a 2026-07-28 client, the same rules.
    assert "mcp-acp serve --proxy demo" in out and "who called the gateway" in out
    over_http = [e for e in decisions if e.get("tool_name") == "read_file" and "secrets" in str(e.get("path"))]
    assert [e["final_rule"] for e in over_http].count("no-secrets") == 2, over_http  # once over STDIO, once over HTTP
    approved = [entry for entry in decisions if entry["final_rule"] == "approve-writes"]
    assert [entry["hitl_outcome"] for entry in approved] == ["user_allowed"]
    assert approved[0]["hitl_approver_id"]
