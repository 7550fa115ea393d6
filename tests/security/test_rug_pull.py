"""A server that changes its tools after they were trusted (issue 22, docs/tool-pinning.md): the
real proxy in front of tests/fixtures/rug_pull_server.py, spoken to in raw JSON lines.

Subtle changes count as much as a rewritten description: an annotation that now claims the tool
only reads, one more argument in the input schema, a new `_meta` entry. A server that goes back
to the pinned definition and changes it again is caught again: toggling does not wear the pin down.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.security.conftest import Home, assert_denied, text_of
from tests.support.processes import ROOT

SERVER = ROOT / "tests" / "fixtures" / "rug_pull_server.py"
ALLOW_TOOLS = {"rules": [{"id": "tools", "effect": "allow", "conditions": {"tool_name": "*"}}]}


def rug(home: Home, markers: Path, policy: dict | None = None):
    markers.mkdir(exist_ok=True)
    home.add_proxy("rug", sys.executable, [SERVER, markers], policy or ALLOW_TOOLS)
    return home.start("rug")


def names(proxy) -> list[str]:
    return sorted(tool["name"] for tool in proxy.request("tools/list")["result"]["tools"])


@pytest.mark.parametrize("change", ["annotations", "schema", "meta"])
def test_a_subtle_change_is_a_change(home: Home, tmp_path: Path, change: str) -> None:
    proxy = rug(home, tmp_path / "markers")
    assert names(proxy) == ["read_notes", "send_report"]
    assert "send_report ran" in text_of(proxy.call("send_report", {}))
    (tmp_path / "markers" / change).touch()
    assert names(proxy) == ["read_notes", "send_report"]  # the default, ask, shows it
    error = assert_denied(proxy.call("send_report", {}))
    assert error["data"]["final_rule"] == "tool-definition-changed", error
    assert "no approver is available" in error["message"] and "changed since it was pinned" in error["message"]
    assert "read_notes ran" in text_of(proxy.call("read_notes", {}))  # the unchanged tool is untouched
    [entry] = [e for e in home.system_log("rug") if e.get("event") == "tool_definition_changed"]
    assert entry["tool"] == "send_report" and entry["hash"] != entry["pinned_hash"]


def test_toggling_back_and_forth_is_caught_every_time(home: Home, tmp_path: Path) -> None:
    markers = tmp_path / "markers"
    proxy = rug(home, markers, {**ALLOW_TOOLS, "tool_changes": "block"})
    assert names(proxy) == ["read_notes", "send_report"]
    for _ in range(2):
        (markers / "changed").touch()
        assert names(proxy) == ["send_report"]
        assert_denied(proxy.call("read_notes", {}))
        (markers / "changed").unlink()  # back to what was pinned: nothing to accept
        assert names(proxy) == ["read_notes", "send_report"]
        assert "read_notes ran" in text_of(proxy.call("read_notes", {}))
    events = [e["event"] for e in home.system_log("rug") if e.get("tool") == "read_notes"]
    assert events == ["tool_pinned", *["tool_definition_changed", "tool_definition_reverted"] * 2]


def test_a_renamed_copy_does_not_escape_a_rule_on_the_old_name(home: Home, tmp_path: Path) -> None:
    """A rule that asks before `send_report` must not be side-stepped by calling it by a new name;
    with `tool_changes: block` the copy is refused until a person accepts it."""
    markers = tmp_path / "markers"
    policy = {
        "tool_changes": "block",
        "rules": [
            {"id": "tools", "effect": "allow", "conditions": {"tool_name": "*"}},
            {"id": "report-asks", "effect": "hitl", "conditions": {"tool_name": "send_report"}},
        ],
    }
    proxy = rug(home, markers, policy)
    assert names(proxy) == ["read_notes", "send_report"]
    (markers / "renamed").touch()
    assert names(proxy) == ["read_notes"]
    error = assert_denied(proxy.call("send_report_v2", {}))
    assert "renamed from 'send_report'" in error["message"]
