"""Manager event fan-out: simulated proxies push events, SSE subscribers receive every one of them.

The real manager daemon (`mcp-acp manager _run`) runs in its own temporary MCP_ACP_HOME. Then:

  proxies      one process runs N simulated proxies over the real `manager.sock`, speaking the
               real NDJSON protocol (docs/manager.md#the-proxy-connection): `register`, then `event` lines of type
               `bench_event`, R a second each, paced evenly (not in bursts), phase-shifted so the
               N streams interleave. Every event carries its proxy's sequence number and the
               wall-clock time (`time.time()`) just before it was written to the socket.
  subscribers  M real HTTP connections to `GET /api/events` on 127.0.0.1 (bearer token), spread
               over a few worker processes so the clients are not the bottleneck. Each one
               decodes the chunked SSE stream, checks every (proxy, seq) arrives exactly once,
               and records the delivery latency: the time its read returned minus the send time.
  manager      its CPU time (`psutil`, user + system, as % of one core) while the proxies send,
               and its resident memory.

When every proxy has sent its last event it sends a `bench_done` event with its count; the events
of one proxy reach a subscriber in order, so a subscriber that has seen every `bench_done` has
seen all it will ever get. Lost = sent x subscribers - unique deliveries.

    .venv/bin/python bench/manager_events.py [--duration 20] [--json FILE]
    .venv/bin/python bench/manager_events.py --quick        # 3 proxies x 50/s, 3 subscribers, 3 s

Exits non-zero when an event was lost or duplicated or a client failed. See docs/performance.md
("Manager events") for the method and the numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from array import array
from dataclasses import asdict, dataclass, field
from pathlib import Path

import orjson
import psutil
from rich.console import Console
from rich.table import Table

CLI = str(Path(sys.executable).parent / "mcp-acp")
P99_TARGET_MS = 50.0
READY_TIMEOUT = 60.0  # a cold manager start on a loaded 2-core box takes a few seconds
EVENT_TYPE = "bench_event"
DONE_TYPE = "bench_done"

console = Console()
if not console.is_terminal:
    console.width = 150  # piped or redirected: keep the table readable


@dataclass
class Settings:
    proxies: int = 10
    rate: float = 200.0  # events/s per proxy
    subscribers: int = 20
    duration: float = 20.0  # seconds of sending
    workers: int = 4  # subscriber processes
    payload_bytes: int = 128  # size of the event's `message` text
    drain_timeout: float = 30.0  # after the last send, how long subscribers may take to get the rest
    py_spy: str | None = None  # path of py-spy, to profile the manager while the proxies send
    py_spy_output: str | None = None


@dataclass
class Result:
    settings: dict
    events_sent: int = 0
    expected_deliveries: int = 0  # events_sent x subscribers
    delivered: int = 0  # unique (subscriber, proxy, seq)
    lost: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    subscribers_complete: int = 0  # saw every proxy's bench_done
    latency_ms: dict = field(default_factory=dict)  # p50 p95 p99 p99.9 max mean, over every delivery
    worst_subscriber_p99_ms: float | None = None
    events_per_write: float | None = None  # SSE events per HTTP chunk: the hub's batching
    send_lag_ms: dict = field(default_factory=dict)  # how late the proxies sent against the schedule
    send_seconds: float = 0.0
    manager_cpu_percent: float | None = None  # while the proxies sent, % of one core
    manager_cpu_percent_total: float | None = None  # go .. last subscriber done (includes the drain)
    manager_cpu_seconds: float | None = None
    manager_rss_mb: dict = field(default_factory=dict)  # before, peak, after
    manager_cpu_per_second: list = field(default_factory=list)  # % of one core, 1 s samples
    clients_cpu_percent: float | None = None  # the subscriber workers together
    proxies_cpu_percent: float | None = None  # the simulated-proxies process
    manager_warnings: list = field(default_factory=list)  # from manager/system.jsonl
    errors: list = field(default_factory=list)
    manager_pid: int | None = None
    p99_ok: bool | None = None
    ok: bool = False


# ---------------------------------------------------------------------------------- helpers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(ordered, q: float) -> float:
    """Nearest-rank percentile of an already sorted sequence."""
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[index]


def summary_ms(values) -> dict:
    ordered = sorted(values)
    if not ordered:
        return {}
    return {
        "p50": percentile(ordered, 50) * 1000,
        "p95": percentile(ordered, 95) * 1000,
        "p99": percentile(ordered, 99) * 1000,
        "p99.9": percentile(ordered, 99.9) * 1000,
        "max": ordered[-1] * 1000,
        "mean": sum(ordered) / len(ordered) * 1000,
        "count": len(ordered),
    }


def new_loop() -> asyncio.AbstractEventLoop:
    """uvloop when it is there: the clients and proxies should cost as little CPU as they can."""
    try:
        import uvloop

        return uvloop.new_event_loop()
    except ImportError:
        return asyncio.new_event_loop()


def run_async(coroutine):
    with asyncio.Runner(loop_factory=new_loop) as runner:
        return runner.run(coroutine)


# ---------------------------------------------------------------------------------- proxies


async def _drain_lines(reader: asyncio.StreamReader) -> None:
    """Read and drop what the manager sends a proxy (ui_status on every subscriber change)."""
    try:
        while await reader.readline():
            pass
    except (ConnectionError, ValueError):
        pass


async def _pace(index: int, name: str, writer: asyncio.StreamWriter, t0: float, s: Settings) -> dict:
    """Send `rate x duration` events, event i at t0 + phase + i / rate, each stamped when written."""
    count = round(s.rate * s.duration)
    interval = 1.0 / s.rate
    phase = index * interval / s.proxies
    message = "x" * s.payload_bytes
    lags = array("d")
    clock = time.time
    for seq in range(count):
        due = t0 + phase + seq * interval
        delay = due - clock()
        if delay > 0:
            await asyncio.sleep(delay)
        now = clock()
        lags.append(now - due)
        writer.write(
            orjson.dumps(
                {
                    "type": "event",
                    "event_type": EVENT_TYPE,
                    "data": {"seq": seq, "ts": now, "severity": "info", "message": message},
                }
            )
            + b"\n"
        )
        if writer.transport.get_write_buffer_size() > 1 << 20:  # the manager is not reading
            await writer.drain()
    writer.write(orjson.dumps({"type": "event", "event_type": DONE_TYPE, "data": {"sent": count}}) + b"\n")
    await writer.drain()
    return {"proxy_name": name, "sent": count, "lags": lags.tobytes()}


async def _proxies(manager_sock: str, names: list[str], sockets: list[str], s: Settings, conn) -> None:
    loop = asyncio.get_running_loop()
    writers, drains = [], []
    try:
        for name, socket_path in zip(names, sockets, strict=True):
            reader, writer = await asyncio.open_unix_connection(manager_sock)
            writer.write(
                orjson.dumps(
                    {
                        "type": "register",
                        "proxy_name": name,
                        "proxy_id": f"px_{os.urandom(4).hex()}:{name}",
                        "instance_id": f"bench-{os.getpid()}-{name}",
                        "config_summary": {"backend": "bench"},
                        "socket_path": socket_path,
                    }
                )
                + b"\n"
            )
            await writer.drain()
            answer = orjson.loads(await asyncio.wait_for(reader.readline(), 10))
            if answer.get("type") != "registered" or not answer.get("ok"):
                raise RuntimeError(f"proxy {name} was not registered: {answer}")
            writers.append(writer)
            drains.append(asyncio.create_task(_drain_lines(reader)))
        conn.send(("ready",))
        _, t0 = await loop.run_in_executor(None, conn.recv)
        cpu = own_cpu_seconds()
        results = await asyncio.gather(
            *(_pace(i, name, writer, t0, s) for i, (name, writer) in enumerate(zip(names, writers, strict=True)))
        )
        conn.send(("sent", {"results": results, "end": time.time(), "cpu_seconds": own_cpu_seconds() - cpu}))
        await loop.run_in_executor(None, conn.recv)  # ("stop",): keep the connections until then
    finally:
        for writer in writers:
            writer.close()
        for task in drains:
            task.cancel()


def proxies_main(manager_sock: str, names: list[str], sockets: list[str], s: Settings, conn) -> None:
    try:
        run_async(_proxies(manager_sock, names, sockets, s, conn))
    except Exception as exc:
        conn.send(("error", f"proxies: {type(exc).__name__}: {exc}"))


# ---------------------------------------------------------------------------------- subscribers


class Stream:
    """One SSE subscriber: the HTTP response, chunked decoding, SSE `data:` lines, bookkeeping."""

    def __init__(self, index: int, port: int, token: str, proxies: int, expected_per_proxy: int) -> None:
        self.index, self.port, self.token, self.proxies = index, port, token, proxies
        self.expected_per_proxy = expected_per_proxy
        self.seen: dict[str, bytearray] = {}
        self.last_seq: dict[str, int] = {}
        self.done: dict[str, int] = {}
        self.latencies = array("d")
        self.received = self.duplicates = self.out_of_order = self.writes = 0
        self.error: str | None = None
        self.subscribed = asyncio.Event()
        self.writer: asyncio.StreamWriter | None = None

    def report(self) -> dict:
        return {
            "index": self.index,
            "received": self.received,
            "duplicates": self.duplicates,
            "out_of_order": self.out_of_order,
            "writes": self.writes,
            "done": self.done,
            "unique": {name: sum(seen) for name, seen in self.seen.items()},
            "complete": len(self.done) == self.proxies,
            "error": self.error,
            "latencies": self.latencies.tobytes(),
        }

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.transport.abort()

    async def run(self) -> None:
        try:
            await self._run()
        except (ConnectionError, asyncio.IncompleteReadError, OSError, ValueError) as exc:
            if len(self.done) < self.proxies:
                self.error = self.error or f"{type(exc).__name__}: {exc}"
        finally:
            if self.writer is not None:
                self.writer.close()
            self.subscribed.set()  # never leave the worker waiting on a failed stream

    async def _run(self) -> None:
        reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port, limit=1 << 22)
        self.writer.write(
            (
                f"GET /api/events HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
                f"Authorization: Bearer {self.token}\r\nAccept: text/event-stream\r\n"
                "Cache-Control: no-cache\r\n\r\n"
            ).encode()
        )
        head = await reader.readuntil(b"\r\n\r\n")
        status = head.split(b"\r\n", 1)[0]
        if b" 200 " not in status + b" ":
            raise ValueError(f"GET /api/events answered {status.decode(errors='replace')}")
        chunked = b"transfer-encoding: chunked" in head.lower()
        raw, text = bytearray(), bytearray()
        loads, clock = orjson.loads, time.time
        while True:
            data = await reader.read(1 << 18)
            if not data:
                if len(self.done) < self.proxies:
                    self.error = "the stream ended before every bench_done"
                return
            now = clock()
            if chunked:
                raw += data
                while True:  # whole chunks only: <hex size>\r\n<bytes>\r\n
                    end = raw.find(b"\r\n")
                    if end < 0:
                        break
                    size = int(raw[:end].split(b";", 1)[0], 16)
                    if size == 0:
                        if len(self.done) < self.proxies:
                            self.error = "the stream ended before every bench_done"
                        return
                    if len(raw) < end + 2 + size + 2:
                        break
                    text += raw[end + 2 : end + 2 + size]
                    del raw[: end + 2 + size + 2]
                    self.writes += 1
            else:
                text += data
                self.writes += 1
            last = text.rfind(b"\n")
            if last < 0:
                continue
            block = bytes(text[:last])
            del text[: last + 1]
            for line in block.split(b"\n"):
                if not line.startswith(b"data:"):
                    continue  # blank separators, `: ping` comments
                event = loads(line[5:])
                kind = event.get("type")
                if kind == EVENT_TYPE:
                    self._event(event, now)
                elif kind == DONE_TYPE:
                    self.done[event["proxy_name"]] = event["sent"]
                    if len(self.done) == self.proxies:
                        return
                elif kind == "snapshot":
                    self.subscribed.set()  # the hub has us: everything published from now on is ours

    def _event(self, event: dict, now: float) -> None:
        name, seq = event["proxy_name"], event["seq"]
        self.received += 1
        self.latencies.append(now - event["ts"])
        seen = self.seen.get(name)
        if seen is None:
            seen = self.seen[name] = bytearray(self.expected_per_proxy)
        if seq >= len(seen):
            seen.extend(bytes(seq + 1 - len(seen)))
        if seen[seq]:
            self.duplicates += 1
        else:
            seen[seq] = 1
        if seq < self.last_seq.get(name, -1):
            self.out_of_order += 1
        self.last_seq[name] = seq


async def _subscribers(indexes: list[int], port: int, token: str, s: Settings, conn) -> None:
    loop = asyncio.get_running_loop()
    streams = [Stream(i, port, token, s.proxies, round(s.rate * s.duration)) for i in indexes]
    tasks = [asyncio.create_task(stream.run()) for stream in streams]
    try:
        await asyncio.wait_for(asyncio.gather(*(stream.subscribed.wait() for stream in streams)), READY_TIMEOUT)
    except TimeoutError:
        for stream in streams:
            stream.error = stream.error or "not subscribed in time"
    failed = [f"subscriber {stream.index}: {stream.error}" for stream in streams if stream.error]
    conn.send(("error", "; ".join(failed)) if failed else ("subscribed",))
    message = await loop.run_in_executor(None, conn.recv)  # ("go", t0) or ("stop",)
    cpu = own_cpu_seconds()
    if message[0] == "go":
        deadline = message[1] + s.duration + s.drain_timeout
        timer = loop.call_later(max(0.0, deadline - time.time()), lambda: [st.abort() for st in streams])
        await asyncio.gather(*tasks)
        timer.cancel()
        for stream in streams:
            if stream.error is None and len(stream.done) < s.proxies:
                stream.error = "timed out before every bench_done"
    else:
        for stream in streams:
            stream.abort()
        await asyncio.gather(*tasks)
    conn.send(("result", [stream.report() for stream in streams], own_cpu_seconds() - cpu))


def subscribers_main(indexes: list[int], port: int, token: str, s: Settings, conn) -> None:
    try:
        run_async(_subscribers(indexes, port, token, s, conn))
    except Exception as exc:
        conn.send(("error", f"subscribers {indexes}: {type(exc).__name__}: {exc}"))


# ---------------------------------------------------------------------------------- manager


def prepare_home(home: Path, port: int) -> None:
    env = {**os.environ, "MCP_ACP_HOME": str(home)}
    proc = subprocess.run(
        [CLI, "init", "--auth", "local", "--non-interactive"],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"mcp-acp init failed: {proc.stderr.strip() or proc.stdout.strip()}")
    config_path = home / "config" / "manager.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["ui_port"] = port
    config_path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def start_manager(home: Path, port: int, log_file) -> subprocess.Popen:
    return subprocess.Popen(
        [CLI, "manager", "_run", "--port", str(port)],
        stdin=subprocess.DEVNULL,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        env={**os.environ, "MCP_ACP_HOME": str(home), "MCP_ACP_NO_BROWSER": "1"},
    )


def http_get(port: int, token: str, path: str) -> tuple[int, bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(
            (
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n"
                "Connection: close\r\n\r\n"
            ).encode()
        )
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def manager_status(port: int, token: str) -> dict | None:
    try:
        code, body = http_get(port, token, "/api/manager/status")
        return json.loads(body) if code == 200 else None
    except (OSError, ValueError, IndexError):
        return None


def wait_manager(manager: subprocess.Popen, home: Path, port: int, manager_sock: Path) -> str:
    """The API token once the manager answers on both its proxy socket and its HTTP port."""
    token_path = home / "config" / "manager_token"
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if manager.poll() is not None:
            raise RuntimeError(f"the manager exited with code {manager.returncode} during start-up")
        if manager_sock.exists() and token_path.exists():
            token = token_path.read_text(encoding="utf-8").strip()
            if len(token) == 64 and manager_status(port, token) is not None:
                return token
        time.sleep(0.1)
    raise RuntimeError(f"the manager did not answer within {READY_TIMEOUT:g} s")


def stop_manager(manager: subprocess.Popen | None) -> None:
    if manager is None or manager.poll() is not None:
        return
    manager.send_signal(signal.SIGTERM)  # graceful stop, as `mcp-acp manager stop` does
    try:
        manager.wait(15)
    except subprocess.TimeoutExpired:
        manager.kill()
        manager.wait(5)


class Sampler(threading.Thread):
    """The manager's CPU % per second and its peak RSS, from the bench process."""

    def __init__(self, process: psutil.Process) -> None:
        super().__init__(daemon=True)
        self.process = process
        self.cpu: list[float] = []
        self.peak_rss = 0
        self.halt = threading.Event()

    def run(self) -> None:
        last_cpu, last_wall = sum(self.process.cpu_times()[:2]), time.monotonic()
        while not self.halt.wait(1.0):
            try:
                cpu, rss = sum(self.process.cpu_times()[:2]), self.process.memory_info().rss
            except psutil.Error:
                return
            wall = time.monotonic()
            self.cpu.append(round((cpu - last_cpu) / (wall - last_wall) * 100, 1))
            self.peak_rss = max(self.peak_rss, rss)
            last_cpu, last_wall = cpu, wall


