"""Class 2, resolution differentials: the proxy must judge the path the server will use.

The official server-filesystem serves the whole test folder R, which also holds MCP_ACP_HOME, a
private folder, a project with two symlinks, and folders with accented names. The policy
allows every read and write by tool name and denies the private and accented folders; the
proxy's own folders are protected. Each attack spells a denied file so that a naive reading
(relative to the proxy's working folder, kernel-only, byte-exact Unicode) sees something
harmless, while the server, which resolves relative paths against its roots, normalises `..`
before following symlinks, and matches names by NFC, serves the secret.
"""

from __future__ import annotations

import json
import threading
import unicodedata
from pathlib import Path

import pytest

from tests.security.conftest import (
    FILESYSTEM_MISSING,
    Home,
    assert_denied,
    received_text,
    text_of,
    wait_until,
)

SECRET = "RESOLUTION-SECRET-9931"
OUTSIDE = "OUTSIDE-SECRET-2207"
NFC_NAME = unicodedata.normalize("NFC", "dénied")
NFD_NAME = unicodedata.normalize("NFD", "dénied")
NFC_NAME2 = unicodedata.normalize("NFC", "sécret2")
NFD_NAME2 = unicodedata.normalize("NFD", "sécret2")

pytestmark = pytest.mark.skipif(FILESYSTEM_MISSING, reason="server-filesystem or node missing: run `make npm-deps`")


def build_world(root: Path) -> None:
    (root / "private" / "outside").mkdir(parents=True)
    (root / "private" / "key.txt").write_text(SECRET + "\n")
    (root / "private" / "outside" / "key.txt").write_text(OUTSIDE + "\n")
    project = root / "proj"
    (project / "deep" / "a" / "b").mkdir(parents=True)
    (project / "deep" / "a" / "s").mkdir()
    (project / "deep" / "a" / "s" / "key.txt").write_text("harmless kernel reading\n")
    (project / "d").symlink_to(project / "deep" / "a" / "b", target_is_directory=True)
    (project / "s").symlink_to(root / "private" / "outside", target_is_directory=True)
    (project / "ok.txt").write_text("project file\n")
    (root / NFC_NAME).mkdir()
    (root / NFC_NAME / "key.txt").write_text(SECRET + " nfc\n")
    (root / NFC_NAME2).mkdir()
    (root / NFC_NAME2 / "key.txt").write_text(SECRET + " nfc2\n")


def world_policy(root: Path) -> dict:
    return {
        "rules": [
            {"id": "tools", "effect": "allow", "conditions": {"tool_name": ["read_*", "write_*", "list_*", "get_*"]}},
            {"id": "no-private", "effect": "deny", "conditions": {"path_pattern": f"{root}/private/**"}},
            {"id": "no-denied-nfc", "effect": "deny", "conditions": {"path_pattern": f"{root}/{NFC_NAME}/**"}},
            {"id": "no-secret2-nfd", "effect": "deny", "conditions": {"path_pattern": f"{root}/{NFD_NAME2}/**"}},
        ]
    }


@pytest.fixture(scope="module")
def world(module_home: Home) -> Path:
    build_world(module_home.root)
    return module_home.root


@pytest.fixture(scope="module")
def fs_cwd(module_home: Home, world: Path) -> Path:
    module_home.add_filesystem("resolve-fs", [world], world_policy(world))
    cwd = world / "elsewhere"  # the proxy's own working folder is NOT the server's root
    cwd.mkdir()
    return cwd


@pytest.fixture
def fs(module_home: Home, fs_cwd: Path):
    return module_home.live("resolve-fs", cwd=fs_cwd)


def assert_no_secret(answer: dict) -> None:
    text = json.dumps(answer)
    assert SECRET not in text and OUTSIDE not in text, answer


def test_control_the_server_serves_the_project(fs, world: Path) -> None:
    assert text_of(fs.call("read_text_file", {"path": str(world / "proj" / "ok.txt")})) == "project file\n"
    assert text_of(fs.call("read_text_file", {"path": "proj/ok.txt"})) == "project file\n"  # relative: its root


def test_a_relative_path_into_the_proxys_own_config(fs, world: Path) -> None:
    """MCP_ACP_HOME is inside the server's root: `acp-home/config/manager.json` is protected."""
    for path in (
        "acp-home/config/manager.json",
        "./acp-home/config/../config/manager.json",
        "proj/../acp-home/config/proxies/resolve-fs/policy.json",
    ):
        answer = fs.call("read_text_file", {"path": path})
        assert_denied(answer)
        assert '"auth"' not in json.dumps(answer) and '"rules"' not in json.dumps(answer)


def test_a_relative_path_escaping_a_deny_rule(fs) -> None:
    for path in ("private/key.txt", "./private/key.txt", "proj/../private/key.txt", "proj/s/key.txt"):
        answer = fs.call("read_text_file", {"path": path})
        assert_denied(answer)
        assert_no_secret(answer)


