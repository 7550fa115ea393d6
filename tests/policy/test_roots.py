"""The server's roots (policy/roots.py, issue 15): from its command line, from the client's
`roots/list` answers, and the set kept per session."""

from __future__ import annotations

import pytest

from mcp_acp.policy.roots import MAX_ROOTS, ServerRoots, roots_from_client, roots_from_command

FS_PACKAGE = "@modelcontextprotocol/server-filesystem"


@pytest.mark.parametrize(
    "command,args,roots",
    [
        ("npx", ["-y", FS_PACKAGE, "/a", "/b"], ["/a", "/b"]),
        ("npx", [FS_PACKAGE, "/a"], ["/a"]),
        ("node", ["/usr/lib/node_modules/@modelcontextprotocol/server-filesystem/dist/index.js", "/a"], ["/a"]),
        ("/usr/local/bin/mcp-server-filesystem", ["/srv/data"], ["/srv/data"]),
        ("uvx", ["mcp-server-git", "--repository", "/r"], ["/r"]),
        ("uvx", ["mcp-server-git", "-r", "/r"], ["/r"]),
        ("uvx", ["mcp-server-git"], []),
        ("uvx", ["mcp-server-git", "--repository"], []),  # a flag with no value
        ("npx", ["-y", "some-other-server", "/a"], []),  # an unknown server's arguments are not roots
        ("npx", [], []),
    ],
)
def test_roots_from_known_command_lines(command, args, roots):
    assert roots_from_command(command, args) == roots


def test_relative_and_flag_arguments_are_ignored(monkeypatch):
    monkeypatch.setenv("HOME", "/home/u")
    args = ["-y", FS_PACKAGE, "--verbose", "relative/dir", ".", "/a/./b/", "/c/../d", "~/proj", "-x"]
    assert roots_from_command("npx", args) == ["/a/b", "/d", "/home/u/proj"]
    assert roots_from_command("uvx", ["mcp-server-git", "--repository", "repo"]) == []
    assert roots_from_command("uvx", ["mcp-server-git", "--repository", "/r/", "--verbose"]) == ["/r"]


def test_words_before_the_package_are_not_roots():
    assert roots_from_command("/opt/bin/npx", ["/cache", "-y", FS_PACKAGE, "/a"]) == ["/a"]


@pytest.mark.parametrize(
    "result,roots",
    [
        ({"roots": [{"uri": "file:///a", "name": "A"}, {"uri": "file:///b"}]}, ["/a", "/b"]),
        ({"roots": [{"uri": "file:///home/u/My%20Project"}]}, ["/home/u/My Project"]),
        ({"roots": [{"uri": "file:///home/u/caf%C3%A9/"}]}, ["/home/u/café"]),
        ({"roots": [{"uri": "file://localhost/srv/x"}]}, ["/srv/x"]),
        ({"roots": [{"uri": "FILE:///Upper"}]}, ["/Upper"]),
        ({"roots": [{"uri": "file:///a/./b/../c"}]}, ["/a/c"]),
        ({"roots": [{"uri": "https://example.com/a"}, {"uri": "git://x/y"}, {"uri": "file:///ok"}]}, ["/ok"]),
        ({"roots": [{"uri": "file:relative"}, {"uri": "/plain/path"}, {"uri": ""}]}, []),
    ],
)
def test_roots_from_client(result, roots):
    assert roots_from_client(result) == roots


@pytest.mark.parametrize(
    "junk",
    [
        None,
        [],
        "file:///a",
        5,
        {},
        {"roots": None},
        {"roots": "file:///a"},
        {"roots": {"uri": "file:///a"}},
        {
            "roots": [
                None,
                5,
                "file:///a",
                ["file:///a"],
                {"name": "no uri"},
                {"uri": 5},
                {"uri": None},
                {"uri": ["file:///a"]},
            ]
        },
    ],
)
def test_junk_client_answers_give_no_roots(junk):
    assert roots_from_client(junk) == []


def test_junk_mixed_with_good_roots_keeps_the_good_ones():
    assert roots_from_client({"roots": [5, {"uri": 7}, {"uri": "file:///good"}, "x"]}) == ["/good"]


def test_server_roots_dedupe_normalise_and_report_new_ones():
    roots = ServerRoots(["/a", "/a/"])
    assert roots.snapshot() == ("/a",) and len(roots) == 1
    assert roots.add(["/b", "/a", "/b/./", "relative", "/c/../a"]) == ["/b"]
    assert list(roots) == ["/a", "/b"]
    assert roots.add([]) == [] and roots.snapshot() == ("/a", "/b")


def test_server_roots_expand_home(monkeypatch):
    monkeypatch.setenv("HOME", "/home/u")
    assert ServerRoots(["~/proj"]).snapshot() == ("/home/u/proj",)


def test_server_roots_are_limited():
    """A client cannot grow the set without bound: past MAX_ROOTS new roots are dropped."""
    roots = ServerRoots()
    added = roots.add(f"/r{i}" for i in range(MAX_ROOTS + 50))
    assert len(added) == MAX_ROOTS == len(roots)
    assert roots.add(["/one-more"]) == [] and "/one-more" not in roots.snapshot()
    assert roots.add(["/r0"]) == []  # already known
