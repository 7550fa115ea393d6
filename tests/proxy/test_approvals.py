"""The approval cache and its rules (proxy/approvals.py): what is cacheable, the key, TTL and
clearing, that a remembered approval never covers another destination, path list or real path,
and that snapshots and forgetting show every path."""

from __future__ import annotations

import os

import pytest

from mcp_acp.identity.local import Identity
from mcp_acp.policy.context import build_context
from mcp_acp.proxy.approvals import (
    ApprovalCache,
    cacheable,
)


@pytest.mark.parametrize(
    ("effects", "allowed", "expected"),
    [
        (None, frozenset({"fs_write"}), False),  # unknown tool: never cached
        (frozenset(), None, True),  # known to do nothing
        (frozenset({"code_exec", "fs_write"}), frozenset({"code_exec", "fs_write"}), False),  # never code_exec
        (frozenset({"fs_write"}), frozenset({"fs_write"}), True),
        (frozenset({"fs_read", "fs_write"}), frozenset({"fs_write"}), False),  # not a subset
        (frozenset({"fs_write"}), None, False),  # the rule allows no caching
    ],
)
def test_cacheable(effects, allowed, expected):
    assert cacheable(effects, allowed) is expected


def _ctx(subject: str, tool: str, path: str | None = None, arguments: dict | None = None, roots=()):
    arguments = arguments if arguments is not None else {"path": path}
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": arguments}}
    return build_context(message, Identity(subject, "local"), "fs", roots=roots)


def test_cache_key_ttl_and_clear(tmp_path):
    now = [0.0]
    cache = ApprovalCache(600, clock=lambda: now[0])
    target = tmp_path / "a.txt"
    cache.remember(_ctx("alice", "write_file", str(target)))
    assert cache.holds(_ctx("alice", "write_file", f"{tmp_path}/./a.txt"))  # the same path in every reading
    assert cache.holds(_ctx("alice", "write_file", f"{tmp_path}/sub/../a.txt"))
    assert not cache.holds(_ctx("bob", "write_file", str(target)))  # another subject
    assert not cache.holds(_ctx("alice", "delete_file", str(target)))  # another tool
    assert not cache.holds(_ctx("alice", "write_file", str(tmp_path / "b.txt")))  # another path
    link = tmp_path / "link.txt"
    link.symlink_to(target)
    # A link reads as itself and as its target: not what was approved (the human saw a.txt only).
    assert not cache.holds(_ctx("alice", "write_file", str(link)))
    now[0] = 600.0
    assert not cache.holds(_ctx("alice", "write_file", str(target)))  # expired and purged
    assert len(cache) == 0
    cache.remember(_ctx("alice", "write_file", str(target)))
    assert cache.clear("api") == 1 and len(cache) == 0


def test_a_remembered_move_does_not_cover_another_destination():
    cache = ApprovalCache(600)
    approved = {"source": "/p/a.txt", "destination": "/p/b.txt"}
    cache.remember(_ctx("alice", "move_file", arguments=approved), approved)
    assert cache.holds(_ctx("alice", "move_file", arguments=dict(approved)), approved)
    for other in (
        {"source": "/p/a.txt", "destination": "/etc/cron.d/x"},
        {"source": "/p/a.txt", "destination": "/p/b.txt/../../etc/x"},
        {"source": "/p/b.txt", "destination": "/p/a.txt"},  # roles swapped
        {"source": "/p/a.txt"},
        {"destination": "/p/b.txt"},
        {"source": "/p/a.txt", "destination": "/p/b.txt", "backup": "/p/c.txt"},
    ):
        assert not cache.holds(_ctx("alice", "move_file", arguments=other), other), other


def test_a_remembered_path_list_does_not_cover_another_list():
    cache = ApprovalCache(600)
    approved = {"paths": ["/p/a", "/p/b"]}
    cache.remember(_ctx("alice", "read_multiple_files", arguments=approved), approved)
    assert cache.holds(_ctx("alice", "read_multiple_files", arguments={"paths": ["/p/a", "/p/b"]}))
    assert cache.holds(_ctx("alice", "read_multiple_files", arguments={"paths": ["/p/b", "/p/./a"]}))  # same set
    for other in (["/p/a"], ["/p/a", "/p/b", "/p/c"], ["/p/a", "/etc/shadow"], ["/p/b"]):
        assert not cache.holds(_ctx("alice", "read_multiple_files", arguments={"paths": other})), other


def test_a_remembered_relative_path_is_keyed_by_where_it_leads():
    cache = ApprovalCache(600)
    cache.remember(_ctx("alice", "write_file", "notes/a.md", roots=("/srv",)))
    assert cache.holds(_ctx("alice", "write_file", "/srv/notes/a.md"))
    assert not cache.holds(_ctx("alice", "write_file", "notes/a.md", roots=("/other",)))
    assert not cache.holds(_ctx("alice", "write_file", "notes/a.md", roots=("/srv", "/other")))


