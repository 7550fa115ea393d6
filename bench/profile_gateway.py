"""Where the gateway's time goes on a `tools/call` (docs/performance.md, issue 20).

Starts the setup of bench/gateway.py (backend.py over HTTP, `mcp-acp serve` with one proxy per
era pointing at it), makes N echo calls per era through the gateway and then N direct, and prints
the CPU time per call of the gateway and of the backend (psutil). With --cprofile the gateway
runs under `python -m cProfile` (stopped with SIGINT so the profile is written) and the top
functions and the own time per package are printed; CPU figures are then the profiler's, not
the gateway's.

    .venv/bin/python bench/profile_gateway.py [--calls 1000] [--cprofile]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import pstats
import re
import signal
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gateway as bench
from overhead import BACKEND, PY, echo_ms, free_port


def cpu_s(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


async def drive(urls: dict[str, str], calls: int, work: Path, gateway: psutil.Process, backend: psutil.Process) -> None:
    for era in bench.ERAS:
        for path in (bench.VIA_HTTP, bench.DIRECT):
            async with bench.open_session(bench.spec(path, era, urls), work / "client.stderr") as session:
                for _ in range(50):
                    await echo_ms(session)
                g0, b0, t0 = cpu_s(gateway), cpu_s(backend), time.perf_counter()
                for _ in range(calls):
                    await echo_ms(session)
                g1, b1, t1 = cpu_s(gateway), cpu_s(backend), time.perf_counter()
            via = path == bench.VIA_HTTP
            print(
                f"{era:11} {path:22} {(t1 - t0) / calls * 1000:6.3f} ms/call; CPU per call: "
                + (f"gateway {(g1 - g0) / calls * 1000:.3f} ms, " if via else "")
                + f"backend {(b1 - b0) / calls * 1000:.3f} ms"
            )


def by_package(profile: Path) -> None:
    """Own time per package: site-packages by name, mcp_acp by subpackage, the import machinery apart."""
    stats = pstats.Stats(str(profile))
    stats.sort_stats("tottime").print_stats(25)
    shares: collections.Counter[str] = collections.Counter()
    for (filename, _, _), (_, _, own, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        if m := re.search(r"site-packages/([^/]+)/", filename):
            key = m.group(1)
        elif "mcp_acp/" in filename:
            key = "mcp_acp/" + filename.split("mcp_acp/")[1].split("/")[0]
        elif "importlib" in filename:
            key = "import machinery"
        else:
            key = "stdlib, asyncio, builtins"
        shares[key] += own
    total = sum(shares.values())
    for key, seconds in shares.most_common(16):
        print(f"{seconds:7.2f} s {100 * seconds / total:5.1f} %  {key}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=1000, help="timed echo calls per era and path (default 1000)")
    parser.add_argument("--cprofile", action="store_true", help="run the gateway under cProfile and print its profile")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mcp-acp-profile-gateway-") as tmp:
        work = Path(tmp)
        backend_port, gateway_port = free_port(), free_port()
        backend = bench.start([PY, BACKEND, "--http", str(backend_port)], work / "backend.log", backend_port)
        try:
            bench.configure(work, f"http://127.0.0.1:{backend_port}/mcp", gateway_port)
            profile = work / "gateway.prof"
            profiler = ["-m", "cProfile", "-o", str(profile)] if args.cprofile else []
            command = [PY, *profiler, "-m", "mcp_acp", "serve", "--port", str(gateway_port)]
            env = {**os.environ, "MCP_ACP_HOME": str(work)}
            gateway = bench.start(command, work / "gateway.log", gateway_port, env)
            try:
                urls = {
                    bench.DIRECT: f"http://127.0.0.1:{backend_port}/mcp",
                    "gateway": f"http://127.0.0.1:{gateway_port}/mcp",
                }
                asyncio.run(drive(urls, args.calls, work, psutil.Process(gateway.pid), psutil.Process(backend.pid)))
            finally:
                gateway.send_signal(signal.SIGINT)  # a clean exit writes the profile
                gateway.wait(60)
            if args.cprofile:
                by_package(profile)
        finally:
            bench.stop(backend)


if __name__ == "__main__":
    main()
