"""What shared state in Redis costs a `tools/call` through `mcp-acp serve`, and what replicas
behind haproxy give in throughput (issue 21), in one run.

  Part A, latency   two gateways running at once, the same home (one proxy to the same HTTP
                    backend, tests/fixtures/backend.py --http, the 100-rule policy of
                    bench/overhead.py that allows `echo`), one with its state in process
                    (MemoryState, the default), one with its state in a redis-server this bench
                    starts (free loopback port, no persistence). Sequential 2026-07-28 stateless
                    tools/call `echo` over loopback HTTP with httpx, interleaved call by call
                    (the order flips each call), in rounds after a warm-up. Per auth mode:
                      local   no `auth` block: the local user. Per request the state serves one
                              rate-limit token (Gateway.authenticate: no revocation lookup, there is
                              no token to revoke).
                      oauth   `auth.issuer` = tests/fixtures/oidc_provider.py: the JWT is verified
                              and its revocation marks are read in the rate-limit token's own round
                              trip (one Lua call).
  Part B, throughput  haproxy (deploy/haproxy.cfg, tests/support/topology.py) in front of 1 replica
                    and, running at the same time, in front of 3 replicas, all with state in the
                    same redis-server, each replica with its own STDIO backend (backend.py), local
                    auth. `wrk` (Debian's, one thread) keeps 64 tools/call in flight for a fixed
                    time on one topology then the other, round after round; a Lua hook counts every
                    answer that is not a 200 with a JSON-RPC result. The CPU time the replicas
                    (with their backends), haproxy and redis used during the timed runs is read
                    with psutil and shown per call: what the figures would allow on more cores.

    .venv/bin/python bench/replicas.py [--rounds 5] [--calls 400] [--warmup 100]
                                       [--seconds 8] [--modes local,oauth] [--parts a,b]
                                       [--json FILE] [--quick]

Exits 1 when a part fails. The targets of issue 21 are shown; they do not change the exit status
(the machine's load moves them). See docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx
import psutil
from rich.text import Text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))
import overhead
from overhead import BACKEND, PY, acp, console, enforce_bench_policy, free_port, ms, table

from tests.fixtures.oidc_provider import OidcProvider
from tests.support.gateway import GatewayProcess, write_gateway_config
from tests.support.redis import RedisServer
from tests.support.topology import Topology

MODERN = overhead.MODERN
PROXY = "bench"
VARIANTS = ("memory", "redis")
MODES = ("local", "oauth")
REPLICAS = (1, 3)
IN_FLIGHT = 64
WRK = shutil.which("wrk") or "/usr/bin/wrk"
MAX_ADDED_P50_MS = 0.5  # issue 21: Redis adds at most this much at the median
LIMITS = {"requests_per_minute": 100_000_000, "burst": 1_000_000}  # a benchmark cannot trip them
TEXT = "hello from the replicas bench"


def call_body(request_id: int = 1) -> dict:
    meta = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientInfo": {"name": "bench-replicas", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    params = {"name": "echo", "arguments": {"text": TEXT}, "_meta": meta}
    return {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params}


HEADERS = {
    "Content-Type": "application/json",
    "Accept": "application/json, text/event-stream",
    "MCP-Protocol-Version": MODERN,
    "Mcp-Method": "tools/call",
    "Mcp-Name": "echo",
}


def answer(response: httpx.Response) -> dict:
    """The JSON-RPC answer, from a JSON body or the one message of an SSE stream."""
    if response.status_code != 200:
        raise RuntimeError(f"HTTP {response.status_code}: {response.text[:300]}")
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        data = [line[5:].strip() for line in response.text.splitlines() if line.startswith("data:")]
        messages = [json.loads(d) for d in data if d]
        message = next((m for m in messages if "id" in m), None)
        if message is None:
            raise RuntimeError(f"no answer in the stream: {response.text[:300]}")
        return message
    return response.json()


def check(response: httpx.Response) -> None:
    message = answer(response)
    result = message.get("result")
    if not isinstance(result, dict) or result.get("isError") or TEXT not in json.dumps(result):
        raise RuntimeError(f"not an echo result: {json.dumps(message)[:300]}")


@dataclass
class Latency:
    mode: str
    variant: str
    calls: int = 0
    median_ms: float | None = None
    p90_ms: float | None = None
    p99_ms: float | None = None
    round_medians_ms: list[float] = field(default_factory=list)
    error: str | None = None


@dataclass
class Difference:
    """redis minus memory, of the medians: over every call, and round by round (the spread)."""

    mode: str
    median_ms: float | None = None
    per_round_ms: list[float] = field(default_factory=list)


@dataclass
class Throughput:
    replicas: int
    in_flight: int = IN_FLIGHT
    calls: int = 0
    seconds: float = 0.0
    calls_per_s: float | None = None
    round_calls_per_s: list[float] = field(default_factory=list)
    bad_answers: int = 0  # wrk: not a 200 with a JSON-RPC result (socket errors included)
    # CPU seconds used during the timed runs: the replicas with their STDIO backends, haproxy, redis.
    cpu_s: dict[str, float] = field(default_factory=lambda: {"replicas": 0.0, "haproxy": 0.0, "redis": 0.0})
    cpu_ms_per_call: dict[str, float] = field(default_factory=dict)
    error: str | None = None


@dataclass
class Verdict:
    target: str
    measured: str
    met: bool | None


@dataclass
class Report:
    latency: list[Latency] = field(default_factory=list)
    differences: list[Difference] = field(default_factory=list)
    throughput: list[Throughput] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def percentile(samples: list[float], pct: float) -> float:
    return overhead.nearest_rank(samples, pct)


def template_home(work: Path, backend: list[str]) -> dict[str, str]:
    """An initialized home with one proxy `bench` (the 100-rule policy) to `backend` (`proxy add` args)."""
    home = work / "template"
    acp(home, "init", "--auth", "local")
    acp(home, "proxy", "add", PROXY, "--server-name", "bench", *backend)
    enforce_bench_policy(home, PROXY)
    return {"MCP_ACP_HOME": str(home)}


def gateway_home(template: dict[str, str], home: Path, settings: dict) -> dict[str, str]:
    shutil.copytree(Path(template["MCP_ACP_HOME"]) / "config", home / "config")
    env = {"MCP_ACP_HOME": str(home)}
    manager = home / "config" / "manager.json"
    if manager.exists():  # its log_dir names the template's folder: each gateway keeps its own audit trail
        data = json.loads(manager.read_text(encoding="utf-8"))
        data["log_dir"] = str(home / "logs")
        manager.write_text(json.dumps(data), encoding="utf-8")
    write_gateway_config(env, settings)
    return env


# --- Part A -------------------------------------------------------------------------------


def latency_mode(
    args: argparse.Namespace, work: Path, template: dict, redis_url: str, mode: str, idp: OidcProvider | None
) -> tuple[list[Latency], Difference]:
    rows = {v: Latency(mode, v) for v in VARIANTS}
    difference = Difference(mode)
    gateways: dict[str, GatewayProcess] = {}
    try:
        for variant in VARIANTS:
            port = free_port()
            settings: dict = {"port": port, "limits": LIMITS, "public_url": f"http://127.0.0.1:{port}"}
            if variant == "redis":
                settings["state"] = {"url": redis_url}
            if idp is not None:
                settings["auth"] = {"issuer": idp.url}
            env = gateway_home(template, work / f"{mode}-{variant}", settings)
            gateways[variant] = GatewayProcess(env, work / f"{mode}-{variant}.log", port=port)
        clients = {}
        for variant, gateway in gateways.items():
            headers = dict(HEADERS)
            if idp is not None:
                headers["Authorization"] = f"Bearer {idp.mint('alice', aud=gateway.endpoint(PROXY))}"
            clients[variant] = httpx.Client(headers=headers, timeout=30)
        body = json.dumps(call_body()).encode()
        urls = {v: g.endpoint(PROXY) for v, g in gateways.items()}

        def once(variant: str) -> float:
            started = time.perf_counter()
            response = clients[variant].post(urls[variant], content=body)
            elapsed = (time.perf_counter() - started) * 1000
            check(response)
            return elapsed

        try:
            for i in range(args.warmup):
                for variant in VARIANTS if i % 2 == 0 else VARIANTS[::-1]:
                    once(variant)
            samples: dict[str, list[float]] = {v: [] for v in VARIANTS}
            for _ in range(args.rounds):
                round_samples: dict[str, list[float]] = {v: [] for v in VARIANTS}
                for i in range(args.calls):
                    for variant in VARIANTS if i % 2 == 0 else VARIANTS[::-1]:
                        round_samples[variant].append(once(variant))
                for variant in VARIANTS:
                    rows[variant].round_medians_ms.append(statistics.median(round_samples[variant]))
                    samples[variant] += round_samples[variant]
                difference.per_round_ms.append(rows["redis"].round_medians_ms[-1] - rows["memory"].round_medians_ms[-1])
        finally:
            for client in clients.values():
                client.close()
        for variant, row in rows.items():
            row.calls = len(samples[variant])
            row.median_ms = statistics.median(samples[variant])
            row.p90_ms, row.p99_ms = percentile(samples[variant], 90), percentile(samples[variant], 99)
        difference.median_ms = rows["redis"].median_ms - rows["memory"].median_ms  # type: ignore[operator]
    except Exception as exc:
        for row in rows.values():
            row.error = row.error or f"{type(exc).__name__}: {exc}"
        for variant, gateway in gateways.items():
            console.print(Text.assemble((f"{mode}/{variant} gateway log (tail):\n", "yellow"), gateway.output()[-800:]))
    finally:
        for gateway in gateways.values():
            gateway.stop()
    return list(rows.values()), difference


def part_a(args: argparse.Namespace, work: Path, redis: RedisServer, report: Report) -> None:
    port = free_port()
    backend = subprocess.Popen(
        [PY, BACKEND, "--http", str(port)],
        stdout=(work / "http-backend.log").open("w"),
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        overhead.wait_for_port(port, 60)
        template = template_home(work / "a", ["--url", f"http://127.0.0.1:{port}/mcp"])
        for mode in args.modes:
            idp = OidcProvider(interval=1, state_dir=work / "idp").start(timeout=60) if mode == "oauth" else None
            try:
                with console.status(f"part A, {mode} auth: {args.rounds} rounds of {args.calls} calls per variant"):
                    rows, difference = latency_mode(args, work / "a", template, redis.url, mode, idp)
            finally:
                if idp is not None:
                    idp.stop()
            report.latency += rows
            report.differences.append(difference)
    finally:
        backend.terminate()
        backend.wait(30)


# --- Part B -------------------------------------------------------------------------------

WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = [[%(body)s]]
%(headers)s
bad = 0
local threads = {}
function setup(thread) table.insert(threads, thread) end
function response(status, headers, body)
  if status ~= 200 or not string.find(body, '"result"', 1, true) or string.find(body, '"isError":true', 1, true) then
    bad = bad + 1
  end
end
function done(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do total = total + t:get("bad") end
  local e = summary.errors
  io.write(string.format("BENCH-RESULT %%d %%d %%d\\n", summary.requests, summary.duration,
    total + e.connect + e.read + e.write + e.timeout))
end
"""


