"""kill -9 under load, hundreds of times: the audit trail never raises a false alarm and never
loses an answered request (issue 16, docs/audit.md "Crashes are not tampering").

Lanes run in parallel, each a proxy of its own (own log folder) in front of the fixture backend;
some lanes have an audit key (HMAC chain, signed state), the others not. In every iteration a lane
starts `mcp-acp start --proxy NAME --headless`, waits for the answer to initialize (a restart that
is refused, exit 10, is a false alarm), sends one warm-up call, puts the proxy under load (several
workers each sending tools/call back to back, so several calls are always in flight) and SIGKILLs
it at a random moment. Every 7th iteration kills it while it is still starting instead, every 5th
closes its stdin first and kills it inside its orderly shutdown.

At the end every lane runs one clean session, and then:
- `mcp-acp audit verify --json --proxy NAME` passes (keyed lanes report a key);
- every tools/call whose answer the client read is in operations.jsonl exactly once (by its
  request id; rotated segments included) and has its decision in decisions.jsonl.

    .venv/bin/python bench/audit_crash.py [--kills 240] [--lanes 4] [--keyed-lanes 2] [--workers 8]
                                          [--max-kill-ms 150] [--seed N] [--json FILE]

Prints a table per lane and exits 1 on any false alarm, lost or duplicated entry, or failed
verify. tests/security/test_audit_crash_load.py runs the same campaign with 100 kills.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MCP_ACP = str(Path(sys.executable).parent / "mcp-acp")
BACKEND = str(ROOT / "tests" / "fixtures" / "backend.py")

STARTUP_KILL_EVERY = 7  # every n-th iteration kills during start-up instead of under load
SHUTDOWN_KILL_EVERY = 5  # every n-th iteration closes stdin first, then kills during the shutdown
START_TIMEOUT = 90.0  # a cold proxy and backend on a loaded two-core box
ALLOW_ALL_POLICY = {"rules": [{"id": "allow-all", "effect": "allow", "conditions": {"mcp_method": "*"}}]}
HIGH_LIMITS = {"requests_per_second": 100000, "burst": 1000000, "tool_calls_per_window": 1000000}


# --------------------------------------------------------------------------- the home


def home_env(root: Path) -> dict[str, str]:
    """Everything under `root`: config, logs, the file secret store (never the real home)."""
    env = {
        **os.environ,
        "MCP_ACP_HOME": str(root / "acp-home"),
        "HOME": str(root / "user-home"),
        "MCP_ACP_SECRET_BACKEND": "file",
        "NO_COLOR": "1",
        "MCP_ACP_NO_BROWSER": "1",
    }
    for name in ("DISPLAY", "WAYLAND_DISPLAY"):
        env.pop(name, None)
    return env


def cli(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [MCP_ACP, *args], env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120, check=False
    )
    if check and result.returncode != 0:
        raise RuntimeError(f"mcp-acp {' '.join(args)} failed ({result.returncode}): {result.stdout}{result.stderr}")
    return result


def key_is_optional() -> bool:
    """Whether proxy configs have the `audit_key` switch (a key created at the first start)."""
    from mcp_acp.config.models import ProxyConfig

    return "audit_key" in ProxyConfig.model_fields


def add_proxy(env: dict[str, str], name: str, keyed: bool, backend: str = BACKEND) -> None:
    cli(env, "proxy", "add", name, "--server-name", "fixture", "--command", sys.executable, "--arg", backend)
    folder = Path(env["MCP_ACP_HOME"]) / "config" / "proxies" / name
    (folder / "policy.json").write_text(json.dumps(ALLOW_ALL_POLICY), encoding="utf-8")
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    config["limits"] = HIGH_LIMITS
    if not keyed and key_is_optional():
        config["audit_key"] = False
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    if keyed:
        created = cli(env, "audit", "key", "create", "--proxy", name, check=False)
        if created.returncode != 0 and "already has an audit key" not in " ".join(created.stderr.split()):
            raise RuntimeError(f"audit key create failed: {created.stdout}{created.stderr}")


def log_dir(env: dict[str, str], name: str) -> Path:
    return Path(env["MCP_ACP_HOME"]) / "logs" / "mcp-acp" / "proxies" / name


def entries_by_sequence(active: Path) -> dict[int, dict]:
    """Every entry of a chained log, rotated segments (plain or gzip) included, by sequence (a
    segment being compressed exists in both forms for a moment)."""
    sources = [active]
    segments = active.parent / "segments"
    if segments.is_dir():
        sources += sorted(p for p in segments.iterdir() if p.name.startswith(active.stem + "."))
    found: dict[int, dict] = {}
    for path in sources:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            continue
        if path.suffix == ".gz":
            data = gzip.decompress(data)
        for raw in data.splitlines():
            try:
                entry = json.loads(raw)
            except ValueError:
                continue  # a torn fragment: it never held an answered call (the client saw no answer)
            if isinstance(entry, dict):
                found[entry.get("sequence", -len(found) - 1)] = entry
    return found


# --------------------------------------------------------------------------- one lane


@dataclass
class Lane:
    number: int
    name: str
    keyed: bool
    seed: int
    rng: random.Random = field(repr=False, default=None)
    received: set[str] = field(default_factory=set, repr=False)  # tools/call ids whose answer the client read
    sent: int = 0
    iterations: int = 0
    kills: int = 0
    startup_kills: int = 0
    shutdown_kills: int = 0
    clean_exits: int = 0  # the orderly shutdown finished before the kill
    ahead_of_state: int = 0  # kills that landed between a line and its state save
    false_alarms: list[str] = field(default_factory=list)
    # filled in at the end
    answered: int = 0
    logged_calls: int = 0
    missing: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    missing_decisions: list[str] = field(default_factory=list)
    torn_quarantined: int = 0
    verify_exit: int | None = None
    verify_status: str | None = None
    verify_keyed: bool | None = None
    verify_output: str = ""

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)


class Client:
    """Raw JSON-RPC over the proxy's STDIO with a background reader: many requests in flight."""

    def __init__(self, process: asyncio.subprocess.Process, lane: Lane) -> None:
        self.process = process
        self.lane = lane
        self.waiting: dict[str, asyncio.Future] = {}
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while line := await self.process.stdout.readline():
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if not isinstance(message, dict) or "method" in message or "id" not in message:
                continue
            request_id = message["id"]
            if isinstance(request_id, str) and request_id.startswith("call-"):
                self.lane.received.add(request_id)  # the client saw it answered: it must be in the log
            future = self.waiting.pop(request_id, None)
            if future is not None and not future.done():
                future.set_result(message)
        for future in self.waiting.values():
            if not future.done():
                future.set_exception(EOFError("the proxy closed its stdout"))
                future.exception()  # its worker may be cancelled already: no "never retrieved" warning

    async def send(self, message: dict) -> None:
        self.process.stdin.write(json.dumps(message).encode() + b"\n")
        await self.process.stdin.drain()

    async def request(self, request_id: str, method: str, params: dict) -> dict:
        future = asyncio.get_running_loop().create_future()
        self.waiting[request_id] = future
        await self.send({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
        return await future

    async def call(self, request_id: str) -> dict:
        self.lane.sent += 1
        return await self.request(request_id, "tools/call", {"name": "echo", "arguments": {"text": request_id}})

    async def worker(self, iteration: int, worker: int) -> None:
        n = 0
        while True:
            n += 1
            await self.call(f"call-{self.lane.number}-{iteration}-{worker}-{n}")


async def _start(env: dict[str, str], name: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        MCP_ACP,
        "start",
        "--proxy",
        name,
        "--headless",
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        limit=64 * 1024 * 1024,
    )


async def _stderr_of(process: asyncio.subprocess.Process) -> str:
    try:
        return (await asyncio.wait_for(process.stderr.read(), 5)).decode(errors="replace")[-3000:]
    except Exception as exc:
        return f"<stderr unavailable: {exc!r}>"


async def _reap(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.kill()
    await process.wait()
    process._transport.close()  # no pipe outlives the event loop


def _ahead_of_state(folder: Path) -> bool:
    """After a kill: is operations.jsonl one line ahead of the integrity state (the crash window)?"""
    try:
        state = json.loads((folder / ".integrity_state").read_bytes())["files"]["audit/operations.jsonl"]
        entries = (folder / "audit" / "operations.jsonl").read_bytes().splitlines()
        return json.loads(entries[-1])["sequence"] == state["last_sequence"] + 1
    except (OSError, ValueError, KeyError, IndexError):
        return False


async def _iteration(env: dict[str, str], lane: Lane, iteration: int, workers: int, max_kill_ms: float) -> bool:
    """Start, load, kill. False after a false alarm (the lane stops)."""
    process = await _start(env, lane.name)
    client = Client(process, lane)
    tasks: list[asyncio.Task] = []
    try:
        if iteration % STARTUP_KILL_EVERY == STARTUP_KILL_EVERY - 1:
            # somewhere inside start-up: verification, state save, key, history, backend spawn
            await asyncio.sleep(lane.rng.uniform(0, 1.0))
            if process.returncode is not None:
                lane.false_alarms.append(
                    f"iteration {iteration}: start exited {process.returncode}: {await _stderr_of(process)}"
                )
                return False
            lane.startup_kills += 1
        else:
            try:
                answer = await asyncio.wait_for(
                    client.request(
                        f"init-{lane.number}-{iteration}",
                        "initialize",
                        {
                            "protocolVersion": "2025-06-18",
                            "capabilities": {},
                            "clientInfo": {"name": "crash-bench", "version": "1"},
                        },
                    ),
                    START_TIMEOUT,
                )
                if "result" not in answer:
                    raise EOFError(f"initialize answered {answer}")
                await client.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
                # The backend's first call is slow (~170 ms); after it, calls take a few ms.
                await asyncio.wait_for(client.call(f"call-{lane.number}-{iteration}-warm"), START_TIMEOUT)
            except (TimeoutError, EOFError) as exc:
                if process.returncode is None:
                    process.kill()
                code = await process.wait()
                lane.false_alarms.append(
                    f"iteration {iteration}: the restart did not answer ({exc!r}), exit {code}: "
                    f"{await _stderr_of(process)}"
                )
                return False
            tasks = [asyncio.create_task(client.worker(iteration, w)) for w in range(workers)]
            await asyncio.sleep(lane.rng.uniform(0, max_kill_ms / 1000))
            if iteration % SHUTDOWN_KILL_EVERY == SHUTDOWN_KILL_EVERY - 1:
                process.stdin.close()  # the client disconnects: kill inside session_ended, close
                await asyncio.sleep(lane.rng.uniform(0, 0.050))
                if process.returncode is not None:
                    code = await process.wait()
                    await asyncio.wait_for(client.reader, 10)
                    if code != 0:
                        lane.false_alarms.append(
                            f"iteration {iteration}: disconnect exited {code}: {await _stderr_of(process)}"
                        )
                        return False
                    lane.clean_exits += 1
                    return True
                lane.shutdown_kills += 1
        if process.returncode is None:
            os.kill(process.pid, signal.SIGKILL)
        code = await process.wait()
        await asyncio.wait_for(client.reader, 10)  # what the proxy wrote before it died
        if code == 0 and process.stdin.is_closing():
            lane.clean_exits += 1
            return True  # the orderly shutdown finished just before the kill
        if code != -signal.SIGKILL:
            lane.false_alarms.append(
                f"iteration {iteration}: the proxy exited {code} before the kill: {await _stderr_of(process)}"
            )
            return False
        lane.kills += 1
        lane.ahead_of_state += _ahead_of_state(log_dir(env, lane.name))
        return True
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        client.reader.cancel()
        await asyncio.gather(client.reader, return_exceptions=True)
        await _reap(process)


async def _run_lane(
    env: dict[str, str], lane: Lane, kills: int, workers: int, max_kill_ms: float, deadline: float
) -> None:
    while lane.kills < kills and time.monotonic() < deadline:
        ok = await _iteration(env, lane, lane.iterations, workers, max_kill_ms)
        lane.iterations += 1
        if not ok:
            return


async def _final_session(env: dict[str, str], lane: Lane) -> None:
    """The restart after the last kill must work too, and end cleanly."""
    process = await _start(env, lane.name)
    client = Client(process, lane)
    try:
        await asyncio.wait_for(
            client.request(
                "init-final",
                "initialize",
                {
                    "protocolVersion": "2025-06-18",
                    "capabilities": {},
                    "clientInfo": {"name": "crash-bench", "version": "1"},
                },
            ),
            START_TIMEOUT,
        )
        await client.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        answer = await asyncio.wait_for(client.call(f"call-{lane.number}-final"), START_TIMEOUT)
        assert "result" in answer, answer
        process.stdin.close()
        code = await asyncio.wait_for(process.wait(), 30)
        if code != 0:
            lane.false_alarms.append(f"final session exited {code}: {await _stderr_of(process)}")
    except (TimeoutError, EOFError, AssertionError) as exc:
        if process.returncode is None:
            process.kill()
        lane.false_alarms.append(
            f"final session failed ({exc!r}), exit {await process.wait()}: {await _stderr_of(process)}"
        )
    finally:
        client.reader.cancel()
        await asyncio.gather(client.reader, return_exceptions=True)
        await _reap(process)


def _audit(env: dict[str, str], lane: Lane) -> None:
    """What the trail says after the campaign: verify, and every answered call on record."""
    folder = log_dir(env, lane.name)
    operations = Counter(
        str(e.get("request_id"))
        for e in entries_by_sequence(folder / "audit" / "operations.jsonl").values()
        if e.get("method") == "tools/call"
    )
    decisions = {str(e.get("request_id")) for e in entries_by_sequence(folder / "audit" / "decisions.jsonl").values()}
    lane.answered = len(lane.received)
    lane.logged_calls = sum(operations.values())
    lane.missing = sorted(lane.received - set(operations))
    lane.duplicated = sorted(rid for rid in lane.received if operations[rid] > 1)
    lane.missing_decisions = sorted(lane.received - decisions)
    lane.torn_quarantined = sum(1 for _ in folder.rglob("*.torn.*"))
    result = cli(env, "audit", "verify", "--json", "--proxy", lane.name, check=False)
    lane.verify_exit = result.returncode
    lane.verify_output = (result.stdout + result.stderr)[-6000:]
    try:
        report = json.loads(result.stdout)["proxies"][lane.name]
        lane.verify_status, lane.verify_keyed = report["overall_status"], report.get("keyed")
    except (ValueError, KeyError, TypeError):
        pass


# --------------------------------------------------------------------------- the campaign


@dataclass
class Report:
    seed: int
    kills_wanted: int
    workers: int
    max_kill_ms: float
    elapsed_s: float
    lanes: list[Lane]

    @property
    def kills(self) -> int:
        return sum(lane.kills for lane in self.lanes)

    def problems(self) -> list[str]:
        found = []
        if self.kills < self.kills_wanted:
            found.append(f"only {self.kills} of {self.kills_wanted} kills before the deadline")
        for lane in self.lanes:
            found += [f"{lane.name}: false alarm: {alarm}" for alarm in lane.false_alarms]
            if not lane.received:
                found.append(f"{lane.name}: no call was answered (the load never ran)")
            if lane.missing:
                found.append(
                    f"{lane.name}: {len(lane.missing)} answered calls are not in operations.jsonl: {lane.missing[:10]}"
                )
            if lane.duplicated:
                found.append(
                    f"{lane.name}: {len(lane.duplicated)} answered calls are in operations.jsonl more than "
                    f"once: {lane.duplicated[:10]}"
                )
            if lane.missing_decisions:
                found.append(
                    f"{lane.name}: {len(lane.missing_decisions)} answered calls have no decision: "
                    f"{lane.missing_decisions[:10]}"
                )
            if lane.verify_exit != 0 or lane.verify_status != "passed":
                found.append(
                    f"{lane.name}: audit verify exit {lane.verify_exit} ({lane.verify_status}):\n{lane.verify_output}"
                )
            elif lane.verify_keyed is not None and lane.verify_keyed != lane.keyed:
                found.append(f"{lane.name}: expected keyed={lane.keyed}, verify says keyed={lane.verify_keyed}")
        return found

    def summary(self) -> str:
        return f"seed={self.seed} kills={self.kills} elapsed={self.elapsed_s:.0f}s " + "; ".join(
            f"{lane.name}{' (key)' if lane.keyed else ''}: kills={lane.kills} (start-up {lane.startup_kills}, "
            f"shutdown {lane.shutdown_kills}) ahead_of_state={lane.ahead_of_state} torn={lane.torn_quarantined} "
            f"sent={lane.sent} answered={lane.answered}"
            for lane in self.lanes
        )

    def as_json(self) -> dict:
        lanes = []
        for lane in self.lanes:
            row = asdict(lane)
            for name in ("rng", "received", "verify_output"):
                row.pop(name, None)
            lanes.append(row)
        return {
            "seed": self.seed,
            "kills": self.kills,
            "kills_wanted": self.kills_wanted,
            "workers": self.workers,
            "max_kill_ms": self.max_kill_ms,
            "elapsed_s": round(self.elapsed_s, 1),
            "lanes": lanes,
            "problems": self.problems(),
        }


async def campaign(
    root: Path,
    *,
    kills: int,
    lanes: int = 4,
    keyed_lanes: int = 2,
    workers: int = 8,
    max_kill_ms: float = 150.0,
    seed: int | None = None,
    time_budget_s: float = 3600.0,
    backend: str = BACKEND,
) -> Report:
    """Kill `kills` proxies in all (spread over `lanes`), then audit each lane's trail. New
    iterations stop once `time_budget_s` has passed (the report then says kills are missing).
    `backend`: the MCP server script behind every proxy (the FastMCP fixture backend by default)."""
    seed = random.randrange(2**32) if seed is None else seed
    env = home_env(root)
    cli(env, "init", "--auth", "local")
    per_lane = -(-kills // lanes)
    all_lanes = [Lane(n, f"crash{n}", n < keyed_lanes, seed * 100 + n) for n in range(lanes)]
    for lane in all_lanes:
        add_proxy(env, lane.name, lane.keyed, backend)
    started = time.monotonic()
    deadline = started + time_budget_s
    await asyncio.gather(*(_run_lane(env, lane, per_lane, workers, max_kill_ms, deadline) for lane in all_lanes))
    for lane in all_lanes:
        if not lane.false_alarms:
            await _final_session(env, lane)
        _audit(env, lane)
    return Report(seed, kills, workers, max_kill_ms, time.monotonic() - started, all_lanes)


def _print(report: Report) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:
        console.width = 170  # piped or redirected: keep the table readable
    table = Table(
        title=f"kill -9 under load: {report.kills} kills, {report.workers} workers per proxy, "
        f"kill within {report.max_kill_ms:g} ms of the load starting, seed {report.seed}, "
        f"{report.elapsed_s:.0f} s"
    )
    for column in (
        "lane",
        "key",
        "kills",
        "start-up",
        "shutdown",
        "ahead of state",
        "torn lines",
        "sent",
        "answered",
        "not logged",
        "twice",
        "no decision",
        "false alarms",
        "verify",
    ):
        table.add_column(column, justify="left" if column in ("lane", "verify") else "right")
    for lane in report.lanes:
        table.add_row(
            lane.name,
            "yes" if lane.keyed else "no",
            str(lane.kills),
            str(lane.startup_kills),
            str(lane.shutdown_kills),
            str(lane.ahead_of_state),
            str(lane.torn_quarantined),
            str(lane.sent),
            str(lane.answered),
            str(len(lane.missing)),
            str(len(lane.duplicated)),
            str(len(lane.missing_decisions)),
            str(len(lane.false_alarms)),
            f"{lane.verify_status} (exit {lane.verify_exit})",
        )
    console.print(table)
    problems = report.problems()
    if problems:
        console.print("[bold red]FAILED[/]")
        for problem in problems:
            console.print(f"  {problem}", markup=False)
    else:
        console.print("[bold green]no false alarm, no lost entry[/]")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=240)
    parser.add_argument("--lanes", type=int, default=4)
    parser.add_argument("--keyed-lanes", type=int, default=2)
    parser.add_argument("--workers", type=int, default=8, help="concurrent tools/call per proxy")
    parser.add_argument("--max-kill-ms", type=float, default=150.0, help="kill within this long of the load starting")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--json", type=Path, help="also write the report here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mcp-acp-bench-crash-") as root:
        report = asyncio.run(
            campaign(
                Path(root),
                kills=args.kills,
                lanes=args.lanes,
                keyed_lanes=args.keyed_lanes,
                workers=args.workers,
                max_kill_ms=args.max_kill_ms,
                seed=args.seed,
            )
        )
    _print(report)
    if args.json:
        args.json.write_text(json.dumps(report.as_json(), indent=2) + "\n", encoding="utf-8")
    return 1 if report.problems() else 0


if __name__ == "__main__":
    sys.exit(main())
