"""Policy enforcement end to end: a real client → `mcp-acp start` → the official server-filesystem.

Nothing is mocked: the proxy runs as its own process (started through its CLI), the backend is
`@modelcontextprotocol/server-filesystem` from tests/npm, and the client is either the MCP SDK's
`ClientSession` or `RawProxy` (raw JSON-RPC lines, so every field of an error is visible).

Where a test is about the proxy's own protection, the backend is given an allowed folder that
contains MCP_ACP_HOME, so the backend would happily serve the proxy's config and logs: only the
proxy stands in the way. Policies are written as files and reloaded the ways a user would:
`mcp-acp policy reload`, saving policy.json, SIGHUP.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.shared.exceptions import MCPError

from tests.support.audit import read_jsonl
from tests.support.config import HIGH_LIMITS, proxy_config_dir, proxy_log_dir
from tests.support.processes import MCP_ACP, ROOT
from tests.support.proxies import RawProxy

FILESYSTEM_BIN = ROOT / "tests" / "npm" / "node_modules" / ".bin" / "mcp-server-filesystem"

pytestmark = [
    pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning"),
    pytest.mark.skipif(
        not FILESYSTEM_BIN.exists() or shutil.which("node") is None,
        reason="server-filesystem or node missing: run `make npm-deps`",
    ),
]

NAME = "fs"
SERVER_NAME = "filesystem"
POLICY_DENIED = -32001
PROTECTED_RULE = "built_in_protected_path"
PROTECTED_TEXT = "mcp-acp's own configuration or log folders"
RELOAD_DEADLINE = 30.0  # seconds a reload may take to show on a loaded CI box


# --------------------------------------------------------------------------- helpers


def home(env: dict) -> Path:
    return Path(env["MCP_ACP_HOME"])


def proxy_dir(env: dict, name: str = NAME) -> Path:
    return proxy_config_dir(env, name)


def log_dir(env: dict, name: str = NAME) -> Path:
    return proxy_log_dir(env, name)


def decisions(env: dict, name: str = NAME) -> list[dict]:
    return read_jsonl(log_dir(env, name) / "audit" / "decisions.jsonl")


def operations(env: dict, name: str = NAME) -> list[dict]:
    return read_jsonl(log_dir(env, name) / "audit" / "operations.jsonl")


def policy_history(env: dict, name: str = NAME) -> list[dict]:
    return read_jsonl(log_dir(env, name) / "system" / "policy_history.jsonl")


def write_policy(env: dict, policy: dict | str, name: str = NAME) -> None:
    """Save policy.json the way an editor does: a new file renamed over the old one, so a
    watching proxy never reads half a file."""
    target = proxy_dir(env, name) / "policy.json"
    text = policy if isinstance(policy, str) else json.dumps(policy, indent=2)
    tmp = target.with_name(".policy.json.test-tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, target)


def add_fs_proxy(cli, env: dict, allowed: Path, policy: dict) -> None:
    """`mcp-acp proxy add` in front of server-filesystem serving `allowed`; limits out of the way."""
    cli(
        "proxy",
        "add",
        NAME,
        "--server-name",
        SERVER_NAME,
        "--command",
        str(FILESYSTEM_BIN),
        "--arg",
        str(allowed),
        check=True,
    )
    config_path = proxy_dir(env) / "config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["limits"] = HIGH_LIMITS  # these tests poll; the rate limits have their own suite
    config_path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    write_policy(env, policy)


def run_cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [MCP_ACP, *args], env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, check=False
    )
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    return result


async def cli_async(env: dict, *args: str) -> subprocess.CompletedProcess:
    """The CLI from inside a test that also drives the proxy: keep the event loop free."""
    return await asyncio.to_thread(run_cli, env, *args)


def text_of(answer: dict) -> str:
    result = answer.get("result")
    assert result is not None, f"expected a result, got {answer}"
    return "\n".join(block.get("text", "") for block in result.get("content", []))


def assert_ok(answer: dict) -> str:
    assert "error" not in answer, answer
    assert not answer["result"].get("isError"), answer
    return text_of(answer)


def assert_denied(answer: dict, *, final_rule: str | None = None, path: str | None = None) -> dict:
    """A policy refusal by the proxy: JSON-RPC error -32001 with the decision in `data`."""
    assert "result" not in answer, f"expected a denial, got a result: {answer}"
    error = answer["error"]
    assert error["code"] == POLICY_DENIED, error
    data = error["data"]
    assert data["decision"] == "deny"
    assert isinstance(data["matched_rules"], list)
    if final_rule is not None:
        assert data["final_rule"] == final_rule, error
    if path is not None:
        assert data["path"] == path, error
    return error


async def started(env: dict) -> RawProxy:
    proxy = await RawProxy.start(env, NAME)
    try:
        init = await proxy.initialize()
    except BaseException:
        await proxy.close()
        raise
    assert init["result"]["serverInfo"]["name"] == "secure-filesystem-server", init
    return proxy


async def poll(check, what: str, deadline: float = RELOAD_DEADLINE, interval: float = 0.2) -> Any:
    """Call async `check()` until it returns something truthy; fail with `what` after `deadline` s."""
    end = time.monotonic() + deadline
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {deadline}s waiting for {what}")
        await asyncio.sleep(interval)


def read_only_policy(folder: Path) -> dict:
    return {
        "rules": [
            {
                "id": "read-sandbox",
                "effect": "allow",
                "conditions": {"tool_name": "read_*", "path_pattern": f"{folder}/**"},
            }
        ]
    }


ALLOW_EVERYTHING = {"rules": [{"id": "allow-all", "effect": "allow", "conditions": {"tool_name": "*"}}]}


@pytest.fixture
def sandbox(tmp_path: Path) -> Path:
    folder = (tmp_path / "sandbox").resolve()
    folder.mkdir()
    (folder / "hello.txt").write_text("hello from the sandbox\n", encoding="utf-8")
    return folder


# --------------------------------------------------------------------------- a real SDK client


async def test_sdk_client_reads_inside_the_folder_and_a_write_is_denied(launcher: Any, sandbox: Path) -> None:
    """The official MCP client through the proxy: discovery and reads work, a write is a -32001."""
    params = launcher.proxy(FILESYSTEM_BIN, [str(sandbox)], name=NAME, server_name=SERVER_NAME)
    write_policy(launcher.env, read_only_policy(sandbox))  # replaces the allow-all the Launcher wrote
    target = sandbox / "planted.txt"
    with anyio.fail_after(90):
        async with launcher.connect(params, label="policy-sdk") as conn:
            session = conn.session
            tools = {tool.name for tool in (await session.list_tools()).tools}
            assert {"read_text_file", "write_file", "read_multiple_files"} <= tools  # discovery is not filtered

            read = await session.call_tool("read_text_file", {"path": str(sandbox / "hello.txt")})
            assert not read.is_error and launcher.text_of(read) == "hello from the sandbox\n"

            with pytest.raises(MCPError) as denied:
                await session.call_tool("write_file", {"path": str(target), "content": "nope"})
            assert denied.value.error.code == POLICY_DENIED
            assert denied.value.error.message == f"Policy denied: tools/call on {target}"
            assert denied.value.error.data["final_rule"] == "default"
            assert not target.exists()  # the request never reached the backend

            # A denial does not break the session.
            again = await session.call_tool("read_text_file", {"path": str(sandbox / "hello.txt")})
            assert launcher.text_of(again) == "hello from the sandbox\n"


# --------------------------------------------------------------------------- zero trust default


async def test_empty_policy_denies_every_call_but_discovery_works(cli, acp_env, sandbox: Path) -> None:
    """docs/policies.md#how-a-request-is-decided: `{}` denies tools/call; initialize and tools/list still work."""
    add_fs_proxy(cli, acp_env, sandbox, {})
    proxy = await started(acp_env)
    try:
        listed = await proxy.request("tools/list")
        names = {tool["name"] for tool in listed["result"]["tools"]}
        assert {"read_text_file", "write_file", "list_allowed_directories"} <= names

        no_path = await proxy.call_tool("list_allowed_directories", {})
        error = assert_denied(no_path, final_rule="default", path=None)
        assert error["message"] == "Policy denied: tools/call"
        assert error["data"]["matched_rules"] == [] and error["data"]["tool"] == "list_allowed_directories"

        hello = str(sandbox / "hello.txt")
        error = assert_denied(
            await proxy.call_tool("read_text_file", {"path": hello}), final_rule="default", path=hello
        )
        assert error["message"] == f"Policy denied: tools/call on {hello}"
        assert "hello from the sandbox" not in json.dumps(error)

        assert (await proxy.request("ping"))["result"] == {}  # still alive and answering
        code, stderr = await proxy.finish()
        assert code == 0, stderr
    finally:
        await proxy.close()
    by_method = Counter((entry["mcp_method"], entry["decision"], entry["final_rule"]) for entry in decisions(acp_env))
    assert by_method[("initialize", "allow", "discovery_bypass")] == 1
    assert by_method[("tools/list", "allow", "discovery_bypass")] == 1
    assert by_method[("ping", "allow", "discovery_bypass")] == 1
    assert by_method[("tools/call", "deny", "default")] == 2
    assert not any(entry["decision"] == "allow" and entry["mcp_method"] == "tools/call" for entry in decisions(acp_env))


