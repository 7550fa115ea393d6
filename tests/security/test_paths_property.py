"""Property: a tool call is denied exactly when some string the contract counts as path-like
reaches a denied or protected place under some reading, and a denied call reaches no backend.

Arguments are generated as random nestings of objects and arrays, with keys that name a path
(`path`, `FILE-PATH`, `outputPath`, `log_dir`, `url`, ...) or not (`text`, `pathology`,
`profile`, ...), filled from a palette of strings whose fate the test knows:

* hostile anywhere: absolute paths into the denied folder, `..` escapes, a symlink into it, `..`
  after a symlink (the lexical reading reaches it, the kernel's does not), its NFD spelling,
  `file://` URIs, `~/.ssh`, and the proxy's own config (protected);
* hostile only under a path key: relative paths into the denied folder (resolved against the
  proxy's configured root);
* harmless: paths in the safe folder, relative or absolute, `~/notes.txt`, words, numbers.

A string is path-like under a path key (its nearest enclosing object key; arrays are
transparent; `url` only for `file:`), or anywhere when it starts with `/`, `~` or `file:`. A
hostile string at such a position must be refused; a call with only harmless strings must pass.
Two refusals the contract does not require are tolerated because they err on the safe side
(a climbing relative path under an ordinary key, a relative path under `url` once roots are
known). The backend is the hostile recording server; one proxy serves every example.
"""

from __future__ import annotations

import itertools
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.security.conftest import POLICY_DENIED, Home, received_text, text_of

NAME = "paths-property"
NFC = unicodedata.normalize("NFC", "dénied")
NFD = unicodedata.normalize("NFD", "dénied")

PATH_KEYS = [
    "path",
    "Paths",
    "FILE",
    "file-path",
    "filename",
    "dir",
    "directory",
    "root",
    "cwd",
    "source",
    "src",
    "destination",
    "dest",
    "target",
    "to",
    "from",
    "uri",
    "location",
    "outputPath",
    "config_file",
    "log_dir",
    "baseDirectory",
    "my_folder",
    "image_uri",
    "input_files",
    "topath",
    "url",
]
OTHER_KEYS = [
    "text",
    "name",
    "content",
    "query",
    "mode",
    "options",
    "note",
    "pathology",
    "profile",
    "paths_count",
    "value",
    "tags",
]
EXACT_PATH_KEYS = {
    "path",
    "paths",
    "file",
    "files",
    "filename",
    "filepath",
    "file_path",
    "dir",
    "directory",
    "directories",
    "folder",
    "root",
    "cwd",
    "source",
    "src",
    "destination",
    "dest",
    "target",
    "from",
    "to",
    "uri",
    "url",
    "location",
}
PATH_SUFFIXES = ("path", "paths", "_file", "_files", "_dir", "directory", "_folder", "_uri")


def is_path_key(key: str) -> bool:
    key = key.lower().replace("-", "_")
    return key in EXACT_PATH_KEYS or key.endswith(PATH_SUFFIXES)


def path_like(key: str | None, text: str) -> bool:
    if text.startswith(("/", "~", "file:")):
        return True
    if key is None or not is_path_key(key):
        return False
    return key.lower().replace("-", "_") != "url" or text.startswith("file:")


