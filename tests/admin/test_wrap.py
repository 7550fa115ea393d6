"""Wrap planning and applying, in process, on real files under a temp MCP_ACP_HOME: what each kind
of entry becomes, which env values are secrets, the proxy names, and that a failure leaves the
client's file and the config folder as they were. (The CLI and real sessions: tests/integration/test_wrap.py.)"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from mcp_acp import secret_store
from mcp_acp.admin import wrap_records
from mcp_acp.admin.wrap import WrapError, apply_wrap, is_secret, plan_wrap
from mcp_acp.backends.child_env import secret_env_key
from mcp_acp.config import paths
from mcp_acp.config.store import load_proxy_config
from mcp_acp.policy.policy_file import load_policy

PYTHON = sys.executable
TOKEN = "ghp_0123456789abcdefghijklmnopqrstuvwxyzAB"


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MCP_ACP_HOME", str(tmp_path / "acp"))
    monkeypatch.setenv("MCP_ACP_SECRET_BACKEND", "file")
    return tmp_path / "acp"


def write(tmp_path: Path, servers: dict, key: str = "mcpServers", **other: object) -> Path:
    path = tmp_path / "client.json"
    path.write_text(json.dumps({**other, key: servers}, indent=2))
    return path


@pytest.mark.parametrize(
    ("name", "value", "secret"),
    [
        ("GITHUB_TOKEN", "x", True),
        ("OPENAI_API_KEY", "sk-abc", True),
        ("DB_PASSWORD", "hunter2", True),
        ("AWS_SECRET_ACCESS_KEY", "abc", True),
        ("GOOGLE_APPLICATION_CREDENTIALS", "/home/a/creds.json", True),
        ("DATABASE_URL", "postgres://app:s3cret@db/app", True),  # a password in the URL
        ("ANYTHING", "ghp_abcdefghijklmnopqrstuvwxyz0123", True),  # a token by its look
        ("ANYTHING", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl", True),
        ("ANYTHING", "a8F3kLm29XqPz7Rt4VnB6wYc1Hd5", True),  # long mixed letters and digits
        ("LOG_LEVEL", "debug", False),
        ("DATABASE_URL", "postgres://db/app", False),
        ("NOTES_DIR", "/home/a/notes/2024/projects/long-folder-name", False),
        ("TZ", "Europe/Paris", False),
    ],
)
def test_is_secret(name: str, value: str, secret: bool) -> None:
    assert is_secret(name, value) is secret


def test_plan_reads_each_entry_and_changes_nothing(tmp_path: Path, home: Path) -> None:
    path = write(
        tmp_path,
        {
            "files": {"command": PYTHON, "args": ["-m", "x", "/data"], "env": {"TOKEN": TOKEN, "MODE": "ro"}},
            "My Server!": {"command": PYTHON},
            "default": {"command": PYTHON},
            "remote": {"type": "http", "url": "https://example.com/mcp"},
            "sse": {"type": "sse", "url": "https://example.com/sse"},
            "authed": {"url": "https://example.com/mcp", "headers": {"Authorization": "Bearer x"}},
            "ours": {"command": "/x/mcp-acp", "args": ["start", "--proxy", "files-old"]},
            "ours-headless": {"command": "mcp-acp", "args": ["start", "--proxy", "p", "--headless"]},
            "ours-module": {"command": PYTHON, "args": ["-m", "mcp_acp", "start", "-p", "p"]},
            "ours-uvx": {"command": "uvx", "args": ["mcp-acp", "start", "--proxy", "p"]},
            "missing": {"command": "no-such-command-here"},
            "templated": {"command": PYTHON, "env": {"KEY": "${input:key}"}},
            "with-cwd": {"command": PYTHON, "cwd": "/tmp"},
            "off": {"command": PYTHON, "disabled": True},
            "bad-env": {"command": PYTHON, "env": {"A-B": "1"}},
            "junk": "not an object",
        },
    )
    before = path.read_bytes()
    plan = plan_wrap("claude-desktop", path)
    by_name = {item.entry: item for item in plan.items}
    files = by_name["files"]
    assert files.skip is None and files.proxy == "files"
    assert files.env == {"MODE": "ro"} and files.secrets == {"TOKEN": TOKEN}
    assert by_name["My Server!"].proxy == "My-Server"
    assert by_name["default"].proxy == "default-server"  # a reserved name
    assert by_name["remote"].skip is None and by_name["remote"].url == "https://example.com/mcp"
    skipped = {name: item.skip for name, item in by_name.items() if item.skip}
    assert set(skipped) == {
        "sse",
        "authed",
        "ours",
        "ours-headless",
        "ours-module",
        "ours-uvx",
        "missing",
        "templated",
        "with-cwd",
        "off",
        "bad-env",
        "junk",
    }
    for ours in ("ours", "ours-headless", "ours-module", "ours-uvx"):
        assert "mcp-acp" in (skipped[ours] or ""), ours
    assert "'headers'" in (skipped["authed"] or "")
    assert path.read_bytes() == before
    assert not home.exists()  # nothing at all was written


def test_names_are_unique_against_existing_proxies_and_each_other(tmp_path: Path) -> None:
    paths.proxy_config_dir("files").mkdir(parents=True)
    path = write(tmp_path, {"files": {"command": PYTHON}, "Files": {"command": PYTHON}, "files-2": {"command": PYTHON}})
    names = [item.proxy for item in plan_wrap("cursor", path).items]
    assert names == ["files-2", "Files-3", "files-2-2"]


def test_a_file_without_servers_is_refused(tmp_path: Path) -> None:
    with pytest.raises(WrapError, match="no servers"):
        plan_wrap("cursor", write(tmp_path, {}))
    with pytest.raises(WrapError, match="does not exist"):
        plan_wrap("cursor", tmp_path / "nope.json")
    broken = tmp_path / "broken.json"
    broken.write_text('{"mcpServers": {,}}')
    with pytest.raises(WrapError, match="not valid JSON"):
        plan_wrap("cursor", broken)


def test_apply_makes_proxies_policies_secrets_and_a_record(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {
            "time": {"command": PYTHON, "args": ["-m", "mcp_server_time"], "env": {"API_KEY": TOKEN}},
            "remote": {"url": "https://example.com/mcp"},
        },
        globalShortcut="",
    )
    original = path.read_bytes()
    result = apply_wrap(plan_wrap("claude-desktop", path), list_tools=False)
    assert [item.entry for item in result.wrapped] == ["time", "remote"] and not result.failed
    assert result.backup is not None and result.backup.read_bytes() == original
    config = load_proxy_config("time")
    assert config.backend.stdio is not None
    assert config.backend.stdio.secret_env == ["API_KEY"] and config.backend.stdio.env == {}
    assert TOKEN not in paths.proxy_config_path("time").read_text()
    assert secret_store.get(secret_env_key("time", "API_KEY")) == TOKEN
    assert {rule.id for rule in load_policy("time").rules} >= {"starter-read-any"}  # the time preset
    assert load_policy("remote").rules[0].id == "starter-ask"  # not listed: all ask
    assert load_proxy_config("remote").backend.transport == "streamablehttp"
    data = json.loads(path.read_text())
    assert data["globalShortcut"] == ""
    assert data["mcpServers"]["time"]["args"][-3:] == ["start", "--proxy", "time"]
    record = wrap_records.latest("claude-desktop", path)
    assert record.original == original and record.proxies == {"time": "time", "remote": "remote"}
    assert record.path.stat().st_mode & 0o777 == 0o600


def test_a_proxy_that_cannot_be_made_keeps_its_entry(tmp_path: Path) -> None:
    path = write(tmp_path, {"good": {"command": PYTHON}, "clash": {"command": PYTHON}})
    plan = plan_wrap("cursor", path)
    paths.proxy_config_dir("clash").mkdir(parents=True)  # taken after planning
    result = apply_wrap(plan, list_tools=False)
    assert [item.entry for item in result.wrapped] == ["good"]
    assert [item.entry for item in result.failed] == ["clash"] and "already exists" in (result.failed[0].error or "")
    data = json.loads(path.read_text())
    assert data["mcpServers"]["clash"] == {"command": PYTHON}


def test_a_file_changed_after_planning_is_left_alone_and_the_proxies_removed(tmp_path: Path) -> None:
    path = write(tmp_path, {"one": {"command": PYTHON, "env": {"SECRET": "x"}}})
    plan = plan_wrap("cursor", path)
    path.write_text(path.read_text() + "\n")
    changed = path.read_bytes()
    with pytest.raises(WrapError, match="changed while wrapping"):
        apply_wrap(plan, list_tools=False)
    assert path.read_bytes() == changed
    assert not paths.proxy_config_dir("one").exists()
    assert secret_store.get(secret_env_key("one", "SECRET")) is None
    assert not wrap_records.records_dir().exists() or not list(wrap_records.records_dir().iterdir())


def test_nothing_to_wrap_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, {"ours": {"command": "/x/mcp-acp", "args": ["start", "--proxy", "ours"]}})
    with pytest.raises(WrapError, match="nothing was changed"):
        apply_wrap(plan_wrap("cursor", path))
    shutil.rmtree(tmp_path / "acp", ignore_errors=True)


def test_claude_code_project_servers_are_named_not_wrapped(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        {"user": {"command": PYTHON}},
        projects={"/home/a/app": {"mcpServers": {"db": {"command": PYTHON}}}, "/home/a/other": {"mcpServers": {}}},
    )
    plan = plan_wrap("claude-code", path)
    assert [item.entry for item in plan.items] == ["user"]
    assert len(plan.notes) == 1 and "/home/a/app (db)" in plan.notes[0] and "other" not in plan.notes[0]
    assert plan_wrap("cursor", path).notes == []


def test_an_unusable_secret_store_fails_only_the_entries_with_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, {"plain": {"command": PYTHON}, "keyed": {"command": PYTHON, "env": {"API_KEY": "k"}}})
    plan = plan_wrap("cursor", path)
    monkeypatch.setenv("MCP_ACP_SECRET_BACKEND", "no-such-store")
    result = apply_wrap(plan, list_tools=False)
    assert [item.entry for item in result.wrapped] == ["plain"]
    assert [item.entry for item in result.failed] == ["keyed"] and "secret backend" in (result.failed[0].error or "")
    assert not paths.proxy_config_dir("keyed").exists()
    assert json.loads(path.read_text())["mcpServers"]["keyed"] == {"command": PYTHON, "env": {"API_KEY": "k"}}
