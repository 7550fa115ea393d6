"""backends/child_env.py: what a STDIO backend's environment is made of (file secret store)."""

from __future__ import annotations

import pytest

from mcp_acp import secret_store
from mcp_acp.backends import child_env
from mcp_acp.backends.child_env import base_environment, child_environment, secret_env_key
from mcp_acp.config.models import StdioBackend
from mcp_acp.config.store import ConfigError

CLIENT = {
    "PATH": "/usr/bin:/bin",
    "HOME": "/home/u",
    "USER": "u",
    "LANG": "en_GB.UTF-8",
    "LC_ALL": "C.UTF-8",
    "LC_TIME": "de_DE.UTF-8",
    "TZ": "UTC",
    "AWS_SECRET_ACCESS_KEY": "aws",
    "GITHUB_TOKEN": "ghp",
    "OPENAI_API_KEY": "sk",
    "SSH_AUTH_SOCK": "/tmp/agent",
    "MCP_ACP_HOME": "/x",
    "LD_PRELOAD": "/evil.so",
    "PYTHONPATH": "/p",
    "NODE_OPTIONS": "--require /evil.js",
    "LCX": "not a locale",
}


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("MCP_ACP_HOME", str(tmp_path / "acp-home"))
    monkeypatch.setenv("MCP_ACP_SECRET_BACKEND", "file")
    return tmp_path


def test_the_base_keeps_only_what_a_program_needs_to_run():
    assert base_environment(CLIENT) == {
        "PATH": "/usr/bin:/bin",
        "HOME": "/home/u",
        "USER": "u",
        "LANG": "en_GB.UTF-8",
        "LC_ALL": "C.UTF-8",
        "LC_TIME": "de_DE.UTF-8",
        "TZ": "UTC",
    }


def test_the_base_reads_the_proxys_own_environment_by_default(monkeypatch):
    monkeypatch.setenv("CHILD_ENV_MARKER", "x")
    monkeypatch.setenv("PATH", "/only/this")
    base = base_environment()
    assert base["PATH"] == "/only/this" and "CHILD_ENV_MARKER" not in base


def test_configured_values_are_added_and_may_replace_base_ones(home, monkeypatch):
    monkeypatch.setenv("PATH", "/usr/bin")
    monkeypatch.setenv("GITHUB_TOKEN", "from-the-client")
    stdio = StdioBackend(command="x", env={"PATH": "/opt/bin", "DATABASE_URL": "db"})
    environment = child_environment("fx", stdio)
    assert environment["PATH"] == "/opt/bin" and environment["DATABASE_URL"] == "db"
    assert "GITHUB_TOKEN" not in environment


def test_secret_values_come_from_the_store_under_the_proxys_name(home, monkeypatch):
    monkeypatch.setenv("GITHUB_TOKEN", "from-the-client")
    secret_store.put(secret_env_key("fx", "GITHUB_TOKEN"), "from-the-store")
    secret_store.put(secret_env_key("other", "GITHUB_TOKEN"), "another-proxys")
    stdio = StdioBackend(command="x", secret_env=["GITHUB_TOKEN"])
    assert child_environment("fx", stdio)["GITHUB_TOKEN"] == "from-the-store"
    assert secret_env_key("fx", "GITHUB_TOKEN") == "proxy:fx:env:GITHUB_TOKEN"


def test_a_missing_secret_stops_the_start_naming_the_fix(home):
    stdio = StdioBackend(command="x", secret_env=["GITHUB_TOKEN"])
    with pytest.raises(ConfigError, match=r"mcp-acp proxy env fx --secret-env GITHUB_TOKEN"):
        child_environment("fx", stdio)


def test_a_name_cannot_be_both_plain_and_secret():
    with pytest.raises(ValueError, match="in both 'env' and 'secret_env'"):
        StdioBackend(command="x", env={"A": "1"}, secret_env=["A"])


def test_no_service_credential_is_a_base_variable():
    for name in ("AWS_SECRET_ACCESS_KEY", "GITHUB_TOKEN", "SSH_AUTH_SOCK", "LD_PRELOAD", "NODE_OPTIONS"):
        assert name not in child_env.BASE_VARIABLES
