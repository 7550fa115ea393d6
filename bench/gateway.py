"""What `mcp-acp serve` (the gateway, issue 20) costs a remote client over loopback HTTP, next to
the same HTTP backend reached directly, in one run.

Every path uses the same client, the mcp SDK over streamable HTTP (`overhead.open_session`: a
ClientSession after the 2025 handshake, or `Client(mode="2026-07-28")` with no handshake), and
ends at tests/fixtures/backend.py:

  direct                  client -> backend over HTTP (`backend.py --http PORT`)
  gateway, HTTP backend   client -> `mcp-acp serve` -> a proxy added with `proxy add --url` -> the
                          SAME backend process over HTTP
  gateway, STDIO backend  client -> `mcp-acp serve` -> a proxy whose backend is backend.py as a
                          STDIO child of the gateway (for information: no direct twin over HTTP)

each in both eras (2025: a session with Mcp-Session-Id; 2026-07-28: stateless), interleaved round
by round. Each era has its own proxies (gw-http-2025, gw-http-2026-07-28, gw-stdio-...): one shared
backend does not serve both eras at once today (a STDIO backend keeps the era of its first client;
2025 calls fail on an HTTP backend once 2026-07-28 clients use it too), so mixing them would
measure errors. The gateway is loopback without an `auth` block (the local user), each proxy with the
100-rule policy of bench/overhead.py, so every call is decided and recorded. Sections:

  latency      tools/call echo: p50/p95/p99, and what each gateway path adds over direct
  throughput   1, 8 and 64 calls in flight on one client, calls/s and % of direct
  memory       the gateway's RSS (the `mcp-acp serve` process; its backend children apart): fresh,
               after the load, with 100 idle 2025 sessions open (initialize + initialized, then
               nothing), and after they are closed

    .venv/bin/python bench/gateway.py [--iterations 500] [--warmup 50] [--concurrency-calls 1000]
                                      [--sessions 100] [--json FILE] [--quick]

Exits 1 when a path or section fails. The targets of issue 20 are checked and shown; they do
not change the exit status (the machine's load moves them). See docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import anyio
import httpx2
import psutil
from mcp import ClientSession
from mcp.shared._httpx_utils import MCP_DEFAULT_SSE_READ_TIMEOUT, MCP_DEFAULT_TIMEOUT
from rich.text import Text

sys.path.insert(0, str(Path(__file__).resolve().parent))
import overhead
from overhead import (  # the house helpers: one client, one policy, one way to time
    BACKEND,
    BENCH_RULES,
    IN_FLIGHT,
    MODERN,
    PY,
    RUN_TIMEOUT,
    Live,
    RssPeak,
    Stats,
    acp,
    burst_s,
    console,
    describe,
    each,
    echo_ms,
    enforce_bench_policy,
    free_port,
    ms,
    rss_mb,
    stats,
    table,
    uss_mb,
    wait_for_port,
)

ERAS = ("2025", MODERN)
DIRECT, VIA_HTTP, VIA_STDIO = "direct", "gateway, HTTP backend", "gateway, STDIO backend"
PATHS = (DIRECT, VIA_HTTP, VIA_STDIO)
# Issue 20's targets.
MAX_ADDED_P50_MS = 1.0
MIN_PCT_AT_64 = 85.0
MAX_RSS_MB = 100.0
# Keep-alive connections each client's pool keeps (httpx's default is 20). The gateway's HTTP
# server (manager/http_limits.py, MAX_WAITING = 32) closes the oldest idle connections beyond 32
# when a new one arrives; two clients keeping 20 each then lose pooled connections as they reuse
# them (httpx ReadError on a POST). The same pool on every path, direct included.
KEEP_ALIVE = 10


@dataclass
class Latency:
    path: str
    era: str
    call: Stats | None = None
    added: Stats | None = None  # over the direct path of the same era
    error: str | None = None


@dataclass
class Throughput:
    path: str
    era: str
    in_flight: int
    calls: int = 0
    seconds: float = 0.0
    calls_per_s: float | None = None
    pct_of_direct: float | None = None
    error: str | None = None


@dataclass
class Memory:
    """MB of RSS (USS where named) of the `mcp-acp serve` process, and of its children together."""

    pid: int = 0
    sessions: int = 0
    sessions_per_proxy: dict = field(default_factory=dict)
    fresh: float = 0.0
    fresh_children: float = 0.0
    warm: float = 0.0  # after the latency and throughput sections
    warm_uss: float = 0.0
    peak_64: float = 0.0  # the peak under 64 in flight (HTTP backend, sampled from a thread)
    with_sessions: float = 0.0
    with_sessions_uss: float = 0.0
    with_sessions_children: float = 0.0
    after_sessions: float = 0.0
    after_sessions_uss: float = 0.0
    error: str | None = None


@dataclass
class Verdict:
    target: str
    measured: str
    met: bool | None  # None: not measured


@dataclass
class Report:
    latency: list[Latency] = field(default_factory=list)
    throughput: list[Throughput] = field(default_factory=list)
    memory: Memory = field(default_factory=Memory)
    verdicts: list[Verdict] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    # Errors while closing clients after their figures were taken (the SDK transport's teardown):
    # shown, and kept here, but the figures stand.
    close_errors: list[str] = field(default_factory=list)


@asynccontextmanager
async def open_session(spec: dict, errlog: Path) -> AsyncIterator[ClientSession]:
    """overhead.open_session over HTTP, with a keep-alive pool of KEEP_ALIVE connections (see there)."""
    limits = httpx2.Limits(max_connections=100, max_keepalive_connections=KEEP_ALIVE)
    timeout = httpx2.Timeout(MCP_DEFAULT_TIMEOUT, read=MCP_DEFAULT_SSE_READ_TIMEOUT)  # the SDK's own client's
    async with (
        httpx2.AsyncClient(timeout=timeout, limits=limits) as http,
        overhead.open_session({**spec, "http_client": http}, errlog) as session,
    ):
        yield session


async def open_paths(stack: AsyncExitStack, targets: list[tuple[str, dict, Path, Callable[[str], None]]]) -> list[Live]:
    """overhead.open_paths with this module's open_session."""
    live: list[Live] = []
    for name, spec, errlog, on_error in targets:
        try:
            live.append(Live(name, await stack.enter_async_context(open_session(spec, errlog)), errlog, on_error))
        except Exception as exc:
            on_error(describe(exc, errlog))
    return live