@pytest.mark.parametrize("tool", ["bash", "docker_exec", "frobnicate", "my_custom_tool"])
def test_code_exec_and_unknown_tools_need_identical_arguments(tool):
    """Their effect cannot be read off the paths: only the very same arguments are covered."""
    cache = ApprovalCache(600)
    approved = {"command": "ls", "cwd": "/p"}
    cache.remember(_ctx("alice", tool, arguments=approved), approved)
    assert cache.holds(
        _ctx("alice", tool, arguments=approved), {"cwd": "/p", "command": "ls"}
    )  # key order is no matter
    assert not cache.holds(_ctx("alice", tool, arguments=approved), {"command": "rm -rf ~", "cwd": "/p"})
    assert not cache.holds(_ctx("alice", tool, arguments=approved), None)
    assert cache.snapshot()["approvals"][0]["exact_arguments"] is True


def test_known_tools_are_keyed_by_paths_not_by_other_arguments():
    cache = ApprovalCache(600)
    cache.remember(
        _ctx("alice", "write_file", arguments={"path": "/p/a", "content": "one"}), {"path": "/p/a", "content": "one"}
    )
    assert cache.holds(
        _ctx("alice", "write_file", arguments={"path": "/p/a", "content": "two"}), {"path": "/p/a", "content": "two"}
    )
    assert cache.snapshot()["approvals"][0]["exact_arguments"] is False


def test_snapshot_and_forget_show_every_path(tmp_path):
    cache = ApprovalCache(600)
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    arguments = {"source": f"{tmp_path}/link/a", "destination": "/p/b"}
    cache.remember(_ctx("alice", "move_file", arguments=arguments), arguments)
    entry = cache.snapshot()["approvals"][0]
    assert entry["paths"] == [f"{tmp_path}/real/a", "/p/b"]  # where each leads
    assert entry["path"] == entry["paths"][0] and entry["tool_name"] == "move_file"
    assert not cache.forget("alice", "move_file", "/p/b") and len(cache) == 1
    assert cache.forget("alice", "move_file", entry["path"]) and len(cache) == 0


# --------------------------------------------------------------------------- the approval cache


def _write_ctx(path: str, subject: str = "alice", tool: str = "write_file", request_id: int = 1):
    message = {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": tool, "arguments": {"path": path}},
    }
    return build_context(message, Identity(subject, "local"), "fixture")


def test_cached_approvals_expire_at_their_ttl(tmp_path):
    now = [1000.0]
    cache = ApprovalCache(300, clock=lambda: now[0])
    target = tmp_path / "a.txt"
    target.write_text("a")
    cache.remember(_write_ctx(str(target), request_id=9))
    [entry] = cache.snapshot()["approvals"]
    assert entry == {
        "subject_id": "alice",
        "tool_name": "write_file",
        "path": os.path.realpath(target),
        "request_id": "9",
        "paths": [os.path.realpath(target)],
        "exact_arguments": False,
        "age_seconds": 0.0,
        "ttl_seconds": 300,
        "expires_in_seconds": 300.0,
    }
    now[0] += 299.5
    assert cache.holds(_write_ctx(str(target)))
    assert cache.snapshot()["approvals"][0]["expires_in_seconds"] == 0.5
    now[0] += 0.5  # exactly at the TTL: gone
    assert not cache.holds(_write_ctx(str(target)))
    assert cache.snapshot() == {"count": 0, "ttl_seconds": 300, "approvals": []}
    assert len(cache) == 0


def test_a_cached_approval_is_keyed_on_the_real_path(tmp_path):
    cache = ApprovalCache(300)
    approved, other = tmp_path / "approved.txt", tmp_path / "other.txt"
    approved.write_text("a")
    other.write_text("b")
    name = tmp_path / "name.txt"
    name.symlink_to(approved)
    cache.remember(_write_ctx(str(name)))  # approved as "name.txt", which leads to approved.txt
    assert cache.snapshot()["approvals"][0]["path"] == os.path.realpath(approved)
    assert cache.holds(_write_ctx(str(name)))
    assert not cache.holds(_write_ctx(str(other)))
    assert not cache.holds(_write_ctx(str(name), subject="mallory"))
    assert not cache.holds(_write_ctx(str(name), tool="delete_file"))
    name.unlink()
    name.symlink_to(other)  # the same path name, now leading to another file
    assert not cache.holds(_write_ctx(str(name)))
    name.unlink()
    name.symlink_to(approved)
    assert cache.forget("alice", "write_file", os.path.realpath(approved)) and not cache.holds(_write_ctx(str(name)))