# --------------------------------------------------------------------------- the proxy's own folders


async def test_own_folders_are_denied_even_when_the_policy_allows_everything(cli, acp_env, tmp_path: Path) -> None:
    """The backend may read all of tmp_path, MCP_ACP_HOME included; the policy allows every tool.
    Config, logs and the runtime folder must still be out of reach, however they are named."""
    allowed = tmp_path.resolve()
    add_fs_proxy(cli, acp_env, allowed, ALLOW_EVERYTHING)
    acp_home = home(acp_env).resolve()
    plain = allowed / "plain.txt"
    plain.write_text("ordinary file\n", encoding="utf-8")
    policy_file = acp_home / "config" / "proxies" / NAME / "policy.json"
    manager_file = acp_home / "config" / "manager.json"
    decisions_file = acp_home / "logs" / "mcp-acp" / "proxies" / NAME / "audit" / "decisions.jsonl"
    run_folder = acp_home / "run"
    proxy = await started(acp_env)
    try:
        # Control: with this policy and this backend, an ordinary file anywhere in tmp_path is readable.
        assert assert_ok(await proxy.call_tool("read_text_file", {"path": str(plain)})) == "ordinary file\n"
        # ... and the backend itself would serve the proxy's folders: only the proxy stands in the way.
        listing = assert_ok(await proxy.call_tool("list_directory", {"path": str(acp_home)}))
        assert "[DIR] config" in listing

        for path in (
            str(policy_file),
            str(manager_file),
            str(decisions_file),
            f"{allowed}/./acp-home/../acp-home/config/manager.json",
        ):  # `..` spelling
            error = assert_denied(await proxy.call_tool("read_text_file", {"path": path}), final_rule=PROTECTED_RULE)
            assert error["message"].startswith("Policy denied: tools/call on ")
            assert PROTECTED_TEXT in error["message"]
            assert error["data"]["matched_rules"] == []  # no rule can override it
            assert "allow-all" not in json.dumps(error)
        assert_denied(await proxy.call_tool("list_directory", {"path": str(run_folder)}), final_rule=PROTECTED_RULE)
        assert_denied(
            await proxy.call_tool("get_file_info", {"path": str(acp_home / "logs" / "mcp-acp")}),
            final_rule=PROTECTED_RULE,
        )

        # A backend asked to rewrite the policy, or to plant a file among the logs, is refused too.
        before = policy_file.read_bytes()
        assert_denied(
            await proxy.call_tool("write_file", {"path": str(policy_file), "content": "{}"}), final_rule=PROTECTED_RULE
        )
        assert policy_file.read_bytes() == before
        planted = decisions_file.parent / "planted.txt"
        assert_denied(
            await proxy.call_tool("write_file", {"path": str(planted), "content": "x"}), final_rule=PROTECTED_RULE
        )
        assert not planted.exists()

        # A list of paths: one protected file among ordinary ones refuses the whole request.
        mixed = await proxy.call_tool("read_multiple_files", {"paths": [str(plain), str(manager_file)]})
        error = assert_denied(mixed, final_rule=PROTECTED_RULE)
        assert str(manager_file) in error["message"]
        assert '"auth"' not in json.dumps(mixed)  # nothing of manager.json leaked
        fine = assert_ok(await proxy.call_tool("read_multiple_files", {"paths": [str(plain)]}))
        assert "ordinary file" in fine

        code, stderr = await proxy.finish()
        assert code == 0, stderr
    finally:
        await proxy.close()
    protected = [e for e in decisions(acp_env) if e.get("final_rule") == PROTECTED_RULE]
    assert len(protected) == 9 and {e["decision"] for e in protected} == {"deny"}


