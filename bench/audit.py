"""Cost of the audit trail: hash-chained appends, durable mode, and the proxy's per-request audit work.

Three measurements, each on its own fresh log folder:

  throughput   N `AuditLog.write("operations", ...)` calls of a realistic operations entry, each
               one chained, written with one write() and followed by the integrity-state save
               (what the proxy does before it answers); plain SHA-256 and with an HMAC audit key;
               "unshared" is the writer with no folder locks (the baseline: a proxy before several
               clients could share it), "1 session" takes its turn under the folder's flock as a
               running proxy does, "2 sessions" alternates appends between two sessions of one
               proxy (each catches up with the other's every write, the worst case); then the
               parts of one append (seal, state save, stat, write) timed alone
  durable      `AuditLog(..., durable=True)`: K concurrent asyncio tasks each looping
               `write(); await sync()` (K=1 is the sequential case); fsync rounds are counted
               by wrapping `AuditLog._fsync_all` from the outside, giving entries per fsync
  per request  what the proxy runs in-process for one `tools/call`: `describe_request()` when it
               arrives, `OperationsRecorder.admit()` before it is forwarded, and
               `OperationsRecorder.record()` before the answer goes out

Every written chain is verified afterwards (`verify_proxy`); a broken chain fails the bench.

    .venv/bin/python bench/audit.py [--entries 50000] [--rounds 3] [--json FILE]

See docs/performance.md ("Audit trail") for the method and the numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

# Before anything of mcp_acp is imported: nothing here may touch the user's configuration.
_HOME = tempfile.TemporaryDirectory(prefix="mcp-acp-bench-audit-home-")
os.environ["MCP_ACP_HOME"] = _HOME.name

from mcp_acp import jsonrpc
from mcp_acp.audit import auth_log
from mcp_acp.audit.chain import GENESIS, seal
from mcp_acp.audit.keys import AuditKey
from mcp_acp.audit.sharing import FolderLocks
from mcp_acp.audit.shutdown import ShutdownCoordinator
from mcp_acp.audit.verify import verify_on_startup, verify_proxy
from mcp_acp.audit.writer import AuditLog
from mcp_acp.identity.local import local_identity
from mcp_acp.proxy.operations import OperationsRecorder, describe_request

console = Console()
if not console.is_terminal:
    console.width = 120  # piped or redirected: keep the tables readable

THROUGHPUT_TARGET = 20_000  # entries/s, single writer, flush + state save per entry
PER_REQUEST_TARGET_US = 100  # the audit may add at most 0.1 ms to a request at the median

# A typical tools/call and its answer, as the proxy sees them.
REQUEST = {
    "jsonrpc": "2.0",
    "id": 42,
    "method": "tools/call",
    "params": {"name": "read_file", "arguments": {"path": "/home/alice/project/src/app/main.py"}},
}
ANSWER = {
    "jsonrpc": "2.0",
    "id": 42,
    "result": {
        "content": [
            {"type": "text", "text": "import sys\n\n\ndef main() -> int:\n    print('hello')\n    return 0\n" * 4}
        ],
        "isError": False,
    },
}


def operations_fields(request_id: int) -> dict:
    """An operations.jsonl entry as OperationsRecorder.record() builds it (15 fields)."""
    return {
        "session_id": "alice:9sV0Jq3nO1mJ5hS0b8oQm0fC3y8wVx2m2dK8sRz5T1A",
        "subject": {"subject_id": "alice", "subject_claims": {"provenance": "local"}},
        "backend_id": "filesystem",
        "transport": "stdio",
        "config_version": "v1",
        "method": "tools/call",
        "request_id": str(request_id),
        "tool_name": "read_file",
        "arguments_summary": {
            "redacted": True,
            "payload_length": 46,
            "body_hash": "3f1c2a9e0b7d4c6f8a5e2d1b0c9f8e7d6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d",
        },
        "file_path": "/home/alice/project/src/app/main.py",
        "file_extension": ".py",
        "status": "Success",
        "client_id": "claude-code",
        "response_summary": {
            "size_bytes": 412,
            "body_hash": "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90",
        },
        "duration": {"duration_ms": 2.187},
    }


@dataclass
class Throughput:
    mode: str
    entries: int
    rounds: int
    entries_per_s: float = 0.0  # median over rounds
    entries_per_s_min: float = 0.0
    entries_per_s_max: float = 0.0
    us_per_entry: float = 0.0  # at the median rate
    line_bytes: int = 0
    chain_ok: bool | None = None


@dataclass
class Durable:
    tasks: int
    entries: int
    seconds: float = 0.0
    entries_per_s: float = 0.0
    fsync_rounds: int = 0
    entries_per_fsync: float = 0.0
    median_wait_us: float = 0.0  # one task's write() + await sync()
    p95_wait_us: float = 0.0
    chain_ok: bool | None = None


@dataclass
class PerRequest:
    mode: str
    samples: int
    median_us: dict = field(default_factory=dict)  # step -> µs
    p95_us: dict = field(default_factory=dict)


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[94]


def open_log(log_dir: Path, key: AuditKey | None, durable: bool = False, shared: bool = False) -> AuditLog:
    """As `mcp-acp start` opens it; `shared`: with the folder's locks and a session slot (audit/sharing.py)."""
    if not shared:
        state = verify_on_startup(log_dir, "bench", key)[0]  # what `mcp-acp start` does first
        return AuditLog(log_dir, state, key, durable=durable)
    locks = FolderLocks(log_dir)
    locks.claim_slot(64)
    with locks.held():
        state = verify_on_startup(log_dir, "bench", key)[0]
        return AuditLog(log_dir, state, key, durable=durable, locks=locks)


