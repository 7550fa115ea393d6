"""Several MCP clients on one proxy at once (issue 19, docs/audit.md#several-clients-at-once).

Three real client processes (the mcp SDK over STDIO, tests/fixtures/scripted_client.py) each
start `mcp-acp start --proxy ap`, as three Claude Code windows would. A real manager runs, and a
browser is played by an event-stream follower, so a rule that asks reaches the "web UI". Calls are
allowed, denied and approved; one client's proxy is killed with SIGKILL mid-session; the others go
on, the manager shows the sessions, and the shared audit trail verifies with no tamper alarm.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from tests.support.audit import read_jsonl
from tests.support.config import proxy_log_dir
from tests.support.events import EventStream
from tests.support.manager import ManagerHome
from tests.support.processes import MCP_ACP

PROXY = "ap"
CLIENT = Path(__file__).parents[1] / "fixtures" / "scripted_client.py"
ANSWER_TIMEOUT = 90.0  # a cold proxy on a loaded 2-core box


def policy(files: Path) -> dict:
    return {
        "rules": [
            {"id": "echo-ok", "effect": "allow", "conditions": {"tool_name": "echo"}},
            {"id": "no-add", "effect": "deny", "conditions": {"tool_name": "add"}},
            {
                "id": "writes-ask",
                "effect": "hitl",
                "conditions": {"tool_name": "write_file", "path_pattern": f"{files}/**"},
            },
        ]
    }


class ScriptedClient:
    def __init__(self, home: ManagerHome, name: str) -> None:
        self.name = name
        self.process = subprocess.Popen(
            [sys.executable, str(CLIENT), PROXY, name],
            env={**home.env, "MCP_ACP": MCP_ACP},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=open(home.root / f"{name}.stderr", "wb"),  # noqa: SIM115 - closed with the process
            text=True,
        )

    async def line(self) -> dict:
        text = await asyncio.wait_for(asyncio.to_thread(self.process.stdout.readline), ANSWER_TIMEOUT)
        assert text, f"client {self.name} ended"
        return json.loads(text)

    async def call(self, tool: str, **arguments) -> dict:
        self.process.stdin.write(json.dumps({"tool": tool, "arguments": arguments}) + "\n")
        self.process.stdin.flush()
        return await self.line()

    def proxy_process(self) -> psutil.Process:
        """The `mcp-acp start` this client started: its session of the proxy."""
        return next(p for p in psutil.Process(self.process.pid).children() if "start" in " ".join(p.cmdline()))

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


@pytest.fixture
async def home(tmp_path):
    home = ManagerHome(tmp_path)
    for name in ("DISPLAY", "WAYLAND_DISPLAY"):
        home.env.pop(name, None)
    try:
        yield home
    finally:
        await home.aclose()
        print(home.diagnostics())


async def poll(condition, timeout: float, what: str):
    """An async `condition` until it gives a value (an upper bound, never a timing claim)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not (value := await condition()):
        assert asyncio.get_running_loop().time() < deadline, f"timed out after {timeout:g} s waiting for {what}"
        await asyncio.sleep(0.2)
    return value


async def sessions(home: ManagerHome, proxy_id: str) -> list[dict]:
    answer = await asyncio.to_thread(home.tcp, "GET", f"/api/manager/proxies/{proxy_id}")
    assert answer.status_code == 200, answer.text
    return answer.json()["sessions"]