async def test_symlinks_cannot_carry_a_request_out_of_the_allowed_folder(
    cli, acp_env, tmp_path: Path, sandbox: Path
) -> None:
    """The policy allows reads inside the sandbox; the backend serves all of tmp_path. A symlink in
    the sandbox pointing outside it, or into the proxy's config, is judged by where it leads."""
    outside = tmp_path.resolve() / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("TOP SECRET\n", encoding="utf-8")
    add_fs_proxy(cli, acp_env, tmp_path.resolve(), read_only_policy(sandbox))
    config_dir = home(acp_env).resolve() / "config"
    (sandbox / "escape.txt").symlink_to(outside / "secret.txt")
    (sandbox / "escape-dir").symlink_to(outside, target_is_directory=True)
    (sandbox / "config-link.json").symlink_to(config_dir / "manager.json")
    (sandbox / "config-dir").symlink_to(config_dir, target_is_directory=True)
    (sandbox / "inner-link.txt").symlink_to(sandbox / "hello.txt")  # stays inside: fine
    proxy = await started(acp_env)
    try:
        assert assert_ok(await proxy.call_tool("read_text_file", {"path": str(sandbox / "hello.txt")})) == (
            "hello from the sandbox\n"
        )
        assert assert_ok(await proxy.call_tool("read_text_file", {"path": str(sandbox / "inner-link.txt")})) == (
            "hello from the sandbox\n"
        )

        for link in ("escape.txt", "escape-dir/secret.txt"):
            answer = await proxy.call_tool("read_text_file", {"path": str(sandbox / link)})
            error = assert_denied(answer, final_rule="default")
            assert "TOP SECRET" not in json.dumps(answer)
            assert error["message"] == f"Policy denied: tools/call on {sandbox / link}"

        for link in ("config-link.json", "config-dir/manager.json", "config-dir/proxies/fs/policy.json"):
            answer = await proxy.call_tool("read_text_file", {"path": str(sandbox / link)})
            error = assert_denied(answer, final_rule=PROTECTED_RULE)
            assert PROTECTED_TEXT in error["message"]
            assert "read-sandbox" not in json.dumps(error["data"])
        # In a list too.
        assert_denied(
            await proxy.call_tool(
                "read_multiple_files", {"paths": [str(sandbox / "hello.txt"), str(sandbox / "config-link.json")]}
            ),
            final_rule=PROTECTED_RULE,
        )
    finally:
        await proxy.close()


