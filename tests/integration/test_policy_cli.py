"""`mcp-acp policy …` as a user runs it: the real executable, a private MCP_ACP_HOME, no terminal
(except where a test gives the command a pseudo-terminal to run an editor in).

Every command is checked for its exit code and its message, and never to print a traceback.
"""

from __future__ import annotations

import asyncio
import json
import os
import pty
import re
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.processes import BACKEND, MCP_ACP
from tests.support.proxies import RawProxy

NAME = "fx"
VALID = {
    "rules": [
        {
            "id": "read-data",
            "description": "reads under /data",
            "effect": "allow",
            "conditions": {"tool_name": "read_*", "path_pattern": "/data/**"},
        },
        {"effect": "deny", "conditions": {"extension": [".env", ".pem"]}},
    ]
}
# Five problems at once: top level, and rules 0-3 (each named by index, and by id where it has one).
INVALID = {
    "default_action": "allow",
    "rules": [
        {"id": "r0", "effect": "maybe", "conditions": {"tool_name": "*"}},
        {"id": "r1", "effect": "allow", "conditions": {}},
        {"id": "r2", "effect": "allow", "conditions": {"tool_name": "  "}},
        {"effect": "deny", "conditions": {"tool_name": "x"}, "cache_side_effects": ["fs_read"]},
    ],
}


# --------------------------------------------------------------------------- helpers


def policy_path(env: dict, name: str = NAME) -> Path:
    return Path(env["MCP_ACP_HOME"]) / "config" / "proxies" / name / "policy.json"


def write_policy(env: dict, policy: dict | str, name: str = NAME) -> None:
    path = policy_path(env, name)
    tmp = path.with_name(".policy.json.test-tmp")
    tmp.write_text(policy if isinstance(policy, str) else json.dumps(policy, indent=2), encoding="utf-8")
    tmp.replace(path)