def chain_ok(log_dir: Path, key: AuditKey | None) -> bool:
    return verify_proxy(log_dir, key).overall == "passed"


def throughput_round(key: AuditKey | None, sessions: int, entries: int, log_dir: Path) -> float:
    """One round on a fresh log: entries/s of `entries` timed appends after 1000 warm-up ones.
    `sessions` 0: no folder locks; 1 or more: that many sessions of one proxy, taking turns."""
    audits = [open_log(log_dir, key, shared=True) for _ in range(sessions)] or [open_log(log_dir, key)]
    try:
        writes = [audit.write for audit in audits]
        for i in range(1000):  # warm-up: first appends, page cache, the state block
            writes[i % len(writes)]("operations", operations_fields(i))
        fields = [operations_fields(1000 + i) for i in range(entries)]  # built outside the timing
        turns = [writes[i % len(writes)] for i in range(entries)]
        start = time.perf_counter()
        for write, entry in zip(turns, fields, strict=True):
            write("operations", entry)
        return entries / (time.perf_counter() - start)
    finally:
        for audit in audits:
            audit.close()


def bench_throughput(
    modes: list[tuple[str, AuditKey | None, int]], entries: int, rounds: int, work: Path
) -> list[Throughput]:
    """Rounds alternate between the modes, so load from elsewhere hits them alike."""
    rows = [Throughput(mode, entries, rounds) for mode, _, _ in modes]
    rates: list[list[float]] = [[] for _ in modes]
    for number in range(rounds):
        for index, (_mode, key, sessions) in enumerate(modes):
            log_dir = work / f"throughput-{index}-{number}"
            rates[index].append(throughput_round(key, sessions, entries, log_dir))
            ok = chain_ok(log_dir, key)
            rows[index].chain_ok = ok and rows[index].chain_ok is not False
            rows[index].line_bytes = len(seal(operations_fields(0), 1, GENESIS, key.key if key else None)[1])
    for row, rate in zip(rows, rates, strict=True):
        row.entries_per_s = statistics.median(rate)
        row.entries_per_s_min, row.entries_per_s_max = min(rate), max(rate)
        row.us_per_entry = 1e6 / row.entries_per_s
    return rows


