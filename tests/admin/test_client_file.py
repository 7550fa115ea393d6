"""The client-file merge: which entries are mcp-acp's, and edits that leave the rest of the text
(comments, layout, other entries) exactly as it was. Real files in a temp folder."""

from __future__ import annotations

import json
from pathlib import Path

import json5
import pytest

from mcp_acp.admin.client_file import ClientFileError, apply, is_mcp_acp_entry, plan_merge

OURS = {"type": "stdio", "command": "/venv/bin/mcp-acp", "args": ["start", "--proxy", "files"]}


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"command": "/any/where/mcp-acp", "args": ["start", "--proxy", "files"]}, True),
        ({"command": "/usr/bin/python3", "args": ["-m", "mcp_acp", "start", "--proxy", "files"]}, True),
        ({"command": "/any/mcp-acp", "args": ["start", "--proxy", "other"]}, False),  # another proxy
        ({"command": "/any/mcp-acp", "args": []}, False),
        ({"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "."]}, False),
        ({"command": "/bin/my-mcp-acp-wrapper", "args": ["start", "--proxy", "files"]}, False),
        ({"url": "http://localhost/mcp"}, False),
        ("not an object", False),
    ],
)
def test_is_mcp_acp_entry(entry: object, expected: bool) -> None:
    assert is_mcp_acp_entry(entry, "files") is expected


def merged(tmp_path: Path, text: str, client: str = "vscode", key: str = "servers") -> str:
    path = tmp_path / "mcp.json"
    path.write_text(text)
    plan = plan_merge(path, client, key, {"files": OURS})
    assert plan.new_text is not None
    return plan.new_text


@pytest.mark.parametrize(
    "text",
    [
        "{}",
        "{}\n",
        '{"servers": {}}',
        '{\n  "servers": {\n    // none yet\n  }\n}\n',
        '{\n  "servers": {\n    "a": 1, // the last one\n  },\n}\n',
        '{\n  "servers": {\n    "a": 1 // no trailing comma, a line comment before the brace\n  }\n}\n',
        '{\n  "servers": {"a": 1 /* block */}\n}\n',
        '{"inputs": [], /* c */ "other": {"x": [1, 2,],},}',
        '// header\n{\n\t"servers": {\n\t\t"a": {"command": "x"}\n\t}\n}\n// footer\n',
    ],
)
def test_jsonc_edits_keep_every_comment_and_read_back_right(tmp_path: Path, text: str) -> None:
    before = json5.loads(text)
    out = merged(tmp_path, text)
    after = json5.loads(out)
    assert after == {**before, "servers": {**before.get("servers", {}), "files": OURS}}
    for comment in ("// none yet", "// the last one", "/* block */", "/* c */", "// header", "// footer"):
        assert (comment in out) == (comment in text)


def test_replacing_an_entry_keeps_the_comments_around_it(tmp_path: Path) -> None:
    text = (
        '{\n  "servers": {\n    // ours\n    "files": {"command": "/old/mcp-acp", "args": ["start", "--proxy", "files"]},'
        ' // after\n    "z": 2\n  }\n}\n'
    )
    out = merged(tmp_path, text)
    assert "// ours" in out and "// after" in out
    assert json5.loads(out) == {"servers": {"files": OURS, "z": 2}}


def test_strict_json_keeps_its_layout_outside_the_new_entry(tmp_path: Path) -> None:
    text = '{\n    "mcpServers": {\n        "a": {"command": "x", "args": []}\n    },\n    "theme": "dark"\n}\n'
    out = merged(tmp_path, text, client="cursor", key="mcpServers")
    assert out.startswith('{\n    "mcpServers": {\n        "a": {"command": "x", "args": []},\n        "files": {\n')
    assert out.endswith('    },\n    "theme": "dark"\n}\n')
    assert json.loads(out)["mcpServers"]["files"] == OURS