# --------------------------------------------------------------------------- combining rules


async def test_deny_overrides_allow_and_hitl_overrides_deny(cli, acp_env, sandbox: Path) -> None:
    """docs/policies.md#how-a-request-is-decided, docs/policies.md#combining-rules with co-matching rules, through the real backend."""
    locked = sandbox / "locked"
    locked.mkdir()
    (locked / "s.txt").write_text("locked secret\n", encoding="utf-8")
    policy = {
        "rules": [
            {
                "id": "read-sandbox",
                "effect": "allow",
                "conditions": {"tool_name": "read_*", "path_pattern": f"{sandbox}/**"},
            },
            {"id": "deny-locked", "effect": "deny", "conditions": {"path_pattern": "**/locked/**"}},
            {
                "id": "ask-writes",
                "effect": "hitl",
                "conditions": {"tool_name": "write_*", "path_pattern": f"{sandbox}/**"},
            },
        ]
    }
    add_fs_proxy(cli, acp_env, sandbox, policy)
    proxy = await started(acp_env)
    try:
        # Only the allow rule matches: allowed.
        assert assert_ok(await proxy.call_tool("read_text_file", {"path": str(sandbox / "hello.txt")})) == (
            "hello from the sandbox\n"
        )

        # Allow and deny both match: deny wins.
        answer = await proxy.call_tool("read_text_file", {"path": str(locked / "s.txt")})
        error = assert_denied(answer, final_rule="deny-locked", path=str(locked / "s.txt"))
        assert error["message"] == f"Policy denied: tools/call on {locked / 's.txt'}"
        assert sorted(error["data"]["matched_rules"]) == ["deny-locked", "read-sandbox"]
        assert "locked secret" not in json.dumps(answer)

        # Deny and HITL both match: HITL wins (and with no approver, the request is refused as such).
        target = locked / "new.txt"
        answer = await proxy.call_tool("write_file", {"path": str(target), "content": "x"})
        error = assert_denied(answer, final_rule="ask-writes", path=str(target))
        assert error["message"].startswith("Approval required but no approver is available"), error
        assert str(target) in error["message"]
        assert sorted(error["data"]["matched_rules"]) == ["ask-writes", "deny-locked"]
        assert not target.exists()

        # Only HITL matches: also asked (and refused), never silently allowed.
        free = sandbox / "free.txt"
        error = assert_denied(
            await proxy.call_tool("write_file", {"path": str(free), "content": "x"}), final_rule="ask-writes"
        )
        assert error["message"].startswith("Approval required but no approver is available")
        assert error["data"]["matched_rules"] == ["ask-writes"]
        assert not free.exists()
        code, stderr = await proxy.finish()
        assert code == 0, stderr
    finally:
        await proxy.close()
    calls = [e for e in decisions(acp_env) if e["mcp_method"] == "tools/call"]
    assert [(e["final_rule"], e["decision"]) for e in calls] == [
        ("read-sandbox", "allow"),
        ("deny-locked", "deny"),
        ("ask-writes", "hitl"),
        ("ask-writes", "hitl"),
    ]
    assert [sorted(r["id"] for r in e["matched_rules"]) for e in calls] == [
        ["read-sandbox"],
        ["deny-locked", "read-sandbox"],
        ["ask-writes", "deny-locked"],
        ["ask-writes"],
    ]
    asked = calls[2:]
    assert all(e["matched_rules"][0]["effect"] in ("deny", "hitl") for e in asked)
    assert all(e.get("hitl_outcome") == "no_approver" for e in asked)  # asked, and nobody could answer
    assert all("policy_hitl_ms" in e for e in asked)