def bench_breakdown(modes: list[tuple[str, AuditKey | None]], iterations: int, work: Path) -> dict[str, float]:
    """Median µs of the parts of one append, each timed alone in a loop of `iterations`."""
    parts: dict[str, float] = {}

    def per_call(fn) -> float:
        samples = []
        for _ in range(5):
            start = time.perf_counter()
            for _ in range(iterations // 5):
                fn()
            samples.append((time.perf_counter() - start) / (iterations // 5) * 1e6)
        return statistics.median(samples)

    for index, (mode, key) in enumerate(modes):
        audit = open_log(work / f"breakdown-{index}", key)
        try:
            chained = audit.files["operations"]
            for i in range(100):
                audit.write("operations", operations_fields(i))
            fields = operations_fields(7)
            seal_key = key.key if key else None
            label = mode.split()[0]
            parts[f"seal the entry ({label}: 2 JSON encodings + hash)"] = per_call(
                lambda f=fields, c=chained, k=seal_key: seal(f, 101, c.last_hash, k)
            )
            parts[f"save the integrity state ({label})"] = per_call(audit.state.save)
            if index == 0:
                parts["check the file is the one opened (stat)"] = per_call(chained.check_same_file)
                line = seal(fields, 101, chained.last_hash, None)[1]
                sink = os.open(work / "breakdown-write.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                try:
                    parts[f"write() the line ({len(line)} bytes, page cache)"] = per_call(
                        lambda fd=sink, data=line: os.write(fd, data)
                    )
                finally:
                    os.close(sink)
        finally:
            audit.close()
    return parts


async def durable_run(audit: AuditLog, tasks: int, entries: int) -> tuple[float, list[float]]:
    per_task = entries // tasks
    waits: list[float] = []

    async def client(task: int) -> None:
        for i in range(per_task):
            fields = operations_fields(task * per_task + i)
            start = time.perf_counter()
            audit.write("operations", fields)
            await audit.sync()
            waits.append(time.perf_counter() - start)

    start = time.perf_counter()
    await asyncio.gather(*(client(t) for t in range(tasks)))
    return time.perf_counter() - start, waits


def bench_durable(tasks: int, entries: int, work: Path) -> Durable:
    rounds = 0
    original = AuditLog._fsync_all

    def counting(self: AuditLog) -> None:
        nonlocal rounds
        rounds += 1
        original(self)

    log_dir = work / f"durable-{tasks}"
    audit = open_log(log_dir, None, durable=True)
    AuditLog._fsync_all = counting
    try:
        run_loop(durable_run(audit, tasks, min(256, entries)))  # warm-up
        rounds = 0
        seconds, waits = run_loop(durable_run(audit, tasks, entries))
    finally:
        AuditLog._fsync_all = original
        audit.close()
    done = len(waits)
    return Durable(
        tasks,
        done,
        seconds,
        done / seconds,
        rounds,
        done / rounds if rounds else 0.0,
        statistics.median(waits) * 1e6,
        p95(waits) * 1e6,
        chain_ok(log_dir, None),
    )


def run_loop(coro):
    """The proxy's event loop: uvloop where it exists (see mcp_acp.event_loop.run_event_loop)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


def bench_per_request(modes: list[tuple[str, AuditKey | None]], samples: int, work: Path) -> list[PerRequest]:
    """The modes take turns request by request, so load from elsewhere hits them alike."""
    identity = local_identity()
    answer_bytes = jsonrpc.encode(ANSWER)
    clock = time.perf_counter_ns
    setups = []
    for index, (_mode, key) in enumerate(modes):
        log_dir = work / f"per-request-{index}"
        audit = open_log(log_dir, key, shared=True)  # as a running proxy has it
        shutdown = ShutdownCoordinator(log_dir, "bench", "bench-proxy-id")
        shutdown.audit = audit
        recorder = OperationsRecorder(
            audit, shutdown, auth_log.new_bound_session_id(identity), identity, "filesystem", "stdio", "v1"
        )
        setups.append((log_dir, key, audit, recorder, {"describe": [], "admit": [], "record": [], "total": []}))
    try:
        for i in range(samples + 1000):
            for _, _, _, recorder, times in setups:
                message = {**REQUEST, "id": i}
                answer = {**ANSWER, "id": i}
                t0 = clock()
                request = describe_request(message)  # when the request arrives
                t1 = clock()
                refusal = recorder.admit(message)  # before it is forwarded
                t2 = clock()
                replacement = recorder.record(request, answer, answer_bytes, 2.187)  # before the answer goes out
                t3 = clock()
                if refusal is not None or replacement is not None:
                    raise RuntimeError(f"the recorder refused a request: {refusal or replacement}")
                if i >= 1000:  # the first 1000 are warm-up
                    for step, ns in (
                        ("describe", t1 - t0),
                        ("admit", t2 - t1),
                        ("record", t3 - t2),
                        ("total", t3 - t0),
                    ):
                        times[step].append(ns / 1000)
    finally:
        for _, _, audit, _, _ in setups:
            audit.close()
    rows = []
    for (mode, _), (log_dir, key, _, _, times) in zip(modes, setups, strict=True):
        if not chain_ok(log_dir, key):
            raise RuntimeError("the per-request bench wrote a chain that does not verify")
        rows.append(
            PerRequest(
                mode,
                samples,
                {k: statistics.median(v) for k, v in times.items()},
                {k: p95(v) for k, v in times.items()},
            )
        )
    return rows


def show(
    throughput: list[Throughput],
    breakdown: dict[str, float],
    durable: list[Durable],
    per_request: list[PerRequest],
    args: argparse.Namespace,
) -> None:
    def ok(flag: bool | None) -> str:
        return "-" if flag is None else ("[green]ok[/]" if flag else "[red]BROKEN[/]")

    table = Table(
        title=f"Single writer: {args.entries:,} chained appends + state save each, median of {args.rounds} rounds",
        title_justify="left",
    )
    for column in ("mode", "entries/s", "range", "µs/entry", "bytes/line", f"≥ {THROUGHPUT_TARGET:,}/s", "chain"):
        table.add_column(column, justify="left" if column == "mode" else "right")
    for r in throughput:
        table.add_row(
            r.mode,
            f"{r.entries_per_s:,.0f}",
            f"{r.entries_per_s_min:,.0f}–{r.entries_per_s_max:,.0f}",
            f"{r.us_per_entry:.1f}",
            str(r.line_bytes),
            "[green]yes[/]" if r.entries_per_s >= THROUGHPUT_TARGET else "[red]no[/]",
            ok(r.chain_ok),
        )
    console.print(table)

    table = Table(title="Where one append's time goes (each part timed alone)", title_justify="left")
    table.add_column("part")
    table.add_column("µs", justify="right")
    for part, us in breakdown.items():
        table.add_row(part, f"{us:.1f}")
    console.print(table)

    table = Table(title="Durable mode (fsync): K tasks each looping write() + await sync()", title_justify="left")
    for column in (
        "tasks",
        "entries",
        "entries/s",
        "fsync rounds",
        "entries/fsync",
        "median wait µs",
        "p95 wait µs",
        "chain",
    ):
        table.add_column(column, justify="right")
    for r in durable:
        table.add_row(
            f"{r.tasks}{' (sequential)' if r.tasks == 1 else ''}",
            f"{r.entries:,}",
            f"{r.entries_per_s:,.0f}",
            f"{r.fsync_rounds:,}",
            f"{r.entries_per_fsync:.1f}",
            f"{r.median_wait_us:,.0f}",
            f"{r.p95_wait_us:,.0f}",
            ok(r.chain_ok),
        )
    console.print(table)

    table = Table(
        title=f"Per request (tools/call), in-process, {args.samples:,} samples: median µs (p95)", title_justify="left"
    )
    for column in ("mode", "describe_request", "admit", "record", "total", f"≤ {PER_REQUEST_TARGET_US} µs"):
        table.add_column(column, justify="left" if column == "mode" else "right")
    for r in per_request:
        table.add_row(
            r.mode,
            *(f"{r.median_us[s]:.1f} ({r.p95_us[s]:.1f})" for s in ("describe", "admit", "record", "total")),
            "[green]yes[/]" if r.median_us["total"] <= PER_REQUEST_TARGET_US else "[red]no[/]",
        )
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=50_000, help="timed appends per round (default 50000)")
    parser.add_argument("--rounds", type=int, default=3, help="throughput rounds, each on a fresh log (default 3)")
    parser.add_argument(
        "--durable-entries", type=int, default=8_192, help="entries per durable-mode row (default 8192)"
    )
    parser.add_argument(
        "--tasks",
        type=int,
        nargs="+",
        default=[1, 8, 32, 128],
        help="concurrent writers for the durable rows (default 1 8 32 128)",
    )
    parser.add_argument("--samples", type=int, default=20_000, help="timed requests for the per-request cost")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args()

    load_before = os.getloadavg()[0]  # other work on the machine skews every number; record it
    with tempfile.TemporaryDirectory(prefix="mcp-acp-bench-audit-") as tmp:
        work = Path(tmp)
        key = AuditKey(os.urandom(32), {})
        modes = [("plain (SHA-256)", None), ("keyed (HMAC-SHA256)", key)]
        shares = [
            (f"{name}, {label}", mode_key, sessions)
            for name, mode_key in modes
            for label, sessions in (("unshared (baseline)", 0), ("1 session", 1), ("2 sessions alternating", 2))
        ]
        with console.status("throughput"):
            throughput = bench_throughput(shares, args.entries, args.rounds, work)
        with console.status("where one append's time goes"):
            breakdown = bench_breakdown(modes, max(5, args.entries // 5), work)
        durable = []
        for tasks in args.tasks:
            with console.status(f"durable mode, {tasks} task(s)"):
                durable.append(bench_durable(tasks, args.durable_entries, work))
        with console.status("per-request audit cost"):
            per_request = bench_per_request(modes, args.samples, work)
    load_after = os.getloadavg()[0]
    show(throughput, breakdown, durable, per_request, args)
    console.print(
        f"[dim]1-minute load average {load_before:.2f} before, {load_after:.2f} after; "
        f"{os.cpu_count()} CPUs; Python {platform.python_version()}[/]"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        report = {
            "entries": args.entries,
            "rounds": args.rounds,
            "durable_entries": args.durable_entries,
            "samples": args.samples,
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "load_avg_1m": [load_before, load_after],
            "throughput": [asdict(r) for r in throughput],
            "breakdown_us": breakdown,
            "durable": [asdict(r) for r in durable],
            "per_request": [asdict(r) for r in per_request],
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        console.print(f"results written to {args.json}")
    if any(r.chain_ok is False for r in [*throughput, *durable]):
        raise SystemExit(1)


if __name__ == "__main__":
    try:
        main()
    finally:
        _HOME.cleanup()
