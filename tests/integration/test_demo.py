"""`make demo` must keep working: run the demo end to end in a temp folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def test_demo_runs_every_step_as_expected(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "MCP_ACP_HOME"}
    env["COLUMNS"] = "200"
    result = subprocess.run([sys.executable, "-m", "mcp_acp.demo"], cwd=tmp_path, env=env,
                            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    for step in ("Read a file", "Write a file", "Escape the sandbox", "Read a resource", "Get a prompt"):
        assert step in out
    # The demo policy at work: an approval rule (no approver yet), a deny rule, the default
    # deny, and the protected config folder that no rule can open.
    assert "Approval required but no approver is available" in out
    assert "Policy denied: tools/call on" in out
    assert "reaches mcp-acp's own configuration or log folders" in out
    home = tmp_path / ".demo-home"
    assert (home / "config" / "proxies" / "demo" / "config.json").is_file()
    assert "install mcp-json --proxy demo" in out
    assert "overall: passed" in out  # the session's audit trail verifies
    operations = home / "logs" / "mcp-acp" / "proxies" / "demo" / "audit" / "operations.jsonl"
    assert len(operations.read_text().splitlines()) >= 10
    decisions = [json.loads(line) for line in (operations.parent / "decisions.jsonl").read_text().splitlines()]
    finals = {entry["final_rule"] for entry in decisions}
    assert {"discovery_bypass", "read-demo-home", "no-secrets", "approve-writes", "default",
            "built_in_protected_path"} <= finals
