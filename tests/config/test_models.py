"""The config models' names and ids (config/models.py): which proxy names are valid or reserved,
how a server name becomes a slug, and the shape and uniqueness of generated proxy ids."""

from __future__ import annotations

import re

import pytest

from mcp_acp.config import store
from mcp_acp.config.models import (
    RESERVED_PROXY_NAMES,
    BackendConfig,
    ProxyConfig,
    StdioBackend,
    new_proxy_id,
    proxy_name_problem,
    sanitize_server_name,
)
from mcp_acp.config.store import ConfigError

PROXY_ID = re.compile(r"px_[0-9a-f]{8}:[a-z0-9-]+")


# --- proxy names ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["a", "files", "Files-2", "my_proxy", "0abc", "a-b_c-D", "x" * 64, "managers", "all-files", "default_1"]
)
def test_valid_proxy_names(name: str) -> None:
    assert proxy_name_problem(name) is None


@pytest.mark.parametrize("name", ["x" * 65, "y" * 200])
def test_too_long_proxy_name_is_rejected(name: str) -> None:
    problem = proxy_name_problem(name)
    assert problem is not None
    assert "1-64" in problem


@pytest.mark.parametrize("name", ["_files", ".files", "-files", "_", ".", ".."])
def test_proxy_name_must_start_with_letter_or_digit(name: str) -> None:
    problem = proxy_name_problem(name)
    assert problem is not None
    assert "starting with a letter or digit" in problem


@pytest.mark.parametrize(
    "name", ["", "my files", "a/b", "../etc", "a.b", "a:b", "caf\u00e9", "a\\b", "a*", "name\tx", " lead"]
)
def test_proxy_name_with_bad_characters_is_rejected(name: str) -> None:
    problem = proxy_name_problem(name)
    assert problem is not None
    assert "invalid proxy name" in problem


def test_proxy_name_with_trailing_newline_is_rejected() -> None:
    assert proxy_name_problem("files\n") is not None


@pytest.mark.parametrize(
    "name", ["manager", "Manager", "MANAGER", "all", "All", "ALL", "default", "Default", "DeFaUlT"]
)
def test_reserved_proxy_names_are_rejected_in_any_case(name: str) -> None:
    problem = proxy_name_problem(name)
    assert problem is not None
    assert "reserved" in problem
    assert name.lower() in RESERVED_PROXY_NAMES


def test_require_proxy_name_raises_config_error() -> None:
    with pytest.raises(ConfigError, match="reserved"):
        store.require_proxy_name("all")
    with pytest.raises(ConfigError, match="invalid proxy name"):
        store.require_proxy_name("../x")
    store.require_proxy_name("fine")


# --- server names and proxy ids ----------------------------------------------------------


@pytest.mark.parametrize(
    ("server_name", "slug"),
    [
        ("filesystem", "filesystem"),
        ("My Files", "my-files"),
        ("GitHub", "github"),
        ("GitHub  MCP   Server", "github-mcp-server"),
        ("a/b:c@d!", "abcd"),
        ("web-search", "web-search"),
        ("--edge--", "edge"),
        (" padded ", "padded"),
        ("v2.0 beta", "v20-beta"),
        ("under_score", "underscore"),
        ("", "backend"),
        ("!!!", "backend"),
        ("   ", "backend"),
        ("---", "backend"),
    ],
)
def test_sanitize_server_name(server_name: str, slug: str) -> None:
    assert sanitize_server_name(server_name) == slug


@pytest.mark.parametrize("server_name", ["filesystem", "My Files", "A/B:C", "", "\u00fcber tool", "x" * 100])
def test_new_proxy_id_format(server_name: str) -> None:
    proxy_id = new_proxy_id(server_name)
    assert PROXY_ID.fullmatch(proxy_id), proxy_id
    assert proxy_id.split(":", 1)[1] == sanitize_server_name(server_name)


def test_new_proxy_id_examples_and_uniqueness() -> None:
    assert new_proxy_id("My Files").endswith(":my-files")
    assert new_proxy_id("").endswith(":backend")
    ids = {new_proxy_id("same") for _ in range(50)}
    assert len(ids) == 50


def test_new_proxy_id_is_accepted_by_proxy_config() -> None:
    config = ProxyConfig(
        proxy_id=new_proxy_id("Some Server!"),
        backend=BackendConfig(server_name="x", stdio=StdioBackend(command="echo")),
    )
    assert PROXY_ID.fullmatch(config.proxy_id)