def no_traceback(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout, result.stderr
    return result


@pytest.fixture
def run(cli):
    """The `cli` fixture (an initialized MCP_ACP_HOME), asserting no traceback on every call."""
    return lambda *args: no_traceback(cli(*args))


@pytest.fixture
def fx(run, acp_env) -> str:
    assert (
        run("proxy", "add", NAME, "--server-name", "fixture", "--command", sys.executable, "--arg", BACKEND).returncode
        == 0
    )
    return NAME


def run_in_terminal(env: dict, args: list[str], typed: bytes = b"", timeout: float = 60) -> subprocess.CompletedProcess:
    """`mcp-acp ARGS` with a pseudo-terminal as stdin (so it may run an editor and ask questions);
    `typed` is what the user types. stdout and stderr are captured as usual."""
    master, slave = pty.openpty()
    try:
        process = subprocess.Popen(
            [MCP_ACP, *args],
            env=env,
            stdin=slave,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        os.close(slave)
        slave = -1
        if typed:
            os.write(master, typed)
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate()
            raise AssertionError(f"mcp-acp {' '.join(args)} hung:\n{stdout}\n{stderr}") from None
    finally:
        if slave >= 0:
            os.close(slave)
        os.close(master)
    return no_traceback(subprocess.CompletedProcess(args, process.returncode, stdout, stderr))


@pytest.fixture
def editor(tmp_path: Path, acp_env: dict):
    """An $EDITOR that writes the next of the given texts into the file it is asked to edit
    (None: leave it as it is), and records what it was shown. Returns (env, shown)."""
    script = tmp_path / "fake_editor.py"
    plan = tmp_path / "editor-plan.json"
    shown = tmp_path / "editor-shown.json"
    script.write_text(
        "import json, sys\n"
        f"plan = json.load(open({str(plan)!r}))\n"
        f"shown_path = {str(shown)!r}\n"
        "try:\n    shown = json.load(open(shown_path))\nexcept FileNotFoundError:\n    shown = []\n"
        "target = sys.argv[-1]\n"
        "shown.append(open(target).read())\n"
        "json.dump(shown, open(shown_path, 'w'))\n"
        "text = plan[len(shown) - 1]\n"
        "if text is not None:\n    open(target, 'w').write(text)\n",
        encoding="utf-8",
    )

    def setup(*texts: str | None) -> tuple[dict, Path]:
        plan.write_text(json.dumps(list(texts)), encoding="utf-8")
        shown.unlink(missing_ok=True)
        env = {k: v for k, v in acp_env.items() if k != "VISUAL"}
        env["EDITOR"] = f"{sys.executable} {script}"
        return env, shown

    return setup


def socket_path(env: dict, name: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    from mcp_acp.config import paths

    monkeypatch.setenv("MCP_ACP_HOME", env["MCP_ACP_HOME"])
    return paths.proxy_socket_path(name)


# --------------------------------------------------------------------------- show / path


def test_show_prints_a_table_and_json(run, acp_env, fx) -> None:
    write_policy(acp_env, VALID)
    table = run("policy", "show", "--proxy", fx)
    assert table.returncode == 0, table.stderr
    out = table.stdout
    assert "Policy of 'fx'" in out and "default: deny" in out
    for text in (
        "read-data",
        "allow",
        "tool_name = read_*",
        "path_pattern = /data/**",
        "reads under /data",
        "deny",
        "extension = .env, .pem",
    ):
        assert text in out, (text, out)
    generated = re.search(r"rule_[0-9a-f]{8}", out)
    assert generated, out  # the rule without an id gets its generated one

    as_json = run("policy", "show", "--proxy", fx, "--json")
    assert as_json.returncode == 0, as_json.stderr
    data = json.loads(as_json.stdout)
    assert data["default_action"] == "deny" and data["version"] == "1"
    assert [r["id"] for r in data["rules"]] == ["read-data", generated.group(0)]
    assert data["rules"][0] == {
        "id": "read-data",
        "description": "reads under /data",
        "effect": "allow",
        "conditions": {"tool_name": "read_*", "path_pattern": "/data/**"},
    }
    assert data["rules"][1]["conditions"] == {"extension": [".env", ".pem"]}
    # Stable: the generated id is derived from the rule, not random.
    assert json.loads(run("policy", "show", "--proxy", fx, "--json").stdout) == data


def test_show_empty_policy_says_everything_is_denied(run, acp_env, fx) -> None:
    result = run("policy", "show", "--proxy", fx)  # a new proxy's policy: deny-all
    assert result.returncode == 0
    assert "has no rules: every request is denied" in result.stdout
    assert json.loads(run("policy", "show", "--proxy", fx, "--json").stdout)["rules"] == []


def test_show_invalid_policy_fails_with_the_problems(run, acp_env, fx) -> None:
    write_policy(acp_env, INVALID)
    result = run("policy", "show", "--proxy", fx)
    assert result.returncode == 1
    assert "rule 0 (id 'r0')" in result.stderr and "'maybe'" in result.stderr


def test_path_prints_one_or_all_policy_files(run, acp_env, fx) -> None:
    assert (
        run("proxy", "add", "other", "--server-name", "o", "--command", sys.executable, "--arg", BACKEND).returncode
        == 0
    )
    one = run("policy", "path", "--proxy", fx)
    assert one.returncode == 0 and one.stdout.strip() == str(policy_path(acp_env))
    everything = run("policy", "path")
    assert everything.returncode == 0
    assert everything.stdout.split() == [str(policy_path(acp_env, "fx")), str(policy_path(acp_env, "other"))]
    assert Path(one.stdout.strip()).is_file()


# --------------------------------------------------------------------------- validate


def test_validate_valid_and_invalid(run, acp_env, fx) -> None:
    write_policy(acp_env, VALID)
    ok = run("policy", "validate", "--proxy", fx)
    assert ok.returncode == 0, ok.stderr
    assert "fx: 2 rules, valid" in ok.stdout

    write_policy(acp_env, INVALID)
    bad = run("policy", "validate", "--proxy", fx)
    assert bad.returncode == 1
    err = bad.stderr
    assert str(policy_path(acp_env)) in err
    problems = [line.strip() for line in err.splitlines() if line.strip().startswith("•")]
    assert len(problems) == 5, err  # every problem, not only the first
    expected = [
        ("default_action", "'allow'"),
        ("rule 0 (id 'r0')", "'maybe'"),
        ("rule 1 (id 'r1')", "at least one condition"),
        ("rule 2 (id 'r2')", "empty or whitespace"),
        ("rule 3", "cache_side_effects"),
    ]
    for where, what in expected:
        assert any(where in p and what in p for p in problems), (where, what, problems)
    assert "1 of 1 policies are invalid" in err

    write_policy(acp_env, '{"rules": [}')
    broken = run("policy", "validate", "--proxy", fx)
    assert broken.returncode == 1 and "not valid JSON (line 1" in broken.stderr


def test_validate_all_proxies(run, acp_env) -> None:
    none = run("policy", "validate")
    assert none.returncode == 1 and "no proxies are configured yet" in none.stderr
    for name in ("alpha", "beta"):
        assert (
            run("proxy", "add", name, "--server-name", name, "--command", sys.executable, "--arg", BACKEND).returncode
            == 0
        )
    both = run("policy", "validate")
    assert both.returncode == 0, both.stderr
    assert "alpha: 0 rules, valid" in both.stdout and "beta: 0 rules, valid" in both.stdout

    write_policy(acp_env, INVALID, name="beta")
    mixed = run("policy", "validate")
    assert mixed.returncode == 1
    assert "alpha: 0 rules, valid" in mixed.stdout  # the good one is still reported
    assert "beta:" in mixed.stderr and "rule 0 (id 'r0')" in mixed.stderr
    assert "1 of 2 policies are invalid" in mixed.stderr


# --------------------------------------------------------------------------- add --rule


def test_add_rule_appends_and_keeps_a_backup(run, acp_env, fx) -> None:
    write_policy(acp_env, VALID)
    before = policy_path(acp_env).read_text(encoding="utf-8")
    rule = {
        "id": "ask-writes",
        "effect": "hitl",
        "conditions": {"tool_name": "write_*"},
        "cache_side_effects": ["fs_write"],
    }
    result = run("policy", "add", "--proxy", fx, "--rule", json.dumps(rule))
    assert result.returncode == 0, result.stderr
    assert "Added rule 'ask-writes' (hitl)" in result.stdout
    assert "policy.json.bak" in result.stdout
    backup = policy_path(acp_env).with_name("policy.json.bak")
    assert backup.read_text(encoding="utf-8") == before
    saved = json.loads(policy_path(acp_env).read_text(encoding="utf-8"))
    assert saved["rules"][0]["id"] == "read-data" and saved["rules"][-1] == rule
    assert len(saved["rules"]) == 3
    assert stat.S_IMODE(policy_path(acp_env).stat().st_mode) == 0o600

    # Without an id: one is generated, and the policy stays valid.
    second = run("policy", "add", "--proxy", fx, "--rule", '{"effect":"deny","conditions":{"tool_name":"rm_*"}}')
    assert second.returncode == 0, second.stderr
    added = re.search(r"Added rule '(rule_[0-9a-f]{8})' \(deny\)", second.stdout)
    assert added, second.stdout
    assert json.loads(policy_path(acp_env).read_text())["rules"][-1]["id"] == added.group(1)
    assert json.loads(backup.read_text())["rules"][-1]["id"] == "ask-writes"  # the backup is the previous save
    assert run("policy", "validate", "--proxy", fx).returncode == 0


@pytest.mark.parametrize(
    ("rule", "problem"),
    [
        ('{"effect":"allow","conditions":{}}', "at least one condition"),
        ('{"effect":"allow","conditions":{"tool_nam":"x"}}', "unknown field"),
        ('{"effect":"permit","conditions":{"tool_name":"x"}}', "'permit'"),
        (
            '{"effect":"allow","conditions":{"tool_name":"x"},"cache_side_effects":["fs_read"]}',
            "only allowed when effect",
        ),
        ('{"id":"read-data","effect":"deny","conditions":{"tool_name":"x"}}', "already used"),
        ('{"effect": "allow", ', "not valid JSON"),
    ],
)
def test_add_invalid_rule_is_rejected_and_the_file_is_unchanged(run, acp_env, fx, rule, problem) -> None:
    write_policy(acp_env, VALID)
    before = policy_path(acp_env).read_bytes()
    result = run("policy", "add", "--proxy", fx, "--rule", rule)
    assert result.returncode == 1
    assert "the rule was not added" in result.stderr and problem in result.stderr, result.stderr
    assert policy_path(acp_env).read_bytes() == before
    assert not policy_path(acp_env).with_name("policy.json.bak").exists()


# --------------------------------------------------------------------------- edit


def test_edit_and_interactive_add_refuse_without_a_terminal(run, acp_env, fx) -> None:
    before = policy_path(acp_env).read_bytes()
    for args in (("policy", "edit", "--proxy", fx), ("policy", "add", "--proxy", fx)):
        result = run(*args)
        assert result.returncode == 1
        assert "editing needs a terminal" in result.stderr
        assert "policy add --rule" in result.stderr  # says what to do instead
    assert policy_path(acp_env).read_bytes() == before


def test_edit_with_an_editor_saves_a_valid_policy(run, acp_env, fx, editor) -> None:
    write_policy(acp_env, VALID)
    before = policy_path(acp_env).read_text(encoding="utf-8")
    new = json.dumps({"rules": [{"id": "only-echo", "effect": "allow", "conditions": {"tool_name": "echo"}}]})
    env, shown = editor(new)
    result = run_in_terminal(env, ["policy", "edit", "--proxy", fx])
    assert result.returncode == 0, result.stderr
    assert "Saved" in result.stdout and "policy reload --proxy fx" in result.stdout
    assert json.loads(shown.read_text()) == [before]  # the editor was given the current policy
    assert policy_path(acp_env).read_text(encoding="utf-8").strip() == new
    assert policy_path(acp_env).with_name("policy.json.bak").read_text(encoding="utf-8") == before
    assert json.loads(run("policy", "show", "--proxy", fx, "--json").stdout)["rules"][0]["id"] == "only-echo"


def test_edit_invalid_then_give_up_saves_nothing(acp_env, fx, editor) -> None:
    write_policy(acp_env, VALID)
    before = policy_path(acp_env).read_bytes()
    env, shown = editor(json.dumps({"rules": [{"id": "x", "effect": "maybe", "conditions": {"tool_name": "*"}}]}))
    result = run_in_terminal(env, ["policy", "edit", "--proxy", fx], typed=b"n\n")
    assert result.returncode == 1
    assert "That is not valid" in result.stderr and "'maybe'" in result.stderr
    assert "Edit again?" in result.stderr and "nothing was saved" in result.stderr
    assert len(json.loads(shown.read_text())) == 1
    assert policy_path(acp_env).read_bytes() == before
    assert not policy_path(acp_env).with_name("policy.json.bak").exists()


def test_edit_invalid_then_fix_it_in_the_editor(acp_env, fx, editor) -> None:
    write_policy(acp_env, VALID)
    invalid = '{"rules": [{"effect": "allow", "conditions": {}}'  # not even JSON
    valid = json.dumps({"rules": [{"id": "fixed", "effect": "deny", "conditions": {"tool_name": "rm"}}]})
    env, shown = editor(invalid, valid)
    result = run_in_terminal(env, ["policy", "edit", "--proxy", fx], typed=b"y\n")
    assert result.returncode == 0, result.stderr
    assert "not valid JSON" in result.stderr
    assert json.loads(shown.read_text())[1] == invalid  # the second round starts from the draft, not afresh
    assert json.loads(policy_path(acp_env).read_text())["rules"][0]["id"] == "fixed"


def test_edit_without_changes_saves_nothing(acp_env, fx, editor) -> None:
    write_policy(acp_env, VALID)
    before = policy_path(acp_env).read_bytes()
    env, _ = editor(None)
    result = run_in_terminal(env, ["policy", "edit", "--proxy", fx])
    assert result.returncode == 0, result.stderr
    assert "No changes" in result.stdout
    assert policy_path(acp_env).read_bytes() == before
    assert not policy_path(acp_env).with_name("policy.json.bak").exists()


def test_add_with_an_editor_starts_from_a_template(acp_env, fx, editor) -> None:
    write_policy(acp_env, VALID)
    rule = {"id": "from-editor", "effect": "allow", "conditions": {"tool_name": "echo"}}
    env, shown = editor(json.dumps(rule))
    result = run_in_terminal(env, ["policy", "add", "--proxy", fx])
    assert result.returncode == 0, result.stderr
    assert "effect: allow | deny | hitl" in result.stderr  # the rule schema is shown first
    template = json.loads(json.loads(shown.read_text())[0])
    assert {"id", "effect", "conditions"} <= template.keys()
    assert "Added rule 'from-editor' (allow)" in result.stdout
    assert json.loads(policy_path(acp_env).read_text())["rules"][-1] == rule


def test_edit_with_a_missing_editor_says_so(acp_env, fx, editor) -> None:
    env, _ = editor(None)
    env["EDITOR"] = "/nonexistent/editor-xyz"
    before = policy_path(acp_env).read_bytes()
    result = run_in_terminal(env, ["policy", "edit", "--proxy", fx])
    assert result.returncode == 1
    assert "editor-xyz" in result.stderr and "not found" in result.stderr and "$EDITOR" in result.stderr
    assert policy_path(acp_env).read_bytes() == before


# --------------------------------------------------------------------------- reload


def test_reload_when_not_running_warns_and_exits_0(run, acp_env, fx) -> None:
    result = run("policy", "reload", "--proxy", fx)
    assert result.returncode == 0, result.stderr
    assert "Proxy 'fx' is not running" in result.stderr
    assert str(policy_path(acp_env)) in result.stderr  # where the policy will come from when it starts


async def test_reload_when_running_reports_rules_and_version(run, acp_env, fx, tmp_path, monkeypatch) -> None:
    """policy.json is a symlink to a file outside the proxy's config folder, so the proxy's own
    file watch does not see the edits: only `policy reload` applies them, and its counts are exact."""
    external = tmp_path / "policy-target.json"
    external.write_text(json.dumps({"rules": [VALID["rules"][0]]}), encoding="utf-8")
    policy_path(acp_env).unlink()
    policy_path(acp_env).symlink_to(external)
    sock = socket_path(acp_env, fx, monkeypatch)
    proxy = await RawProxy.start(acp_env, fx)
    try:
        await proxy.initialize()
        deadline = time.monotonic() + 30
        while not sock.exists():
            assert time.monotonic() < deadline, f"the control socket {sock} never appeared"
            await asyncio.sleep(0.1)
        assert stat.S_IMODE(sock.stat().st_mode) == 0o600

        same = await asyncio.to_thread(run, "policy", "reload", "--proxy", fx)
        assert same.returncode == 0, same.stderr
        assert "Policy reloaded: 1 → 1 rules, version v1, 0 cached approvals cleared" in same.stdout, same.stdout

        external.write_text(json.dumps(VALID), encoding="utf-8")
        grown = await asyncio.to_thread(run, "policy", "reload", "--proxy", fx)
        assert grown.returncode == 0, grown.stderr
        assert "Policy reloaded: 1 → 2 rules, version v2" in grown.stdout, grown.stdout

        external.write_text(json.dumps(INVALID), encoding="utf-8")
        failed = await asyncio.to_thread(run, "policy", "reload", "--proxy", fx)
        assert failed.returncode == 1
        assert "Reload failed" in failed.stderr and "v2 stays active" in failed.stderr
        assert "rule 0 (id 'r0')" in failed.stderr and "rule 1 (id 'r1')" in failed.stderr

        external.write_text("{}", encoding="utf-8")
        emptied = await asyncio.to_thread(run, "policy", "reload", "--proxy", fx)
        assert "Policy reloaded: 2 → 0 rules, version v3" in emptied.stdout, emptied.stdout
        denied = await proxy.call_tool("echo", {"text": "x"})
        assert denied["error"]["code"] == -32001  # and it is really in force
        code, stderr = await proxy.finish()
        assert code == 0, stderr
    finally:
        await proxy.close()
    # Once the proxy is gone, reload says so again.
    after = await asyncio.to_thread(run, "policy", "reload", "--proxy", fx)
    assert after.returncode == 0 and "is not running" in after.stderr


# --------------------------------------------------------------------------- unknown proxies


@pytest.mark.parametrize(
    "args",
    [
        ("show",),
        ("show", "--json"),
        ("validate",),
        ("path",),
        ("add", "--rule", '{"effect":"allow","conditions":{"tool_name":"x"}}'),
        ("edit",),
        ("reload",),
    ],
)
def test_unknown_proxy_gets_a_clear_error(run, fx, args) -> None:
    result = run("policy", args[0], "--proxy", "nope", *args[1:])
    assert result.returncode == 1, result
    assert "no proxy named 'nope'" in result.stderr and "configured: fx" in result.stderr, result.stderr
    assert result.stdout.strip() == ""  # nothing half-done or printed for a proxy that does not exist


@pytest.mark.parametrize("name", ["../fx", "a/b", "-x", ""])
def test_invalid_proxy_name_is_refused(run, fx, name) -> None:
    result = run("policy", "show", "--proxy", name)
    assert result.returncode != 0
    assert "Error" in result.stderr and (
        "invalid proxy name" in result.stderr
        or "no proxy named" in result.stderr
        or "requires an argument" in result.stderr
    ), result.stderr


def test_proxy_option_is_required(run, fx) -> None:
    for command in ("show", "edit", "add", "reload"):
        result = run("policy", command)
        assert result.returncode == 2 and "--proxy" in result.stderr, (command, result.stderr)
