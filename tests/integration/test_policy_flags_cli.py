"""Rules without JSON, as a user runs them: `policy add --allow|--deny|--ask --tool …` and
`proxy tools NAME`, the real executable against real backends (docs/policies.md#rules-without-json)."""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time
from pathlib import Path

import pytest

from tests.integration.test_policy_cli import no_traceback, policy_path, socket_path
from tests.support.processes import BACKEND, ROOT
from tests.support.proxies import RawProxy

NAME = "fx"
ANNOTATED = str(ROOT / "tests" / "fixtures" / "annotated_backend.py")
DENIED = -32001


@pytest.fixture
def run(cli):
    return lambda *args: no_traceback(cli(*args))


@pytest.fixture
def fx(run) -> str:
    added = run("proxy", "add", NAME, "--server-name", "fixture", "--command", sys.executable, "--arg", BACKEND)
    assert added.returncode == 0, added.stderr
    return NAME


def rules(env: dict) -> list[dict]:
    return json.loads(policy_path(env).read_text(encoding="utf-8"))["rules"]


def tools_json(run, name: str = NAME) -> dict:
    result = run("proxy", "tools", name, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


# --------------------------------------------------------------------------- policy add with flags


def test_flags_write_the_rule_with_every_condition(run, acp_env, fx) -> None:
    result = run(
        "policy", "add", "-p", fx, "--ask", "--tool", "write_*", "--tool", "edit_*", "--path", "~/src/**",
        "--operation", "write", "--extension", ".py", "--scheme", "file", "--backend", "fixture",
        "--method", "tools/call", "--side-effect", "fs_write", "--cache-side-effect", "fs_write",
        "--description", "writes in src ask",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    [rule] = rules(acp_env)
    assert rule == {
        "id": rule["id"],
        "description": "writes in src ask",
        "effect": "hitl",
        "conditions": {
            "tool_name": ["write_*", "edit_*"],
            "path_pattern": "~/src/**",
            "operations": ["write"],
            "extension": ".py",
            "scheme": "file",
            "backend_id": "fixture",
            "mcp_method": "tools/call",
            "side_effects": ["fs_write"],
        },
        "cache_side_effects": ["fs_write"],
    }
    assert rule["id"].startswith("ask-write_any-edit_any-src-any-write")
    assert f"Added rule '{rule['id']}' (hitl)" in result.stdout
    assert run("policy", "validate", "-p", fx).returncode == 0


def test_ids_are_readable_unique_or_given(run, acp_env, fx) -> None:
    assert run("policy", "add", "-p", fx, "--allow", "--tool", "echo").returncode == 0
    assert run("policy", "add", "-p", fx, "--allow", "--tool", "echo", "--method", "tools/*").returncode == 0
    assert run("policy", "add", "-p", fx, "--allow", "--tool", "echo").returncode == 0
    assert run("policy", "add", "-p", fx, "--deny", "--tool", "*", "--id", "no-tools").returncode == 0
    assert [rule["id"] for rule in rules(acp_env)] == ["allow-echo", "allow-echo-tools-any", "allow-echo-2", "no-tools"]


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (("--allow", "--deny", "--tool", "x"), "one effect, not --allow and --deny"),
        (("--allow",), "at least one condition: add --tool"),
        (("--tool", "echo"), "add --allow, --deny or --ask"),
        (("--deny", "--tool", "x", "--cache-side-effect", "fs_read"), "only for --ask rules"),
        (("--deny", "--tool", "x", "--rule", '{"effect":"deny","conditions":{"tool_name":"x"}}'), "not both"),
        (("--deny", "--tool", "x", "--id", "keep"), "id 'keep' is already used"),
        (("--deny", "--tool", "  "), "must not be empty"),
        (("--deny", "--resource-type", "tool", "--resource-type", "prompt"), "--resource-type takes one value"),
        (("--deny", "--operation", "erase"), "'erase' is not one of"),
    ],
)
def test_bad_flags_are_refused_and_the_policy_is_unchanged(run, acp_env, fx, args, problem) -> None:
    assert run("policy", "add", "-p", fx, "--allow", "--tool", "echo", "--id", "keep").returncode == 0
    before = policy_path(acp_env).read_bytes()
    result = run("policy", "add", "-p", fx, *args)
    assert result.returncode != 0
    assert problem in result.stderr, result.stderr
    assert policy_path(acp_env).read_bytes() == before


