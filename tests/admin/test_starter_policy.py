"""Starter policies, judged by the real policy engine: what a recognized server's preset allows,
asks and denies, and what an unknown server's own tools/list earns (readOnlyHint, checked
against the tool's name)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcp_acp.admin.backend_tools import BackendTool
from mcp_acp.admin.starter_policy import from_preset, from_tools, recognize, trusted_read_only
from mcp_acp.identity.local import Identity
from mcp_acp.policy.context import build_context
from mcp_acp.policy.engine import PolicyEngine
from mcp_acp.policy.model import Policy
from mcp_acp.policy.protected import ProtectedPaths
from mcp_acp.policy.roots import roots_from_command


def decide(policy: Policy, method: str, params: dict, roots: tuple[str, ...] = ()) -> tuple[str, str]:
    engine = PolicyEngine(policy, ProtectedPaths(()))
    message = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    decision = engine.evaluate(build_context(message, Identity("alice", "local", {}), "srv", roots=roots))
    return decision.effect, decision.final_rule


def call(policy: Policy, tool: str, roots: tuple[str, ...] = (), **arguments: object) -> tuple[str, str]:
    return decide(policy, "tools/call", {"name": tool, "arguments": arguments}, roots)


# --------------------------------------------------------------------------- recognizing


@pytest.mark.parametrize(
    ("command", "args", "key"),
    [
        ("npx", ["-y", "@modelcontextprotocol/server-filesystem", "/home/a/src"], "filesystem"),
        ("npx", ["-y", "@modelcontextprotocol/server-filesystem@2025.8.21", "/x"], "filesystem"),
        ("/p/node_modules/.bin/mcp-server-filesystem", ["/x"], "filesystem"),
        ("node", ["/p/node_modules/@modelcontextprotocol/server-everything/dist/index.js"], "everything"),
        ("uvx", ["mcp-server-time", "--local-timezone=Europe/Paris"], "time"),
        ("uvx", ["mcp-server-git==2025.1.14", "--repository", "/r"], "git"),
        ("python", ["-m", "mcp_server_git", "--repository", "/r"], "git"),
        ("uvx", ["mcp-server-fetch"], "fetch"),
        ("npx", ["-y", "@modelcontextprotocol/server-memory"], "memory"),
        ("npx", ["-y", "@modelcontextprotocol/server-github"], "github"),
        ("docker", ["run", "-i", "--rm", "ghcr.io/github/github-mcp-server"], "github"),
        ("uvx", ["mcp-shell-server"], "shell"),
        ("/usr/local/bin/mcp-server-time", [], "time"),
    ],
)
def test_recognizes_well_known_servers(command: str, args: list[str], key: str) -> None:
    preset = recognize(command, args)
    assert preset is not None and preset.key == key


@pytest.mark.parametrize(
    ("command", "args"),
    [
        ("node", ["/home/a/my-server/index.js"]),
        ("uvx", ["mcp-server-timekeeper"]),  # a name that only starts like a known one
        ("npx", ["-y", "@acme/server-filesystem-plus"]),
        ("python", ["server.py"]),
    ],
)
def test_other_servers_are_unknown(command: str, args: list[str]) -> None:
    assert recognize(command, args) is None


def test_the_package_decides_not_a_folder_named_like_another_server() -> None:
    preset = recognize("npx", ["-y", "@modelcontextprotocol/server-filesystem", "/home/a/mcp-server-git"])
    assert preset is not None and preset.key == "filesystem"


# --------------------------------------------------------------------------- presets


def test_filesystem_reads_in_its_folders_writes_ask_elsewhere_denied(tmp_path: Path) -> None:
    root = str(tmp_path / "proj")
    args = ["-y", "@modelcontextprotocol/server-filesystem", root]
    preset = recognize("npx", args)
    assert preset is not None
    starter = from_preset(preset, "npx", args)
    roots = tuple(roots_from_command("npx", args))
    policy = starter.policy
    assert call(policy, "read_text_file", roots, path=f"{root}/a.md") == ("allow", "starter-read")
    assert call(policy, "read_multiple_files", roots, paths=[f"{root}/a", f"{root}/b"])[0] == "allow"
    assert call(policy, "read_multiple_files", roots, paths=[f"{root}/a", "/etc/passwd"])[0] == "deny"
    assert call(policy, "read_text_file", roots, path="/etc/passwd") == ("deny", "default")
    assert call(policy, "list_allowed_directories", roots) == ("allow", "starter-read-any")
    assert call(policy, "write_file", roots, path=f"{root}/a.md", content="x") == ("hitl", "starter-ask")
    assert call(policy, "write_file", roots, path="/etc/passwd", content="x") == ("deny", "default")
    assert call(policy, "move_file", roots, source=f"{root}/a", destination=f"{root}/b")[0] == "hitl"
    assert call(policy, "delete_file", roots, path=f"{root}/a") == ("deny", "starter-deny-delete")
    assert call(policy, "some_new_tool", roots) == ("deny", "default")
    assert "reads allowed in" in starter.summary and root in starter.summary


def test_a_linked_root_is_allowed_by_its_real_path_too(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    args = ["@modelcontextprotocol/server-filesystem", str(link)]
    preset = recognize("npx", args)
    assert preset is not None
    rules = {rule.id: rule for rule in from_preset(preset, "npx", args).policy.rules}
    assert rules["starter-read"].conditions.path_pattern == [f"{link}/**", f"{real}/**"]


def test_filesystem_without_a_folder_asks_for_reads_too() -> None:
    args = ["-y", "@modelcontextprotocol/server-filesystem"]
    preset = recognize("npx", args)
    assert preset is not None
    starter = from_preset(preset, "npx", args)
    assert call(starter.policy, "read_text_file", path="/home/a/x")[0] == "hitl"
    assert any("ask" in note for note in starter.notes)


def test_git_reads_in_its_repository_commit_asks() -> None:
    args = ["mcp-server-git", "--repository", "/home/a/repo"]
    preset = recognize("uvx", args)
    assert preset is not None
    policy = from_preset(preset, "uvx", args).policy
    roots = ("/home/a/repo",)
    assert call(policy, "git_status", roots, repo_path="/home/a/repo") == ("allow", "starter-read")
    assert call(policy, "git_log", roots, repo_path="/home/other") == ("deny", "default")
    assert call(policy, "git_commit", roots, repo_path="/home/a/repo", message="m")[0] == "hitl"


@pytest.mark.parametrize(
    ("args", "tool", "expected"),
    [
        (["@modelcontextprotocol/server-memory"], "read_graph", "allow"),
        (["@modelcontextprotocol/server-memory"], "create_entities", "hitl"),
        (["@modelcontextprotocol/server-memory"], "delete_entities", "deny"),
        (["@modelcontextprotocol/server-github"], "get_issue", "allow"),
        (["@modelcontextprotocol/server-github"], "create_pull_request", "hitl"),
        (["@modelcontextprotocol/server-github"], "merge_pull_request", "hitl"),
        (["@modelcontextprotocol/server-github"], "delete_file", "deny"),
        (["mcp-server-time"], "get_current_time", "allow"),
        (["mcp-server-time"], "convert_time", "allow"),
        (["mcp-server-fetch"], "fetch", "hitl"),
        (["@modelcontextprotocol/server-everything"], "echo", "allow"),
        (["@modelcontextprotocol/server-everything"], "get-env", "hitl"),  # shows the server's secrets
        (["mcp-shell-server"], "shell_execute", "hitl"),
        (["mcp-shell-server"], "anything_at_all", "hitl"),
    ],
)
def test_presets(args: list[str], tool: str, expected: str) -> None:
    preset = recognize("npx", args)
    assert preset is not None
    assert call(from_preset(preset, "npx", args).policy, tool)[0] == expected


def test_everything_preset_allows_its_resources_others_ask() -> None:
    everything = recognize("npx", ["@modelcontextprotocol/server-everything"])
    memory = recognize("npx", ["@modelcontextprotocol/server-memory"])
    assert everything is not None and memory is not None
    uri = {"uri": "demo://resource/static/document/architecture.md"}
    assert decide(from_preset(everything, "npx", []).policy, "resources/read", uri)[0] == "allow"
    assert decide(from_preset(memory, "npx", []).policy, "resources/read", uri)[0] == "hitl"
    assert decide(from_preset(memory, "npx", []).policy, "prompts/get", {"name": "p"})[0] == "hitl"


# --------------------------------------------------------------------------- unknown servers


def tool(name: str, **hints: object) -> BackendTool:
    return BackendTool(name=name, annotations=dict(hints))


@pytest.mark.parametrize(
    ("candidate", "trusted"),
    [
        (tool("get_weather", readOnlyHint=True), True),
        (tool("lookupCustomer", readOnlyHint=True), True),
        (tool("get_weather"), False),  # no hint: not trusted, whatever the name
        (tool("get_weather", readOnlyHint=False), False),
        (tool("delete_everything", readOnlyHint=True), False),  # the name contradicts the hint
        (tool("write_notes", readOnlyHint=True), False),
        (tool("runCommand", readOnlyHint=True), False),
        (tool("query_then_drop", readOnlyHint=True), False),
        (tool("bash", readOnlyHint=True), False),
        (tool("get_secret", readOnlyHint=True), False),  # known to read secrets
        (tool("search_web", readOnlyHint=True), False),  # known to reach the network
        (tool("get_stats", readOnlyHint=True, destructiveHint=True), False),
        (tool("get_stats", readOnlyHint="true"), False),  # a string is not the boolean
        (tool("get-env", readOnlyHint=True), False),  # reads, but the server's tokens
        (tool("readApiToken", readOnlyHint=True), False),
        (tool("list_credentials", readOnlyHint=True), False),
    ],
)
def test_trusted_read_only(candidate: BackendTool, trusted: bool) -> None:
    assert trusted_read_only(candidate) is trusted


def test_unknown_server_read_only_tools_allowed_others_ask() -> None:
    starter = from_tools(
        [tool("get_weather", readOnlyHint=True), tool("delete_city", readOnlyHint=True), tool("book_trip")]
    )
    policy = starter.policy
    assert call(policy, "get_weather") == ("allow", "starter-read")
    assert call(policy, "delete_city") == ("hitl", "starter-ask")
    assert call(policy, "book_trip") == ("hitl", "starter-ask")
    assert call(policy, "added_later") == ("deny", "default")
    assert decide(policy, "resources/read", {"uri": "file:///etc/passwd"})[0] == "hitl"
    assert starter.kind == "read-only-tools" and "1 read-only" in starter.summary


def test_unknown_server_with_no_read_only_tool_has_no_empty_allow_rule() -> None:
    policy = from_tools([tool("book_trip")]).policy
    assert [rule.id for rule in policy.rules] == ["starter-ask", "starter-resources", "starter-prompts"]


def test_unlisted_tools_mean_every_tool_asks() -> None:
    starter = from_tools(None, "timed out")
    assert call(starter.policy, "get_weather") == ("hitl", "starter-ask")
    assert call(starter.policy, "anything") == ("hitl", "starter-ask")
    assert starter.kind == "ask-everything" and "timed out" in starter.notes[0]
