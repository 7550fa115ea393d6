"""What a shared-state operation costs: the embedded MemoryState against RedisState (issue 21).

Starts its own redis-server (Debian's /usr/bin/redis-server, no persistence) on a free loopback
port, then times, interleaved round by round so both backends see the same machine load:

  claim        SET NX PX (a spent nonce, a decision taken once), a new key each time
  take_token   one token from a bucket (the Lua script on the server's clock, for Redis)
  kv put+get   a 200-byte record written then read back through py-key-value-aio

    .venv/bin/python bench/state.py [--iterations 5000] [--warmup 200] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from rich.console import Console
from rich.table import Table

from mcp_acp.state.base import SharedState
from mcp_acp.state.memory import MemoryState
from mcp_acp.state.redis import RedisState

REDIS_SERVER = "/usr/bin/redis-server"
RECORD = {"principal": "alice@example.com", "tool": "echo", "decision": "allow", "note": "x" * 120}
console = Console()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_redis(directory: str) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    argv = [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--dir", directory]
    process = subprocess.Popen(
        [*argv, "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return process, f"redis://127.0.0.1:{port}/0"
        time.sleep(0.05)
    process.kill()
    raise SystemExit(f"redis-server never listened on port {port}")


def _operations(state: SharedState) -> dict[str, Callable[[int], Awaitable[object]]]:
    async def kv_put_get(i: int) -> object:
        await state.kv.put(f"k{i % 1000}", RECORD, collection="bench")
        return await state.kv.get(f"k{i % 1000}", collection="bench")

    return {
        "claim": lambda i: state.claim(f"nonce-{i}", 60),
        "take_token": lambda i: state.take_token(f"user-{i % 100}", 600_000, 1000),
        "kv put+get": kv_put_get,
    }


async def _run(url: str, iterations: int, warmup: int) -> list[dict]:
    backends: dict[str, SharedState] = {"memory": MemoryState("bench"), "redis": RedisState(url, "bench")}
    samples: dict[tuple[str, str], list[float]] = {}
    operations = {name: _operations(state) for name, state in backends.items()}
    for i in range(warmup + iterations):
        for operation in ("claim", "take_token", "kv put+get"):
            for backend in backends:
                start = time.perf_counter_ns()
                await operations[backend][operation](i)
                if i >= warmup:
                    samples.setdefault((operation, backend), []).append((time.perf_counter_ns() - start) / 1e6)
    for state in backends.values():
        await state.close()
    rows = []
    for (operation, backend), values in samples.items():
        values.sort()
        rows.append(
            {
                "operation": operation,
                "backend": backend,
                "median_ms": statistics.median(values),
                "p99_ms": values[int(len(values) * 0.99)],
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=5000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args()
    if not Path(REDIS_SERVER).is_file():
        raise SystemExit("redis-server is missing: install redis-server (Debian: apt-get install redis-server)")
    with tempfile.TemporaryDirectory(prefix="mcp-acp-bench-redis-") as directory:
        process, url = _start_redis(directory)
        try:
            rows = asyncio.run(_run(url, args.iterations, args.warmup))
        finally:
            process.terminate()
            process.wait(10)
    table = Table(
        "operation",
        "backend",
        "median ms",
        "p99 ms",
        title=f"shared-state operations, {args.iterations} each, interleaved (redis-server on loopback)",
        title_justify="left",
    )
    for row in rows:
        table.add_row(row["operation"], row["backend"], f"{row['median_ms']:.4f}", f"{row['p99_ms']:.4f}")
    console.print(table)
    console.print(f"1-minute load average {os.getloadavg()[0]:.2f}; {os.cpu_count()} CPUs")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(
                {"rows": rows, "iterations": args.iterations, "load_average": os.getloadavg()[0]}, handle, indent=2
            )


if __name__ == "__main__":
    main()
