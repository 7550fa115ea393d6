"""Rate limits, policy-filtered discovery and tool-description sanitizing, against real processes.

`mcp-acp start` runs as a subprocess in front of our fixture backends (tests/fixtures/backend.py,
and sneaky_backend.py for the sanitizer); the client is `RawProxy`, raw JSON-RPC lines on the
proxy's stdin/stdout. Limits and the discovery mode come from the proxy's config.json, exactly
as a user would set them.
"""

from __future__ import annotations

import asyncio
import json
import math
import subprocess
import sys
import time
import unicodedata
from pathlib import Path

import pytest
from sneaky_backend import (
    ARGUMENT_DESCRIPTION,
    PLAIN_DESCRIPTION,
    SNEAKY_DESCRIPTION,
    VERBOSE_DESCRIPTION,
)

from tests.support.audit import read_jsonl
from tests.support.config import HIGH_LIMITS, proxy_config_dir, proxy_log_dir
from tests.support.processes import BACKEND, MCP_ACP, ROOT
from tests.support.proxies import RawProxy

SNEAKY_BACKEND = str(ROOT / "tests" / "fixtures" / "sneaky_backend.py")
NAME = "fx"
POLICY_DENIED = -32001
ALLOW_ALL = {"rules": [{"id": "allow-all", "effect": "allow", "conditions": {"mcp_method": "*"}}]}
FIXTURE_TOOLS = {"echo", "add", "big", "slow", "crash", "read_file", "write_file"}
LIST_CHANGED = {
    "notifications/tools/list_changed",
    "notifications/resources/list_changed",
    "notifications/prompts/list_changed",
}


# --------------------------------------------------------------------------- helpers


def proxy_dir(env: dict, name: str = NAME) -> Path:
    return proxy_config_dir(env, name)


def log_dir(env: dict, name: str = NAME) -> Path:
    return proxy_log_dir(env, name)


def decisions(env: dict, name: str = NAME) -> list[dict]:
    return read_jsonl(log_dir(env, name) / "audit" / "decisions.jsonl")


def write_policy(env: dict, policy: dict, name: str = NAME) -> None:
    path = proxy_dir(env, name) / "policy.json"
    tmp = path.with_name(".policy.json.test-tmp")
    tmp.write_text(json.dumps(policy, indent=2), encoding="utf-8")
    tmp.replace(path)


def configure(env: dict, name: str = NAME, **changes) -> None:
    path = proxy_dir(env, name) / "config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    config.update(changes)
    path.write_text(json.dumps(config, indent=2), encoding="utf-8")


def add_proxy(cli, env: dict, script: str = BACKEND, name: str = NAME, server_name: str = "fixture") -> None:
    cli("proxy", "add", name, "--server-name", server_name, "--command", sys.executable, "--arg", script, check=True)


async def started(env: dict, name: str = NAME) -> RawProxy:
    proxy = await RawProxy.start(env, name)
    try:
        await proxy.initialize()
    except BaseException:
        await proxy.close()
        raise
    return proxy


async def cli_async(env: dict, *args: str) -> subprocess.CompletedProcess:
    def run() -> subprocess.CompletedProcess:
        return subprocess.run(
            [MCP_ACP, *args], env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, check=False
        )

    result = await asyncio.to_thread(run)
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    return result


def echoed(answer: dict) -> str | None:
    """The echoed text of a successful `echo` call, else None."""
    result = answer.get("result")
    if not result or result.get("isError"):
        return None
    return result["content"][0]["text"]


def denied(answer: dict, final_rule: str) -> dict:
    assert "result" not in answer, f"expected a denial, got {answer}"
    error = answer["error"]
    assert error["code"] == POLICY_DENIED, error
    assert error["data"]["final_rule"] == final_rule, error
    assert error["data"]["decision"] == "deny"
    return error


async def send_batch(proxy: RawProxy, calls: list[tuple[str, dict]], first_id: int) -> list[dict]:
    """Send all requests at once (no waiting in between), then collect every answer by id."""
    ids = list(range(first_id, first_id + len(calls)))
    for request_id, (tool, arguments) in zip(ids, calls, strict=True):
        await proxy.send(
            {
                "jsonrpc": "2.0",
                "id": request_id,
                "method": "tools/call",
                "params": {"name": tool, "arguments": arguments},
            }
        )
    answers: dict[int, dict] = {}
    while len(answers) < len(ids):
        message = await proxy.receive(timeout=30)
        if message.get("id") in ids and "method" not in message:
            answers[message["id"]] = message
    return [answers[i] for i in ids]


# --------------------------------------------------------------------------- flood limiter


