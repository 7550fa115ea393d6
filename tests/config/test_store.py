"""Reading and writing config files (config/store.py): atomic private writes by save_model, and
load errors that name the file, the line or field and the fix; the named loaders for the
manager config, a proxy's config and its policy."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from mcp_acp.config import paths, store
from mcp_acp.config.models import (
    BackendConfig,
    ManagerConfig,
    ProxyConfig,
    StdioBackend,
    new_proxy_id,
)
from mcp_acp.config.store import ConfigError, load_model, save_model
from mcp_acp.policy.model import Policy
from mcp_acp.policy.policy_file import load_policy


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# --- save_model ----------------------------------------------------------------------------


def test_save_model_writes_private_file_and_folder(tmp_path: Path) -> None:
    target = tmp_path / "new" / "nested" / "manager.json"
    save_model(target, ManagerConfig(log_dir="/var/log/x"))
    assert mode_of(target) == 0o600
    assert mode_of(target.parent) == 0o700
    data = json.loads(target.read_text())
    assert data["log_dir"] == "/var/log/x"
    assert data["auth"] == {"mode": "local"}  # exclude_none drops "oidc": null
    assert target.read_text().endswith("\n")
    assert sorted(p.name for p in target.parent.iterdir()) == ["manager.json"]


def test_save_model_tightens_existing_file_and_folder(tmp_path: Path) -> None:
    folder = tmp_path / "loose"
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)
    target = folder / "policy.json"
    target.write_text("old")
    os.chmod(target, 0o644)
    save_model(target, Policy())
    assert mode_of(target) == 0o600
    assert mode_of(folder) == 0o700
    assert json.loads(target.read_text()) == {"version": "1", "default_action": "deny", "rules": []}
    assert sorted(p.name for p in folder.iterdir()) == ["policy.json"]


def test_save_model_round_trips_through_load_model(tmp_path: Path) -> None:
    target = tmp_path / "cfg" / "config.json"
    original = ProxyConfig(
        proxy_id=new_proxy_id("fs"),
        backend=BackendConfig(server_name="fs", stdio=StdioBackend(command="/bin/echo", args=["a", "b c"])),
    )
    save_model(target, original)
    assert load_model(target, ProxyConfig, "fix") == original


def test_save_model_failure_keeps_old_file_and_leaves_no_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "cfg" / "manager.json"
    save_model(target, ManagerConfig(log_dir="/first"))
    before = target.read_bytes()

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(store.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        save_model(target, ManagerConfig(log_dir="/second"))
    assert target.read_bytes() == before
    assert sorted(p.name for p in target.parent.iterdir()) == ["manager.json"]


def test_many_saves_leave_no_temp_files(tmp_path: Path) -> None:
    target = tmp_path / "cfg" / "manager.json"
    for port in range(8000, 8010):
        save_model(target, ManagerConfig(ui_port=port))
    assert sorted(p.name for p in target.parent.iterdir()) == ["manager.json"]
    assert json.loads(target.read_text())["ui_port"] == 8009


# --- load_model errors -----------------------------------------------------------------------


FIX = "Run 'mcp-acp init' to create it."


def write(path: Path, text: str | bytes) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode() if isinstance(text, str) else text
    path.write_bytes(data)
    return data


def load_error(path: Path, model: type, fix: str = FIX) -> str:
    before = path.read_bytes() if path.is_file() else None
    with pytest.raises(ConfigError) as info:
        load_model(path, model, fix)
    after = path.read_bytes() if path.is_file() else None
    assert after == before, "a failed load modified the file"
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message
    return message


def good_proxy_config() -> dict:
    return {"proxy_id": "px_0123abcd:fs", "backend": {"server_name": "fs", "stdio": {"command": "echo"}}}


def test_missing_file_names_file_and_fix(tmp_path: Path) -> None:
    path = tmp_path / "manager.json"
    message = load_error(path, ManagerConfig)
    assert "does not exist" in message
    assert FIX in message
    assert not path.exists()


@pytest.mark.parametrize(
    ("text", "line", "column"),
    [
        ('{\n  "ui_port": 8765,\n  "log_dir": \n}\n', 4, 1),
        ('{"ui_port": 8765,}', 1, 18),
        ("", 1, 1),
        ("{'ui_port': 1}", 1, 2),
    ],
)
def test_invalid_json_names_line_and_column(tmp_path: Path, text: str, line: int, column: int) -> None:
    path = tmp_path / "manager.json"
    write(path, text)
    message = load_error(path, ManagerConfig)
    assert "not valid JSON" in message
    assert f"line {line}, column {column}" in message
    assert "Fix the file by hand" in message
    assert "run 'mcp-acp init' to create it." in message


def test_unknown_field_is_reported_as_a_typo(tmp_path: Path) -> None:
    path = tmp_path / "manager.json"
    write(path, json.dumps({"ui_prot": 9000}))
    message = load_error(path, ManagerConfig)
    assert "field 'ui_prot'" in message
    assert "unknown field (check the spelling)" in message
    assert "Edit the file to fix it." in message


def test_nested_unknown_field_names_full_path(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    data = good_proxy_config()
    data["backend"]["stdio"]["argz"] = ["x"]
    write(path, json.dumps(data))
    message = load_error(path, ProxyConfig)
    assert "field 'backend.stdio.argz'" in message
    assert "unknown field" in message


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"ui_port": "eighty"}, "ui_port"),
        ({"log_dir": 12}, "log_dir"),
        ({"auth": "local"}, "auth"),
        ({"auth": {"mode": "ldap"}}, "auth.mode"),
    ],
)
def test_wrong_type_names_the_field(tmp_path: Path, change: dict, field: str) -> None:
    path = tmp_path / "manager.json"
    write(path, json.dumps(change))
    message = load_error(path, ManagerConfig)
    assert f"field '{field}'" in message
    assert "Edit the file to fix it." in message


def test_wrong_type_in_proxy_config(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    data = good_proxy_config()
    data["hitl"] = {"timeout_seconds": "soon"}
    write(path, json.dumps(data))
    message = load_error(path, ProxyConfig)
    assert "field 'hitl.timeout_seconds'" in message
    assert "integer" in message


def test_top_level_not_an_object(tmp_path: Path) -> None:
    path = tmp_path / "manager.json"
    write(path, "[1, 2]")
    message = load_error(path, ManagerConfig)
    assert "(top level)" in message


def test_oidc_issuer_must_be_https(tmp_path: Path) -> None:
    path = tmp_path / "manager.json"
    write(
        path,
        json.dumps(
            {"auth": {"mode": "oidc", "oidc": {"issuer": "http://idp.example.com", "client_id": "c", "audience": "a"}}}
        ),
    )
    message = load_error(path, ManagerConfig)
    assert "field 'auth.oidc.issuer'" in message
    assert "https://" in message


def test_oidc_mode_needs_oidc_block(tmp_path: Path) -> None:
    path = tmp_path / "manager.json"
    write(path, json.dumps({"auth": {"mode": "oidc"}}))
    message = load_error(path, ManagerConfig)
    assert "field 'auth'" in message
    assert "'oidc' block" in message
    assert "issuer, client_id and audience" in message


def test_valid_oidc_block_loads_and_issuer_slash_is_stripped(tmp_path: Path) -> None:
    path = tmp_path / "manager.json"
    write(
        path,
        json.dumps(
            {
                "auth": {
                    "mode": "oidc",
                    "oidc": {"issuer": "https://idp.example.com/", "client_id": "c", "audience": "a"},
                }
            }
        ),
    )
    config = load_model(path, ManagerConfig, FIX)
    assert config.auth.oidc.issuer == "https://idp.example.com"


def test_backend_without_stdio_or_http(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    write(path, json.dumps({"proxy_id": "px_0123abcd:fs", "backend": {"server_name": "fs"}}))
    message = load_error(path, ProxyConfig)
    assert "field 'backend'" in message
    assert "'stdio'" in message and "'http'" in message


@pytest.mark.parametrize("port", [0, 80, 1023, 65536, 100000, -1])
def test_ui_port_out_of_range(tmp_path: Path, port: int) -> None:
    path = tmp_path / "manager.json"
    write(path, json.dumps({"ui_port": port}))
    message = load_error(path, ManagerConfig)
    assert "field 'ui_port'" in message
    assert ("1024" in message) or ("65535" in message)


@pytest.mark.parametrize("port", [1024, 8765, 65535])
def test_ui_port_in_range(tmp_path: Path, port: int) -> None:
    path = tmp_path / "manager.json"
    write(path, json.dumps({"ui_port": port}))
    assert load_model(path, ManagerConfig, FIX).ui_port == port


def test_several_problems_are_all_reported(tmp_path: Path) -> None:
    path = tmp_path / "manager.json"
    write(path, json.dumps({"ui_port": 1, "colour": "red"}))
    message = load_error(path, ManagerConfig)
    assert "field 'ui_port'" in message and "field 'colour'" in message


def test_unreadable_path_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "manager.json"
    path.mkdir()
    message = load_error(path, ManagerConfig)
    assert "cannot read" in message


def test_non_utf8_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "manager.json"
    write(path, b'{"log_dir": "/tmp/caf\xe9"}')
    message = load_error(path, ManagerConfig)
    assert "UTF-8" in message or "utf-8" in message


def test_failed_loads_never_modify_the_file(tmp_path: Path) -> None:
    """Every failing shape, loaded twice: bytes and mtime stay the same, no sibling files appear."""
    cases = ['{"ui_port": ', '{"ui_prot": 1}', '{"ui_port": "x"}', '{"auth": {"mode": "oidc"}}', "\ufeff{}"]
    for index, text in enumerate(cases):
        folder = tmp_path / f"case{index}"
        path = folder / "manager.json"
        data = write(path, text)
        os.chmod(path, 0o644)
        stamp = path.stat().st_mtime_ns
        for _ in range(2):
            with pytest.raises(ConfigError):
                load_model(path, ManagerConfig, FIX)
        assert path.read_bytes() == data
        assert path.stat().st_mtime_ns == stamp
        assert mode_of(path) == 0o644
        assert [p.name for p in folder.iterdir()] == ["manager.json"]


# --- the named loaders -------------------------------------------------------------------------


def test_load_manager_config_missing_says_run_init(home: Path) -> None:
    with pytest.raises(ConfigError) as info:
        store.load_manager_config()
    assert str(paths.manager_config_path()) in str(info.value)
    assert "mcp-acp init" in str(info.value)


def test_load_proxy_config_unknown_name_lists_configured(home: Path) -> None:
    save_model(paths.proxy_config_path("alpha"), ProxyConfig.model_validate(good_proxy_config()))
    save_model(paths.proxy_config_path("beta"), ProxyConfig.model_validate(good_proxy_config()))
    with pytest.raises(ConfigError) as info:
        store.load_proxy_config("gamma")
    message = str(info.value)
    assert "no proxy named 'gamma'" in message
    assert "alpha, beta" in message
    assert "mcp-acp proxy add gamma" in message
    assert store.list_proxy_names() == ["alpha", "beta"]


def test_load_proxy_config_rejects_bad_name_before_touching_disk(home: Path) -> None:
    with pytest.raises(ConfigError, match="invalid proxy name"):
        store.load_proxy_config("../../etc")
    assert not home.exists()


def test_load_proxy_config_broken_file_names_it_and_the_fix(home: Path) -> None:
    path = paths.proxy_config_path("files")
    data = write(path, '{"proxy_id": "px_0123abcd:fs",')
    with pytest.raises(ConfigError) as info:
        store.load_proxy_config("files")
    assert str(path) in str(info.value)
    assert "mcp-acp proxy add files" in str(info.value)
    assert path.read_bytes() == data


def test_load_policy_empty_object_is_deny_all(home: Path) -> None:
    write(paths.proxy_policy_path("files"), "{}")
    policy = load_policy("files")
    assert policy.default_action == "deny" and policy.rules == []


def test_load_policy_missing_says_how_to_recreate(home: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_policy("files")
    assert str(paths.proxy_policy_path("files")) in str(info.value)
    assert "{}" in str(info.value)


def test_list_proxy_names_ignores_folders_without_config(home: Path) -> None:
    assert store.list_proxy_names() == []
    paths.proxy_config_dir("empty").mkdir(parents=True)
    save_model(paths.proxy_config_path("real"), ProxyConfig.model_validate(good_proxy_config()))
    assert store.list_proxy_names() == ["real"]