# --------------------------------------------------------------------------- reload


async def test_invalid_policy_on_reload_keeps_the_old_one_then_a_saved_valid_file_applies(
    cli, acp_env, sandbox: Path
) -> None:
    add_fs_proxy(cli, acp_env, sandbox, read_only_policy(sandbox))
    hello, target = str(sandbox / "hello.txt"), sandbox / "written.txt"
    proxy = await started(acp_env)
    try:
        assert assert_ok(await proxy.call_tool("read_text_file", {"path": hello})) == "hello from the sandbox\n"
        assert_denied(await proxy.call_tool("write_file", {"path": str(target), "content": "1"}), final_rule="default")

        # An invalid file: two problems in two rules. The watcher sees it too; both reloads must fail.
        write_policy(
            acp_env,
            {
                "rules": [
                    {"id": "bad-effect", "effect": "maybe", "conditions": {"tool_name": "*"}},
                    {"id": "no-conditions", "effect": "allow", "conditions": {}},
                ]
            },
        )
        reload = await cli_async(acp_env, "policy", "reload", "--proxy", NAME)
        assert reload.returncode == 1, reload
        assert "Reload failed" in reload.stderr and "v1 stays active" in reload.stderr
        assert "rule 0 (id 'bad-effect')" in reload.stderr and "'maybe'" in reload.stderr
        assert "rule 1 (id 'no-conditions')" in reload.stderr and "at least one condition" in reload.stderr

        # The old policy is still in force: reads allowed, writes denied, version unchanged.
        assert assert_ok(await proxy.call_tool("read_text_file", {"path": hello})) == "hello from the sandbox\n"
        assert_denied(await proxy.call_tool("write_file", {"path": str(target), "content": "2"}), final_rule="default")
        assert not target.exists()
        assert {e["policy_version"] for e in decisions(acp_env)} == {"v1"}

        # Not JSON at all: same.
        write_policy(acp_env, '{"rules": [')
        reload = await cli_async(acp_env, "policy", "reload", "--proxy", NAME)
        assert reload.returncode == 1 and "not valid JSON" in reload.stderr, reload
        assert assert_ok(await proxy.call_tool("read_text_file", {"path": hello})) == "hello from the sandbox\n"

        # A valid edit, only saved: the proxy's file watch applies it. Poll a write until it passes.
        write_policy(
            acp_env,
            {
                "rules": [
                    *read_only_policy(sandbox)["rules"],
                    {
                        "id": "write-sandbox",
                        "effect": "allow",
                        "conditions": {"tool_name": "write_*", "path_pattern": f"{sandbox}/**"},
                    },
                ]
            },
        )

        async def write_allowed() -> bool:
            answer = await proxy.call_tool("write_file", {"path": str(target), "content": "applied"})
            return "result" in answer and not answer["result"].get("isError")

        await poll(write_allowed, "the saved policy to be applied by the file watch")
        assert target.read_text(encoding="utf-8") == "applied"
        assert assert_ok(await proxy.call_tool("read_text_file", {"path": hello})) == "hello from the sandbox\n"
        code, stderr = await proxy.finish()
        assert code == 0, stderr
    finally:
        await proxy.close()
    history = policy_history(acp_env)
    bumps = [e for e in history if e["event"] == "manual_change_detected"]
    assert [(e["previous_version"], e["policy_version"], e["source"]) for e in bumps] == [("v1", "v2", "file_change")]
    assert json.loads(bumps[0]["snapshot"])["rules"][1]["id"] == "write-sandbox"
    calls = [e for e in decisions(acp_env) if e["mcp_method"] == "tools/call"]
    allowed_write = next(e for e in calls if e["tool_name"] == "write_file" and e["decision"] == "allow")
    assert allowed_write["policy_version"] == "v2" and allowed_write["final_rule"] == "write-sandbox"
    assert calls[0]["policy_version"] == "v1"


