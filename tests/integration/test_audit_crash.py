"""kill -9 under load, hundreds of times: the audit trail must never raise a false alarm, and every
request the client saw answered must be in operations.jsonl (docs/audit.md#what-the-hash-chain-proves; crash rules in verify.py).

Lanes run in parallel, each with its own proxy (own log folder). In every iteration a lane starts
`mcp-acp start`, waits for the initialize answer (a restart that exits 10 is a false alarm), puts it
under load (several concurrent workers sending tools/call echo back-to-back), and SIGKILLs it after a
random 0-150 ms (after one warm-up call, since the backend's first call is slow). Some iterations instead kill the proxy while it is still starting up. Seed:
MCP_ACP_CRASH_SEED (printed on failure).

The proxies stand in front of tests/fixtures/quick_backend.py, a stdlib MCP server: what is under
test is the proxy's trail, and the FastMCP backend's start-up (~1.5 s of CPU) would otherwise be
most of what 200 restarts cost.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from mcp_acp.audit.verify import verify_proxy
from tests.support.audit import audit_key_of
from tests.support.config import allow_everything
from tests.support.processes import ROOT
from tests.support.proxies import RawProxy

LANES = 4
KILLS_PER_LANE = 50
WORKERS = 4  # concurrent in-flight tools/call per proxy
STARTUP_KILL_EVERY = 7  # every n-th iteration kills during start-up instead of under load
SHUTDOWN_KILL_EVERY = 5  # every n-th iteration closes stdin first, then kills during shutdown
START_TIMEOUT = 60.0
QUICK_BACKEND = str(ROOT / "tests" / "fixtures" / "quick_backend.py")  # stdlib MCP server, starts at once


@dataclass
class Lane:
    number: int
    name: str
    rng: random.Random
    received: set[str] = field(default_factory=set)  # tools/call ids whose answer the client read
    sent: int = 0
    kills: int = 0
    startup_kills: int = 0
    shutdown_kills: int = 0
    ahead_of_state: int = 0  # kills that landed between a line and its state save
    false_alarms: list[str] = field(default_factory=list)


def log_dir(env: dict, name: str) -> Path:
    return Path(env["MCP_ACP_HOME"]) / "logs" / "mcp-acp" / "proxies" / name


class Client:
    """Raw JSON-RPC over the proxy's STDIO with a background reader, so many requests can be in flight."""

    def __init__(self, proxy: RawProxy, lane: Lane) -> None:
        self.proxy = proxy
        self.lane = lane
        self.waiting: dict[str, asyncio.Future] = {}
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        stdout = self.proxy.process.stdout
        while line := await stdout.readline():
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if "method" in message or "id" not in message:
                continue
            request_id = message["id"]
            if isinstance(request_id, str) and request_id.startswith("call-"):
                self.lane.received.add(request_id)  # seen by the client: must be in the log
            future = self.waiting.pop(request_id, None)
            if future is not None and not future.done():
                future.set_result(message)
        for future in self.waiting.values():
            if not future.done():
                future.set_exception(EOFError("proxy closed stdout"))
                future.exception()  # its worker may be cancelled already: mark it seen, no stray warning

    async def request(self, request_id: str, method: str, params: dict) -> dict:
        future = asyncio.get_running_loop().create_future()
        self.waiting[request_id] = future
        await self.proxy.send({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
        return await future

    async def worker(self, iteration: int, worker: int) -> None:
        n = 0
        while True:
            n += 1
            request_id = f"call-{self.lane.number}-{iteration}-{worker}-{n}"
            self.lane.sent += 1
            await self.request(request_id, "tools/call", {"name": "echo", "arguments": {"text": request_id}})


async def _stderr_of(proxy: RawProxy) -> str:
    try:
        return (await asyncio.wait_for(proxy.process.stderr.read(), 5)).decode(errors="replace")
    except Exception as exc:
        return f"<stderr unavailable: {exc!r}>"


def _ahead_of_state(folder: Path) -> bool:
    """After a kill: is operations.jsonl one line ahead of the integrity state (the crash window)?"""
    try:
        state = json.loads((folder / ".integrity_state").read_bytes())["files"]["audit/operations.jsonl"]
        lines = (folder / "audit" / "operations.jsonl").read_bytes().count(b"\n")
    except (OSError, ValueError, KeyError):
        return False
    return lines == state["last_sequence"] + 1


async def _one_iteration(env: dict, lane: Lane, iteration: int) -> bool:
    """Start, (load,) kill. False if the start was a false alarm."""
    proxy = await RawProxy.start(env, lane.name)
    client = Client(proxy, lane)
    workers: list[asyncio.Task] = []
    try:
        if iteration % STARTUP_KILL_EVERY == STARTUP_KILL_EVERY - 1:
            # kill somewhere inside start-up: verification, state save, config history, backend spawn
            await asyncio.sleep(lane.rng.uniform(0, 1.0))
            if proxy.process.returncode is None:
                lane.startup_kills += 1
            else:
                code = proxy.process.returncode
                lane.false_alarms.append(f"iteration {iteration}: start exited {code}: {await _stderr_of(proxy)}")
                return False
        else:
            try:
                answer = await asyncio.wait_for(
                    client.request(
                        f"init-{lane.number}-{iteration}",
                        "initialize",
                        {
                            "protocolVersion": "2025-06-18",
                            "capabilities": {},
                            "clientInfo": {"name": "crash-test", "version": "1"},
                        },
                    ),
                    START_TIMEOUT,
                )
            except (TimeoutError, EOFError) as exc:
                if proxy.process.returncode is None:
                    proxy.process.kill()
                code = await proxy.process.wait()
                lane.false_alarms.append(
                    f"iteration {iteration}: restart did not answer initialize ({exc!r}), exit {code}: "
                    f"{await _stderr_of(proxy)}"
                )
                return False
            assert "result" in answer, answer
            await proxy.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
            # The backend's first call is slow (~170 ms warm-up); after it, calls take a few ms.
            warm = f"call-{lane.number}-{iteration}-warm"
            lane.sent += 1
            await asyncio.wait_for(
                client.request(warm, "tools/call", {"name": "echo", "arguments": {"text": warm}}), START_TIMEOUT
            )
            workers = [asyncio.create_task(client.worker(iteration, w)) for w in range(WORKERS)]
            await asyncio.sleep(lane.rng.uniform(0, 0.150))
            if iteration % SHUTDOWN_KILL_EVERY == SHUTDOWN_KILL_EVERY - 1:
                # the client disconnects; kill inside the orderly shutdown (session_ended, close)
                proxy.process.stdin.close()
                await asyncio.sleep(lane.rng.uniform(0, 0.050))
                if proxy.process.returncode is not None:
                    code = await proxy.process.wait()
                    await asyncio.wait_for(client.reader, 10)
                    if code != 0:
                        lane.false_alarms.append(
                            f"iteration {iteration}: disconnect exited {code}: {await _stderr_of(proxy)}"
                        )
                        return False
                    return True
                lane.shutdown_kills += 1
        if proxy.process.returncode is None:
            os.kill(proxy.process.pid, signal.SIGKILL)
        code = await proxy.process.wait()
        await asyncio.wait_for(client.reader, 10)  # drain what the proxy wrote before it died
        if code == 0 and proxy.process.stdin.is_closing():
            return True  # it finished its orderly shutdown just before the kill
        if code != -signal.SIGKILL:
            lane.false_alarms.append(
                f"iteration {iteration}: proxy exited {code} before the kill: {await _stderr_of(proxy)}"
            )
            return False
        lane.kills += 1
        lane.ahead_of_state += _ahead_of_state(log_dir(env, lane.name))
        return True
    finally:
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        client.reader.cancel()
        await asyncio.gather(client.reader, return_exceptions=True)
        await proxy.close()


async def _run_lane(env: dict, lane: Lane) -> None:
    iteration = 0
    while lane.kills < KILLS_PER_LANE:
        if not await _one_iteration(env, lane, iteration):
            return
        iteration += 1


async def _final_clean_session(env: dict, name: str) -> str | None:
    """The restart after the last kill must also work, and end cleanly."""
    proxy = await RawProxy.start(env, name)
    try:
        try:
            await proxy.initialize()
            answer = await proxy.call_tool("echo", {"text": "final"})
        except (TimeoutError, EOFError) as exc:
            proxy.process.kill()
            await proxy.process.wait()
            return f"final restart failed ({exc!r}): {await _stderr_of(proxy)}"
        assert "result" in answer, answer
        code, stderr = await proxy.finish()
        return None if code == 0 else f"final session exited {code}: {stderr}"
    finally:
        await proxy.close()


@pytest.mark.timeout(600)  # ~130 s on an idle 2-CPU box; generous for a loaded CI run
async def test_kill_9_under_load_never_false_alarms_and_loses_no_answered_request(cli, acp_env):
    seed = int(os.environ.get("MCP_ACP_CRASH_SEED", random.randrange(2**32)))
    lanes = [Lane(n, f"crash{n}", random.Random(seed * 100 + n)) for n in range(LANES)]
    for lane in lanes:
        cli(
            "proxy",
            "add",
            lane.name,
            "--server-name",
            "fixture",
            "--command",
            sys.executable,
            "--arg",
            QUICK_BACKEND,
            check=True,
        )
        allow_everything(acp_env, lane.name)

    started = time.monotonic()
    await asyncio.gather(*(_run_lane(acp_env, lane) for lane in lanes))
    finals = [await _final_clean_session(acp_env, lane.name) for lane in lanes]
    elapsed = time.monotonic() - started

    summary = f"seed={seed} elapsed={elapsed:.0f}s " + ", ".join(
        f"{lane.name}: kills={lane.kills} (start-up {lane.startup_kills}, shutdown {lane.shutdown_kills}) ahead_of_state={lane.ahead_of_state} "
        f"sent={lane.sent} answered={len(lane.received)}"
        for lane in lanes
    )
    print(summary)
    alarms = [f"{lane.name} {alarm}" for lane in lanes for alarm in lane.false_alarms]
    alarms += [f"{lane.name}: {final}" for lane, final in zip(lanes, finals, strict=True) if final]
    assert not alarms, f"{summary}\nfalse alarms:\n" + "\n".join(alarms)
    assert sum(lane.kills for lane in lanes) >= 200, summary

    for lane in lanes:
        folder = log_dir(acp_env, lane.name)
        logged = set()
        for raw in (folder / "audit" / "operations.jsonl").read_bytes().splitlines():
            logged.add(json.loads(raw).get("request_id"))
        missing = sorted(lane.received - logged)
        assert not missing, f"{summary}\n{lane.name}: {len(missing)} answered requests not in the log: {missing[:20]}"
        assert lane.received, summary  # the load actually ran

        report = verify_proxy(folder, audit_key_of(acp_env, lane.name))
        problems = "; ".join(f"{f.name}={f.status} {f.errors}" for f in report.files)
        assert report.overall == "passed", f"{summary}\n{lane.name}: {problems}"
        result = cli("audit", "verify", "--proxy", lane.name)
        assert result.returncode == 0, f"{summary}\n{lane.name}: {result.stdout}{result.stderr}"
