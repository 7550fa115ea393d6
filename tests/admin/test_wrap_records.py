"""Undoing a wrap: the record, the exact restore when the file is as wrap left it, and the
entry-by-entry restore that keeps what changed since (Claude Code rewrites ~/.claude.json all the
time). Real files; the wrap itself is made by apply_wrap."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import json5
import pytest

from mcp_acp.admin import wrap_records
from mcp_acp.admin.wrap import apply_wrap, plan_wrap
from mcp_acp.admin.wrap_records import UnwrapError, latest, unwrap

PYTHON = sys.executable
CRLF_JSONC = (
    '// my servers\r\n{\r\n  "servers": {\r\n    "a": {"type": "stdio", "command": "' + PYTHON + '"}, // mine\r\n'
    '    "b": {"command": "' + PYTHON + '", "args": ["-V"]},\r\n  },\r\n}\r\n'
)


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCP_ACP_HOME", str(tmp_path / "acp"))
    monkeypatch.setenv("MCP_ACP_SECRET_BACKEND", "file")


def wrapped(tmp_path: Path, text: str = CRLF_JSONC, client: str = "vscode") -> Path:
    path = tmp_path / "mcp.json"
    path.write_bytes(text.encode())
    path.chmod(0o604)
    apply_wrap(plan_wrap(client, path), list_tools=False)
    return path


def test_unwrap_restores_byte_for_byte_and_the_mode(tmp_path: Path) -> None:
    path = wrapped(tmp_path)
    assert path.read_bytes() != CRLF_JSONC.encode()
    result = unwrap(latest("vscode", path))
    assert result.exact and result.restored_entries == ["a", "b"]
    assert path.read_bytes() == CRLF_JSONC.encode()
    assert path.stat().st_mode & 0o777 == 0o604
    with pytest.raises(UnwrapError, match="nothing to undo"):
        latest("vscode", path)


def test_a_deleted_file_comes_back(tmp_path: Path) -> None:
    path = wrapped(tmp_path)
    path.unlink()
    assert unwrap(latest("vscode", path)).exact
    assert path.read_bytes() == CRLF_JSONC.encode()


def test_a_file_changed_since_gets_its_entries_back_and_keeps_the_change(tmp_path: Path) -> None:
    text = json.dumps({"numStartups": 1, "mcpServers": {"a": {"command": PYTHON}, "b": {"command": PYTHON}}})
    path = wrapped(tmp_path, text, client="claude-code")
    data = json.loads(path.read_text())
    data["numStartups"] = 2  # the client wrote its own state
    data["mcpServers"]["c"] = {"command": "added-later"}
    data["mcpServers"]["b"] = {"command": "user-replaced-it"}
    path.write_text(json.dumps(data))
    result = unwrap(latest("claude-code", path))
    assert not result.exact and result.restored_entries == ["a"]
    after = json.loads(path.read_text())
    assert after["numStartups"] == 2
    assert after["mcpServers"] == {
        "a": {"command": PYTHON},
        "b": {"command": "user-replaced-it"},
        "c": {"command": "added-later"},
    }
    assert result.backup is not None and json.loads(result.backup.read_text()) == data


def test_jsonc_changed_since_is_restored_entry_by_entry(tmp_path: Path) -> None:
    path = wrapped(tmp_path)
    path.write_text(path.read_text() + "// a note\n")
    result = unwrap(latest("vscode", path))
    assert not result.exact and result.restored_entries == ["a", "b"]
    assert json5.loads(path.read_text())["servers"] == json5.loads(CRLF_JSONC)["servers"]


def test_the_latest_wrap_is_undone_first(tmp_path: Path) -> None:
    first = '{"mcpServers": {"a": {"command": "' + PYTHON + '"}}}'
    path = wrapped(tmp_path, first, client="cursor")
    data = json.loads(path.read_text())
    data["mcpServers"]["b"] = {"command": PYTHON}
    path.write_text(json.dumps(data))
    between = path.read_bytes()
    apply_wrap(plan_wrap("cursor", path), list_tools=False)  # wraps only b: a is mcp-acp's already
    assert unwrap(latest("cursor", path)).restored_entries == ["b"]
    assert path.read_bytes() == between
    # the user added b after the first wrap: that wrap's own entry goes back, b stays
    earlier = unwrap(latest("cursor", path))
    assert not earlier.exact and earlier.restored_entries == ["a"]
    assert json.loads(path.read_text())["mcpServers"] == {"a": {"command": PYTHON}, "b": {"command": PYTHON}}


def test_the_record_is_private_and_a_broken_one_is_reported(tmp_path: Path) -> None:
    path = wrapped(tmp_path)
    record = latest("vscode", path)
    assert record.path.stat().st_mode & 0o777 == 0o600
    assert wrap_records.records_dir().stat().st_mode & 0o777 == 0o700
    record.path.write_text("{not json")
    with pytest.raises(UnwrapError, match="cannot be read"):
        latest("vscode", path)
