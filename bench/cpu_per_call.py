"""The proxy's own CPU time per `tools/call`, this checkout against a baseline checkout, interleaved.

Wall-clock latency on a busy machine measures the machine; the CPU time the proxy process spends
per call barely moves with other load, so it shows what a change to the hot path costs even
when the machine is not quiet. Each run starts `mcp-acp start --proxy b --headless` in front of
tests/fixtures/backend.py (STDIO) with bench/overhead.py's policy, makes 50 untimed and N timed
`echo` calls, and reads the proxy's user+system CPU time (10 ms ticks: use N >= 400).

    .venv/bin/python bench/cpu_per_call.py --baseline-src /tmp/base [--runs 5] [--calls 400]

The baseline's own CLI writes its home (`git worktree add /tmp/base REV` makes one).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psutil
from mcp import ClientSession, StdioServerParameters, stdio_client
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
import overhead  # (the CLI helpers and the benchmark policy, shared with the latency bench)

PY = sys.executable


def make_home(home: Path, env: dict[str, str]) -> None:
    overhead.acp(home, "init", "--auth", "local", env=env)
    overhead.acp(home, "proxy", "add", "b", "--server-name", "b", "--command", PY, "--arg", overhead.BACKEND, env=env)
    overhead.enforce_bench_policy(home, "b")


async def one_run(home: Path, env: dict[str, str], calls: int) -> tuple[float, float]:
    """(proxy CPU µs per call, wall ms per call) over `calls` sequential echo calls."""
    params = StdioServerParameters(
        command=overhead.CLI,
        args=["start", "--proxy", "b", "--headless"],
        env={**os.environ, "MCP_ACP_HOME": str(home), **env},
    )
    with open(os.devnull, "w") as quiet:
        async with stdio_client(params, errlog=quiet) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            proxy = next(p for p in psutil.Process().children(recursive=True) if "start" in p.cmdline())
            for _ in range(50):
                await session.call_tool("echo", {"text": "ping"})
            cpu, wall = sum(proxy.cpu_times()[:2]), time.perf_counter()
            for _ in range(calls):
                await session.call_tool("echo", {"text": "ping"})
            return (sum(proxy.cpu_times()[:2]) - cpu) / calls * 1e6, (time.perf_counter() - wall) / calls * 1e3


async def measure(baseline: Path, runs: int, calls: int, work: Path) -> dict[str, list[tuple[float, float]]]:
    homes = {
        "this checkout": (work / "current", {}),
        "baseline": (work / "baseline", {"PYTHONPATH": str(baseline / "src")}),
    }
    for home, env in homes.values():
        make_home(home, env)
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in homes}
    for _ in range(runs):  # interleaved, so a burst of other load hits both
        for name, (home, env) in homes.items():
            results[name].append(await one_run(home, env, calls))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline-src", type=Path, required=True, metavar="DIR", help="root of the baseline checkout")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--calls", type=int, default=400)
    args = parser.parse_args()
    if not (args.baseline_src / "src" / "mcp_acp").is_dir():
        parser.error(f"--baseline-src {args.baseline_src}: no src/mcp_acp there; give the root of a checkout")
    with tempfile.TemporaryDirectory(prefix="mcp-acp-cpu-") as tmp:
        results = asyncio.run(measure(args.baseline_src.resolve(), args.runs, args.calls, Path(tmp)))
    table = Table(title=f"proxy CPU per tools/call, {args.runs} runs x {args.calls} calls", title_justify="left")
    for column in ("checkout", "CPU µs/call (median)", "runs", "wall ms/call (median)"):
        table.add_column(column, justify="left" if column == "checkout" else "right")
    for name, rows in results.items():
        cpu, wall = [c for c, _ in rows], [w for _, w in rows]
        runs = ", ".join(f"{c:.0f}" for c in cpu)
        table.add_row(name, f"{statistics.median(cpu):.0f}", runs, f"{statistics.median(wall):.2f}")
    console = Console()
    console.print(table)
    console.print(f"[dim]1-minute load average {os.getloadavg()[0]:.2f}; {os.cpu_count()} CPUs[/]")


if __name__ == "__main__":
    main()
