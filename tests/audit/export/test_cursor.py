"""The cursor file: saved whole, read back, a damaged one refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcp_acp.audit.export.cursor import Cursor, CursorError


def test_saved_and_loaded(tmp_path: Path) -> None:
    cursor = Cursor.load(tmp_path / "c" / "syslog.json")
    assert cursor.get("files", "audit/auth.jsonl") == 0
    cursor.advance("files", "audit/auth.jsonl", 12, 12)
    cursor.failed("the receiver went away")
    cursor.save()
    again = Cursor.load(tmp_path / "c" / "syslog.json")
    assert again.get("files", "audit/auth.jsonl") == 12
    assert again.last_error == "the receiver went away"
    assert (tmp_path / "c" / "syslog.json").stat().st_mode & 0o777 == 0o600
    assert [p.name for p in (tmp_path / "c").iterdir()] == ["syslog.json"]  # no temporary file left


def test_success_clears_the_error(tmp_path: Path) -> None:
    cursor = Cursor(tmp_path / "c.json")
    cursor.failed("x")
    cursor.advance("p", "f", 1, 1)
    assert cursor.last_error is None


@pytest.mark.parametrize("content", ["{", "[]", '{"positions": {"p": {"f": "x"}}}'])
def test_a_damaged_cursor_is_refused(tmp_path: Path, content: str) -> None:
    (tmp_path / "c.json").write_text(content)
    with pytest.raises(CursorError, match="export cursor"):
        Cursor.load(tmp_path / "c.json")
