"""The shipped starter presets for well-known MCP servers (admin/starter_policy.py turns them into
policies). Tool names are the servers' real ones: server-filesystem and server-everything as the
versions in tests/npm register them (checked by tests/admin/test_starter_presets.py), and
mcp-server-time / -git / -fetch 2026.10, server-memory 2026.8.31 and server-github 2025.4.8 as
their published packages define them (listed in that test). Older names are kept where a server
renamed a tool, so a pinned older version is governed too.

A tool in no list is denied by the default, so a tool a server adds later needs a rule first."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    key: str
    label: str
    packages: tuple[str, ...]  # recognized in the command line, normalized (lower case, '_' as '-')
    reads: tuple[str, ...] = ()  # allowed (only under the roots when `path_scoped`)
    anywhere: tuple[str, ...] = ()  # allowed, no path involved
    asks: tuple[str, ...] = ()  # a human is asked (under the roots when `path_scoped`)
    denies: tuple[str, ...] = ()  # refused outright: they destroy data
    path_scoped: bool = False  # the tools act on paths; reads are allowed only in the server's roots
    allow_resources: bool = False  # resources/read and prompts/get allowed (else asked)
    ask_every_tool: bool = False  # a shell: every tool asks, whatever its name


PRESETS: tuple[Preset, ...] = (
    Preset(
        key="filesystem",
        label="filesystem server",
        packages=("@modelcontextprotocol/server-filesystem", "server-filesystem", "mcp-server-filesystem"),
        reads=(
            "read_file",
            "read_text_file",
            "read_media_file",
            "read_multiple_files",
            "list_directory",
            "list_directory_with_sizes",
            "directory_tree",
            "search_files",
            "get_file_info",
        ),
        anywhere=("list_allowed_directories",),
        asks=("write_file", "edit_file", "create_directory", "move_file"),
        path_scoped=True,
    ),
    Preset(
        key="git",
        label="git server",
        packages=("mcp-server-git",),
        reads=("git_status", "git_diff_unstaged", "git_diff_staged", "git_diff", "git_log", "git_show", "git_branch"),
        asks=("git_add", "git_commit", "git_reset", "git_create_branch", "git_checkout"),
        path_scoped=True,
    ),
    Preset(
        key="github",
        label="GitHub server",
        packages=("@modelcontextprotocol/server-github", "server-github", "mcp-server-github", "github-mcp-server"),
        # Globs: the official Go server (github-mcp-server) has many more tools, named the same way.
        reads=("get_*", "list_*", "search_*"),
        asks=(
            "create_*",
            "update_*",
            "add_*",
            "push_files",
            "fork_repository",
            "merge_pull_request",
            "request_*",
            "submit_*",
            "assign_*",
            "mark_*",
            "dismiss_*",
            "rerun_*",
            "cancel_*",
            "run_*",
        ),
        denies=("delete_*", "remove_*"),
    ),
    Preset(
        key="fetch",
        label="fetch server",
        packages=("mcp-server-fetch",),
        # Fetching reads the web, but a URL can carry data out and a page can carry instructions in.
        asks=("fetch",),
    ),
    Preset(
        key="time",
        label="time server",
        packages=("mcp-server-time",),
        anywhere=("get_current_time", "convert_time"),
    ),
    Preset(
        key="memory",
        label="memory server",
        packages=("@modelcontextprotocol/server-memory", "server-memory", "mcp-server-memory"),
        anywhere=("read_graph", "search_nodes", "open_nodes"),
        asks=("create_entities", "create_relations", "add_observations"),
        denies=("delete_entities", "delete_observations", "delete_relations"),
    ),
    Preset(
        key="everything",
        label="everything (test) server",
        packages=("@modelcontextprotocol/server-everything", "server-everything", "mcp-server-everything"),
        anywhere=(
            "echo",
            "get-sum",
            "get-tiny-image",
            "get-annotated-message",
            "get-resource-links",
            "get-resource-reference",
            "get-structured-content",
            "trigger-long-running-operation",
            "get-roots-list",
            # the names before 2025.8
            "add",
            "getTinyImage",
            "annotatedMessage",
            "getResourceReference",
            "getResourceLinks",
            "structuredContent",
            "longRunningOperation",
        ),
        # get-env shows the server's environment (tokens); sampling spends the client's model; the
        # others reach out, ask the user, or change state.
        asks=(
            "get-env",
            "gzip-file-as-resource",
            "toggle-simulated-logging",
            "toggle-subscriber-updates",
            "simulate-research-query",
            "trigger-sampling-request",
            "trigger-sampling-request-async",
            "trigger-elicitation-request",
            "trigger-elicitation-request-async",
            "trigger-url-elicitation",
            "printEnv",
            "sampleLLM",
            "zip",
            "startElicitation",
        ),
        allow_resources=True,
    ),
    Preset(
        key="shell",
        label="shell server",
        packages=(
            "mcp-shell-server",
            "mcp-server-shell",
            "shell-mcp-server",
            "mcp-shell",
            "server-shell",
            "mcp-server-commands",
            "@wonderwhy-er/desktop-commander",
            "desktop-commander",
        ),
        ask_every_tool=True,
    ),
)