def own_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def manager_warnings(home: Path) -> list[str]:
    lines = []
    for path in home.rglob("system.jsonl"):
        if "manager" in path.parts:
            for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
                try:
                    lines.append(json.loads(line).get("message", line))
                except ValueError:
                    lines.append(line)
    return lines


# ---------------------------------------------------------------------------------- the run


def receive(conn, what: str, timeout: float):
    if not conn.poll(timeout):
        raise RuntimeError(f"no answer from the {what} within {timeout:g} s")
    message = conn.recv()
    if message[0] == "error":
        raise RuntimeError(message[1])
    return message


def measure(
    s: Settings, home: Path, port: int, token: str, manager: subprocess.Popen, manager_sock: Path, children: list
) -> Result:
    # MCP_ACP_HOME is set by now: every path is under the temporary home.
    from mcp_acp.config import paths

    result = Result(settings=asdict(s), manager_pid=manager.pid)
    context = multiprocessing.get_context("spawn")
    names = [f"bench-{i:02d}" for i in range(s.proxies)]
    sockets = [str(paths.proxy_socket_path(name)) for name in names]  # no proxy API behind them: fine

    proxy_conn, child_conn = context.Pipe()
    proxies = context.Process(
        target=proxies_main, args=(str(manager_sock), names, sockets, s, child_conn), name="bench-proxies", daemon=True
    )
    proxies.start()
    children.append(proxies)
    receive(proxy_conn, "proxies (registration)", READY_TIMEOUT)

    workers = []
    groups = [list(range(s.subscribers))[w :: s.workers] for w in range(min(s.workers, s.subscribers))]
    for group in groups:
        parent, child = context.Pipe()
        worker = context.Process(
            target=subscribers_main, args=(group, port, token, s, child), name="bench-subscribers", daemon=True
        )
        worker.start()
        children.append(worker)
        workers.append((worker, parent))
    for _, conn in workers:
        receive(conn, "subscribers (connecting)", READY_TIMEOUT + 10)
    status = manager_status(port, token) or {}
    if status.get("subscribers") != s.subscribers or status.get("proxies_connected") != s.proxies:
        raise RuntimeError(
            f"the manager sees {status.get('proxies_connected')} proxies and "
            f"{status.get('subscribers')} subscribers, not {s.proxies} and {s.subscribers}"
        )

    process = psutil.Process(manager.pid)
    rss_before = process.memory_info().rss
    time.sleep(0.5)  # let the subscription chatter (ui_status to every proxy) settle

    t0 = time.time() + 0.3
    for _, conn in workers:
        conn.send(("go", t0))
    proxy_conn.send(("go", t0))
    time.sleep(max(0.0, t0 - time.time()))
    cpu0, wall0 = cpu_seconds(process), time.monotonic()
    sampler = Sampler(process)
    sampler.start()
    profiler = None
    if s.py_spy:  # sample the manager's stacks while the proxies send (collapsed stacks, flamegraph.pl format)
        profiler = subprocess.Popen(
            [
                s.py_spy,
                "record",
                "--pid",
                str(manager.pid),
                "--rate",
                "200",
                "--format",
                "raw",
                "--duration",
                str(max(1, int(s.duration))),
                "--nonblocking",
                "--output",
                s.py_spy_output,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )

    _, sent = receive(proxy_conn, "proxies (sending)", s.duration + 60)
    cpu1, wall1 = cpu_seconds(process), time.monotonic()
    reports, clients_cpu = [], 0.0
    for _, conn in workers:
        _, own, used = receive(conn, "subscribers (results)", s.drain_timeout + 60)
        reports += own
        clients_cpu += used
    cpu2, wall2 = cpu_seconds(process), time.monotonic()
    sampler.halt.set()
    sampler.join()
    rss_after = process.memory_info().rss
    proxy_conn.send(("stop",))
    if profiler is not None:
        profiler.wait(30)

    per_proxy = {r["proxy_name"]: r["sent"] for r in sent["results"]}
    lags = array("d")
    for r in sent["results"]:
        lags.frombytes(r["lags"])
    result.events_sent = sum(per_proxy.values())
    result.expected_deliveries = result.events_sent * s.subscribers
    result.send_seconds = round(sent["end"] - t0, 3)
    result.send_lag_ms = {key: round(value, 3) for key, value in summary_ms(lags).items() if key != "count"}

    latencies = array("d")
    subscriber_p99 = []
    for report in reports:
        own = array("d")
        own.frombytes(report["latencies"])
        latencies.extend(own)
        if own:
            subscriber_p99.append(percentile(sorted(own), 99) * 1000)
        unique = sum(min(report["unique"].get(name, 0), count) for name, count in per_proxy.items())
        result.delivered += unique
        result.duplicates += report["duplicates"]
        result.out_of_order += report["out_of_order"]
        result.subscribers_complete += report["complete"]
        if report["error"]:
            result.errors.append(f"subscriber {report['index']}: {report['error']}")
    result.lost = result.expected_deliveries - result.delivered
    result.latency_ms = {
        key: round(value, 3) if key != "count" else value for key, value in summary_ms(latencies).items()
    }
    result.worst_subscriber_p99_ms = round(max(subscriber_p99), 3) if subscriber_p99 else None
    writes = sum(report["writes"] for report in reports)
    result.events_per_write = round(sum(report["received"] for report in reports) / writes, 2) if writes else None

    result.manager_cpu_seconds = round(cpu2 - cpu0, 3)
    result.manager_cpu_percent = round((cpu1 - cpu0) / (wall1 - wall0) * 100, 1)
    result.manager_cpu_percent_total = round((cpu2 - cpu0) / (wall2 - wall0) * 100, 1)
    result.manager_cpu_per_second = sampler.cpu
    result.manager_rss_mb = {
        "before": round(rss_before / 2**20, 1),
        "peak": round(max(sampler.peak_rss, rss_before, rss_after) / 2**20, 1),
        "after": round(rss_after / 2**20, 1),
    }
    result.clients_cpu_percent = round(clients_cpu / (wall2 - wall0) * 100, 1)
    result.proxies_cpu_percent = round(sent["cpu_seconds"] / (wall1 - wall0) * 100, 1)
    p99 = result.latency_ms.get("p99")
    result.p99_ok = p99 is not None and p99 <= P99_TARGET_MS
    result.ok = (
        result.lost == 0
        and result.duplicates == 0
        and result.events_sent > 0
        and not result.errors
        and result.subscribers_complete == s.subscribers
    )
    return result


def run(s: Settings, work: Path) -> Result:
    home = work / "home"
    home.mkdir()
    os.environ["MCP_ACP_HOME"] = str(home)  # before anything of mcp_acp computes a path
    from mcp_acp.config import paths

    port = free_port()
    prepare_home(home, port)
    manager_sock = paths.manager_socket_path()
    manager, children = None, []
    log_path = work / "manager.out"
    with log_path.open("w") as log_file:
        failed = True
        try:
            manager = start_manager(home, port, log_file)
            token = wait_manager(manager, home, port, manager_sock)
            result = measure(s, home, port, token, manager, manager_sock, children)
            failed = False
        except Exception as exc:
            result = Result(settings=asdict(s), errors=[f"{type(exc).__name__}: {exc}"])
            output = log_path.read_text(encoding="utf-8", errors="replace").strip()
            if output:
                result.errors.append("manager output: " + output[-2000:])
        finally:  # also on KeyboardInterrupt: no process of ours outlives the bench
            for child in children:
                child.join(0 if failed else 10)  # after a failure a child may wait for a message forever
                if child.is_alive():
                    child.terminate()
                    child.join(5)
            stop_manager(manager)
    result.manager_warnings = manager_warnings(home)[-20:]
    return result


def show(result: Result, s: Settings, load: tuple[float, float]) -> None:
    def ms(key: str) -> str:
        value = result.latency_ms.get(key)
        return "-" if value is None else f"{value:.1f}"

    lat = result.latency_ms
    table = Table(
        title=f"Manager events: {s.proxies} proxies x {s.rate:g} events/s for {s.duration:g} s, "
        f"{s.subscribers} SSE subscribers",
        title_justify="left",
    )
    for column in (
        "proxies",
        "ev/s each",
        "subscribers",
        "sent",
        "expected",
        "delivered",
        "lost",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "max ms",
        "manager CPU %",
        "RSS MB",
    ):
        table.add_column(column, justify="right")
    p99 = "-" if not lat else (f"[green]{ms('p99')}[/]" if result.p99_ok else f"[red]{ms('p99')}[/]")
    lost = f"[green]{result.lost}[/]" if result.lost == 0 and result.events_sent else f"[red]{result.lost}[/]"
    cpu = "-" if result.manager_cpu_percent is None else f"{result.manager_cpu_percent:.1f}"
    rss = result.manager_rss_mb.get("peak")
    table.add_row(
        str(s.proxies),
        f"{s.rate:g}",
        str(s.subscribers),
        f"{result.events_sent:,}",
        f"{result.expected_deliveries:,}",
        f"{result.delivered:,}",
        lost,
        ms("p50"),
        ms("p95"),
        p99,
        ms("max"),
        cpu,
        "-" if rss is None else f"{rss:.1f}",
    )
    console.print(table)
    if lat:
        console.print(
            f"p99.9 {lat['p99.9']:.1f} ms, mean {lat['mean']:.1f} ms; worst subscriber's p99 "
            f"{result.worst_subscriber_p99_ms:.1f} ms; {result.events_per_write} events per SSE write; "
            f"duplicates {result.duplicates}, out of order {result.out_of_order}; "
            f"{result.subscribers_complete}/{s.subscribers} subscribers complete"
        )
        console.print(
            f"manager CPU {result.manager_cpu_percent}% of one core while sending "
            f"({result.manager_cpu_percent_total}% including the drain; per second: "
            f"{', '.join(f'{c:g}' for c in result.manager_cpu_per_second)}); RSS MB "
            f"{result.manager_rss_mb}; subscriber clients {result.clients_cpu_percent}%, "
            f"simulated proxies {result.proxies_cpu_percent}%"
        )
        lag = result.send_lag_ms
        console.print(
            f"proxies sent for {result.send_seconds:.2f} s; lag behind the schedule p99 "
            f"{lag.get('p99', float('nan')):.2f} ms, max {lag.get('max', float('nan')):.2f} ms"
        )
    for warning in result.manager_warnings:
        console.print(f"[yellow]manager: {warning}[/]")
    for error in result.errors:
        console.print(f"[red]error: {error}[/]")
    console.print(
        f"[dim]1-minute load average {load[0]:.2f} before, {load[1]:.2f} after; "
        f"{os.cpu_count()} CPUs; target p99 ≤ {P99_TARGET_MS:g} ms, no event lost[/]"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--proxies", type=int, default=Settings.proxies)
    parser.add_argument("--rate", type=float, default=Settings.rate, help="events per second per proxy")
    parser.add_argument("--subscribers", type=int, default=Settings.subscribers)
    parser.add_argument("--duration", type=float, default=Settings.duration, help="seconds of sending")
    parser.add_argument("--workers", type=int, default=Settings.workers, help="subscriber processes")
    parser.add_argument("--payload-bytes", type=int, default=Settings.payload_bytes)
    parser.add_argument("--drain-timeout", type=float, default=Settings.drain_timeout)
    parser.add_argument("--quick", action="store_true", help="smoke test: 3 proxies x 50 events/s, 3 subscribers, 3 s")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")
    parser.add_argument(
        "--py-spy",
        type=Path,
        metavar="FILE",
        help="profile the manager with py-spy while the proxies send (collapsed stacks to FILE; "
        "needs py-spy next to this Python or on PATH, and ptrace rights)",
    )
    args = parser.parse_args()
    if args.quick:
        s = Settings(proxies=3, rate=50, subscribers=3, duration=3, workers=2, drain_timeout=20)
    else:
        s = Settings(
            args.proxies,
            args.rate,
            args.subscribers,
            args.duration,
            args.workers,
            args.payload_bytes,
            args.drain_timeout,
        )

    if args.py_spy:
        found = Path(sys.executable).parent / "py-spy"
        s.py_spy = str(found) if found.exists() else shutil.which("py-spy")
        if s.py_spy is None:
            parser.error("--py-spy: py-spy is not installed (.venv/bin/pip install py-spy)")
        s.py_spy_output = str(args.py_spy.resolve())
        args.py_spy.parent.mkdir(parents=True, exist_ok=True)

    load_before = os.getloadavg()[0]  # other work on the machine skews every number; record it
    with tempfile.TemporaryDirectory(prefix="mcp-acp-bench-mgr-") as work:
        result = run(s, Path(work))
    load_after = os.getloadavg()[0]
    show(result, s, (load_before, load_after))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        report = {
            "bench": "manager_events",
            "date": time.strftime("%Y-%m-%d %H:%M:%S"),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "load_avg_1m": [load_before, load_after],
            "target_p99_ms": P99_TARGET_MS,
            "result": asdict(result),
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        console.print(f"results written to {args.json}")
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
