"""Paths the manager forwards to a proxy (manager/routing.py): which are safe, which are refused,
and that no safe path ever leaves the API tree."""

from __future__ import annotations

import posixpath

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcp_acp.manager.routing import _safe_path

# --------------------------------------------------------------------------- forwarded paths


@pytest.mark.parametrize(
    "path",
    [
        "stats",
        "control/status",
        "logs/decisions",
        "approvals/pending/0123abcd/approve",
        "policy/rules/rule-1",
        "logs/..x",
        "a...b",
        "incidents/shutdowns",
    ],
)
def test_safe_paths(path):
    assert _safe_path(path)


@pytest.mark.parametrize(
    "path",
    [
        "",
        "/",
        "/stats",
        "stats/",
        "a//b",
        ".",
        "..",
        "../x",
        "x/..",
        "a/../b",
        "a/./b",
        "./a",
        "..\\config",
        "a\\b",
        "logs/decisions\x00",
        "\x00",
        "a" * 2049,
    ],
)
def test_unsafe_paths(path):
    assert not _safe_path(path)


@given(st.text(alphabet=st.sampled_from(["a", ".", "/", "\\", "\x00", "%", "2", "e", "f"]), max_size=40))
def test_a_safe_path_never_leaves_the_api_tree(path):
    if _safe_path(path):
        target = "/api/" + path
        assert posixpath.normpath(target) == target
        assert "\\" not in path and "\x00" not in path
