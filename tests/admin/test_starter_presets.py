"""The shipped presets: each is a valid policy, no tool sits in two lists, and for the servers
installed in tests/npm, every tool the real server registers is classified (so a preset never
silently denies a tool the server has) and the filesystem preset names no tool the server lacks."""

from __future__ import annotations

import re
from fnmatch import fnmatch
from pathlib import Path

import pytest

from mcp_acp.admin.starter_policy import from_preset
from mcp_acp.admin.starter_presets import PRESETS, Preset
from mcp_acp.policy.side_effects import operation_of

NPM = Path(__file__).resolve().parents[1] / "npm" / "node_modules" / "@modelcontextprotocol"


def classified(preset: Preset) -> list[str]:
    return [*preset.reads, *preset.anywhere, *preset.asks, *preset.denies]


def real_tools(package: str, pattern: str, under: str = "") -> set[str]:
    dist = NPM / package / "dist" / under
    if not dist.is_dir():
        pytest.skip(f"{dist} is missing: run `make npm-deps`")
    names: set[str] = set()
    for source in dist.rglob("*.js"):
        if "__tests__" not in source.parts:
            names.update(re.findall(pattern, source.read_text(encoding="utf-8")))
    return names


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.key)
def test_each_preset_is_a_valid_policy(preset: Preset) -> None:
    for args in ([], ["/home/a/proj"], ["--repository", "/home/a/repo"]):
        starter = from_preset(preset, preset.packages[0], args)
        assert starter.policy.rules, preset.key
        assert starter.policy.default_action == "deny"


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.key)
def test_no_tool_is_in_two_lists(preset: Preset) -> None:
    lists = [preset.reads, preset.anywhere, preset.asks, preset.denies]
    for i, first in enumerate(lists):
        for second in lists[i + 1 :]:
            clash = [a for a in first for b in second if fnmatch(a.lower(), b.lower()) or fnmatch(b.lower(), a.lower())]
            assert not clash, (preset.key, clash)


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.key)
def test_no_asked_or_allowed_tool_is_named_as_a_delete(preset: Preset) -> None:
    # an ask rule would outrank the deny of deletes (hitl is the strictest effect)
    for name in [*preset.reads, *preset.anywhere, *preset.asks]:
        assert operation_of(name.replace("*", "x")) != "delete", (preset.key, name)


def test_filesystem_preset_matches_the_real_server_exactly() -> None:
    real = real_tools("server-filesystem", r'registerTool\(\s*"([A-Za-z0-9_-]+)"')
    preset = next(p for p in PRESETS if p.key == "filesystem")
    assert len(real) >= 10
    assert set(classified(preset)) == real


def test_everything_preset_classifies_every_real_tool() -> None:
    real = real_tools("server-everything", r'\bname = "([A-Za-z0-9_-]+)"', under="tools")
    preset = next(p for p in PRESETS if p.key == "everything")
    assert "echo" in real and "get-env" in real
    assert real <= set(classified(preset)), real - set(classified(preset))
