"""Class 1, decoy arguments: a harmless path where the policy looks, the real target elsewhere.

Every path-like string at any depth of a request is one of its resources, and an allow needs
all of them allowed. The official server-filesystem serves a folder holding both an allowed
sandbox and a secret folder, so without the proxy the secret would be served; the policy allows
only the sandbox. Prompts and completions go to the hostile recording server, so a test also
proves that a refused request never reached the backend.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.security.conftest import (
    FILESYSTEM_MISSING,
    Home,
    assert_denied,
    received_text,
    text_of,
)

SECRET = "TOP-SECRET-KEY-0451"


def sandbox_policy(world: Path) -> dict:
    sandbox = f"{world}/sandbox/**"
    return {
        "rules": [
            {
                "id": "sandbox",
                "effect": "allow",
                "conditions": {
                    "tool_name": ["read_*", "list_*", "move_file", "get_file_info"],
                    "path_pattern": sandbox,
                },
            },
        ]
    }


@pytest.fixture(scope="module")
def world(module_home: Home) -> Path:
    world = module_home.root / "world"
    (world / "sandbox").mkdir(parents=True)
    (world / "secret").mkdir()
    (world / "sandbox" / "hello.txt").write_text("hello from the sandbox\n")
    (world / "secret" / "key.txt").write_text(SECRET + "\n")
    (world / "secret" / "move-me.txt").write_text(SECRET + " (move)\n")
    return world


@pytest.fixture(scope="module")
def fs_added(module_home: Home, world: Path) -> str:
    if FILESYSTEM_MISSING:
        pytest.skip("server-filesystem or node missing: run `make npm-deps`")
    module_home.add_filesystem("decoy-fs", [world], sandbox_policy(world))
    return "decoy-fs"


@pytest.fixture
def fs(module_home: Home, fs_added: str):
    return module_home.live(fs_added)


@pytest.fixture(scope="module")
def hostile_record(module_home: Home, world: Path) -> Path:
    policy = {
        "rules": [
            {"id": "prompts", "effect": "allow", "conditions": {"mcp_method": ["prompts/get", "completion/complete"]}},
            {"id": "probe", "effect": "allow", "conditions": {"tool_name": "probe"}},
            {"id": "no-secret", "effect": "deny", "conditions": {"path_pattern": f"{world}/secret/**"}},
        ]
    }
    return module_home.add_hostile("decoy-hostile", policy)


@pytest.fixture
def hostile(module_home: Home, hostile_record: Path):
    return module_home.live("decoy-hostile"), hostile_record


def entry_for(entries: list[dict], request_id: int, **match: str) -> dict:
    found = [
        e for e in entries if e.get("request_id") == str(request_id) and all(e.get(k) == v for k, v in match.items())
    ]
    assert found, f"no entry for request {request_id}: {entries[-5:]}"
    return found[-1]


def test_control_the_sandbox_is_readable(fs, world: Path) -> None:
    """Without a decoy the policy lets the sandbox through (so the refusals below are the decoys')."""
    answer = fs.call("read_multiple_files", {"paths": [str(world / "sandbox" / "hello.txt")]})
    assert "hello from the sandbox" in text_of(answer)


def test_read_multiple_files_with_a_decoy_path_and_the_secret_in_paths(fs, world: Path, module_home: Home) -> None:
    decoy, secret = str(world / "sandbox" / "hello.txt"), str(world / "secret" / "key.txt")
    request_id = fs.next_id()
    answer = fs.call("read_multiple_files", {"path": decoy, "paths": [secret]}, request_id=request_id)
    assert_denied(answer)
    assert SECRET not in json.dumps(answer)
    decision = entry_for(module_home.decisions("decoy-fs"), request_id, event="policy_decision")
    assert decision["decision"] == "deny"
    assert secret in decision["paths"] and decoy in decision["paths"], decision
    operation = entry_for(module_home.operations("decoy-fs"), request_id)
    assert secret in operation["paths"], operation


def test_move_file_with_source_and_destination_next_to_a_decoy_path(fs, world: Path) -> None:
    source, target = world / "secret" / "move-me.txt", world / "sandbox" / "stolen.txt"
    answer = fs.call(
        "move_file", {"path": str(world / "sandbox" / "hello.txt"), "source": str(source), "destination": str(target)}
    )
    assert_denied(answer)
    assert source.exists() and not target.exists()


@pytest.mark.parametrize("other", ["file", "source", "directory"])
def test_an_empty_path_next_to_an_allowed_one_does_not_list_the_parent(fs, world: Path, other: str) -> None:
    """`""` is a relative path: the server reads it as its root, which holds the secret folder."""
    answer = fs.call("list_directory", {"path": "", other: str(world / "sandbox")})
    assert_denied(answer)
    assert "secret" not in json.dumps(answer.get("result", {}))


def test_a_secret_nested_in_arrays_and_objects_is_a_resource(hostile, world: Path) -> None:
    proxy, record = hostile
    marker = "nested-decoy-7731"
    answer = proxy.call("probe", {"note": marker, "options": {"list": [{"x": ["plain", f"{world}/secret/key.txt"]}]}})
    assert_denied(answer)
    assert marker not in received_text(record)
    # Control: the same shape with a harmless path goes through.
    ok = proxy.call("probe", {"note": marker + "-ok", "options": {"list": [{"x": [f"{world}/sandbox/x"]}]}})
    assert "EXECUTED probe" in text_of(ok)


def test_a_prompt_argument_naming_a_denied_file(hostile, world: Path, module_home: Home) -> None:
    proxy, record = hostile
    ok = proxy.request("prompts/get", {"name": "greet", "arguments": {"who": "prompt-ok-1"}})
    assert "result" in ok and "prompt-ok-1" in received_text(record)
    secret = f"{world}/secret/key.txt"
    request_id = proxy.next_id()
    answer = proxy.request(
        "prompts/get", {"name": "greet", "arguments": {"who": secret, "tag": "prompt-bad-1"}}, request_id=request_id
    )
    assert_denied(answer)
    assert "prompt-bad-1" not in received_text(record)
    decision = entry_for(module_home.decisions("decoy-hostile"), request_id, event="policy_decision")
    assert decision["decision"] == "deny" and secret in decision["paths"], decision


def test_a_completion_value_naming_a_denied_file(hostile, world: Path) -> None:
    proxy, record = hostile
    ref = {"type": "ref/prompt", "name": "greet"}
    ok = proxy.request("completion/complete", {"ref": ref, "argument": {"name": "who", "value": "complete-ok"}})
    assert "result" in ok and "complete-ok" in received_text(record)
    answer = proxy.request(
        "completion/complete", {"ref": ref, "argument": {"name": "who", "value": f"{world}/secret/complete-bad.txt"}}
    )
    assert_denied(answer)
    assert "complete-bad" not in received_text(record)
