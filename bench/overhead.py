"""Latency overhead of mcp-acp on `tools/call`, next to direct access and fastmcp's proxy.

For each backend transport (STDIO child, streamable HTTP) it times N `echo`
calls on each path, interleaved round by round:

  direct      client -> backend
  byte relay  client -> a minimal process copying bytes, parsing nothing -> backend (STDIO only:
              the floor any process in the middle costs on this machine)
  mcp-acp   client -> `mcp-acp start --proxy NAME --headless` -> backend
  fastmcp   client -> fastmcp `create_proxy` served over STDIO -> backend

and checks that a 5 MB `big` result arrives byte-for-byte intact on each path.

    .venv/bin/python bench/overhead.py [--iterations 500] [--warmup 50] [--json FILE]

The backend is tests/fixtures/backend.py; see docs/performance.md for the method.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import anyio
from mcp import ClientSession, StdioServerParameters, stdio_client
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
RUN_TIMEOUT = 1800  # seconds per transport, a last resort

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

console = Console()


@dataclass
class Row:
    path: str
    transport: str
    median_ms: float | None = None
    p95_ms: float | None = None
    added_median_ms: float | None = None
    added_p95_ms: float | None = None
    big_ok: bool | None = None
    big_detail: str = ""
    error: str | None = None


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


def acp(home: Path, *args: str) -> None:
    proc = subprocess.run([CLI, *args], check=False, env={**os.environ, "MCP_ACP_HOME": str(home)},
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
    if proc.returncode != 0:
        raise RuntimeError(f"mcp-acp {' '.join(args)} failed: {proc.stderr.strip() or proc.stdout.strip()}")


def enforce_bench_policy(home: Path, name: str) -> None:
    """A realistic 100-rule policy that allows the benchmarked calls, and limits a benchmark
    cannot trip: the measurement includes a full policy decision and its decisions.jsonl entry."""
    folder = home / "config" / "proxies" / name
    rules = [{"id": "bench-calls", "effect": "allow", "conditions": {"tool_name": ["echo", "big", "add"]}}]
    rules += [{"id": f"project-{n}", "effect": "allow",
               "conditions": {"tool_name": [f"read_{n}", "list_*"], "path_pattern": f"/srv/project{n}/**"}}
              for n in range(89)]
    rules += [{"id": f"no-secrets-{n}", "effect": "deny", "conditions": {"path_pattern": f"**/secret{n}/**"}}
              for n in range(10)]
    (folder / "policy.json").write_text(json.dumps({"rules": rules}), encoding="utf-8")
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    config["limits"] = {"requests_per_second": 1e5, "burst": 1_000_000, "tool_calls_per_window": 1_000_000}
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")


@asynccontextmanager
async def open_session(spec: dict, errlog_path: Path) -> AsyncIterator[ClientSession]:
    """A ClientSession over STDIO (`spec["stdio"]`: command line) or HTTP (`spec["url"]`)."""
    with errlog_path.open("w") as errlog:
        if "url" in spec:
            # Streamable HTTP caps one SSE event at 1 MiB by default; the big check needs more.
            transport = streamable_http_client(spec["url"], max_sse_event_size=None)
        else:
            command, *args = spec["stdio"]
            params = StdioServerParameters(command=command, args=args, env=spec.get("env"))
            transport = stdio_client(params, errlog=errlog)
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


async def check_big(session: ClientSession, size: int) -> tuple[bool, str]:
    start = time.perf_counter()
    result = await session.call_tool("big", {"size_bytes": size}, read_timeout_seconds=120)
    ms = (time.perf_counter() - start) * 1000
    if result.is_error:
        return False, f"tool error: {result.content[0].text[:200]}"
    text = result.content[0].text
    if len(text) != size:
        return False, f"got {len(text)} bytes, expected {size}"
    reps, rest = divmod(size, len(PATTERN))
    if text != PATTERN * reps + PATTERN[:rest]:
        bad = next(i for i, ch in enumerate(text) if ch != PATTERN[i % len(PATTERN)])
        return False, f"content differs from byte {bad}"
    return True, f"intact, {ms:.0f} ms"


def leaves(exc: BaseException) -> list[BaseException]:
    """The real errors inside (nested) exception groups."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in leaves(inner)]
    return [exc]


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[94]


@dataclass
class Live:
    """A path whose session is open and still answering."""

    row: Row
    session: ClientSession
    errlog: Path
    samples: list[float] = field(default_factory=list)


def record_failure(row: Row, exc: BaseException, errlog: Path) -> None:
    row.error = "; ".join(f"{type(e).__name__}: {e}" for e in leaves(exc))[:300]
    tail = errlog.read_text(errors="replace").strip()[-400:] if errlog.exists() else ""
    if tail:
        row.error += f" | stderr: {tail}"


async def measure(targets: list[tuple[Row, dict, Path]], args: argparse.Namespace) -> None:
    """Time every path of one transport side by side.

    Calls are interleaved (one per path per round) so background load on the
    machine hits every path alike instead of whichever happened to run then.
    """
    async with AsyncExitStack() as stack:
        live: list[Live] = []
        for row, spec, errlog in targets:
            try:
                live.append(Live(row, await stack.enter_async_context(open_session(spec, errlog)), errlog))
            except Exception as exc:  # noqa: BLE001 - one broken path must not hide the others
                record_failure(row, exc, errlog)

        async def each(step: Callable[[Live], Awaitable[None]]) -> None:
            for probe in list(live):
                try:
                    await step(probe)
                except Exception as exc:  # noqa: BLE001 - drop the path, keep measuring the rest
                    record_failure(probe.row, exc, probe.errlog)
                    live.remove(probe)

        async def warm(probe: Live) -> None:
            await echo_ms(probe.session)

        async def sample(probe: Live) -> None:
            probe.samples.append(await echo_ms(probe.session))

        async def big(probe: Live) -> None:
            probe.row.big_ok, probe.row.big_detail = await check_big(probe.session, args.big_bytes)

        for _ in range(args.warmup):
            await each(warm)
        for _ in range(args.iterations):
            await each(sample)
        for probe in live:
            probe.row.median_ms, probe.row.p95_ms = statistics.median(probe.samples), p95(probe.samples)
        await each(big)