async def test_three_clients_one_proxy_allowed_denied_approved_and_a_killed_session(home, tmp_path):
    files = Path(os.path.realpath(tmp_path / "files"))
    files.mkdir()
    proxy_id = home.add_proxy(PROXY, policy(files))
    home.start_manager()
    clients: list[ScriptedClient] = []
    async with EventStream(home) as browser:
        try:
            clients = [ScriptedClient(home, f"client-{n}") for n in range(3)]
            for client in clients:
                assert await client.line() == {"ready": True}

            # The manager shows three sessions of the one proxy, each with its own client.
            async def three_sessions():
                found = await sessions(home, proxy_id)
                return found if len(found) == 3 and all(s["client_id"] for s in found) else None

            found = await poll(three_sessions, 60, "three sessions in the manager")
            assert sorted(s["client_id"] for s in found) == ["client-0", "client-1", "client-2"]
            assert sorted(s["session"] for s in found) == [0, 1, 2]
            status = await asyncio.to_thread(home.cli, "status", "--proxy", PROXY, "--json")
            assert json.loads(status.stdout)["sessions"] == 3, status.stdout + status.stderr

            # Allowed and denied, from all three at once.
            echoed = await asyncio.gather(*(c.call("echo", text=c.name) for c in clients))
            assert [a.get("text") for a in echoed] == [c.name for c in clients], echoed
            denied = await asyncio.gather(*(c.call("add", a=1, b=2) for c in clients))
            assert all("error" in a or a.get("is_error") for a in denied), denied

            # Approved: the last client's request waits in its own process; the browser's
            # decision reaches it through the manager.
            slot_of = {s["client_id"]: s["session"] for s in found}
            by_slot = sorted(clients, key=lambda c: slot_of[c.name])
            asker = by_slot[-1]  # not the first session: the decision must find its way to it
            target = files / "approved.txt"
            asker.process.stdin.write(
                json.dumps({"tool": "write_file", "arguments": {"path": str(target), "content": "yes"}}) + "\n"
            )
            asker.process.stdin.flush()
            created = await browser.wait_for(
                lambda e: e["type"] == "pending_created" and e.get("proxy_name") == PROXY, "the approval request"
            )
            approval_id = created["approval"]["id"]
            # The CLI finds it too, in the session that holds it.
            listed = await asyncio.to_thread(home.cli, "approvals", "pending", "--json")
            mine = [a for a in json.loads(listed.stdout) if a["id"] == approval_id]
            assert mine and mine[0]["session"] == slot_of[asker.name], listed.stdout + listed.stderr
            pending = (await asyncio.to_thread(home.tcp, "GET", f"/api/proxy/{PROXY}/approvals/pending/list")).json()
            approval = next(a for a in pending if a["id"] == approval_id)
            decided = await asyncio.to_thread(
                home.tcp,
                "POST",
                f"/api/proxy/{PROXY}/approvals/pending/{approval_id}/approve",
                json={"args_hash": approval["args_hash"], "policy_version": approval["policy_version"]},
            )
            assert decided.status_code == 200, decided.text
            answer = await asker.line()
            assert not answer.get("is_error") and "error" not in answer, answer
            assert target.read_text() == "yes"

            # SIGKILL one client's proxy: the others go on.
            victim = by_slot[0].proxy_process()  # the first session, whose socket tools try first
            os.kill(victim.pid, signal.SIGKILL)
            victim.wait(30)
            for client in by_slot[1:]:
                assert (await client.call("echo", text="still here"))["text"] == "still here"

            async def two_sessions():
                return len(await sessions(home, proxy_id)) == 2 or None

            await poll(two_sessions, 60, "the killed session to leave the manager")
        finally:
            for client in clients:
                client.close()

    # No false tamper alarm: the trail verifies, and a new client starts and is served.
    verify = await asyncio.to_thread(home.cli, "audit", "verify", "--proxy", PROXY)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    later = ScriptedClient(home, "client-later")
    try:
        assert await later.line() == {"ready": True}
        assert (await later.call("echo", text="after the crash"))["text"] == "after the crash"
    finally:
        later.close()
    log_dir = proxy_log_dir(home.env, PROXY)
    ops = read_jsonl(log_dir / "audit" / "operations.jsonl")
    calls = [e for e in ops if e.get("method") == "tools/call"]
    assert len({e["session_id"] for e in calls}) == 4
    assert not (log_dir / "shutdowns.jsonl").exists()
    problems = [e for e in read_jsonl(log_dir / "system" / "system.jsonl") if "integrity" in json.dumps(e).lower()]
    assert not problems, problems