class World:
    def __init__(self, home: Home) -> None:
        self.root = root = home.root / "pw"
        self.safe = safe = root / "safe"
        self.denied = denied = root / NFC
        (safe / "deep" / "x").mkdir(parents=True)
        denied.mkdir()
        (safe / "ok.txt").write_text("ok\n")
        (denied / "key.txt").write_text("secret\n")
        (safe / "link").symlink_to(denied, target_is_directory=True)
        (safe / "d").symlink_to(safe / "deep" / "x", target_is_directory=True)
        (safe / "s").symlink_to(denied, target_is_directory=True)
        (home.user_home / ".ssh").mkdir(exist_ok=True)
        (home.user_home / ".ssh" / "id_rsa").write_text("key\n")
        self.hostile_anywhere = [
            f"{denied}/key.txt",
            f"{safe}/../{NFC}/key.txt",
            f"{safe}/link/key.txt",
            f"{safe}/d/../s/key.txt",
            f"{root}/{NFD}/key.txt",
            f"file://{denied}/key.txt",
            (root / NFC / "key.txt").as_uri(),
            "~/.ssh/id_rsa",
            f"{home.acp_home}/config/manager.json",
        ]
        self.hostile_relative = [f"{NFC}/key.txt", f"safe/../{NFC}/key.txt", "safe/link/key.txt", f"{NFD}/key.txt"]
        self.harmless = [
            f"{safe}/ok.txt",
            "safe/ok.txt",
            "hello world",
            "",
            "42",
            "notes/todo",
            f"file://{safe}/ok.txt",
            "~/notes.txt",
            f"{safe}/deep/x",
        ]

    def policy(self) -> dict:
        return {
            "rules": [
                {"id": "probe", "effect": "allow", "conditions": {"tool_name": "probe"}},
                {
                    "id": "no-denied",
                    "effect": "deny",
                    "conditions": {"path_pattern": [f"{self.denied}", f"{self.denied}/**", "**/.ssh/**"]},
                },
            ]
        }

    def verdict(self, arguments: Any) -> str:
        """What the contract requires of the call: "deny", "allow", or "either" (a refusal the
        contract does not require but that errs on the safe side: a relative path that climbs
        (`a/../b`) under an ordinary key, or one under `url`, which the proxy may read as a path
        once the server's roots are known)."""
        verdict = "allow"
        stack: list[tuple[str | None, Any]] = [(None, arguments)]
        while stack:
            key, value = stack.pop()
            if isinstance(value, dict):
                stack.extend((k, v) for k, v in value.items())
            elif isinstance(value, list):
                stack.extend((key, v) for v in value)
            elif isinstance(value, str) and value in self.hostile_anywhere + self.hostile_relative:
                if path_like(key, value):
                    return "deny"
                if ".." in value.split("/") or (key is not None and key.lower() == "url"):
                    verdict = "either"
        return verdict

    def hostile(self, arguments: Any) -> bool:
        return self.verdict(arguments) == "deny"


@pytest.fixture(scope="module")
def world(module_home: Home) -> World:
    world = World(module_home)
    module_home.add_hostile(NAME, world.policy(), config={"roots": [str(world.root)]})
    return world


def arguments_strategy(world: World) -> st.SearchStrategy:
    strings = st.sampled_from(world.hostile_anywhere + world.hostile_relative + world.harmless)
    leaves = strings | st.integers(-5, 5) | st.booleans() | st.none()
    keys = st.sampled_from(PATH_KEYS + OTHER_KEYS)
    values = st.recursive(
        leaves,
        lambda children: st.lists(children, max_size=3) | st.dictionaries(keys, children, max_size=3),
        max_leaves=8,
    )
    return st.dictionaries(keys, values, max_size=4)


_ids = itertools.count(1)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(data=st.data())
def test_denied_exactly_when_a_path_like_string_is_hostile(module_home: Home, world: World, data) -> None:
    arguments = data.draw(arguments_strategy(world), label="arguments")
    proxy = module_home.live(NAME)
    record: Path = module_home.root / f"{NAME}-received.jsonl"
    request_id = f"prop-{next(_ids)}"
    answer = proxy.call("probe", arguments, request_id=request_id)
    reached = f'"{request_id}"' in received_text(record)
    verdict = world.verdict(arguments)
    if "error" in answer:
        assert verdict in ("deny", "either"), f"denied, but harmless: {arguments!r} -> {answer}"
        assert answer["error"]["code"] == POLICY_DENIED, answer
        assert not reached, f"a denied call reached the backend: {arguments!r}"
    else:
        assert verdict in ("allow", "either"), f"allowed, but hostile: {arguments!r}"
        assert "EXECUTED probe" in text_of(answer)
        assert reached


def test_every_palette_string_alone(module_home: Home, world: World) -> None:
    """The palette itself, one string at a time, under every key: the examples above are only as
    good as these single cases. Every disagreement with the contract is listed at once."""
    proxy = module_home.live(NAME)
    wrong = []
    for key in PATH_KEYS + OTHER_KEYS:
        for text in world.hostile_anywhere + world.hostile_relative + world.harmless:
            arguments = {key: text}
            answer = proxy.call("probe", arguments)
            verdict = world.verdict(arguments)
            if verdict != "either" and ("error" in answer) != (verdict == "deny"):
                wrong.append(
                    f"{arguments!r}: expected {verdict}, got {answer.get('error', {}).get('message') or 'allowed'}"
                )
    assert not wrong, "\n".join(wrong)
