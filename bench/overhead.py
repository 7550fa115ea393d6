"""Latency overhead of mcp-acp on `tools/call` and `tools/list`, next to direct access and fastmcp's proxy.

For each backend transport (STDIO child, streamable HTTP) it times N `echo`
calls and N `tools/list` requests on each path, interleaved round by round:

  direct      client -> backend
  byte relay  client -> a minimal process copying bytes, parsing nothing -> backend (STDIO only:
              the floor any process in the middle costs on this machine)
  mcp-acp   client -> `mcp-acp start --proxy NAME --headless` -> backend
  fastmcp   client -> fastmcp `create_proxy` served over STDIO -> backend
  direct 2026-07-28, byte relay 2026-07-28, mcp-acp 2026-07-28   (STDIO only) the same with a
            client of the 2026-07-28 revision (no handshake; the version in every request's _meta)
  mcp-acp baseline   with --baseline-src DIR (STDIO only): the same proxy run from another
            checkout's src/ (e.g. a worktree of an earlier commit), to show what a change costs

and checks that a 5 MB `big` result arrives byte-for-byte intact on each path. Then, for
each backend transport (STDIO, then HTTP), direct against mcp-acp only:

  concurrency   1, 8 and 64 `echo` calls in flight on one session: calls/s, and the mcp-acp
                process's peak RSS under the 64-in-flight load
  payloads      `big` results of 100 B, 100 KB and 5 MB, every byte checked
  policy sizes  mcp-acp with 10, 100 and 1,000 policy rules

    .venv/bin/python bench/overhead.py [--iterations 500] [--warmup 50] [--json FILE] [--quick]
                                       [--baseline-src DIR]

The backend is tests/fixtures/backend.py; see docs/performance.md for the method.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Self

import anyio
import psutil
from mcp import Client, ClientSession, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from rich.console import Console
from rich.table import Table
from rich.text import Text

ROOT = Path(__file__).resolve().parent.parent
BACKEND = str(ROOT / "tests" / "fixtures" / "backend.py")
CLI = str(Path(sys.executable).with_name("mcp-acp"))
PY = sys.executable
PATTERN = "0123456789"  # what `big` repeats; checked independently of the fixture's code
CALL_TIMEOUT = 30  # seconds per request: a hung path becomes an error row, not a frozen bench
RUN_TIMEOUT = 1800  # seconds per transport or section, a last resort
BASELINE: Path | None = None  # --baseline-src: another checkout whose src/ runs as "mcp-acp baseline"
IN_FLIGHT = (1, 8, 64)  # concurrent requests on one session
PAYLOAD_SIZES = (100, 100_000, 5_000_000)  # bytes of the `big` result
POLICY_SIZES = (10, 100, 1000)  # rules in the mcp-acp policy
TRANSPORTS = ("stdio", "http")  # backend transports, in report order
BENCH_RULES = 100  # the policy of the main latency table
MODERN = "2026-07-28"  # the protocol revision without a handshake: its paths are timed beside the 2025 ones
MODERN_PROXY = "bench-stdio-modern"

# The reference proxy: fastmcp's create_proxy over the same backend, served on STDIO.
# argv[1] is the backend URL, or the command line of a STDIO backend.
FASTMCP_PROXY = """
import sys
from fastmcp.client.transports import StdioTransport, StreamableHttpTransport
from fastmcp.server import create_proxy
url = sys.argv[1]
target = (StreamableHttpTransport(url, max_sse_event_size=None) if url.startswith("http")
          else StdioTransport(sys.argv[1], sys.argv[2:]))