async def test_flag_rules_decide_real_calls_through_the_proxy(run, acp_env, fx, monkeypatch) -> None:
    assert (await asyncio.to_thread(run, "policy", "add", "-p", fx, "--allow", "--tool", "echo")).returncode == 0
    sock = socket_path(acp_env, fx, monkeypatch)
    proxy = await RawProxy.start(acp_env, fx)
    try:
        await proxy.initialize()
        allowed = await proxy.call_tool("echo", {"text": "hi"})
        assert allowed["result"]["content"][0]["text"] == "hi", allowed
        assert (await proxy.call_tool("add", {"a": 1, "b": 2}))["error"]["code"] == DENIED  # no rule: default deny

        deadline = time.monotonic() + 30
        while not sock.exists():
            assert time.monotonic() < deadline, f"the control socket {sock} never appeared"
            await asyncio.sleep(0.1)
        deny = await asyncio.to_thread(run, "policy", "add", "-p", fx, "--deny", "--tool", "echo", "--id", "no-echo")
        assert deny.returncode == 0, deny.stderr
        reload = await asyncio.to_thread(run, "policy", "reload", "-p", fx)
        # The file watch may have applied it already (1 → 2 or 2 → 2); either way 2 rules are in force.
        assert re.search(r"Policy reloaded: [12] → 2 rules", reload.stdout), reload.stdout + reload.stderr
        denied = await proxy.call_tool("echo", {"text": "hi"})
        assert denied["error"]["code"] == DENIED, denied

        # The running proxy answers `proxy tools` with its own engine.
        listed = await asyncio.to_thread(tools_json, run)
        assert listed["decided_by"] == "the running proxy"
        verdicts = {tool["name"]: (tool["decision"], tool["rule"]) for tool in listed["tools"]}
        assert verdicts["echo"] == ("deny", "no-echo") and verdicts["add"][0] == "deny"
        code, stderr = await proxy.finish()
        assert code == 0, stderr
    finally:
        if proxy.process.returncode is None:
            proxy.process.kill()
            await proxy.process.wait()


# --------------------------------------------------------------------------- proxy tools


def test_tools_lists_the_stdio_backend_with_the_policy_verdicts(run, acp_env, fx) -> None:
    run("policy", "add", "-p", fx, "--allow", "--tool", "echo")
    run("policy", "add", "-p", fx, "--ask", "--tool", "add")
    run("policy", "add", "-p", fx, "--deny", "--tool", "read_*", "--id", "no-reads")
    run("policy", "add", "-p", fx, "--allow", "--tool", "write_*", "--path", "~/src/**", "--id", "src-writes")
    listed = tools_json(run)
    assert listed["decided_by"].startswith("policy.json")
    by_name = {tool["name"]: tool for tool in listed["tools"]}
    assert {"echo", "add", "big", "read_file", "write_file"} <= set(by_name)
    assert (by_name["echo"]["decision"], by_name["echo"]["rule"]) == ("allow", "allow-echo")
    assert (by_name["add"]["decision"], by_name["add"]["rule"]) == ("hitl", "ask-add")
    assert (by_name["read_file"]["decision"], by_name["read_file"]["rule"]) == ("deny", "no-reads")
    assert by_name["big"]["decision"] == "deny"
    # A path rule cannot match a call without arguments: it is listed as deciding the calls with paths.
    assert (by_name["write_file"]["decision"], by_name["write_file"]["rule"]) == ("deny", "default")
    assert by_name["write_file"]["with_arguments"] == [{"id": "src-writes", "effect": "allow"}]
    assert by_name["echo"]["with_arguments"] == []
    assert by_name["echo"]["description"] == "Return the text unchanged."

    table = run("proxy", "tools", fx)
    assert table.returncode == 0, table.stderr
    for word in ("echo", "allow-echo", "ask", "no-reads", "write_file", "src-writes"):
        assert word in table.stdout, table.stdout


def test_tools_shows_annotations(run, acp_env) -> None:
    added = run("proxy", "add", "notes", "--command", sys.executable, "--arg", ANNOTATED)
    assert added.returncode == 0, added.stderr
    by_name = {tool["name"]: tool for tool in tools_json(run, "notes")["tools"]}
    assert by_name["list_notes"]["annotations"] == {"readOnlyHint": True, "openWorldHint": False}
    assert by_name["delete_note"]["annotations"] == {"destructiveHint": True, "idempotentHint": True}
    assert by_name["plain"]["annotations"] == {}
    assert {tool["decision"] for tool in by_name.values()} == {"deny"}  # a new proxy denies everything
    table = run("proxy", "tools", "notes")
    assert "readOnly" in table.stdout and "destructive" in table.stdout and "openWorld=false" in table.stdout


def test_tools_of_a_backend_that_does_not_start_says_so(run, acp_env, tmp_path: Path) -> None:
    broken = tmp_path / "broken.py"
    broken.write_text("raise SystemExit(3)\n", encoding="utf-8")
    assert run("proxy", "add", "broken", "--command", sys.executable, "--arg", str(broken)).returncode == 0
    result = run("proxy", "tools", "broken")
    assert result.returncode == 1
    assert "did not list its tools" in result.stderr and "broken.py" in result.stderr, result.stderr


def test_tools_of_an_unknown_proxy(run) -> None:
    result = run("proxy", "tools", "nope")
    assert result.returncode != 0 and "nope" in result.stderr


def test_label_flags_write_the_trifecta_rule(run, acp_env, fx) -> None:
    """Issue 22: --tool-label and --session-label are lists, each label checked."""
    result = run(
        "policy", "add", "-p", fx, "--ask", "--tool-label", "egress", "--session-label", "private_data",
        "--session-label", "untrusted_content", "--id", "trifecta",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    [rule] = rules(acp_env)
    assert rule["conditions"] == {"tool_labels": ["egress"], "session_labels": ["private_data", "untrusted_content"]}
    bad = run("policy", "add", "-p", fx, "--deny", "--tool-label", "private")
    assert bad.returncode != 0 and "private_data" in bad.stderr