async def test_flood_beyond_burst_is_refused_and_the_proxy_recovers(cli, acp_env) -> None:
    """Token bucket: burst 5, refill 1/s. Twenty calls at once: about five pass, the rest are
    refused with -32001 and logged as rate_limit_flood; once tokens refill, calls pass again."""
    add_proxy(cli, acp_env)
    write_policy(acp_env, ALLOW_ALL)
    configure(acp_env, limits={"requests_per_second": 1, "burst": 5, "tool_calls_per_window": 1000})
    proxy = await started(acp_env)  # initialize takes one token
    try:
        began = time.monotonic()
        answers = await send_batch(proxy, [("echo", {"text": f"n{i}"}) for i in range(20)], first_id=100)
        elapsed = time.monotonic() - began
        passed = [a for a in answers if echoed(a) is not None]
        refused = [a for a in answers if "error" in a]
        assert len(passed) + len(refused) == 20
        assert 1 <= len(passed) <= 5 + math.ceil(elapsed), (elapsed, answers)  # burst + what refilled meanwhile
        assert len(refused) >= 20 - 5 - math.ceil(elapsed) - 1
        for answer in refused:
            error = denied(answer, "rate_limit_flood")
            assert error["message"].startswith("Rate limit exceeded: tools/call refused"), error
            assert error["data"]["tool"] == "echo"
        for answer in passed:  # what got through is the backend's real answer
            assert echoed(answer) == f"n{answer['id'] - 100}"

        # The bucket refills at 1/s: the proxy serves again without a restart.
        deadline = time.monotonic() + 30
        while echoed(await proxy.call_tool("echo", {"text": "after"})) != "after":
            assert time.monotonic() < deadline, "the proxy never recovered from the flood"
            await asyncio.sleep(0.5)
        await asyncio.sleep(1.2)  # one more token
        assert (await proxy.request("tools/list"))["result"]["tools"]
        code, stderr = await proxy.finish()
        assert code == 0, stderr
    finally:
        await proxy.close()
    floods = [e for e in decisions(acp_env) if e["final_rule"] == "rate_limit_flood"]
    batch_floods = [e for e in floods if 100 <= int(e["request_id"]) < 120]
    assert len(batch_floods) == len(refused)
    assert all(e["decision"] == "deny" and e["mcp_method"] == "tools/call" and e["tool_name"] == "echo" for e in floods)
    assert {e["request_id"] for e in batch_floods} == {str(a["id"]) for a in refused}


# --------------------------------------------------------------------------- per-tool window


async def test_per_tool_window_breach_is_denied_and_other_tools_still_work(cli, acp_env) -> None:
    """tool_calls_per_window 3 (per_tool big: 1): the 4th echo in the window is a breach that
    needs a human; with no approver it is denied as rate_limit_breach. Other tools are counted apart."""
    add_proxy(cli, acp_env)
    write_policy(acp_env, ALLOW_ALL)
    configure(
        acp_env, limits={**HIGH_LIMITS, "tool_calls_per_window": 3, "window_seconds": 600, "per_tool": {"big": 1}}
    )
    proxy = await started(acp_env)
    try:
        for i in range(3):
            assert echoed(await proxy.call_tool("echo", {"text": f"e{i}"})) == f"e{i}"
        for _ in range(2):  # the 4th and the 5th: both over the limit
            error = denied(await proxy.call_tool("echo", {"text": "too many"}), "rate_limit_breach")
            assert error["message"].startswith("Rate limit exceeded: Approval required but no approver is available")
            assert error["data"]["tool"] == "echo"
        for i in range(3):  # another tool has its own count
            answer = await proxy.call_tool("add", {"a": i, "b": 1})
            assert answer["result"]["structuredContent"] == {"result": i + 1}, answer
        big = await proxy.call_tool("big", {"size_bytes": 10})
        assert big["result"]["content"][0]["text"] == "0123456789"
        denied(await proxy.call_tool("big", {"size_bytes": 10}), "rate_limit_breach")  # per-tool override: 1
        assert (await proxy.request("tools/list"))["result"]["tools"]  # discovery is not a tool call
        code, stderr = await proxy.finish()
        assert code == 0, stderr
    finally:
        await proxy.close()
    calls = [e for e in decisions(acp_env) if e["mcp_method"] == "tools/call"]
    assert [(e["tool_name"], e["decision"], e["final_rule"]) for e in calls] == [
        *[("echo", "allow", "allow-all")] * 3,
        *[("echo", "hitl", "rate_limit_breach")] * 2,  # a breach asks a human; nobody can answer yet
        *[("add", "allow", "allow-all")] * 3,
        ("big", "allow", "allow-all"),
        ("big", "hitl", "rate_limit_breach"),
    ]