create_proxy(target, name="fastmcp-reference").run("stdio", show_banner=False, log_level="WARNING")
"""

# The floor: the cheapest possible process in the middle, copying bytes both ways without
# parsing anything. Whatever a proxy process adds beyond this row is its own work.
BYTE_RELAY = """
import os, selectors, subprocess, sys
child = subprocess.Popen(sys.argv[1:], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
routes = {0: child.stdin.fileno(), child.stdout.fileno(): 1}
selector = selectors.DefaultSelector()
for source in routes:
    selector.register(source, selectors.EVENT_READ)
while True:
    for key, _ in selector.select():
        data = os.read(key.fd, 1 << 20)
        if not data:
            sys.exit(0)
        os.write(routes[key.fd], data)
"""

console = Console(width=None if sys.stdout.isatty() else 150)  # a log or pipe gets the full tables


@dataclass
class Stats:
    """Median, and p95 and p99 by nearest rank, in milliseconds."""

    median_ms: float
    p95_ms: float
    p99_ms: float

    def minus(self, base: Stats) -> Stats:
        """Each figure minus the same figure of `base`: what a path adds to the direct one."""
        return Stats(self.median_ms - base.median_ms, self.p95_ms - base.p95_ms, self.p99_ms - base.p99_ms)


@dataclass
class Row:
    path: str
    transport: str
    call: Stats | None = None  # tools/call echo
    added_call: Stats | None = None
    list: Stats | None = None  # tools/list
    added_list: Stats | None = None
    big_ok: bool | None = None
    big_detail: str = ""
    error: str | None = None


@dataclass
class Throughput:
    path: str
    in_flight: int
    transport: str = "stdio"
    calls: int = 0
    seconds: float = 0.0
    calls_per_s: float | None = None
    pct_of_direct: float | None = None
    error: str | None = None


@dataclass
class Payload:
    path: str
    size_bytes: int
    transport: str = "stdio"
    samples: int = 0
    stats: Stats | None = None
    added: Stats | None = None
    error: str | None = None


@dataclass
class PolicySize:
    rules: int
    transport: str = "stdio"
    stats: Stats | None = None
    added: Stats | None = None  # over the direct path of the same transport in the same run
    error: str | None = None


@dataclass
class Report:
    latency: list[Row] = field(default_factory=list)
    concurrency: list[Throughput] = field(default_factory=list)
    proxy_rss_mb: dict = field(default_factory=dict)  # the STDIO proxy's
    proxy_rss_mb_http: dict = field(default_factory=dict)  # the HTTP-backend proxy's
    payloads: list[Payload] = field(default_factory=list)
    policy_sizes: list[PolicySize] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # sections that failed as a whole


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"HTTP backend did not listen on port {port} within {timeout}s")


def acp_available() -> bool:
    try:
        return subprocess.run([CLI, "start", "--help"], check=False, capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def baseline_env() -> dict[str, str]:
    """The environment that makes the CLI import the baseline checkout's code (before the editable install)."""
    return {"PYTHONPATH": str(BASELINE / "src")} if BASELINE else {}


def acp(home: Path, *args: str, env: dict[str, str] | None = None) -> None:
    proc = subprocess.run(
        [CLI, *args],
        check=False,
        env={**os.environ, "MCP_ACP_HOME": str(home), **(env or {})},
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"mcp-acp {' '.join(args)} failed: {proc.stderr.strip() or proc.stdout.strip()}")


def bench_rules(count: int) -> list[dict]:
    """A realistic policy of `count` rules (at least 3): one allows the benchmarked tools, a tenth
    deny secret folders, the rest allow project folders. 100 gives 1 + 89 + 10."""
    denies = max(count // 10, 1)
    rules = [{"id": "bench-calls", "effect": "allow", "conditions": {"tool_name": ["echo", "big", "add"]}}]
    rules += [
        {
            "id": f"project-{n}",
            "effect": "allow",
            "conditions": {"tool_name": [f"read_{n}", "list_*"], "path_pattern": f"/srv/project{n}/**"},
        }
        for n in range(count - 1 - denies)
    ]
    rules += [
        {"id": f"no-secrets-{n}", "effect": "deny", "conditions": {"path_pattern": f"**/secret{n}/**"}}
        for n in range(denies)
    ]
    return rules


def enforce_bench_policy(home: Path, name: str, rules: int = BENCH_RULES) -> None:
    """A realistic policy that allows the benchmarked calls, and limits a benchmark cannot trip:
    the measurement includes a full policy decision and its decisions.jsonl entry."""
    folder = home / "config" / "proxies" / name
    (folder / "policy.json").write_text(json.dumps({"rules": bench_rules(rules)}), encoding="utf-8")
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    config["limits"] = {"requests_per_second": 1e5, "burst": 1_000_000, "tool_calls_per_window": 1_000_000}
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")


def acp_spec(proxy: str, home: Path) -> dict:
    return {"stdio": [CLI, "start", "--proxy", proxy, "--headless"], "env": {"MCP_ACP_HOME": str(home)}}


@asynccontextmanager
async def open_session(spec: dict, errlog_path: Path) -> AsyncIterator[ClientSession]:
    """A ClientSession over STDIO (`spec["stdio"]`: command line) or HTTP (`spec["url"]`)."""
    with errlog_path.open("w") as errlog:
        if "url" in spec:
            # Streamable HTTP caps one SSE event at 1 MiB by default; the big check needs more.
            # spec["http_client"]: an httpx2 client of the caller's (bench/gateway.py sets its pool).
            transport = streamable_http_client(
                spec["url"], max_sse_event_size=None, http_client=spec.get("http_client")
            )
        else:
            command, *args = spec["stdio"]
            params = StdioServerParameters(command=command, args=args, env=spec.get("env"))
            transport = stdio_client(params, errlog=errlog)
        if spec.get("era") == MODERN:  # no handshake: every request carries the version in _meta
            async with Client(transport, mode=MODERN, cache=None, read_timeout_seconds=CALL_TIMEOUT) as client:
                if client.protocol_version != MODERN:
                    raise RuntimeError(f"negotiated {client.protocol_version}, not {MODERN}")
                yield client  # type: ignore[misc]  the same call_tool/list_tools as a ClientSession
            return
        async with transport as (read, write), ClientSession(read, write, read_timeout_seconds=CALL_TIMEOUT) as session:
            await session.initialize()
            yield session


async def echo_ms(session: ClientSession) -> float:
    """One timed `echo` call, in milliseconds; a wrong answer is an error, not a sample."""
    start = time.perf_counter()
    result = await session.call_tool("echo", {"text": "ping"})
    elapsed = (time.perf_counter() - start) * 1000
    if result.is_error or result.content[0].text != "ping":
        raise RuntimeError(f"echo returned a wrong result: {result!r:.200}")
    return elapsed


async def list_ms(session: ClientSession) -> float:
    """One timed `tools/list`, in milliseconds; a list without `echo` is an error."""
    start = time.perf_counter()
    result = await session.list_tools()
    elapsed = (time.perf_counter() - start) * 1000
    if "echo" not in {tool.name for tool in result.tools}:
        raise RuntimeError(f"tools/list lacks echo: {result!r:.200}")
    return elapsed


def big_problem(text: str, size: int) -> str | None:
    """Why `text` is not the exact `big(size)` result, or None when it is."""
    if len(text) != size:
        return f"got {len(text)} bytes, expected {size}"
    reps, rest = divmod(size, len(PATTERN))
    if text != PATTERN * reps + PATTERN[:rest]:
        bad = next(i for i, ch in enumerate(text) if ch != PATTERN[i % len(PATTERN)])
        return f"content differs from byte {bad}"
    return None


async def big_ms(session: ClientSession, size: int) -> float:
    """One timed `big` call, in milliseconds; a result not intact to the byte is an error."""
    start = time.perf_counter()
    result = await session.call_tool("big", {"size_bytes": size}, read_timeout_seconds=120)
    elapsed = (time.perf_counter() - start) * 1000
    if result.is_error:
        raise RuntimeError(f"big({size}) tool error: {result.content[0].text[:200]}")
    if problem := big_problem(result.content[0].text, size):
        raise RuntimeError(f"big({size}): {problem}")
    return elapsed


async def check_big(session: ClientSession, size: int) -> tuple[bool, str]:
    start = time.perf_counter()
    result = await session.call_tool("big", {"size_bytes": size}, read_timeout_seconds=120)
    ms = (time.perf_counter() - start) * 1000
    if result.is_error:
        return False, f"tool error: {result.content[0].text[:200]}"
    problem = big_problem(result.content[0].text, size)
    return (False, problem) if problem else (True, f"intact, {ms:.0f} ms")


async def burst_s(session: ClientSession, in_flight: int) -> float:
    """Seconds for `in_flight` concurrent `echo` calls on one session, all checked."""
    start = time.perf_counter()
    await asyncio.gather(*(echo_ms(session) for _ in range(in_flight)))
    return time.perf_counter() - start


def leaves(exc: BaseException) -> list[BaseException]:
    """The real errors inside (nested) exception groups."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in leaves(inner)]
    return [exc]


def nearest_rank(samples: list[float], pct: float) -> float:
    """The pct-th percentile by nearest rank: the smallest sample with at least pct% at or below it."""
    ordered = sorted(samples)
    return ordered[max(math.ceil(pct / 100 * len(ordered)), 1) - 1]


def stats(samples: list[float]) -> Stats:
    return Stats(statistics.median(samples), nearest_rank(samples, 95), nearest_rank(samples, 99))


@dataclass
class Live:
    """A path whose session is open and still answering."""

    name: str
    session: ClientSession
    errlog: Path
    on_error: Callable[[str], None]
    samples: dict[str, list[float]] = field(default_factory=dict)

    def add(self, kind: str, value: float) -> None:
        self.samples.setdefault(kind, []).append(value)


def describe(exc: BaseException, errlog: Path | None = None) -> str:
    error = "; ".join(f"{type(e).__name__}: {e}" for e in leaves(exc))[:300]
    tail = errlog.read_text(errors="replace").strip()[-400:] if errlog and errlog.exists() else ""
    return f"{error} | stderr: {tail}" if tail else error


async def open_paths(stack: AsyncExitStack, targets: list[tuple[str, dict, Path, Callable[[str], None]]]) -> list[Live]:
    """Open a session per target; a path that fails to start reports through its `on_error`."""
    live: list[Live] = []
    for name, spec, errlog, on_error in targets:
        try:
            live.append(Live(name, await stack.enter_async_context(open_session(spec, errlog)), errlog, on_error))
        except Exception as exc:
            on_error(describe(exc, errlog))
    return live


async def each(live: list[Live], step: Callable[[Live], Awaitable[None]]) -> None:
    """Run `step` once on every live path, in turn; a path that fails is reported and dropped."""
    for probe in list(live):
        try:
            await step(probe)
        except Exception as exc:
            probe.on_error(describe(exc, probe.errlog))
            live.remove(probe)


def set_error(target: Row | Throughput | Payload | PolicySize) -> Callable[[str], None]:
    def record(message: str) -> None:
        target.error = target.error or message

    return record


def set_errors(rows: dict[tuple[str, int], Throughput | Payload], path: str) -> Callable[[str], None]:
    """Record a path's failure on each of its rows of a section."""

    def record(message: str) -> None:
        for (name, _), row in rows.items():
            if name == path:
                row.error = row.error or message

    return record


async def measure_latency(targets: list[tuple[Row, dict, Path]], args: argparse.Namespace) -> None:
    """Time `tools/call` and `tools/list` on every path of one transport side by side.

    Requests are interleaved (one call and one list per path per round) so background load on
    the machine hits every path alike instead of whichever happened to run then.
    """
    rows = {row.path: row for row, _, _ in targets}
    async with AsyncExitStack() as stack:
        live = await open_paths(stack, [(row.path, spec, errlog, set_error(row)) for row, spec, errlog in targets])

        async def warm(probe: Live) -> None:
            await echo_ms(probe.session)
            await list_ms(probe.session)

        async def sample(probe: Live) -> None:
            probe.add("call", await echo_ms(probe.session))
            probe.add("list", await list_ms(probe.session))

        async def big(probe: Live) -> None:
            rows[probe.name].big_ok, rows[probe.name].big_detail = await check_big(probe.session, args.big_bytes)

        for _ in range(args.warmup):
            await each(live, warm)
        for _ in range(args.iterations):
            await each(live, sample)
        for probe in live:
            rows[probe.name].call, rows[probe.name].list = stats(probe.samples["call"]), stats(probe.samples["list"])
        await each(live, big)


def paths_for(backend: dict, acp_proxy: str | None, home: Path) -> list[tuple[str, dict]]:
    """The ways a client reaches `backend`, as session specs."""
    backend_args = [backend["url"]] if "url" in backend else backend["stdio"]
    paths = [("direct", backend)]
    if "stdio" in backend:
        paths.append(("byte relay (floor)", {"stdio": [PY, "-c", BYTE_RELAY, *backend_args]}))
    if acp_proxy:
        paths.append(("mcp-acp", acp_spec(acp_proxy, home)))
        if "stdio" in backend:  # the same proxy with a 2026-07-28 client, and its own direct baseline
            paths.append((f"direct {MODERN}", {**backend, "era": MODERN}))
            relay = {"stdio": [PY, "-c", BYTE_RELAY, *backend_args], "era": MODERN}
            paths.append((f"byte relay {MODERN}", relay))  # the floor in this era: what any process costs
            paths.append((f"mcp-acp {MODERN}", {**acp_spec(MODERN_PROXY, home), "era": MODERN}))
        if BASELINE and "stdio" in backend:
            spec = acp_spec(acp_proxy, home / "baseline")
            paths.append(("mcp-acp baseline", {**spec, "env": {**spec["env"], **baseline_env()}}))
    paths.append(("fastmcp create_proxy", {"stdio": [PY, "-c", FASTMCP_PROXY, *backend_args]}))
    return paths


async def run_latency(args: argparse.Namespace, work: Path, url: str, use_acp: bool) -> list[Row]:
    backends = {"stdio": ({"stdio": [PY, BACKEND]}, "bench-stdio"), "http": ({"url": url}, "bench-http")}
    rows: list[Row] = []
    for transport, (backend, proxy_name) in backends.items():
        targets = [
            (Row(path, transport), spec, work / f"{'-'.join(path.split()[:2])}-{transport}.stderr")
            for path, spec in paths_for(backend, proxy_name if use_acp else None, work)
        ]
        rows += [row for row, _, _ in targets]
        with console.status(f"{transport}: {args.iterations} interleaved calls and lists per path"):
            try:
                with anyio.fail_after(RUN_TIMEOUT):
                    await measure_latency(targets, args)
            except Exception as exc:
                for row, _, errlog in targets:
                    if row.error is None and row.big_ok is None:
                        row.error = describe(exc, errlog)
        directs = {row.path.endswith(MODERN): row for row, _, _ in targets if row.path.startswith("direct")}
        for row, _, _ in targets:
            direct = directs[row.path.endswith(MODERN)]  # each era against its own direct path
            if row is not direct and row.call and direct.call:
                row.added_call, row.added_list = row.call.minus(direct.call), row.list.minus(direct.list)
    return rows


class RssPeak:
    """Samples one process's RSS from a thread every few milliseconds, whatever the event loop does."""

    def __init__(self, pid: int) -> None:
        self.process, self.peak, self.samples = psutil.Process(pid), 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, self.process.memory_info().rss)
                self.samples += 1
            except psutil.Error:
                return
            self._stop.wait(0.005)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def rss_mb(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / 2**20


def uss_mb(pid: int) -> float:
    """Memory only this process holds (no shared library pages); too slow to sample under load."""
    return psutil.Process(pid).memory_full_info().uss / 2**20


def find_proxy_pid(proxy: str) -> int:
    """The mcp-acp process serving `proxy`: a descendant of this process started as `start --proxy NAME`."""
    for child in psutil.Process().children(recursive=True):
        try:
            if f"start --proxy {proxy} " in " ".join(child.cmdline()) + " ":
                return child.pid
        except psutil.Error:
            continue
    raise RuntimeError(f"no mcp-acp process for proxy {proxy} among this process's children")


async def measure_concurrency(
    args: argparse.Namespace, work: Path, transport: str, direct: dict, proxy: str, report: Report
) -> None:
    """Throughput with 1, 8 and 64 `echo` calls in flight on one session, direct and through mcp-acp,
    interleaved burst by burst; and the mcp-acp process's RSS, idle and at its peak under 64 in flight."""
    rows = {(path, n): Throughput(path, n, transport) for n in IN_FLIGHT for path in ("direct", "mcp-acp")}
    report.concurrency += rows.values()

    targets = [
        ("direct", direct, work / f"direct-concurrency-{transport}.stderr", set_errors(rows, "direct")),
        (
            "mcp-acp",
            acp_spec(proxy, work),
            work / f"mcp-acp-concurrency-{transport}.stderr",
            set_errors(rows, "mcp-acp"),
        ),
    ]
    async with AsyncExitStack() as stack:
        live = await open_paths(stack, targets)
        pid = find_proxy_pid(proxy)
        rss_report = report.proxy_rss_mb if transport == "stdio" else report.proxy_rss_mb_http
        rss_report.update({"pid": pid, "in_flight": max(IN_FLIGHT), "idle": rss_mb(pid), "idle_uss": uss_mb(pid)})
        for n in IN_FLIGHT:
            rounds = max(args.concurrency_calls // n, 2)

            async def burst(probe: Live, n: int = n) -> None:
                row = rows[(probe.name, n)]
                row.seconds += await burst_s(probe.session, n)
                row.calls += n

            for _ in range(max(args.warmup // n, 1)):
                await each(live, lambda probe, n=n: burst_s(probe.session, n))
            if n == max(IN_FLIGHT):
                with RssPeak(pid) as rss:
                    for _ in range(rounds):
                        await each(live, burst)
                rss_report.update(
                    peak=rss.peak / 2**20, rss_samples=rss.samples, after=rss_mb(pid), after_uss=uss_mb(pid)
                )
            else:
                for _ in range(rounds):
                    await each(live, burst)
    for n in IN_FLIGHT:
        direct, proxied = rows[("direct", n)], rows[("mcp-acp", n)]
        for row in (direct, proxied):
            if row.error is None and row.seconds > 0:
                row.calls_per_s = row.calls / row.seconds
        if direct.calls_per_s and proxied.calls_per_s:
            proxied.pct_of_direct = 100 * proxied.calls_per_s / direct.calls_per_s
            direct.pct_of_direct = 100.0


async def measure_payloads(
    args: argparse.Namespace, work: Path, transport: str, direct: dict, proxy: str, report: Report
) -> None:
    """`big` results of each size, direct and through mcp-acp, interleaved; every byte checked."""
    rows = {(path, size): Payload(path, size, transport) for size in PAYLOAD_SIZES for path in ("direct", "mcp-acp")}
    report.payloads += rows.values()

    targets = [
        ("direct", direct, work / f"direct-payloads-{transport}.stderr", set_errors(rows, "direct")),
        ("mcp-acp", acp_spec(proxy, work), work / f"mcp-acp-payloads-{transport}.stderr", set_errors(rows, "mcp-acp")),
    ]
    async with AsyncExitStack() as stack:
        live = await open_paths(stack, targets)
        for size in PAYLOAD_SIZES:
            count = args.payload_iterations if size <= 100_000 else args.large_payload_iterations

            async def sample(probe: Live, size: int = size) -> None:
                probe.add(str(size), await big_ms(probe.session, size))

            await each(live, lambda probe, size=size: big_ms(probe.session, size))  # warm-up
            for _ in range(count):
                await each(live, sample)
            for probe in live:
                row = rows[(probe.name, size)]
                row.samples, row.stats = len(probe.samples[str(size)]), stats(probe.samples[str(size)])
    for size in PAYLOAD_SIZES:
        direct, proxied = rows[("direct", size)], rows[("mcp-acp", size)]
        if direct.stats and proxied.stats:
            proxied.added = proxied.stats.minus(direct.stats)


def rules_proxy(rules: int, transport: str) -> str:
    return f"bench-rules-{rules}" + ("" if transport == "stdio" else f"-{transport}")


async def measure_policy_sizes(
    args: argparse.Namespace, work: Path, transport: str, direct_spec: dict, report: Report
) -> None:
    """`tools/call` through mcp-acp with each policy size, interleaved with the direct path."""
    direct = Row("direct", transport)
    rows = {rules_proxy(n, transport): PolicySize(n, transport) for n in POLICY_SIZES}
    report.policy_sizes += rows.values()
    targets = [("direct", direct_spec, work / f"direct-policy-{transport}.stderr", set_error(direct))]
    targets += [(name, acp_spec(name, work), work / f"{name}.stderr", set_error(row)) for name, row in rows.items()]
    async with AsyncExitStack() as stack:
        live = await open_paths(stack, targets)

        async def sample(probe: Live) -> None:
            probe.add("call", await echo_ms(probe.session))

        for _ in range(args.warmup):
            await each(live, lambda probe: echo_ms(probe.session))
        for _ in range(args.iterations):
            await each(live, sample)
        base = next((stats(p.samples["call"]) for p in live if p.name == "direct"), None)
        for probe in live:
            if probe.name in rows:
                rows[probe.name].stats = stats(probe.samples["call"])
                rows[probe.name].added = rows[probe.name].stats.minus(base) if base else None
    if direct.error:
        report.errors.append(f"policy sizes, direct {transport} path: {direct.error}")


async def run_sections(args: argparse.Namespace, work: Path, url: str, use_acp: bool) -> Report:
    report = Report(latency=await run_latency(args, work, url, use_acp))
    if not use_acp:
        return report
    sections = []
    for transport, direct, proxy in (
        ("stdio", {"stdio": [PY, BACKEND]}, "bench-stdio"),
        ("http", {"url": url}, "bench-http"),
    ):
        sections += [
            (
                f"{transport} concurrency: {', '.join(map(str, IN_FLIGHT))} in flight",
                lambda t=transport, d=direct, p=proxy: measure_concurrency(args, work, t, d, p, report),
            ),
            (
                f"{transport} payloads: " + ", ".join(f"{s:,} B" for s in PAYLOAD_SIZES),
                lambda t=transport, d=direct, p=proxy: measure_payloads(args, work, t, d, p, report),
            ),
            (
                f"{transport} policy sizes: " + ", ".join(f"{n:,} rules" for n in POLICY_SIZES),
                lambda t=transport, d=direct: measure_policy_sizes(args, work, t, d, report),
            ),
        ]
    for title, section in sections:
        with console.status(title):
            try:
                with anyio.fail_after(RUN_TIMEOUT):
                    await section()
            except Exception as exc:
                report.errors.append(f"{title}: {describe(exc)}")
    return report


def run(args: argparse.Namespace, work: Path) -> Report:
    """Start the HTTP backend and the mcp-acp config, then measure every path."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/mcp"
    with (work / "http-backend.log").open("w") as http_log:
        http_backend = subprocess.Popen([PY, BACKEND, "--http", str(port)], stdout=http_log, stderr=http_log)
        try:
            wait_for_port(port)
            use_acp = acp_available()
            if use_acp:
                acp(work, "init", "--auth", "local")
                acp(
                    work,
                    "proxy",
                    "add",
                    "bench-stdio",
                    "--server-name",
                    "bench-stdio",
                    "--command",
                    PY,
                    "--arg",
                    BACKEND,
                )
                acp(work, "proxy", "add", "bench-http", "--server-name", "bench-http", "--url", url)
                # One proxy serves one client: the 2026-07-28 client gets its own, configured alike.
                stdio = ["--command", PY, "--arg", BACKEND]
                acp(work, "proxy", "add", MODERN_PROXY, "--server-name", "bench-stdio", *stdio)
                if BASELINE:  # the baseline's own CLI writes its home, in the config format it knows
                    base, env = work / "baseline", baseline_env()
                    acp(base, "init", "--auth", "local", env=env)
                    acp(
                        base,
                        "proxy",
                        "add",
                        "bench-stdio",
                        "--server-name",
                        "bench-stdio",
                        "--command",
                        PY,
                        "--arg",
                        BACKEND,
                        env=env,
                    )
                    enforce_bench_policy(base, "bench-stdio")
                for name in ("bench-stdio", "bench-http", MODERN_PROXY):
                    enforce_bench_policy(work, name)
                for rules in POLICY_SIZES:
                    for transport, backend in (
                        ("stdio", ["--command", PY, "--arg", BACKEND]),
                        ("http", ["--url", url]),
                    ):
                        name = rules_proxy(rules, transport)
                        acp(work, "proxy", "add", name, "--server-name", name, *backend)
                        enforce_bench_policy(work, name, rules)
            else:
                console.print(f"[yellow]{CLI} start is not available: skipping the mcp-acp rows and sections[/]")
            return anyio.run(run_sections, args, work, url, use_acp)
        finally:
            http_backend.terminate()
            http_backend.wait(10)


def ms(value: float | None, signed: bool = False) -> str:
    return "-" if value is None else (f"{value:+.3f}" if signed else f"{value:.3f}")


def table(title: str, columns: list[str], left: int = 1) -> Table:
    """A report table; the first `left` columns are labels, the rest numbers."""
    result = Table(title=title, title_justify="left")
    for i, column in enumerate(columns):
        result.add_column(column, justify="left" if i < left else "right")
    return result


def show_latency(rows: list[Row], args: argparse.Namespace) -> None:
    calls = table(
        f"tools/call echo latency, {args.iterations} calls after {args.warmup} warm-up",
        ["path", "transport", "p50 ms", "p95 ms", "p99 ms", "added p50", "added p95", "added p99"],
        2,
    )
    calls.add_column(f"{args.big_bytes / 1e6:g} MB big result")
    lists = table(
        f"tools/list latency, {args.iterations} lists after {args.warmup} warm-up",
        ["path", "transport", "p50 ms", "p95 ms", "p99 ms", "added p50", "added p95", "added p99"],
        2,
    )
    for r in rows:
        big = "-" if r.big_ok is None else (f"[green]{r.big_detail}[/]" if r.big_ok else f"[red]{r.big_detail}[/]")
        for target, measured, added, extra in ((calls, r.call, r.added_call, [big]), (lists, r.list, r.added_list, [])):
            figures = [
                ms(measured and measured.median_ms),
                ms(measured and measured.p95_ms),
                ms(measured and measured.p99_ms),
                ms(added and added.median_ms, True),
                ms(added and added.p95_ms, True),
                ms(added and added.p99_ms, True),
            ]
            target.add_row(r.path, r.transport, *figures, *extra)
    console.print(calls)
    console.print(lists)


def rate(row: Throughput | None) -> str:
    return "-" if row is None or row.calls_per_s is None else f"{row.calls_per_s:,.0f}"


def show_concurrency(report: Report, args: argparse.Namespace) -> None:
    out = table(
        f"throughput on one session, ~{args.concurrency_calls} calls per level",
        ["transport", "echo calls in flight", "direct calls/s", "mcp-acp calls/s", "mcp-acp % of direct"],
        2,
    )
    by_key = {(r.transport, r.path, r.in_flight): r for r in report.concurrency}
    for transport in TRANSPORTS:
        for n in IN_FLIGHT:
            direct, proxied = by_key.get((transport, "direct", n)), by_key.get((transport, "mcp-acp", n))
            if direct is None and proxied is None:
                continue
            pct = "-" if proxied is None or proxied.pct_of_direct is None else f"{proxied.pct_of_direct:.1f} %"
            out.add_row(transport, str(n), rate(direct), rate(proxied), pct)
    console.print(out)
    for transport, rss in (("STDIO", report.proxy_rss_mb), ("HTTP", report.proxy_rss_mb_http)):
        if "peak" in rss:
            console.print(
                f"mcp-acp proxy RSS ({transport} backend): {rss['idle']:.1f} MB idle, peak {rss['peak']:.1f} MB "
                f"under {rss['in_flight']} in flight ({rss['rss_samples']} samples), {rss['after']:.1f} MB "
                f"after; USS {rss['idle_uss']:.1f} MB idle, {rss['after_uss']:.1f} MB after"
            )


def show_payloads(report: Report) -> None:
    out = table(
        "payload sizes, big(size) round trip, every byte checked",
        ["transport", "size", "samples", "direct p50 ms", "mcp-acp p50 ms", "added p50", "added p99"],
        2,
    )
    by_key = {(r.transport, r.path, r.size_bytes): r for r in report.payloads}
    for transport in TRANSPORTS:
        for size in PAYLOAD_SIZES:
            direct, proxied = by_key.get((transport, "direct", size)), by_key.get((transport, "mcp-acp", size))
            if direct is None or proxied is None:
                continue
            out.add_row(
                transport,
                f"{size:,} B",
                str(proxied.samples),
                ms(direct.stats and direct.stats.median_ms),
                ms(proxied.stats and proxied.stats.median_ms),
                ms(proxied.added and proxied.added.median_ms, True),
                ms(proxied.added and proxied.added.p99_ms, True),
            )
    console.print(out)


def show_policy_sizes(report: Report, args: argparse.Namespace) -> None:
    out = table(
        f"policy sizes, mcp-acp tools/call echo, {args.iterations} calls",
        ["transport", "rules", "p50 ms", "p95 ms", "p99 ms", "added p50", "added p99"],
        2,
    )
    for r in report.policy_sizes:
        s, a = r.stats, r.added
        out.add_row(
            r.transport,
            f"{r.rules:,}",
            ms(s and s.median_ms),
            ms(s and s.p95_ms),
            ms(s and s.p99_ms),
            ms(a and a.median_ms, True),
            ms(a and a.p99_ms, True),
        )
    console.print(out)


def show(report: Report, args: argparse.Namespace) -> None:
    show_latency(report.latency, args)
    if report.concurrency:
        show_concurrency(report, args)
    if report.payloads:
        show_payloads(report)
    if report.policy_sizes:
        show_policy_sizes(report, args)
    for r in report.latency:
        if r.error:
            console.print(Text.assemble((f"{r.path} / {r.transport} failed: ", "red"), r.error))
    labels = [
        *((f"{r.path} ({r.transport}), {r.in_flight} in flight", r) for r in report.concurrency),
        *((f"{r.path} ({r.transport}), {r.size_bytes:,} B payload", r) for r in report.payloads),
        *((f"mcp-acp ({r.transport}), {r.rules:,} rules", r) for r in report.policy_sizes),
    ]
    for label, r in labels:
        if r.error:
            console.print(Text.assemble((f"{label} failed: ", "red"), r.error))
    for error in report.errors:
        console.print(Text.assemble(("section failed: ", "red"), error))


def failed(report: Report) -> bool:
    sections = [*report.latency, *report.concurrency, *report.payloads, *report.policy_sizes]
    return bool(report.errors) or any(r.error for r in sections) or any(r.big_ok is False for r in report.latency)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=500, help="timed calls per path (default 500)")
    parser.add_argument("--warmup", type=int, default=50, help="untimed calls first (default 50)")
    parser.add_argument("--big-bytes", type=int, default=5_000_000, help="size of the integrity check result")
    parser.add_argument(
        "--concurrency-calls", type=int, default=2000, help="echo calls per in-flight level and path (default 2000)"
    )
    parser.add_argument(
        "--payload-iterations",
        type=int,
        default=200,
        help="timed big() calls per path for the 100 B and 100 KB sizes (default 200)",
    )
    parser.add_argument(
        "--large-payload-iterations",
        type=int,
        default=20,
        help="timed big() calls per path for the 5 MB size (default 20)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="a smoke test: 20 calls, 3 warm-up, few concurrency and payload rounds"
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")
    parser.add_argument(
        "--baseline-src",
        type=Path,
        metavar="DIR",
        help="a checkout (e.g. `git worktree add /tmp/base REV`) whose src/ also runs, as 'mcp-acp baseline'",
    )
    args = parser.parse_args()
    global BASELINE
    BASELINE = args.baseline_src.resolve() if args.baseline_src else None
    if BASELINE and not (BASELINE / "src" / "mcp_acp").is_dir():
        parser.error(f"--baseline-src {BASELINE}: no src/mcp_acp there; give the root of a checkout")
    if args.quick:
        args.iterations, args.warmup, args.concurrency_calls = 20, 3, 128
        args.payload_iterations, args.large_payload_iterations = 3, 2
    if args.iterations < 2:
        parser.error("--iterations must be at least 2")

    load_before = os.getloadavg()[0]  # other work on the machine skews every number; record it
    with tempfile.TemporaryDirectory(prefix="mcp-acp-bench-") as tmp:
        report = run(args, Path(tmp))
    load_after = os.getloadavg()[0]
    show(report, args)
    console.print(
        f"[dim]1-minute load average {load_before:.2f} before, {load_after:.2f} after; {os.cpu_count()} CPUs[/]"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        document = {
            "bench": "overhead",
            "quick": args.quick,
            "iterations": args.iterations,
            "warmup": args.warmup,
            "big_bytes": args.big_bytes,
            "concurrency_calls": args.concurrency_calls,
            "payload_iterations": args.payload_iterations,
            "large_payload_iterations": args.large_payload_iterations,
            "policy_rules_main": BENCH_RULES,
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "load_avg_1m": [load_before, load_after],
            **asdict(report),
        }
        args.json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        console.print(f"results written to {args.json}")
    if failed(report):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
