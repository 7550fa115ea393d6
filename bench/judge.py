"""What judging a large request costs, stage by stage, and how long it holds the event loop (issue 15).

Builds the real objects a proxy builds (hash-chained AuditLog, a 100-rule policy plus a rule for a
filesystem server's project folder, Enforcer with the local identity and that folder as the
server's root, OperationsRecorder, Relay) in a temporary MCP_ACP_HOME, and times, per request:

  parse     envelope.parse_client_message (orjson, depth and case-variant walk, duplicate-key check)
  describe  operations.describe_request (the audit fields, computed before forwarding)
  paths     request_paths + judge_all (every path-like argument, every reading; part of `decide`)
  evaluate  engine.evaluate on a context built beforehand (part of `decide`)
  decide    Enforcer.check, awaited when it hands the paths to a worker thread (decision written)
  relay     Relay.from_client until the request reaches the backend or is answered

for a small `tools/call` (the baseline), a `write_file` with 1 MB of plain text, the same with
text full of `/`, the same 1 MB sent as spaced JSON (`json.dumps` defaults: the duplicate-key
check falls back to the stdlib parser), a `read_multiple_files` with 1,000 paths, and an
800 KB string of `/` under a path key (refused). Then, for each case, it feeds `--rounds`
such requests through the relay while a probe task sleeps 1 ms in a loop and records how late
it wakes: the longest overshoot is the longest time the event loop, and so every other request,
was held. The small case is the baseline of that probe.

    .venv/bin/python bench/judge.py [--rounds 100] [--lag-seconds 2] [--json FILE]

Reports the median and the maximum of `rounds` single timings per stage, in milliseconds, on
the event loop the proxy runs (uvloop where installed). See docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

HOME = tempfile.mkdtemp(prefix="mcp-acp-judge-")
os.environ["MCP_ACP_HOME"] = HOME  # before mcp_acp is imported: never the user's configuration

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_session import bench_session
from overhead import bench_rules

from mcp_acp.policy.context import build_context
from mcp_acp.policy.paths import judge_all, request_paths
from mcp_acp.proxy import envelope
from mcp_acp.proxy.enforcement import Enforcer
from mcp_acp.proxy.gate import Gate
from mcp_acp.proxy.operations import OperationsRecorder, describe_request
from mcp_acp.proxy.relay import Relay

PROJECT = Path(os.path.realpath(HOME)) / "project"  # the filesystem server's root
MB = 1_000_000
FILES = 1000  # paths of the read_multiple_files case
SLASHES = 800_000  # characters of `/` under a path key
PROBE_S = 0.001  # the loop-lag probe's sleep
STAGES = ("parse", "describe", "paths", "evaluate", "decide", "relay")
ANSWER = {"jsonrpc": "2.0", "id": 7, "result": {"content": [{"type": "text", "text": "ok"}], "isError": False}}
ANSWER_RAW = orjson.dumps(ANSWER) + b"\n"


def call(tool: str, arguments: dict, spaced: bool = False) -> bytes:
    """A `tools/call` line as a client writes it: compact (the SDK's pydantic), or json.dumps defaults."""
    message = {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": tool, "arguments": arguments}}
    return (json.dumps(message).encode() if spaced else orjson.dumps(message)) + b"\n"


def text_of(line: str, size: int) -> str:
    return (line * (size // len(line) + 1))[:size]


def cases() -> list[tuple[str, bytes]]:
    plain = text_of("The quick brown fox jumps over the lazy dog; notes for the weekly review, item 42.\n", MB)
    slashy = text_of("src/pkg/module_0042.py: see ../lib/util.py and /srv/project/build/out.o // a/b/c/\n", MB)
    note = str(PROJECT / "notes.md")
    return [
        ("small tools/call (echo)", call("echo", {"text": "ping"})),
        ("write_file, 1 MB plain text", call("write_file", {"path": note, "content": plain})),
        ("write_file, 1 MB text full of /", call("write_file", {"path": note, "content": slashy})),
        ("write_file, 1 MB, spaced JSON", call("write_file", {"path": note, "content": plain}, spaced=True)),
        (
            "read_multiple_files, 1,000 paths",
            call("read_multiple_files", {"paths": [str(PROJECT / "src" / f"module_{n:04d}.py") for n in range(FILES)]}),
        ),
        ("800 KB of / under a path key", call("read_text_file", {"path": "/" * SLASHES})),
    ]


class SignalBackend:
    """A backend that takes the bytes and says so (the request was forwarded)."""

    server_name, transport, reconnects = "bench", "stdio", False

    def __init__(self) -> None:
        self.done: asyncio.Event | None = None
        self.forwarded = 0

    async def start(self, deliver, on_lost) -> None:
        return None

    async def send(self, message, raw) -> None:
        self.forwarded += 1
        if self.done:
            self.done.set()

    async def close(self) -> None:
        return None


def build():
    (PROJECT / "src").mkdir(parents=True, exist_ok=True)
    for n in range(FILES):  # the files the 1,000 paths name exist, as they would on a real server
        (PROJECT / "src" / f"module_{n:04d}.py").touch()
    (PROJECT / "notes.md").touch()
    rules = [
        {
            "id": "project-files",
            "effect": "allow",
            "conditions": {
                "tool_name": ["read_text_file", "read_multiple_files", "write_file", "edit_file"],
                "path_pattern": f"{PROJECT}/**",
            },
        },
        *bench_rules(100),
    ]
    session = bench_session(Path(HOME), rules, roots=[str(PROJECT)])
    enforcer, recorder = session.enforcer, session.recorder("stdio")
    return session.inputs.audit, enforcer, recorder


def summary(samples: list[float]) -> dict:
    ordered = sorted(samples)
    return {
        "median_ms": round(statistics.median(ordered), 4),
        "max_ms": round(ordered[-1], 4),
        "p99_ms": round(ordered[max(-(-99 * len(ordered) // 100), 1) - 1], 4),
        "samples": len(ordered),
    }


async def timed(fn: Callable[[], object], rounds: int, warmup: int = 2) -> list[float]:
    """`rounds` single timings of `fn` in ms; an awaitable result is awaited inside the timing."""
    samples = []
    for i in range(warmup + rounds):
        start = time.perf_counter()
        result = fn()
        if isinstance(result, Awaitable):
            await result
        if i >= warmup:
            samples.append((time.perf_counter() - start) * 1000)
    return samples


class Through:
    """Sends one line through the relay and waits until it was forwarded or answered; a forwarded
    request then gets a small answer from the backend (untimed) so the next can reuse its id."""

    def __init__(self, enforcer: Enforcer, recorder: OperationsRecorder) -> None:
        self.backend = SignalBackend()
        self.answers: list[bytes] = []

        async def to_client(data: bytes) -> None:
            self.answers.append(data)
            if self.backend.done:
                self.backend.done.set()

        gate = Gate(
            enforcer.check,
            enforcer.note_notification,
            refused=enforcer.refused,
            client_answered=enforcer.client_answered,
        )
        self.relay = Relay(self.backend, gate, to_client, recorder)

    async def one(self, line: bytes) -> float:
        self.backend.done = done = asyncio.Event()
        forwarded = self.backend.forwarded
        start = time.perf_counter()
        await self.relay.from_client(line)
        await done.wait()
        elapsed = (time.perf_counter() - start) * 1000
        if self.backend.forwarded > forwarded:
            await self.relay.from_backend(ANSWER, ANSWER_RAW)
        self.answers.clear()
        return elapsed


async def loop_lag(through: Through, line: bytes, rounds: int, seconds: float) -> dict:
    """The probe's overshoots while requests of this kind pass the relay back to back: at least
    `rounds` of them, and for at least `seconds` (so the small baseline has as many samples)."""
    lags: list[float] = []
    stop = asyncio.Event()

    async def probe() -> None:
        while not stop.is_set():
            start = time.perf_counter()
            await asyncio.sleep(PROBE_S)
            lags.append((time.perf_counter() - start - PROBE_S) * 1000)

    task = asyncio.create_task(probe())
    await asyncio.sleep(0.01)  # the probe is running
    sent, until = 0, time.perf_counter() + seconds
    while sent < rounds or time.perf_counter() < until:
        await through.one(line)
        await asyncio.sleep(0)  # as a pipe read would, between two lines
        sent += 1
    stop.set()
    await task
    return {**summary(lags), "requests": sent}


async def run(rounds: int, lag_seconds: float) -> dict:
    audit, enforcer, recorder = build()
    through = Through(enforcer, recorder)
    roots = enforcer.roots.snapshot()
    report = []
    for name, line in cases():
        message = envelope.parse_client_message(line)
        params = message["params"]
        found = request_paths(message["method"], params, bool(roots))
        ctx = build_context(message, enforcer.identity, "bench", session_id="s1", proxy_name="bench", roots=roots)
        decision = enforcer.reloader.engine.evaluate(ctx)
        before = through.backend.forwarded
        await through.one(line)
        outcome = "forwarded" if through.backend.forwarded > before else "refused"
        stages = {
            # Each lambda binds this case's values (default arguments), so none reads a later case's.
            "parse": await timed(lambda line=line: envelope.parse_client_message(line), rounds),
            "describe": await timed(lambda message=message: describe_request(message), rounds),
            "paths": await timed(
                lambda message=message, params=params: judge_all(
                    request_paths(message["method"], params, bool(roots)), roots
                ),
                rounds,
            ),
            "evaluate": await timed(lambda ctx=ctx: enforcer.reloader.engine.evaluate(ctx), rounds),
            "decide": await timed(lambda message=message: enforcer.check(message), rounds),
            "relay": [await through.one(line) for _ in range(rounds)],
        }
        row = {
            "case": name,
            "bytes": len(line),
            "paths_found": len(found),
            "decision": decision.effect,
            "final_rule": decision.final_rule,
            "outcome": outcome,
            "stages": {stage: summary(samples) for stage, samples in stages.items()},
            "loop_lag": await loop_lag(through, line, rounds, lag_seconds),
        }
        report.append(row)
        print(f"  {name}: done", file=sys.stderr, flush=True)
    audit.close()
    return {"cases": report}


def event_loop_name() -> str:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


def run_on_proxy_loop(rounds: int, lag_seconds: float) -> dict:
    """On the event loop the proxy itself runs (mcp_acp.event_loop: uvloop where installed)."""
    if event_loop_name() == "uvloop":
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(run(rounds, lag_seconds))
    return asyncio.run(run(rounds, lag_seconds))


def show(document: dict) -> None:
    width = max(len(row["case"]) for row in document["cases"])
    print(f"\nper request, ms: median / max of {document['rounds']} ({document['event_loop']})")
    print(f"{'case':<{width}}  {'bytes':>9}  {'paths':>5}  " + "  ".join(f"{s:>15}" for s in STAGES) + "  outcome")
    for row in document["cases"]:
        cells = [f"{row['stages'][s]['median_ms']:7.3f} /{row['stages'][s]['max_ms']:7.2f}" for s in STAGES]
        print(
            f"{row['case']:<{width}}  {row['bytes']:>9,}  {row['paths_found']:>5}  "
            + "  ".join(cells)
            + f"  {row['outcome']} ({row['decision']}: {row['final_rule']})"
        )
    print(f"\nevent loop held while such requests pass back to back (a {PROBE_S * 1000:g} ms sleep's overshoot, ms)")
    print(f"{'case':<{width}}  {'requests':>8}  {'samples':>7}  {'median':>8}  {'p99':>8}  {'max':>8}")
    for row in document["cases"]:
        lag = row["loop_lag"]
        print(
            f"{row['case']:<{width}}  {lag['requests']:>8}  {lag['samples']:>7}  {lag['median_ms']:8.3f}  "
            f"{lag['p99_ms']:8.3f}  {lag['max_ms']:8.3f}"
        )
    load = document["load_avg_1m"]
    print(
        f"\n1-minute load average {load[0]:.2f} before, {load[1]:.2f} after; {document['cpu_count']} CPUs; "
        f"Python {document['python']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=100, help="timed requests per case and stage (default 100)")
    parser.add_argument(
        "--lag-seconds", type=float, default=2.0, help="least time the loop-lag probe runs per case (default 2)"
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    load_before = os.getloadavg()[0]
    try:
        result = run_on_proxy_loop(args.rounds, args.lag_seconds)
    finally:
        shutil.rmtree(HOME, ignore_errors=True)
    document = {
        "bench": "judge",
        "rounds": args.rounds,
        "lag_seconds": args.lag_seconds,
        "event_loop": event_loop_name(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "switch_interval_ms": sys.getswitchinterval() * 1000,
        "load_avg_1m": [load_before, os.getloadavg()[0]],
        **result,
    }
    show(document)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        print(f"results written to {args.json}")


if __name__ == "__main__":
    main()