async def test_per_tool_window_slides(cli, acp_env) -> None:
    """Calls count only while they are younger than window_seconds."""
    add_proxy(cli, acp_env)
    write_policy(acp_env, ALLOW_ALL)
    configure(acp_env, limits={**HIGH_LIMITS, "tool_calls_per_window": 3, "window_seconds": 4})
    proxy = await started(acp_env)
    try:
        began = time.monotonic()
        answers = await send_batch(proxy, [("echo", {"text": str(i)}) for i in range(4)], first_id=50)
        if time.monotonic() - began >= 4:
            pytest.skip("the machine is too slow to send four calls within the 4 s window")
        assert [echoed(a) for a in answers[:3]] == ["0", "1", "2"]
        denied(answers[3], "rate_limit_breach")
        # Refused attempts count too (a runaway loop stays blocked while it keeps hammering), so
        # wait out the window instead of polling into it: then the old calls no longer count.
        await asyncio.sleep(4.3)
        assert echoed(await proxy.call_tool("echo", {"text": "later"})) == "later"
        for i in range(2):  # a fresh window: up to the threshold again
            assert echoed(await proxy.call_tool("echo", {"text": str(i)})) == str(i)
    finally:
        await proxy.close()


# --------------------------------------------------------------------------- discovery: "filter"


NARROW_POLICY = {
    "rules": [
        {"id": "allow-echo-add", "effect": "allow", "conditions": {"tool_name": ["echo", "add"]}},
        {"id": "deny-big", "effect": "deny", "conditions": {"tool_name": "big"}},
        # Allowed on some paths only: the tool may be allowed, so it stays listed.
        {"id": "read-data", "effect": "allow", "conditions": {"tool_name": "read_file", "path_pattern": "/data/**"}},
        # A deny that depends on the path hides nothing.
        {"id": "no-secrets", "effect": "deny", "conditions": {"path_pattern": "**/secret/**"}},
    ]
}
WIDE_POLICY = {
    "rules": [
        {"id": "allow-tools", "effect": "allow", "conditions": {"tool_name": "*"}},
        {"id": "deny-crash", "effect": "deny", "conditions": {"tool_name": "crash"}},
        {"id": "resources", "effect": "allow", "conditions": {"mcp_method": "resources/read"}},
        {"id": "prompts", "effect": "allow", "conditions": {"mcp_method": "prompts/get"}},
    ]
}


async def listed(proxy: RawProxy) -> tuple[set[str], set[str], set[str]]:
    tools = (await proxy.request("tools/list"))["result"]["tools"]
    resources = (await proxy.request("resources/list"))["result"]["resources"]
    prompts = (await proxy.request("prompts/list"))["result"]["prompts"]
    return {t["name"] for t in tools}, {r["uri"] for r in resources}, {p["name"] for p in prompts}


async def notifications_until_ping(proxy: RawProxy) -> list[str]:
    """Every notification the proxy sends before it answers a ping sent now."""
    await proxy.send({"jsonrpc": "2.0", "id": "ping-mark", "method": "ping"})
    seen = []
    while True:
        message = await proxy.receive(timeout=30)
        if message.get("id") == "ping-mark" and "method" not in message:
            return seen
        if "method" in message and "id" not in message:
            seen.append(message["method"])


async def test_discovery_filter_hides_what_the_policy_denies_and_reload_reveals_it(cli, acp_env) -> None:
    add_proxy(cli, acp_env)
    write_policy(acp_env, NARROW_POLICY)
    configure(acp_env, discovery="filter", limits=HIGH_LIMITS)
    proxy = await started(acp_env)
    try:
        tools, resources, prompts = await listed(proxy)
        assert tools == {"echo", "add", "read_file"}
        assert resources == set() and prompts == set()

        # Hidden is not the same as decided: a call to a hidden tool is still judged (and refused).
        denied(await proxy.call_tool("slow", {"seconds": 0, "steps": 1}), "default")
        denied(await proxy.call_tool("big", {"size_bytes": 1}), "deny-big")
        assert echoed(await proxy.call_tool("echo", {"text": "visible"})) == "visible"

        write_policy(acp_env, WIDE_POLICY)
        reload = await cli_async(acp_env, "policy", "reload", "--proxy", NAME)
        assert reload.returncode == 0, reload.stderr
        assert "4 → 4 rules" in reload.stdout and "v2" in reload.stdout, reload.stdout

        # The client is told its lists changed (the file watch may reload too: at least once each).
        notices = await notifications_until_ping(proxy)
        assert set(notices) >= LIST_CHANGED, notices
        assert set(notices) <= LIST_CHANGED, notices

        tools, resources, prompts = await listed(proxy)
        assert tools == FIXTURE_TOOLS - {"crash"}  # allowed by "*", but denied outright by name
        assert resources == {"fixture://info"} and prompts == {"greet"}
        slow = await proxy.call_tool("slow", {"seconds": 0, "steps": 1})
        assert slow["result"]["content"][0]["text"] == "slept 0.0s in 1 steps", slow
        read = await proxy.request("resources/read", {"uri": "fixture://info"})
        assert read["result"]["contents"][0]["text"] == "acp test backend resource", read
        code, stderr = await proxy.finish()
        assert code == 0, stderr
    finally:
        await proxy.close()
    tools_lists = [e for e in decisions(acp_env) if e["mcp_method"] == "tools/list"]
    assert len(tools_lists) == 2 and {e["final_rule"] for e in tools_lists} == {"discovery_bypass"}