def test_users_entry_is_a_conflict_and_force_replaces_it(tmp_path: Path) -> None:
    path = tmp_path / "mcp.json"
    path.write_text('{"servers": {"files": {"command": "npx"}}}')
    plan = plan_merge(path, "vscode", "servers", {"files": OURS})
    assert [c.name for c in plan.conflicts] == ["files"] and plan.new_text is None
    assert plan.conflicts[0].current == {"command": "npx"}
    forced = plan_merge(path, "vscode", "servers", {"files": OURS}, force=True)
    assert forced.replaced == ["files"] and forced.new_text is not None


def test_unchanged_entry_plans_no_write_and_apply_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "mcp.json"
    path.write_text(json.dumps({"servers": {"files": OURS}}))
    plan = plan_merge(path, "vscode", "servers", {"files": OURS})
    assert plan.unchanged == ["files"] and plan.new_text is None
    assert apply(plan) is None
    assert [p.name for p in tmp_path.iterdir()] == ["mcp.json"]


def test_apply_keeps_mode_and_edits_a_symlinks_target(tmp_path: Path) -> None:
    real = tmp_path / "dotfiles" / "mcp.json"
    real.parent.mkdir()
    real.write_text('{"servers": {}}')
    real.chmod(0o640)
    link = tmp_path / "mcp.json"
    link.symlink_to(real)
    backup = apply(plan_merge(link, "vscode", "servers", {"files": OURS}))
    assert link.is_symlink()
    assert json.loads(real.read_text()) == {"servers": {"files": OURS}}
    assert real.stat().st_mode & 0o777 == 0o640
    assert backup is not None and backup.read_text() == '{"servers": {}}'


@pytest.mark.parametrize(
    ("client", "text", "fragment"),
    [
        ("cursor", '{"mcpServers": {}, }', "is not valid JSON"),
        ("cursor", "// c\n{}", "is not valid JSON"),
        ("vscode", "{'servers': {}}", "JSON5 syntax"),
        ("vscode", "{servers: {}}", "JSON5 syntax"),
        ("vscode", '{"servers": {"a": NaN}}', "JSON5 syntax"),
        ("vscode", '{"servers": {', "is not JSON with comments"),
        ("vscode", '{\n  "servers": {\n    "a": 1\n    "b": 2\n  }\n}\n', r"line 4: Syntax Error"),
        ("vscode", "[1]", "does not hold a JSON object"),
        ("vscode", '{"servers": []}', "'servers' is not a JSON object"),
    ],
)
def test_unreadable_files_are_refused(tmp_path: Path, client: str, text: str, fragment: str) -> None:
    path = tmp_path / "mcp.json"
    path.write_text(text)
    key = "servers" if client == "vscode" else "mcpServers"
    with pytest.raises(ClientFileError, match=fragment) as info:
        plan_merge(path, client, key, {"files": OURS})
    assert "\n" not in str(info.value)  # one line for the CLI's one "Error:" line


def test_read_servers_reads_jsonc_for_vscode_only(tmp_path: Path) -> None:
    from mcp_acp.admin.client_file import read_servers

    path = tmp_path / "mcp.json"
    path.write_text('{\n  // mine\n  "servers": {"a": {"command": "x"},},\n}\n')
    assert read_servers(path, "vscode", "servers") == {"a": {"command": "x"}}
    with pytest.raises(ClientFileError, match="not valid JSON"):
        read_servers(path, "cursor", "servers")
    path.write_text('{"mcpServers": []}')
    with pytest.raises(ClientFileError, match="not a JSON object"):
        read_servers(path, "cursor", "mcpServers")
    path.write_text("  \n")
    assert read_servers(path, "cursor", "mcpServers") == {}


def test_restore_bytes_puts_back_exact_bytes_and_mode(tmp_path: Path) -> None:
    from mcp_acp.admin.client_file import restore_bytes

    path = tmp_path / "mcp.json"
    path.write_text("changed")
    original = b'{\r\n  "a": 1\r\n}\r\n\xef\xbb\xbf'
    restore_bytes(path, original, 0o640)
    assert path.read_bytes() == original
    assert path.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["mcp.json"]  # no temp file left behind
