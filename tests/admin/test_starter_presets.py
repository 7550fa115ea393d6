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


# The tools of the servers that are not installed here, as their published packages define them
# (read from mcp-server-time/-git 2026.10.19, mcp-server-fetch 2026.10.24, server-memory
# 2026.8.31, server-github 2025.4.8), and what each preset does with them.
PUBLISHED = {
    "time": {"get_current_time": "allow", "convert_time": "allow"},
    "fetch": {"fetch": "hitl"},
    "git": {
        **dict.fromkeys(
            ["git_status", "git_diff_unstaged", "git_diff_staged", "git_diff", "git_log", "git_show", "git_branch"],
            "allow",
        ),
        **dict.fromkeys(["git_commit", "git_add", "git_reset", "git_create_branch", "git_checkout"], "hitl"),
    },
    "memory": {
        **dict.fromkeys(["read_graph", "search_nodes", "open_nodes"], "allow"),
        **dict.fromkeys(["create_entities", "create_relations", "add_observations"], "hitl"),
        **dict.fromkeys(["delete_entities", "delete_observations", "delete_relations"], "deny"),
    },
    "github": {
        **dict.fromkeys(
            [
                "get_file_contents",
                "get_issue",
                "get_pull_request",
                "get_pull_request_comments",
                "get_pull_request_files",
                "get_pull_request_reviews",
                "get_pull_request_status",
                "list_commits",
                "list_issues",
                "list_pull_requests",
                "search_code",
                "search_issues",
                "search_repositories",
                "search_users",
            ],
            "allow",
        ),
        **dict.fromkeys(
            [
                "add_issue_comment",
                "create_branch",
                "create_issue",
                "create_or_update_file",
                "create_pull_request",
                "create_pull_request_review",
                "create_repository",
                "fork_repository",
                "merge_pull_request",
                "push_files",
                "update_issue",
                "update_pull_request_branch",
            ],
            "hitl",
        ),
    },
}


@pytest.mark.parametrize("key", sorted(PUBLISHED))
def test_published_tools_of_each_preset(key: str) -> None:
    from mcp_acp.identity.local import Identity
    from mcp_acp.policy.context import build_context
    from mcp_acp.policy.engine import PolicyEngine
    from mcp_acp.policy.protected import ProtectedPaths

    preset = next(p for p in PRESETS if p.key == key)
    args = ["--repository", "/home/a/repo"] if key == "git" else []
    engine = PolicyEngine(from_preset(preset, preset.packages[0], args).policy, ProtectedPaths(()))
    for tool, expected in PUBLISHED[key].items():
        arguments = {"repo_path": "/home/a/repo"} if key == "git" else {}
        message = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": arguments}}
        context = build_context(message, Identity("alice", "local", {}), "srv", roots=("/home/a/repo",))
        assert engine.evaluate(context).effect == expected, (key, tool)