async def test_sighup_reloads_the_policy(cli, acp_env, sandbox: Path, tmp_path: Path) -> None:
    """SIGHUP alone applies an edit. policy.json is made a symlink to a file outside the watched
    folder, so saving that file is invisible to the file watch and only the signal can apply it."""
    add_fs_proxy(cli, acp_env, sandbox, read_only_policy(sandbox))
    hello = str(sandbox / "hello.txt")
    external = tmp_path / "external-policy.json"
    proxy = await started(acp_env)
    try:
        assert assert_ok(await proxy.call_tool("read_text_file", {"path": hello})) == "hello from the sandbox\n"
        loads_before = len([e for e in policy_history(acp_env) if e["event"] == "policy_loaded"])
        external.write_bytes((proxy_dir(acp_env) / "policy.json").read_bytes())  # same text: no version bump
        link = proxy_dir(acp_env) / ".policy-link.test-tmp"
        link.symlink_to(external)
        os.replace(link, proxy_dir(acp_env) / "policy.json")  # the watch sees this: same content, no bump

        async def watch_reloaded() -> bool:
            return len([e for e in policy_history(acp_env) if e["event"] == "policy_loaded"]) > loads_before

        await poll(watch_reloaded, "the file watch to reload the (unchanged) policy")

        external.write_text(json.dumps({}), encoding="utf-8")  # deny-all, not seen by the watch
        assert assert_ok(await proxy.call_tool("read_text_file", {"path": hello})) == "hello from the sandbox\n"

        os.kill(proxy.process.pid, signal.SIGHUP)

        async def read_denied() -> bool:
            return "error" in await proxy.call_tool("read_text_file", {"path": hello})

        await poll(read_denied, "SIGHUP to apply the deny-all policy")
        assert_denied(await proxy.call_tool("read_text_file", {"path": hello}), final_rule="default")
        code, stderr = await proxy.finish()  # SIGHUP reloads; it does not stop the proxy
        assert code == 0, stderr
    finally:
        await proxy.close()
    bumps = [e for e in policy_history(acp_env) if e["event"] == "manual_change_detected"]
    assert [(e["policy_version"], e["source"]) for e in bumps] == [("v2", "sighup")]
    assert decisions(acp_env)[-1]["policy_version"] == "v2"


# --------------------------------------------------------------------------- audit entries


