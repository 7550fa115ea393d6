"""Rug pulls (issue 22): a real server (tests/fixtures/rug_pull_server.py) changes a tool's
description after it was pinned and renames a tool keeping its definition, behind a real proxy
subprocess, spoken to by the mcp SDK's client. Under each `tool_changes` setting the client sees
what the setting says; `mcp-acp tools accept` makes the calls pass again.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.config import ALLOW_ALL_POLICY, proxy_config_dir, proxy_log_dir, use_policy

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(180)]

SERVER = Path(__file__).resolve().parents[1] / "fixtures" / "rug_pull_server.py"
PROXY = "rugged"
RULE = "tool-definition-changed"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _start(launcher: Any, markers: Path, setting: str | None) -> Any:
    if os.environ.get("PYTHONPATH"):  # a worktree run: the proxy subprocess runs the same code
        launcher.env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    params = launcher.proxy(sys.executable, [str(SERVER), str(markers)], name=PROXY)
    policy: dict[str, Any] = dict(ALLOW_ALL_POLICY)
    if setting is not None:
        policy["tool_changes"] = setting
    use_policy(launcher.env, PROXY, policy)
    return params


def _system(launcher: Any) -> list[dict]:
    path = proxy_log_dir(launcher.env, PROXY) / "system" / "system.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _events(launcher: Any, event: str) -> list[dict]:
    return [entry for entry in _system(launcher) if entry.get("event") == event]


async def _names(session: Any) -> list[str]:
    return sorted(tool.name for tool in (await session.list_tools()).tools)


def _refused(result: Any) -> str:
    """The text of a refusal: the proxy answers a denied call with a JSON-RPC error, which the SDK raises."""
    return str(result)


async def _call(session: Any, name: str) -> tuple[bool, str]:
    """(passed, text): the call's answer, or the error the proxy answered with."""
    try:
        result = await session.call_tool(name, {})
    except Exception as exc:  # McpError: the proxy refused
        return False, str(exc)
    return not result.is_error, " ".join(getattr(part, "text", "") for part in result.content)


@pytest.mark.parametrize("setting", ["block", "ask", "record", None])
async def test_a_changed_definition_is_handled_as_the_policy_says(launcher: Any, tmp_path: Path, setting) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    params = _start(launcher, markers, setting)
    async with launcher.connect(params, label=f"client-{setting}") as conn:
        session = conn.session
        assert await _names(session) == ["read_notes", "send_report"]
        assert (await _call(session, "read_notes"))[0]
        pinned = {entry["tool"] for entry in _events(launcher, "tool_pinned")}
        assert pinned == {"read_notes", "send_report"}

        (markers / "changed").touch()  # the rug pull
        listed = await _names(session)
        passed, text = await _call(session, "read_notes")
        changed = _events(launcher, "tool_definition_changed")
        assert [entry["tool"] for entry in changed] == ["read_notes"]
        if setting == "block":
            assert listed == ["send_report"]
            assert not passed and RULE not in listed
            assert "changed since it was pinned" in text and "blocked" in text
        elif setting in ("ask", None):  # the default is ask
            assert listed == ["read_notes", "send_report"]
            assert not passed and "no approver is available" in text and "changed since it was pinned" in text
        else:
            assert listed == ["read_notes", "send_report"]
            assert passed, text
        assert (await _call(session, "send_report"))[0]  # an unchanged tool is untouched

        decisions = (proxy_log_dir(launcher.env, PROXY) / "audit" / "decisions.jsonl").read_text()
        if setting != "record":
            assert RULE in decisions

        diff = launcher.cli("tools", "diff", "--proxy", PROXY)
        assert "read_notes" in diff.stdout and "id_rsa" in diff.stdout and "definition changed" in diff.stdout
        launcher.cli("tools", "accept", "--proxy", PROXY, "--tool", "read_notes")
        passed, text = await _call(session, "read_notes")
        assert passed, text
        assert "read_notes" in await _names(session)
        accepted = _events(launcher, "tool_definition_accepted")
        assert [entry["tool"] for entry in accepted] == ["read_notes"]
        assert "No tool" in launcher.cli("tools", "diff", "--proxy", PROXY).stdout


async def test_a_renamed_copy_is_recognised(launcher: Any, tmp_path: Path) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    params = _start(launcher, markers, "block")
    async with launcher.connect(params, label="client-renamed") as conn:
        session = conn.session
        assert await _names(session) == ["read_notes", "send_report"]
        (markers / "renamed").touch()
        assert await _names(session) == ["read_notes"]  # send_report_v2 is send_report renamed: blocked
        passed, text = await _call(session, "send_report_v2")
        assert not passed and "renamed from 'send_report'" in text
        renamed = _events(launcher, "tool_renamed_copy")
        assert [(entry["tool"], entry["renamed_from"]) for entry in renamed] == [("send_report_v2", "send_report")]

        shown = json.loads(launcher.cli("tools", "diff", "--proxy", PROXY, "--json").stdout)
        assert [(row["tool"], row["kind"], row["renamed_from"]) for row in shown["changed"]] == [
            ("send_report_v2", "renamed", "send_report")
        ]
        assert "renamed from send_report" in launcher.cli("tools", "diff", "--proxy", PROXY).stdout
        launcher.cli("tools", "accept", "--proxy", PROXY, "--all")
        passed, text = await _call(session, "send_report_v2")
        assert passed and "send_report_v2 ran" in text
        assert await _names(session) == ["read_notes", "send_report_v2"]


async def test_pins_survive_a_restart_and_are_private(launcher: Any, tmp_path: Path) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    params = _start(launcher, markers, "block")
    async with launcher.connect(params, label="first") as conn:
        await _names(conn.session)
    pins = proxy_config_dir(launcher.env, PROXY) / "tool_pins.json"
    assert pins.stat().st_mode & 0o777 == 0o600
    (markers / "changed").touch()
    async with launcher.connect(params, label="second") as conn:  # a new process: the pins are read back
        assert await _names(conn.session) == ["send_report"]
        assert not (await _call(conn.session, "read_notes"))[0]