async def test_discovery_all_lists_everything_and_sends_no_list_changed(cli, acp_env) -> None:
    """The default, "all": the same narrow policy hides nothing (calls are still decided)."""
    add_proxy(cli, acp_env)
    write_policy(acp_env, NARROW_POLICY)
    configure(acp_env, limits=HIGH_LIMITS)
    proxy = await started(acp_env)
    try:
        tools, resources, prompts = await listed(proxy)
        assert tools == FIXTURE_TOOLS and resources == {"fixture://info"} and prompts == {"greet"}
        denied(await proxy.call_tool("big", {"size_bytes": 1}), "deny-big")
        denied(await proxy.request("resources/read", {"uri": "fixture://info"}), "default")
        write_policy(acp_env, WIDE_POLICY)
        reload = await cli_async(acp_env, "policy", "reload", "--proxy", NAME)
        assert reload.returncode == 0, reload.stderr
        assert await notifications_until_ping(proxy) == []
    finally:
        await proxy.close()


# --------------------------------------------------------------------------- sanitizing


def invisible(text: str) -> list[str]:
    return [c for c in text if c not in "\n\t\r" and unicodedata.category(c) in ("Cc", "Cf")]


async def test_tool_descriptions_are_sanitized_and_suspicious_ones_reported(cli, acp_env) -> None:
    add_proxy(cli, acp_env, script=SNEAKY_BACKEND, server_name="sneaky")
    write_policy(acp_env, ALLOW_ALL)
    proxy = await started(acp_env)
    try:
        tools = {t["name"]: t for t in (await proxy.request("tools/list"))["result"]["tools"]}
        assert tools.keys() == {"sneaky", "verbose", "plain"}

        sneaky = tools["sneaky"]["description"]
        assert sneaky != SNEAKY_DESCRIPTION
        assert "<" not in sneaky and ">" not in sneaky, sneaky  # tags gone, <script> included
        assert "](" not in sneaky and "evil.example" not in sneaky, sneaky  # the link keeps only its text
        assert "the docs" in sneaky and "files" in sneaky
        assert invisible(sneaky) == [], sneaky  # BEL, ESC, NUL stripped
        assert "Ignore previous instructions" in sneaky  # suspicious text is reported, not removed
        assert "  " not in sneaky and sneaky == sneaky.strip()

        argument = tools["sneaky"]["inputSchema"]["properties"]["path"]["description"]
        assert argument != ARGUMENT_DESCRIPTION
        assert argument == "The path to read; more please.", argument

        verbose = tools["verbose"]["description"]
        assert len(VERBOSE_DESCRIPTION) == 1000
        assert len(verbose) == 500 and verbose.endswith("...")
        assert verbose[:497] == VERBOSE_DESCRIPTION[:497]

        assert tools["plain"]["description"] == PLAIN_DESCRIPTION  # clean text is left alone

        call = await proxy.call_tool("sneaky", {"path": "/tmp/x"})  # the tool itself still works
        assert call["result"]["content"][0]["text"] == "would read /tmp/x"
        code, stderr = await proxy.finish()
        assert code == 0, stderr
    finally:
        await proxy.close()
    system = read_jsonl(log_dir(acp_env) / "system" / "system.jsonl")
    warnings = [e for e in system if "sneaky" in e.get("message", "") and "instruction_override" in e["message"]]
    assert warnings, system
    assert warnings[0]["level"] == "WARNING"
    sanitizer = [e for e in system if e.get("level") == "WARNING"]  # (the pins' INFO entries name every tool)
    assert not any("verbose" in e.get("message", "") or "'plain'" in e.get("message", "") for e in sanitizer), system