def proxy_name(path: str, era: str) -> str:
    """One proxy per backend kind and era: a shared backend serves one era (see the module's notes)."""
    return f"gw-{'http' if path == VIA_HTTP else 'stdio'}-{era}"


def spec(path: str, era: str, urls: dict[str, str]) -> dict:
    url = urls[DIRECT] if path == DIRECT else f"{urls['gateway']}/{proxy_name(path, era)}"
    return {"url": url, **({"era": MODERN} if era == MODERN else {})}


def children_rss_mb(pid: int) -> float:
    total = 0
    for child in psutil.Process(pid).children(recursive=True):
        try:
            total += child.memory_info().rss
        except psutil.Error:
            continue
    return total / 2**20


def on_error(target: Latency | Throughput | list[Throughput]):
    rows = target if isinstance(target, list) else [target]

    def record(message: str) -> None:
        for row in rows:
            row.error = row.error or message

    return record


async def measure_latency(args: argparse.Namespace, work: Path, urls: dict[str, str], report: Report) -> None:
    """Every path of both eras, one echo each per round, so load on the machine hits all alike."""
    rows = {(path, era): Latency(path, era) for era in ERAS for path in PATHS}
    report.latency += rows.values()
    targets = [
        (
            f"{path}|{era}",
            spec(path, era, urls),
            work / f"latency-{path[:12]}-{era}.stderr".replace(" ", "_"),
            on_error(row),
        )
        for (path, era), row in rows.items()
    ]
    async with AsyncExitStack() as stack:
        live = await open_paths(stack, targets)

        async def sample(probe: Live) -> None:
            probe.add("call", await echo_ms(probe.session))

        async def warm(probe: Live) -> None:
            await echo_ms(probe.session)

        for _ in range(args.warmup):
            await each(live, warm)
        for _ in range(args.iterations):
            await each(live, sample)
        for probe in live:
            path, era = probe.name.split("|")
            rows[(path, era)].call = stats(probe.samples["call"])
    for (path, era), row in rows.items():
        direct = rows[(DIRECT, era)].call
        if path != DIRECT and row.call and direct:
            row.added = row.call.minus(direct)


