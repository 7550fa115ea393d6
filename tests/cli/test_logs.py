"""Rendering log entries for `mcp-acp logs` (cli/logs.py): an entry written by a hostile client is
shown inert, never as terminal control."""

from __future__ import annotations

import json

from mcp_acp.cli.logs import render
from tests.cli.test_output import HOSTILE, printed


def test_a_hostile_log_entry_is_shown_inert():
    entry = {
        "time": "2026-11-24T10:00:00Z",
        "method": "tools/call",
        "status": "Success",
        "tool_name": HOSTILE,
        "file_path": HOSTILE,
    }
    line = render("operations", json.dumps(entry).encode())
    text = printed(line)
    assert "\x1b" not in text and "\u202e" not in text
    assert "tools/call" in text