def test_dotdot_after_symlinks_is_judged_as_node_reads_it(fs, world: Path) -> None:
    """`proj/d/../s/key.txt`: the kernel reads proj/deep/a/s/key.txt (harmless); Node normalises
    first and reads proj/s/key.txt, i.e. private/outside/key.txt. Neither read nor overwrite."""
    outside = world / "private" / "outside" / "key.txt"
    for path in (f"{world}/proj/d/../s/key.txt", "proj/d/../s/key.txt"):
        answer = fs.call("read_text_file", {"path": path})
        assert_denied(answer)
        assert_no_secret(answer)
        assert_denied(fs.call("write_file", {"path": path, "content": "overwritten"}))
    assert outside.read_text() == OUTSIDE + "\n"
    assert (world / "proj" / "deep" / "a" / "s" / "key.txt").read_text() == "harmless kernel reading\n"


def test_unicode_spellings_of_a_denied_folder(fs, world: Path) -> None:
    """The deny names the NFC folder; the NFD spelling reaches it too (the server matches by
    NFC). And a deny written in NFD holds for the NFC name on disk."""
    assert NFC_NAME != NFD_NAME
    for path in (
        f"{world}/{NFD_NAME}/key.txt",
        f"{world}/{NFC_NAME}/key.txt",
        f"{NFD_NAME}/key.txt",
        f"{world}/{NFC_NAME2}/key.txt",
        f"{world}/{NFD_NAME2}/key.txt",
        f"{NFC_NAME2}/key.txt",
    ):
        answer = fs.call("read_text_file", {"path": path})
        assert_denied(answer)
        assert_no_secret(answer)


def test_an_800kb_path_does_not_stall_the_proxy(fs) -> None:
    """While 800 KB strings full of slashes are judged (an absolute one, and a relative one that
    is resolved against the server's root), a concurrent ping still answers. The bounds are
    generous: this proves "does not hang", not speed."""
    big_ids = []
    for path in ("/" * 800_000, "a" + "/" * 800_000):
        big_ids.append(fs.next_id())
        fs.send(
            {
                "jsonrpc": "2.0",
                "id": big_ids[-1],
                "method": "tools/call",
                "params": {"name": "read_text_file", "arguments": {"path": path}},
            }
        )
    fs.ping(timeout=8)  # a proxy that judges on its event loop for 10+ s fails here
    for big_id in big_ids:
        answer = fs.response(big_id, timeout=120)
        assert "error" in answer or answer["result"].get("isError"), str(answer)[:500]
    fs.ping()


# --------------------------------------------------------------------------- roots the proxy must learn


def test_a_relative_path_with_no_known_root_is_denied(module_home: Home, world: Path) -> None:
    record = module_home.add_hostile(
        "no-roots", {"rules": [{"id": "probe", "effect": "allow", "conditions": {"tool_name": "probe"}}]}
    )
    proxy = module_home.start("no-roots")
    try:
        error = assert_denied(proxy.call("probe", {"path": "notes/no-root-1.txt"}))
        assert "roots" in error["message"], error
        assert "no-root-1" not in received_text(record)
        # An absolute path needs no root; a string that names no path needs none either.
        assert "EXECUTED" in text_of(proxy.call("probe", {"path": f"{world}/proj/ok.txt"}))
        assert "EXECUTED" in text_of(proxy.call("probe", {"text": "notes/plain words"}))
    finally:
        proxy.close()


def test_roots_from_the_proxy_config(module_home: Home, world: Path) -> None:
    record = module_home.add_hostile(
        "config-roots",
        {
            "rules": [
                {"id": "probe", "effect": "allow", "conditions": {"tool_name": "probe"}},
                {"id": "no-private", "effect": "deny", "conditions": {"path_pattern": f"{world}/private/**"}},
            ]
        },
        config={"roots": [str(world)]},
    )
    proxy = module_home.start("config-roots")
    try:
        assert "EXECUTED" in text_of(proxy.call("probe", {"path": "proj/config-root-ok.txt"}))
        assert_denied(proxy.call("probe", {"path": "private/config-root-bad.txt"}))
        assert_denied(proxy.call("probe", {"file": "proj/../private/config-root-bad2.txt"}))
        text = received_text(record)
        assert "config-root-ok" in text and "config-root-bad" not in text
    finally:
        proxy.close()


def test_roots_the_client_declares(module_home: Home, world: Path) -> None:
    """server-filesystem started on one folder, but the client declares another root (its answer
    to roots/list): the server now serves that one, so a relative path is judged against it."""
    started_on = world / "proj"
    declared = world / "declared"
    (declared / "secret").mkdir(parents=True)
    (declared / "secret" / "key.txt").write_text(SECRET + " declared\n")
    module_home.add_filesystem(
        "client-roots",
        [started_on],
        {
            "rules": [
                {"id": "tools", "effect": "allow", "conditions": {"tool_name": ["read_*", "list_*"]}},
                {"id": "no-declared-secret", "effect": "deny", "conditions": {"path_pattern": f"{declared}/secret/**"}},
            ]
        },
    )
    asked = threading.Event()

    def roots(_message: dict) -> dict:
        asked.set()
        return {"roots": [{"uri": declared.as_uri(), "name": "declared"}]}

    proxy = module_home.start(
        "client-roots", capabilities={"roots": {"listChanged": True}}, handlers={"roots/list": roots}
    )
    try:
        wait_until(asked.is_set, "the server to ask the client for its roots")
        wait_until(
            lambda: str(declared) in text_of(proxy.call("list_allowed_directories", {})),
            "the server to adopt the declared root",
        )
        answer = proxy.call("read_text_file", {"path": "secret/key.txt"})
        assert_denied(answer)
        assert SECRET not in json.dumps(answer)
    finally:
        proxy.close()
