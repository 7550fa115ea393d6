"""admin/backend_env.py in-process, on real files under a private MCP_ACP_HOME (file secret store)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mcp_acp import secret_store
from mcp_acp.admin import backend_env, deletion
from mcp_acp.admin.backend_env import BackendEnvError
from mcp_acp.backends.child_env import child_environment, secret_env_key
from mcp_acp.config import paths
from mcp_acp.config.store import ConfigError, load_proxy_config

SECRET = "s3cr3t-value-for-the-unit-test"


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "acp-home"
    monkeypatch.setenv("MCP_ACP_HOME", str(home))
    monkeypatch.setenv("MCP_ACP_SECRET_BACKEND", "file")
    return home


def make_proxy(name: str = "fx", *, stdio: bool = True, extra: dict | None = None) -> Path:
    backend: dict = {"server_name": "fixture", "transport": "stdio" if stdio else "streamablehttp"}
    if stdio:
        backend["stdio"] = {"command": "/bin/true", "args": ["a"]}
    else:
        backend["http"] = {"url": "http://127.0.0.1:9/mcp"}
    config = {"proxy_id": "px_0123abcd:fixture", "backend": backend, "roots": ["/srv"], **(extra or {})}
    folder = paths.proxy_config_dir(name)
    folder.mkdir(parents=True, mode=0o700)
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "policy.json").write_text("{}")
    return folder / "config.json"


def raw(path: Path) -> dict:
    return json.loads(path.read_text())


def test_set_env_writes_config_and_keeps_the_rest(home):
    path = make_proxy()
    backend_env.set_env("fx", "DATABASE_URL", "postgres://localhost/db")
    backend_env.set_env("fx", "EMPTY", "")
    backend_env.set_env("fx", "WITH_EQUALS", "a=b=c")
    data = raw(path)
    assert data["backend"]["stdio"]["env"] == {
        "DATABASE_URL": "postgres://localhost/db",
        "EMPTY": "",
        "WITH_EQUALS": "a=b=c",
    }
    assert data["roots"] == ["/srv"] and data["backend"]["stdio"]["args"] == ["a"]
    assert data["proxy_id"] == "px_0123abcd:fixture"
    assert "secret_env" not in data["backend"]["stdio"]  # no empty block written
    assert path.stat().st_mode & 0o777 == 0o600


def test_set_secret_env_stores_the_value_and_only_the_name_in_config(home):
    path = make_proxy()
    backend_env.set_secret_env("fx", "GITHUB_TOKEN", SECRET)
    assert raw(path)["backend"]["stdio"]["secret_env"] == ["GITHUB_TOKEN"]
    assert SECRET not in path.read_text()
    assert secret_store.get(secret_env_key("fx", "GITHUB_TOKEN")) == SECRET
    secret_file = paths.secret_store_path()
    assert secret_file.exists() and SECRET.encode() not in secret_file.read_bytes()  # encrypted
    # Setting it again replaces the value, and the name is listed once.
    backend_env.set_secret_env("fx", "GITHUB_TOKEN", "another")
    assert raw(path)["backend"]["stdio"]["secret_env"] == ["GITHUB_TOKEN"]
    assert secret_store.get(secret_env_key("fx", "GITHUB_TOKEN")) == "another"


def test_the_child_gets_base_configured_and_secret_values(home, monkeypatch):
    make_proxy()
    backend_env.set_env("fx", "PLAIN", "p")
    backend_env.set_secret_env("fx", "TOKEN", SECRET)
    monkeypatch.setenv("CLIENT_ONLY_MARKER", "leak")
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    environment = child_environment("fx", load_proxy_config("fx").backend.stdio)  # pyright: ignore[reportArgumentType]
    assert environment["PLAIN"] == "p" and environment["TOKEN"] == SECRET
    assert environment["LC_ALL"] == "C.UTF-8"
    assert "CLIENT_ONLY_MARKER" not in environment


def test_a_plain_value_becomes_secret_but_never_the_other_way(home):
    path = make_proxy()
    backend_env.set_env("fx", "TOKEN", "was-plain")
    backend_env.set_secret_env("fx", "TOKEN", SECRET)
    stdio = raw(path)["backend"]["stdio"]
    assert "env" not in stdio and stdio["secret_env"] == ["TOKEN"]
    with pytest.raises(BackendEnvError, match=r"--unset TOKEN"):
        backend_env.set_env("fx", "TOKEN", "plain again")
    assert raw(path)["backend"]["stdio"]["secret_env"] == ["TOKEN"]


def test_unset_removes_plain_and_secret_values(home):
    path = make_proxy()
    backend_env.set_env("fx", "PLAIN", "p")
    backend_env.set_secret_env("fx", "TOKEN", SECRET)
    assert backend_env.unset_env("fx", "PLAIN") == "env"
    assert backend_env.unset_env("fx", "TOKEN") == "secret_env"
    assert secret_store.get(secret_env_key("fx", "TOKEN")) is None
    stdio = raw(path)["backend"]["stdio"]
    assert "env" not in stdio and "secret_env" not in stdio
    with pytest.raises(BackendEnvError, match=r"sets no environment variable NOPE .*--list"):
        backend_env.unset_env("fx", "NOPE")


def test_list_env_never_returns_a_secret_value(home):
    make_proxy()
    backend_env.set_env("fx", "PLAIN", "p")
    backend_env.set_secret_env("fx", "TOKEN", SECRET)
    # A name whose value went missing from the store shows as not stored.
    data = raw(paths.proxy_config_path("fx"))
    data["backend"]["stdio"]["secret_env"].append("LOST")
    paths.proxy_config_path("fx").write_text(json.dumps(data))
    listing = backend_env.list_env("fx")
    assert listing.env == {"PLAIN": "p"}
    assert listing.secret_env == {"TOKEN": True, "LOST": False}
    assert SECRET not in repr(listing)


@pytest.mark.parametrize("name", ["1ABC", "A-B", "A B", "", "É", "A=B", "X" * 201])
def test_invalid_names_are_refused_and_nothing_changes(home, name):
    path = make_proxy()
    before = path.read_bytes()
    for action in (
        lambda: backend_env.set_env("fx", name, "v"),
        lambda: backend_env.set_secret_env("fx", name, "v"),
        lambda: backend_env.unset_env("fx", name),
    ):
        with pytest.raises(BackendEnvError, match="not a valid environment variable name"):
            action()
    assert path.read_bytes() == before
    assert not paths.secret_store_path().exists()


def test_values_no_environment_can_hold_are_refused(home):
    make_proxy()
    with pytest.raises(BackendEnvError, match="NUL"):
        backend_env.set_env("fx", "A", "x\0y")
    with pytest.raises(BackendEnvError, match="empty; nothing was stored"):
        backend_env.set_secret_env("fx", "A", "")


def test_an_http_only_proxy_has_no_environment_to_set(home):
    path = make_proxy(stdio=False)
    before = path.read_bytes()
    for action in (
        lambda: backend_env.set_env("fx", "A", "v"),
        lambda: backend_env.set_secret_env("fx", "A", SECRET),
    ):
        with pytest.raises(BackendEnvError, match=r"no STDIO backend.*proxy auth fx"):
            action()
    assert path.read_bytes() == before
    assert not paths.secret_store_path().exists()  # the secret was refused before it was stored
    assert backend_env.list_env("fx").env == {}


def test_an_unknown_proxy_is_named(home):
    with pytest.raises(ConfigError, match="no proxy named 'ghost'"):
        backend_env.set_secret_env("ghost", "A", SECRET)


def test_a_config_that_fails_validation_keeps_no_stray_secret(home):
    # A broken config.json is refused before the value is stored.
    path = make_proxy()
    data = raw(path)
    data["backend"]["stdio"]["args"] = "not-a-list"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError):
        backend_env.set_secret_env("fx", "TOKEN", SECRET)
    assert secret_store.get(secret_env_key("fx", "TOKEN")) is None


def test_parse_assignment():
    assert backend_env.parse_assignment("A=b=c") == ("A", "b=c")
    assert backend_env.parse_assignment("A=") == ("A", "")
    with pytest.raises(BackendEnvError, match=r"not KEY=VALUE: write it as --env TOKEN=VALUE"):
        backend_env.parse_assignment("TOKEN")
    with pytest.raises(BackendEnvError, match="not a valid environment variable name"):
        backend_env.parse_assignment("9X=1")


@pytest.mark.parametrize("purge", [False, True])
def test_deleting_the_proxy_deletes_its_secret_values(home, purge):
    make_proxy()
    make_proxy("other")
    backend_env.set_secret_env("fx", "TOKEN", SECRET)
    backend_env.set_secret_env("other", "TOKEN", "kept")
    result = deletion.delete_proxy("fx", purge=purge, log_dir=home / "logs")
    assert deletion.SECRET_ENV_LABEL in result.deleted
    assert secret_store.get(secret_env_key("fx", "TOKEN")) is None
    assert secret_store.get(secret_env_key("other", "TOKEN")) == "kept"  # another proxy's stays
    if not purge:
        archived = paths.archive_dir() / str(result.archive_name)
        for file in archived.rglob("*"):
            assert not file.is_file() or SECRET.encode() not in file.read_bytes()
