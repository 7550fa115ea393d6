"""Latency overhead of mcp-acp on `tools/call`, next to direct access and fastmcp's proxy.

For each backend transport (STDIO child, streamable HTTP) it times N sequential
`echo` calls over three paths:

  direct    client -> backend
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
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import AsyncIterator

import anyio
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
BACKEND = str(ROOT / "tests" / "fixtures" / "backend.py")
CLI = str(Path(sys.executable).with_name("mcp-acp"))
PY = sys.executable
PATTERN = "0123456789"  # what `big` repeats; checked independently of the fixture's code
ROW_TIMEOUT = 600  # seconds per row: a hang becomes an error row, not a frozen bench

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
        return subprocess.run([CLI, "start", "--help"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def acp(home: Path, *args: str) -> None:
    proc = subprocess.run([CLI, *args], env={**os.environ, "MCP_ACP_HOME": str(home)},
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
    if proc.returncode != 0:
        raise RuntimeError(f"mcp-acp {' '.join(args)} failed: {proc.stderr.strip() or proc.stdout.strip()}")


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
        async with transport as streams, ClientSession(streams[0], streams[1]) as session:
            await session.initialize()
            yield session


async def time_echo(session: ClientSession, warmup: int, iterations: int) -> list[float]:
    async def call() -> None:
        result = await session.call_tool("echo", {"text": "ping"})
        if result.is_error or result.content[0].text != "ping":
            raise RuntimeError(f"echo returned a wrong result: {result!r:.200}")

    for _ in range(warmup):
        await call()
    samples = []
    for _ in range(iterations):
        start = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


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


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[94]


async def measure(row: Row, spec: dict, args: argparse.Namespace, errlog: Path) -> None:
    try:
        with anyio.fail_after(ROW_TIMEOUT):
            async with open_session(spec, errlog) as session:
                samples = await time_echo(session, args.warmup, args.iterations)
                row.median_ms, row.p95_ms = statistics.median(samples), p95(samples)
                row.big_ok, row.big_detail = await check_big(session, args.big_bytes)
    except Exception as exc:  # noqa: BLE001 - one broken path must not hide the others
        row.error = f"{type(exc).__name__}: {exc}"[:300]
        tail = errlog.read_text(errors="replace").strip()[-400:] if errlog.exists() else ""
        if tail:
            row.error += f" | stderr: {tail}"


def paths_for(transport: str, backend: dict, acp_proxy: str | None, home: Path) -> list[tuple[str, dict]]:
    """The three ways a client reaches `backend`, as session specs."""
    backend_args = [backend["url"]] if "url" in backend else backend["stdio"]
    paths = [("direct", backend)]
    if acp_proxy:
        paths.append(("mcp-acp", {"stdio": [CLI, "start", "--proxy", acp_proxy, "--headless"],
                                  "env": {"MCP_ACP_HOME": str(home)}}))
    paths.append(("fastmcp create_proxy", {"stdio": [PY, "-c", FASTMCP_PROXY, *backend_args]}))
    return paths


async def run(args: argparse.Namespace, work: Path) -> list[Row]:
    port = free_port()
    url = f"http://127.0.0.1:{port}/mcp"
    http_log = (work / "http-backend.log").open("w")
    http_backend = subprocess.Popen([PY, BACKEND, "--http", str(port)], stdout=http_log, stderr=http_log)
    rows: list[Row] = []
    try:
        wait_for_port(port)
        use_acp = acp_available()
        if use_acp:
            acp(work, "init", "--auth", "local")
            acp(work, "proxy", "add", "bench-stdio", "--server-name", "bench-stdio", "--command", PY, "--arg", BACKEND)
            acp(work, "proxy", "add", "bench-http", "--server-name", "bench-http", "--url", url)
        else:
            console.print(f"[yellow]{CLI} start is not available: skipping the mcp-acp rows[/]")
        backends = {"stdio": ({"stdio": [PY, BACKEND]}, "bench-stdio"), "http": ({"url": url}, "bench-http")}
        for transport, (backend, proxy_name) in backends.items():
            for path, spec in paths_for(transport, backend, proxy_name if use_acp else None, work):
                row = Row(path, transport)
                with console.status(f"{path} / {transport}: {args.iterations} calls"):
                    await measure(row, spec, args, work / f"{path.split()[0]}-{transport}.stderr")
                rows.append(row)
    finally:
        http_backend.terminate()
        http_backend.wait(10)
        http_log.close()
    for transport in backends:
        direct = next(r for r in rows if r.transport == transport and r.path == "direct")
        for row in rows:
            if row.transport == transport and row.median_ms is not None and direct.median_ms is not None:
                row.added_median_ms = row.median_ms - direct.median_ms
                row.added_p95_ms = row.p95_ms - direct.p95_ms
    return rows


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
            console.print(f"[red]{r.path} / {r.transport} failed:[/] {r.error}", markup=True, highlight=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=500, help="timed calls per path (default 500)")
    parser.add_argument("--warmup", type=int, default=50, help="untimed calls first (default 50)")
    parser.add_argument("--big-bytes", type=int, default=5_000_000, help="size of the integrity check result")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args()
    if args.iterations < 2:
        parser.error("--iterations must be at least 2")

    with tempfile.TemporaryDirectory(prefix="mcp-acp-bench-") as tmp:
        rows = anyio.run(run, args, Path(tmp))
    show(rows, args)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        report = {
            "iterations": args.iterations, "warmup": args.warmup, "big_bytes": args.big_bytes,
            "python": platform.python_version(), "platform": platform.platform(),
            "cpu_count": os.cpu_count(), "results": [asdict(r) for r in rows],
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        console.print(f"results written to {args.json}")
    if any(r.error or r.big_ok is False for r in rows):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