def paths_for(backend: dict, acp_proxy: str | None, home: Path) -> list[tuple[str, dict]]:
    """The ways a client reaches `backend`, as session specs."""
    backend_args = [backend["url"]] if "url" in backend else backend["stdio"]
    paths = [("direct", backend)]
    if "stdio" in backend:
        paths.append(("byte relay (floor)", {"stdio": [PY, "-c", BYTE_RELAY, *backend_args]}))
    if acp_proxy:
        paths.append(("mcp-acp", {"stdio": [CLI, "start", "--proxy", acp_proxy, "--headless"],
                                  "env": {"MCP_ACP_HOME": str(home)}}))
    paths.append(("fastmcp create_proxy", {"stdio": [PY, "-c", FASTMCP_PROXY, *backend_args]}))
    return paths


async def run_paths(args: argparse.Namespace, work: Path, url: str, use_acp: bool) -> list[Row]:
    backends = {"stdio": ({"stdio": [PY, BACKEND]}, "bench-stdio"), "http": ({"url": url}, "bench-http")}
    rows: list[Row] = []
    for transport, (backend, proxy_name) in backends.items():
        targets = [
            (Row(path, transport), spec, work / f"{path.split()[0]}-{transport}.stderr")
            for path, spec in paths_for(backend, proxy_name if use_acp else None, work)
        ]
        rows += [row for row, _, _ in targets]
        with console.status(f"{transport}: {args.iterations} interleaved calls per path"):
            try:
                with anyio.fail_after(RUN_TIMEOUT):
                    await measure(targets, args)
            except Exception as exc:  # noqa: BLE001 - e.g. a session that broke while closing
                for row, _, errlog in targets:
                    if row.error is None and row.big_ok is None:
                        record_failure(row, exc, errlog)
        direct = rows[-len(targets)]
        for row, _, _ in targets:
            if row.median_ms is not None and direct.median_ms is not None:
                row.added_median_ms = row.median_ms - direct.median_ms
                row.added_p95_ms = row.p95_ms - direct.p95_ms
    return rows


def run(args: argparse.Namespace, work: Path) -> list[Row]:
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
                acp(work, "proxy", "add", "bench-stdio", "--server-name", "bench-stdio",
                    "--command", PY, "--arg", BACKEND)
                acp(work, "proxy", "add", "bench-http", "--server-name", "bench-http", "--url", url)
                for name in ("bench-stdio", "bench-http"):
                    enforce_bench_policy(work, name)
            else:
                console.print(f"[yellow]{CLI} start is not available: skipping the mcp-acp rows[/]")
            return anyio.run(run_paths, args, work, url, use_acp)
        finally:
            http_backend.terminate()
            http_backend.wait(10)


def show(rows: list[Row], args: argparse.Namespace) -> None:
    def ms(value: float | None, signed: bool = False) -> str:
        return "-" if value is None else (f"{value:+.3f}" if signed else f"{value:.3f}")

    table = Table(title=f"tools/call echo latency, {args.iterations} calls after {args.warmup} warm-up",
                  title_justify="left")
    for column in ("path", "transport", "median ms", "p95 ms", "added median", "added p95"):
        table.add_column(column, justify="left" if column in ("path", "transport") else "right")
    table.add_column(f"{args.big_bytes / 1e6:g} MB big result")
    for r in rows:
        big = "-" if r.big_ok is None else (f"[green]{r.big_detail}[/]" if r.big_ok else f"[red]{r.big_detail}[/]")
        table.add_row(r.path, r.transport, ms(r.median_ms), ms(r.p95_ms),
                      ms(r.added_median_ms, True), ms(r.added_p95_ms, True), big)
    console.print(table)
    for r in rows:
        if r.error:
            console.print(Text.assemble((f"{r.path} / {r.transport} failed: ", "red"), r.error))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=500, help="timed calls per path (default 500)")
    parser.add_argument("--warmup", type=int, default=50, help="untimed calls first (default 50)")
    parser.add_argument("--big-bytes", type=int, default=5_000_000, help="size of the integrity check result")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args()
    if args.iterations < 2:
        parser.error("--iterations must be at least 2")

    load_before = os.getloadavg()[0]  # other work on the machine skews every number; record it
    with tempfile.TemporaryDirectory(prefix="mcp-acp-bench-") as tmp:
        rows = run(args, Path(tmp))
    load_after = os.getloadavg()[0]
    show(rows, args)
    console.print(f"[dim]1-minute load average {load_before:.2f} before, {load_after:.2f} after; "
                  f"{os.cpu_count()} CPUs[/]")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        report = {
            "iterations": args.iterations, "warmup": args.warmup, "big_bytes": args.big_bytes,
            "python": platform.python_version(), "platform": platform.platform(),
            "cpu_count": os.cpu_count(), "load_avg_1m": [load_before, load_after], "results": [asdict(r) for r in rows],
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        console.print(f"results written to {args.json}")
    if any(r.error or r.big_ok is False for r in rows):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