DECISION_FIELDS = {
    "event",
    "decision",
    "final_rule",
    "matched_rules",
    "mcp_method",
    "subject_id",
    "backend_id",
    "policy_version",
    "policy_eval_ms",
    "policy_total_ms",
    "request_id",
    "session_id",
}


async def test_decisions_and_operations_entries(cli, acp_env, sandbox: Path) -> None:
    """docs/audit.md#what-the-main-entries-hold: one decision per request and discovery notification,
    with its fields; one operations entry per request, denials included."""
    add_fs_proxy(cli, acp_env, sandbox, read_only_policy(sandbox))
    hello = str(sandbox / "hello.txt")
    proxy = await started(acp_env)  # ids: initialize=1
    try:
        await proxy.request("tools/list")  # 2
        assert_ok(await proxy.call_tool("read_text_file", {"path": hello}))  # 3: allow
        assert_denied(await proxy.call_tool("write_file", {"path": str(sandbox / "w.txt"), "content": "x"}))  # 4
        config = str(home(acp_env) / "config" / "manager.json")
        assert_denied(await proxy.call_tool("read_text_file", {"path": config}), final_rule=PROTECTED_RULE)  # 5
        missing = str(sandbox / "missing.txt")
        answer = await proxy.call_tool("read_text_file", {"path": missing})  # 6: allowed, the backend fails it
        assert answer.get("result", {}).get("isError") or "error" in answer
        code, stderr = await proxy.finish()
        assert code == 0, stderr
    finally:
        await proxy.close()

    entries = decisions(acp_env)
    session_ids = {e["session_id"] for e in entries}
    assert len(session_ids) == 1 and None not in session_ids
    assert all(e["event"] == "policy_decision" for e in entries)
    assert all(None not in e.values() for e in entries)  # None fields are omitted

    discovery = [e for e in entries if e["final_rule"] == "discovery_bypass"]
    assert [e["mcp_method"] for e in discovery] == ["initialize", "notifications/initialized", "tools/list"]
    assert all(e["decision"] == "allow" and e["matched_rules"] == [] for e in discovery)
    assert [e.get("request_id") for e in discovery] == ["1", None, "2"]  # a notification has no id

    calls = [e for e in entries if e["mcp_method"] == "tools/call"]
    assert len(calls) == 4 and len(entries) == 7  # nothing else, nothing twice
    for entry in calls:
        assert DECISION_FIELDS | {"tool_name", "path"} <= entry.keys(), sorted(entry)
        assert entry["subject_id"] and entry["backend_id"] == SERVER_NAME and entry["policy_version"] == "v1"
        assert 0 <= entry["policy_eval_ms"] <= entry["policy_total_ms"] < 10_000
    assert [(e["request_id"], e["tool_name"], e["decision"], e["final_rule"]) for e in calls] == [
        ("3", "read_text_file", "allow", "read-sandbox"),
        ("4", "write_file", "deny", "default"),
        ("5", "read_text_file", "deny", PROTECTED_RULE),
        ("6", "read_text_file", "allow", "read-sandbox"),
    ]
    assert calls[0]["path"] == hello and calls[1]["path"] == str(sandbox / "w.txt")
    assert [{k: v for k, v in rule.items() if v is not None} for rule in calls[0]["matched_rules"]] == [
        {"id": "read-sandbox", "effect": "allow"}
    ]
    assert calls[1]["matched_rules"] == []
    assert PROTECTED_TEXT in calls[2]["reason"]

    ops = operations(acp_env)
    requests = Counter(e["request_id"] for e in ops if e.get("method") not in (None, "notifications/initialized"))
    assert requests == {"unknown": 1, "2": 1, "3": 1, "4": 1, "5": 1, "6": 1}  # initialize is "unknown"
    assert [e["method"] for e in ops].count("notifications/initialized") == 1
    by_id = {e["request_id"]: e for e in ops if "request_id" in e}
    assert by_id["3"]["status"] == "Success" and by_id["3"]["tool_name"] == "read_text_file"
    for denied in ("4", "5"):
        assert by_id[denied]["status"] == "Failure" and by_id[denied]["error_code"] == POLICY_DENIED
        assert by_id[denied]["message"].startswith("Policy denied: tools/call on ")
    assert by_id["4"]["file_path"] == str(sandbox / "w.txt")
    assert {e["session_id"] for e in ops} == session_ids