def wrk_script(path: Path) -> Path:
    headers = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in HEADERS.items())
    path.write_text(WRK_SCRIPT % {"body": json.dumps(call_body()), "headers": headers}, encoding="utf-8")
    return path


def wrk(url: str, script: Path, seconds: float) -> tuple[int, float, int]:
    """(requests, seconds, bad answers) of one wrk run: one thread, IN_FLIGHT connections."""
    command = [WRK, "-t1", f"-c{IN_FLIGHT}", f"-d{seconds:g}s", "--timeout", "30s", "-s", str(script), url]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=False)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("BENCH-RESULT")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stdout[-500:]}{proc.stderr[-500:]}")
    requests, micros, bad = (int(x) for x in line.split()[1:])
    return requests, micros / 1e6, bad


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of these processes and their children so far."""
    total = 0.0
    for pid in pids:
        try:
            process = psutil.Process(pid)
            for each in (process, *process.children(recursive=True)):
                times = each.cpu_times()
                total += times.user + times.system
        except psutil.Error:
            continue
    return total


def cpu_groups(topology: Topology, redis: RedisServer) -> dict[str, list[int]]:
    assert topology.haproxy is not None
    replicas = [p.process.pid for p in topology.processes.values()]
    return {"replicas": replicas, "haproxy": [topology.haproxy.process.pid], "redis": [redis.process.pid]}


def part_b(args: argparse.Namespace, work: Path, redis: RedisServer, report: Report) -> None:
    if not Path(WRK).is_file():
        report.errors.append("part B: wrk is missing (Debian: apt-get install wrk)")
        return
    template = template_home(work / "b", ["--command", PY, "--arg", BACKEND])
    rows = {n: Throughput(n) for n in REPLICAS}
    report.throughput += rows.values()
    topologies: dict[int, Topology] = {}
    try:
        for n in REPLICAS:
            root = work / "b" / f"replicas-{n}"
            root.mkdir(parents=True)
            topologies[n] = Topology(template, root, replicas=n, state_url=redis.url, settings={"limits": LIMITS})
        for topology in topologies.values():  # every replica answers (and starts its backend) first
            for i in topology.processes:
                check(httpx.post(topology.replica_url(i, PROXY), json=call_body(), headers=HEADERS, timeout=60))
            check(httpx.post(topology.url(PROXY), json=call_body(), headers=HEADERS, timeout=60))
        script = wrk_script(work / "b" / "call.lua")
        with console.status(f"part B: warm-up, then {args.rounds} rounds of {args.seconds:g} s per topology"):
            for topology in topologies.values():
                wrk(topology.url(PROXY), script, max(args.seconds / 4, 1))
            for r in range(args.rounds):
                for n in REPLICAS if r % 2 == 0 else REPLICAS[::-1]:
                    groups = cpu_groups(topologies[n], redis)
                    before = {name: cpu_seconds(pids) for name, pids in groups.items()}
                    requests, seconds, bad = wrk(topologies[n].url(PROXY), script, args.seconds)
                    row = rows[n]
                    for name, pids in groups.items():
                        row.cpu_s[name] += cpu_seconds(pids) - before[name]
                    row.calls += requests
                    row.seconds += seconds
                    row.bad_answers += bad
                    row.round_calls_per_s.append(requests / seconds)
        for row in rows.values():
            row.calls_per_s = row.calls / row.seconds if row.seconds else None
            row.cpu_ms_per_call = {name: 1000 * cpu / row.calls for name, cpu in row.cpu_s.items() if row.calls}
            if row.bad_answers:
                row.error = f"{row.bad_answers} answers were not an echo result"
    except Exception as exc:
        for row in rows.values():
            row.error = row.error or f"{type(exc).__name__}: {exc}"
        for topology in topologies.values():
            console.print(Text.assemble(("topology logs (tail):\n", "yellow"), topology.output()[-1500:]))
    finally:
        for topology in topologies.values():
            topology.stop()


# --- report ---------------------------------------------------------------------------------


def verdicts(report: Report) -> list[Verdict]:
    out = []
    for difference in report.differences:
        value = difference.median_ms
        spread = ", ".join(f"{d:+.3f}" for d in difference.per_round_ms)
        out.append(
            Verdict(
                f"redis adds <= {MAX_ADDED_P50_MS:g} ms at the median ({difference.mode} auth)",
                "-" if value is None else f"{value:+.3f} ms (rounds: {spread})",
                None if value is None else value <= MAX_ADDED_P50_MS,
            )
        )
    rates = {r.replicas: r.calls_per_s for r in report.throughput}
    one, three = rates.get(1), rates.get(3)
    out.append(
        Verdict(
            "3 replicas measured against 1 (64 in flight, through haproxy)",
            "-" if not (one and three) else f"{three:,.0f} vs {one:,.0f} calls/s ({100 * three / one:.0f} %)",
            None if not (one and three) else True,
        )
    )
    return out


def show(report: Report, args: argparse.Namespace) -> None:
    latency = table(
        f"part A: tools/call echo latency (2026-07-28, loopback HTTP), {args.rounds} rounds x {args.calls} calls "
        f"per variant, interleaved, after {args.warmup} warm-up",
        ["auth", "state", "calls", "p50 ms", "p90 ms", "p99 ms", "round medians ms"],
        2,
    )
    for r in report.latency:
        latency.add_row(
            r.mode,
            r.variant,
            str(r.calls),
            ms(r.median_ms),
            ms(r.p90_ms),
            ms(r.p99_ms),
            " ".join(f"{m:.3f}" for m in r.round_medians_ms),
        )
    if report.latency:
        console.print(latency)
    added = table("part A: what redis adds (redis minus memory, medians)", ["auth", "overall ms", "per round ms"])
    for d in report.differences:
        added.add_row(d.mode, ms(d.median_ms, True), " ".join(f"{x:+.3f}" for x in d.per_round_ms))
    if report.differences:
        console.print(added)
    rates = table(
        f"part B: tools/call throughput, {IN_FLIGHT} in flight (wrk, 1 thread) through haproxy, state in redis, "
        f"{args.rounds} x {args.seconds:g} s per topology, interleaved",
        [
            "replicas",
            "calls",
            "seconds",
            "calls/s",
            "per round calls/s",
            "CPU ms/call: replicas+backends",
            "haproxy",
            "redis",
            "bad answers",
        ],
    )
    for r in report.throughput:
        rates.add_row(
            str(r.replicas),
            str(r.calls),
            f"{r.seconds:.1f}",
            "-" if r.calls_per_s is None else f"{r.calls_per_s:,.0f}",
            " ".join(f"{x:,.0f}" for x in r.round_calls_per_s),
            *(ms(r.cpu_ms_per_call.get(name)) for name in ("replicas", "haproxy", "redis")),
            str(r.bad_answers),
        )
    if report.throughput:
        console.print(rates)
    targets = table("issue 21 targets", ["target", "measured", "verdict"])
    for v in report.verdicts:
        verdict = "[dim]not measured[/]" if v.met is None else ("[green]met[/]" if v.met else "[red]missed[/]")
        targets.add_row(v.target, v.measured, verdict)
    console.print(targets)
    for label, error in [
        *((f"part A {r.mode}/{r.variant}", r.error) for r in report.latency),
        *((f"part B {r.replicas} replicas", r.error) for r in report.throughput),
        *(("run", e) for e in report.errors),
    ]:
        if error:
            console.print(Text.assemble((f"{label} failed: ", "red"), error))


def failed(report: Report) -> bool:
    rows = [*report.latency, *report.throughput]
    return bool(report.errors) or any(r.error for r in rows) or not (report.latency or report.throughput)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="rounds of each part (default 5)")
    parser.add_argument("--calls", type=int, default=400, help="part A: timed calls per variant per round (400)")
    parser.add_argument("--warmup", type=int, default=100, help="part A: untimed calls per variant first (100)")
    parser.add_argument("--seconds", type=float, default=8.0, help="part B: seconds per topology per round (8)")
    parser.add_argument("--modes", default=",".join(MODES), help="part A auth modes: local,oauth (both)")
    parser.add_argument("--parts", default="a,b", help="which parts: a,b (both)")
    parser.add_argument("--quick", action="store_true", help="a smoke test: 2 rounds of 20 calls, 1 s bursts")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args()
    args.modes = [m for m in args.modes.split(",") if m]
    if not set(args.modes) <= set(MODES) or not args.modes:
        parser.error(f"--modes: a comma-separated subset of {','.join(MODES)}")
    args.parts = [p for p in args.parts.split(",") if p]
    if not set(args.parts) <= {"a", "b"} or not args.parts:
        parser.error("--parts: a comma-separated subset of a,b")
    if args.quick:
        args.rounds, args.calls, args.warmup, args.seconds = 2, 20, 5, 1.0
    if args.rounds < 1 or args.calls < 2:
        parser.error("--rounds must be at least 1 and --calls at least 2")

    load_before = os.getloadavg()
    started = time.monotonic()
    report = Report()
    with tempfile.TemporaryDirectory(prefix="mcp-acp-bench-replicas-") as tmp:
        work = Path(tmp)
        try:
            redis = RedisServer(work / "redis")
        except Exception as exc:
            report.errors.append(f"redis-server: {exc}")
        else:
            try:
                for title, part in (("part A", part_a), ("part B", part_b)):
                    if title[-1].lower() not in args.parts:
                        continue
                    try:
                        part(args, work, redis, report)
                    except Exception as exc:
                        report.errors.append(f"{title}: {type(exc).__name__}: {exc}")
            finally:
                redis.stop()
    load_after = os.getloadavg()
    report.verdicts = verdicts(report)
    show(report, args)
    console.print(
        f"[dim]load average (1, 5, 15 min) {' '.join(f'{x:.2f}' for x in load_before)} before, "
        f"{' '.join(f'{x:.2f}' for x in load_after)} after; {os.cpu_count()} CPUs; "
        f"{time.monotonic() - started:.0f} s[/]"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        document = {
            "bench": "replicas",
            "quick": args.quick,
            "rounds": args.rounds,
            "calls": args.calls,
            "warmup": args.warmup,
            "seconds": args.seconds,
            "modes": args.modes,
            "parts": args.parts,
            "client": "part A: httpx.Client, sequential; part B: wrk -t1 -c64",
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "load_avg": [list(load_before), list(load_after)],
            **asdict(report),
        }
        args.json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        console.print(f"results written to {args.json}")
    if failed(report):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
