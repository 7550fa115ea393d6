"""Where a proxy's time goes: drive one real mcp-acp proxy with raw JSON-RPC and profile it.

Sets up a temporary MCP_ACP_HOME like bench/overhead.py (local identity, 100-rule policy,
hash-chained audit), starts `mcp-acp start --proxy NAME --headless` with the STDIO or HTTP
test backend, and sends N `tools/call echo` and N `tools/list` requests one at a time
(a minimal client that writes a line and reads lines until the answer: no SDK cost).

    .venv/bin/python bench/profile_proxy.py [--requests 5000] [--transport stdio|http]
        [--only call|list] [--py-spy FILE]   # FILE.txt: collapsed stacks (py-spy --format raw)

Prints the client-side round trip (median, p99) and, with --py-spy, the proxy process's
CPU time per request and the top of its profile by self time and by inclusive time.
`--direct` talks to the backend itself and `--via SCRIPT` puts another relay in the middle (for
the floor), `--cprofile FILE` runs the proxy under cProfile.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from overhead import (
    BACKEND,
    CLI,
    PY,
    acp,
    enforce_bench_policy,
    free_port,
    wait_for_port,
)

SPY = str(Path(sys.executable).with_name("py-spy"))
NATIVE = ["--native"] if os.environ.get("PROFILE_NATIVE") else ["--nonblocking"]  # --native needs to pause the process


def client(proc: subprocess.Popen, requests: int, only: str | None) -> dict[str, list[float]]:
    out, inp = proc.stdout, proc.stdin
    next_id = 0

    def ask(method: str, params: dict) -> float:
        nonlocal next_id
        next_id += 1
        line = json.dumps({"jsonrpc": "2.0", "id": next_id, "method": method, "params": params}).encode() + b"\n"
        start = time.perf_counter()
        inp.write(line)
        inp.flush()
        while True:
            answer = out.readline()
            if not answer:
                raise RuntimeError("the proxy closed its output")
            message = json.loads(answer)
            if message.get("id") == next_id:
                elapsed = (time.perf_counter() - start) * 1000
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return elapsed

    ask(
        "initialize",
        {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "profile", "version": "1"}},
    )
    inp.write(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
    inp.flush()
    samples: dict[str, list[float]] = {"call": [], "list": []}
    for _ in range(50):  # warm-up
        ask("tools/call", {"name": "echo", "arguments": {"text": "ping"}})
        ask("tools/list", {})
    for _ in range(requests):
        if only != "list":
            samples["call"].append(ask("tools/call", {"name": "echo", "arguments": {"text": "ping"}}))
        if only != "call":
            samples["list"].append(ask("tools/list", {}))
    return samples


def summarise(raw: Path, requests: int, top: int = 35) -> None:
    """Self and inclusive sample counts per function from py-spy's collapsed stacks."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        frames = [
            f.split(" (")[0] + " (" + f.split(" (")[1].split(":")[0].rsplit("/", 1)[-1] + ")" if " (" in f else f
            for f in stack.split(";")
        ]
        total += n
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    print(f"\n{total} samples")
    for title, counter in (("self", own), ("inclusive", inclusive)):
        print(f"\ntop {top} by {title} samples:")
        for name, n in counter.most_common(top):
            print(f"  {100 * n / total:5.1f} %  {n:6d}  {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=5000, help="timed calls (and lists) (default 5000)")
    parser.add_argument("--transport", choices=("stdio", "http"), default="stdio")
    parser.add_argument("--only", choices=("call", "list"), help="send only calls or only lists")
    parser.add_argument("--py-spy", type=Path, metavar="FILE", help="record the proxy with py-spy into FILE")
    parser.add_argument("--direct", action="store_true", help="talk to the backend itself, no proxy (a baseline)")
    parser.add_argument(
        "--via",
        metavar="SCRIPT",
        help="instead of mcp-acp, a Python script run as SCRIPT BACKEND-COMMAND "
        "(a stand-in relay, e.g. the byte relay of bench/overhead.py)",
    )
    parser.add_argument("--cprofile", type=Path, metavar="FILE", help="run the proxy under cProfile, stats into FILE")
    parser.add_argument("--rate", type=int, default=2000, help="py-spy samples per second (default 2000)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="mcp-acp-profile-") as tmp:
        home = Path(tmp)
        http = None
        acp(home, "init", "--auth", "local")
        if args.transport == "http":
            port = free_port()
            http = subprocess.Popen(
                [PY, BACKEND, "--http", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            wait_for_port(port)
            acp(home, "proxy", "add", "prof", "--server-name", "prof", "--url", f"http://127.0.0.1:{port}/mcp")
        else:
            acp(home, "proxy", "add", "prof", "--server-name", "prof", "--command", PY, "--arg", BACKEND)
        enforce_bench_policy(home, "prof")
        command = [CLI, "start", "--proxy", "prof", "--headless"]
        if args.direct:
            command = [PY, BACKEND]
        elif args.via:
            command = [PY, args.via, PY, BACKEND]
        if args.cprofile:
            command = [PY, "-m", "cProfile", "-o", str(args.cprofile), *command]
        env = {**os.environ, "MCP_ACP_HOME": str(home)}
        with (home / "proxy.stderr").open("w") as errlog:
            proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errlog, env=env)
            spy = None
            try:
                if args.py_spy:  # attach once the proxy runs (py-spy would take over its stdout)
                    time.sleep(1.0)
                    spy = subprocess.Popen(
                        [
                            SPY,
                            "record",
                            "--format",
                            "raw",
                            "--rate",
                            str(args.rate),
                            *NATIVE,
                            "-o",
                            str(args.py_spy),
                            "--pid",
                            str(proc.pid),
                        ],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                    time.sleep(1.0)
                threads = {t.id: t.user_time + t.system_time for t in psutil.Process(proc.pid).threads()}
                cpu = psutil.Process(proc.pid).cpu_times()
                samples = client(proc, args.requests, args.only)
                after = psutil.Process(proc.pid).cpu_times()
                for t in psutil.Process(proc.pid).threads():
                    print(f"thread {t.id}: {1000 * (t.user_time + t.system_time - threads.get(t.id, 0)):.0f} ms CPU")
                print(
                    f"user {1000 * (after.user - cpu.user):.0f} ms, system {1000 * (after.system - cpu.system):.0f} ms"
                )
                cpu_ms = 1000 * (after.user + after.system - cpu.user - cpu.system)
                if spy:
                    spy.send_signal(signal.SIGINT)
                    spy.wait(60)
            except Exception:
                print((home / "proxy.stderr").read_text()[-2000:], file=sys.stderr)
                raise
            finally:
                proc.stdin.close()
                proc.wait(60)
                if http:
                    http.terminate()
                    http.wait(10)
    for kind, values in samples.items():
        if values:
            ordered = sorted(values)
            print(
                f"{kind}: median {statistics.median(values):.3f} ms, p99 {ordered[int(0.99 * len(ordered)) - 1]:.3f} ms "
                f"({len(values)} requests, {args.transport})"
            )
    count = sum(len(v) for v in samples.values())
    print(
        f"proxy process CPU: {cpu_ms / count * 1000:.0f} µs per timed request (user + system; the 50 warm-up "
        "rounds are included, and --native py-spy pauses the process)"
    )
    if args.py_spy:
        summarise(args.py_spy, args.requests)


if __name__ == "__main__":
    main()