async def bursts(
    args: argparse.Namespace,
    live: list[Live],
    rows: dict[tuple[str, int], Throughput],
    era: str,
    pid: int,
    report: Report,
) -> None:
    """Each level in turn, one burst per path per round; the 64-level RSS peak in the first era."""
    for n in IN_FLIGHT:

        async def burst(probe: Live, n: int = n, rows: dict = rows) -> None:
            row = rows[(probe.name, n)]
            row.seconds += await burst_s(probe.session, n)
            row.calls += n

        async def warm(probe: Live, n: int = n) -> None:
            await burst_s(probe.session, n)

        for _ in range(max(args.warmup // n, 1)):
            await each(live, warm)
        rounds = max(args.concurrency_calls // n, 2)
        if n == max(IN_FLIGHT) and era == ERAS[0]:
            with RssPeak(pid) as rss:
                for _ in range(rounds):
                    await each(live, burst)
            report.memory.peak_64 = rss.peak / 2**20
        else:
            for _ in range(rounds):
                await each(live, burst)


async def measure_throughput(
    args: argparse.Namespace, work: Path, urls: dict[str, str], pid: int, report: Report
) -> None:
    """Bursts of 1, 8 and 64 echo calls on one client per path, interleaved burst by burst."""
    for era in ERAS:
        rows = {(path, n): Throughput(path, era, n) for n in IN_FLIGHT for path in PATHS}
        report.throughput += rows.values()
        targets = [
            (
                path,
                spec(path, era, urls),
                work / f"throughput-{path[:12]}-{era}.stderr".replace(" ", "_"),
                on_error([row for (p, _), row in rows.items() if p == path]),
            )
            for path in PATHS
        ]
        measured = False
        try:
            async with AsyncExitStack() as stack:
                live = await open_paths(stack, targets)
                await bursts(args, live, rows, era, pid, report)
                measured = True
        except Exception as exc:
            if not measured:
                raise
            report.close_errors.append(f"{era} throughput clients: {describe(exc)}")
        for n in IN_FLIGHT:
            for row in (rows[(path, n)] for path in PATHS):
                if row.error is None and row.seconds > 0:
                    row.calls_per_s = row.calls / row.seconds
            direct = rows[(DIRECT, n)].calls_per_s
            for path in PATHS:
                row = rows[(path, n)]
                if direct and row.calls_per_s:
                    row.pct_of_direct = 100 * row.calls_per_s / direct


async def measure_sessions(
    args: argparse.Namespace, work: Path, urls: dict[str, str], pid: int, report: Report
) -> None:
    """`--sessions` 2025 sessions held open and idle (each: initialize, initialized, the SDK's GET
    stream), spread evenly over the two proxies: the gateway keeps at most 64 sessions per
    principal per proxy (front.MAX_SESSIONS_PER_PRINCIPAL), and this loopback gateway has one
    principal. Each is pinged once they are all measured, so an evicted one is an error."""
    memory = report.memory
    memory.warm, memory.warm_uss = rss_mb(pid), uss_mb(pid)
    proxies = (VIA_HTTP, VIA_STDIO)
    shares = {path: args.sessions // 2 + (i < args.sessions % 2) for i, path in enumerate(proxies)}
    memory.sessions_per_proxy = {proxy_name(path, "2025"): shares[path] for path in proxies}
    failures: list[str] = []
    targets = [
        (f"{path} #{i}", spec(path, "2025", urls), work / "sessions.stderr", failures.append)
        for path in proxies
        for i in range(shares[path])
    ]
    async with AsyncExitStack() as stack:
        live = await open_paths(stack, targets)
        memory.sessions = len(live)
        await anyio.sleep(1)  # let the gateway settle what the handshakes left behind
        memory.with_sessions, memory.with_sessions_uss = rss_mb(pid), uss_mb(pid)
        memory.with_sessions_children = children_rss_mb(pid)

        async def ping(probe: Live) -> None:
            await probe.session.send_ping()

        await each(live, ping)
        memory.sessions = len(live)
    await anyio.sleep(1)
    memory.after_sessions, memory.after_sessions_uss = rss_mb(pid), uss_mb(pid)
    if failures or memory.sessions != args.sessions:
        memory.error = f"{memory.sessions} of {args.sessions} sessions stayed open; " + "; ".join(failures[:3])


async def run_sections(args: argparse.Namespace, work: Path, urls: dict[str, str], pid: int, report: Report) -> None:
    sections = [
        (f"latency: {args.iterations} interleaved calls per path", measure_latency(args, work, urls, report)),
        (
            f"throughput: {', '.join(map(str, IN_FLIGHT))} in flight",
            measure_throughput(args, work, urls, pid, report),
        ),
        (f"memory: {args.sessions} idle sessions", measure_sessions(args, work, urls, pid, report)),
    ]
    for title, section in sections:
        with console.status(title):
            try:
                with anyio.fail_after(RUN_TIMEOUT):
                    await section
            except Exception as exc:
                report.errors.append(f"{title}: {describe(exc)}")


def configure(work: Path, backend_url: str, port: int) -> None:
    """A home with the two proxies (the benchmark policy on each) and a gateway.json whose rate
    limit a benchmark cannot trip."""
    acp(work, "init", "--auth", "local")
    for era in ERAS:
        http, stdio = proxy_name(VIA_HTTP, era), proxy_name(VIA_STDIO, era)
        acp(work, "proxy", "add", http, "--server-name", "bench-http", "--url", backend_url)
        acp(work, "proxy", "add", stdio, "--server-name", "bench-stdio", "--command", PY, "--arg", BACKEND)
        enforce_bench_policy(work, http)
        enforce_bench_policy(work, stdio)
    gateway = work / "config" / "gateway.json"
    gateway.write_text(
        json.dumps({"port": port, "limits": {"requests_per_minute": 100_000_000, "burst": 1_000_000}}),
        encoding="utf-8",
    )
    gateway.chmod(0o600)


def start(command: list[str], log: Path, port: int, env: dict[str, str] | None = None) -> subprocess.Popen:
    with log.open("w") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True
        )
    try:
        wait_for_port(port, 60)
    except RuntimeError:
        process.terminate()
        raise RuntimeError(f"{command[0]} never listened: {log.read_text(errors='replace')[-800:]}") from None
    return process


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def run(args: argparse.Namespace, work: Path) -> Report:
    report = Report()
    backend_port, gateway_port = free_port(), free_port()
    backend_url = f"http://127.0.0.1:{backend_port}/mcp"
    gateway_url = f"http://127.0.0.1:{gateway_port}/mcp"
    urls = {DIRECT: backend_url, "gateway": gateway_url}
    backend = start([PY, BACKEND, "--http", str(backend_port)], work / "http-backend.log", backend_port)
    try:
        configure(work, backend_url, gateway_port)
        cli = str(Path(sys.executable).with_name("mcp-acp"))
        env = {**os.environ, "MCP_ACP_HOME": str(work)}
        gateway = start([cli, "serve", "--port", str(gateway_port)], work / "gateway.log", gateway_port, env)
        try:
            pid = gateway.pid  # the console script is the Python process itself
            if "serve" not in psutil.Process(pid).cmdline():
                raise RuntimeError(f"pid {pid} is not `mcp-acp serve`: {psutil.Process(pid).cmdline()}")
            time.sleep(1)
            report.memory.pid = pid
            report.memory.fresh, report.memory.fresh_children = rss_mb(pid), children_rss_mb(pid)
            anyio.run(run_sections, args, work, urls, pid, report)
            if gateway.poll() is not None:
                report.errors.append(f"the gateway exited with {gateway.returncode}")
        finally:
            stop(gateway)
            if report.errors:
                tail = (work / "gateway.log").read_text(errors="replace").strip()[-1500:]
                console.print(Text.assemble(("gateway log (tail):\n", "yellow"), tail))
    except Exception as exc:
        report.errors.append(describe(exc))
    finally:
        stop(backend)
    report.verdicts = verdicts(report)
    return report


def verdicts(report: Report) -> list[Verdict]:
    """Issue 20's three targets against the HTTP-backend gateway path."""
    out = []
    added = [r for r in report.latency if r.path == VIA_HTTP]
    for row in added:
        value = row.added.median_ms if row.added else None
        out.append(
            Verdict(
                f"added p50 <= {MAX_ADDED_P50_MS:g} ms ({row.era})",
                ms(value, True),
                None if value is None else value <= MAX_ADDED_P50_MS,
            )
        )
    for row in report.throughput:
        if row.path == VIA_HTTP and row.in_flight == max(IN_FLIGHT):
            pct = row.pct_of_direct
            out.append(
                Verdict(
                    f">= {MIN_PCT_AT_64:g} % of direct at {row.in_flight} in flight ({row.era})",
                    "-" if pct is None else f"{pct:.1f} %",
                    None if pct is None else pct >= MIN_PCT_AT_64,
                )
            )
    memory = report.memory
    measured = memory.with_sessions if memory.sessions else None
    out.append(
        Verdict(
            f"RSS <= {MAX_RSS_MB:g} MB with {memory.sessions} idle sessions (gateway process)",
            "-" if measured is None else f"{measured:.1f} MB",
            None if measured is None else measured <= MAX_RSS_MB,
        )
    )
    return out


def show(report: Report, args: argparse.Namespace) -> None:
    calls = table(
        f"tools/call echo latency over loopback HTTP, {args.iterations} calls per path after {args.warmup} warm-up",
        ["path", "era", "p50 ms", "p95 ms", "p99 ms", "added p50", "added p95", "added p99"],
        2,
    )
    for r in report.latency:
        s, a = r.call, r.added
        calls.add_row(
            r.path,
            r.era,
            *(ms(v) for v in (s and s.median_ms, s and s.p95_ms, s and s.p99_ms)),
            *(ms(v, True) for v in (a and a.median_ms, a and a.p95_ms, a and a.p99_ms)),
        )
    console.print(calls)

    rates = table(
        f"throughput on one client, ~{args.concurrency_calls} echo calls per level and path",
        [
            "era",
            "in flight",
            "direct calls/s",
            "gateway HTTP calls/s",
            "% of direct",
            "gateway STDIO calls/s",
            "% of direct",
        ],
        2,
    )
    by_key = {(r.era, r.path, r.in_flight): r for r in report.throughput}
    for era in ERAS:
        for n in IN_FLIGHT:
            cells = [by_key.get((era, path, n)) for path in PATHS]
            if not any(cells):
                continue
            figures = []
            for i, row in enumerate(cells):
                figures.append("-" if row is None or row.calls_per_s is None else f"{row.calls_per_s:,.0f}")
                if i:
                    figures.append("-" if row is None or row.pct_of_direct is None else f"{row.pct_of_direct:.1f} %")
            rates.add_row(era, str(n), *figures)
    console.print(rates)

    m = report.memory
    memory = table(f"gateway memory (`mcp-acp serve`, pid {m.pid}), MB", ["when", "RSS", "USS", "children RSS"])
    memory.add_row("fresh, before any request", f"{m.fresh:.1f}", "-", f"{m.fresh_children:.1f}")
    memory.add_row("peak under 64 in flight (2025)", f"{m.peak_64:.1f}", "-", "-")
    memory.add_row("after the latency and throughput load", f"{m.warm:.1f}", f"{m.warm_uss:.1f}", "-")
    split = ", ".join(f"{n} on {p}" for p, n in m.sessions_per_proxy.items())
    memory.add_row(
        f"{m.sessions} idle 2025 sessions open ({split})",
        f"{m.with_sessions:.1f}",
        f"{m.with_sessions_uss:.1f}",
        f"{m.with_sessions_children:.1f}",
    )
    memory.add_row("after those sessions closed", f"{m.after_sessions:.1f}", f"{m.after_sessions_uss:.1f}", "-")
    console.print(memory)

    targets = table("issue 20 targets (gateway with the HTTP backend)", ["target", "measured", "verdict"])
    for v in report.verdicts:
        verdict = "[dim]not measured[/]" if v.met is None else ("[green]met[/]" if v.met else "[red]missed[/]")
        targets.add_row(v.target, v.measured, verdict)
    console.print(targets)

    for label, error in [
        *((f"{r.path} ({r.era}) latency", r.error) for r in report.latency),
        *((f"{r.path} ({r.era}), {r.in_flight} in flight", r.error) for r in report.throughput),
        ("memory", m.error),
        *(("section", e) for e in report.errors),
    ]:
        if error:
            console.print(Text.assemble((f"{label} failed: ", "red"), error))
    for note in report.close_errors:
        console.print(Text.assemble(("closing after the figures were taken failed (figures kept): ", "yellow"), note))


def failed(report: Report) -> bool:
    rows = [*report.latency, *report.throughput, report.memory]
    return bool(report.errors) or any(r.error for r in rows) or not report.latency


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=500, help="timed calls per path (default 500)")
    parser.add_argument("--warmup", type=int, default=50, help="untimed calls first (default 50)")
    parser.add_argument(
        "--concurrency-calls", type=int, default=1000, help="echo calls per in-flight level and path (default 1000)"
    )
    parser.add_argument("--sessions", type=int, default=100, help="idle 2025 sessions held open (default 100)")
    parser.add_argument("--quick", action="store_true", help="a smoke test: 20 calls, 3 warm-up, 128 per level")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args()
    if args.quick:
        args.iterations, args.warmup, args.concurrency_calls = 20, 3, 128
    if args.iterations < 2 or args.sessions < 2:
        parser.error("--iterations and --sessions must be at least 2")

    load_before = os.getloadavg()[0]  # other work on the machine skews every number; record it
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="mcp-acp-bench-gateway-") as tmp:
        report = run(args, Path(tmp))
    load_after = os.getloadavg()[0]
    show(report, args)
    console.print(
        f"[dim]1-minute load average {load_before:.2f} before, {load_after:.2f} after; {os.cpu_count()} CPUs; "
        f"{time.monotonic() - started:.0f} s[/]"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        document = {
            "bench": "gateway",
            "quick": args.quick,
            "iterations": args.iterations,
            "warmup": args.warmup,
            "concurrency_calls": args.concurrency_calls,
            "sessions_requested": args.sessions,
            "policy_rules": BENCH_RULES,
            "client": "mcp SDK over streamable HTTP (ClientSession for 2025, Client(mode='2026-07-28'))",
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
