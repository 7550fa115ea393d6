"""Start-up of a proxy with a large rotated audit trail against one with none (issue 16).

Two proxy homes, each made by the real CLI (`mcp-acp init`, `mcp-acp proxy add`) in front of
tests/fixtures/backend.py, each started once so it has its audit key, state and trail record:

  none      the trail of that one start
  rotated   the same, plus SIZE of rotated segments (operations.jsonl 75 %, decisions.jsonl
            25 %), in the proxy's own segment layout (`segments/<stem>.<first>-<last>.jsonl.gz`),
            sealed with the proxy's own audit key (HMAC) as one chain from GENESIS to the active
            file; the integrity state and the record outside the log folder are moved to its end,
            as the writer would have left them. SIZE counts the entries' bytes as written
            (uncompressed); with --plain the segments stay uncompressed (SIZE on disk), otherwise
            they are gzipped as the proxy does (its default).

Then, alternating between the two homes, RUNS times each: `mcp-acp start --proxy bench
--headless` as a subprocess, an `initialize` request written to its stdin at once, and the time
until its answer arrives on stdout (time to first answer: interpreter start, the start-up
checks, the backend's start and its answer), then the proxy's RSS and peak RSS (VmHWM) at that
moment; the client then disconnects and the proxy must exit 0. The start-up checks alone
(verify_on_startup, in-process) are timed too: the part of a start that depends on the trail,
without the interpreter's and the backend's start, which dominate the time to the first answer
and vary with the machine's load. Finally a full `mcp-acp audit verify` of each home, timed,
with its peak RSS (it reads every segment; it must pass).

    .venv/bin/python bench/audit_startup.py [--size 1G] [--runs 7] [--plain] [--unrotated-runs N]
                                            [--workdir DIR] [--keep] [--json FILE]

With --unrotated-runs N a third home holds the same entries in its active files (a proxy whose
logs never rotated, as before issue 16), started N times: what rotation saves.

See docs/performance.md ("Issue 16: rotation and start-up") for the method and the numbers.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
MCP_ACP = str(Path(sys.executable).parent / "mcp-acp")
BACKEND = str(ROOT / "tests" / "fixtures" / "backend.py")
PROXY = "bench"
TARGET_S = 1.0  # the issue: start-up with 1 GB of rotated logs within 1 s of start-up with none
SEGMENT_BYTES = 8 * 1024 * 1024  # the default log_rotation.max_bytes

console = Console()
if not console.is_terminal:
    console.width = 130  # piped or redirected: keep the tables readable

INITIALIZE = (
    json.dumps(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "bench", "version": "1"},
            },
        }
    )
    + "\n"
)


def parse_size(text: str) -> int:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    text = text.strip().upper().removesuffix("B")
    return int(float(text[:-1]) * units[text[-1]]) if text[-1:] in units else int(text)


# --------------------------------------------------------------------------- homes


@dataclass
class Home:
    label: str
    root: Path
    env: dict[str, str]
    log_dir: Path
    segments: int = 0
    entries: int = 0  # sealed into segments
    entry_bytes: int = 0  # as written (uncompressed)
    disk_bytes: int = 0  # every log file and segment on disk


def cli(home: Home, *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [MCP_ACP, *args], env=home.env, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL
    )
    if result.returncode != 0:
        raise RuntimeError(f"mcp-acp {' '.join(args)} failed ({result.returncode}): {result.stderr[-2000:]}")
    return result


def make_home(base: Path, label: str, compress: bool, max_bytes: int = SEGMENT_BYTES) -> Home:
    root = base / label
    env = {
        **os.environ,
        "MCP_ACP_HOME": str(root / "acp-home"),
        "HOME": str(root / "user-home"),
        "MCP_ACP_SECRET_BACKEND": "file",
        "NO_COLOR": "1",
    }
    (root / "user-home").mkdir(parents=True)
    home = Home(label, root, env, root / "acp-home" / "logs" / "mcp-acp" / "proxies" / PROXY)
    cli(home, "init", "--auth", "local")
    cli(home, "proxy", "add", PROXY, "--server-name", "fixture", "--command", sys.executable, "--arg", BACKEND)
    config_path = root / "acp-home" / "config" / "proxies" / PROXY / "config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["log_rotation"] = {"max_bytes": max_bytes, "compress": compress}
    config_path.write_text(json.dumps(config), encoding="utf-8")
    measure_start(home)  # the first start creates the audit key, the state and the trail record
    return home


def _operations_fields(i: int) -> dict:
    """An operations.jsonl entry as the proxy writes one for a tools/call (~800 bytes with the chain)."""
    return {
        "session_id": "alice:jOBVOs5WgWR3xcPo4W6J4glHK4dwPdHy5w1vVU7NiGU",
        "subject": {"subject_id": "alice", "subject_claims": {"provenance": "local"}},
        "backend_id": "fixture",
        "transport": "stdio",
        "config_version": "v1",
        "method": "tools/call",
        "request_id": str(i),
        "tool_name": "read_file",
        "arguments_summary": {"redacted": True, "body_hash": secrets.token_hex(32), "payload_length": 46 + i % 900},
        "file_path": f"/home/alice/project/src/module_{i % 97}.py",
        "file_extension": ".py",
        "status": "Success",
        "client_id": "claude-code",
        "response_summary": {"size_bytes": 400 + i % 5000, "body_hash": secrets.token_hex(32)},
        "duration": {"duration_ms": round(0.5 + (i % 300) / 100, 3)},
    }


def _decisions_fields(i: int) -> dict:
    """A decisions.jsonl entry as the proxy writes one (~550 bytes with the chain)."""
    return {
        "event": "policy_decision",
        "decision": "allow",
        "matched_rules": [{"id": "read-project", "effect": "allow"}],
        "final_rule": "read-project",
        "subject_id": "alice",
        "backend_id": "fixture",
        "policy_version": "v1",
        "policy_eval_ms": 0.041,
        "policy_total_ms": 0.043,
        "session_id": "alice:jOBVOs5WgWR3xcPo4W6J4glHK4dwPdHy5w1vVU7NiGU",
        "mcp_method": "tools/call",
        "tool_name": "read_file",
        "request_id": str(i),
        "side_effects": [],
    }


def _sealed(fields, sequence: int, prev: str, rule, budget: int):
    """(line, entry) for the entries after (sequence, prev) until `budget` bytes are written."""
    from mcp_acp.audit.chain import seal

    while budget > 0:
        entry, line = seal(fields(sequence + 1), sequence + 1, prev, rule.key_for(sequence + 1))
        sequence, prev = entry["sequence"], entry["entry_hash"]
        budget -= len(line)
        yield line, entry


def grow_trail(home: Home, size: int, compress: bool, rotated: bool = True) -> None:
    """Seal `size` bytes of entries after the trail's current end with the proxy's key, then
    point the state and the trail record at the new end, as a proxy that had written them would
    have left them: `rotated`, in segments of SEGMENT_BYTES with an empty active file; otherwise
    all in the active files (the trail before rotation existed)."""
    saved = {name: os.environ.get(name) for name in ("MCP_ACP_HOME", "MCP_ACP_SECRET_BACKEND")}
    os.environ.update(MCP_ACP_HOME=home.env["MCP_ACP_HOME"], MCP_ACP_SECRET_BACKEND="file")
    try:
        from mcp_acp.audit import segments, trail
        from mcp_acp.audit.chain import GENESIS
        from mcp_acp.audit.keys import load_audit_key, rule_for
        from mcp_acp.audit.state import FileState, IntegrityState

        key = load_audit_key(PROXY)
        if key is None:
            raise RuntimeError("the first start did not create an audit key")
        state = IntegrityState.load(home.log_dir, key.key)
        jobs = []
        with ProcessPoolExecutor(max_workers=max(1, (os.cpu_count() or 2) - 1)) as pool:
            for rel, share, fields in (
                ("audit/operations.jsonl", 0.75, _operations_fields),
                ("audit/decisions.jsonl", 0.25, _decisions_fields),
            ):
                active = home.log_dir / rel
                known = state.files.get(rel) or FileState(GENESIS, 0, 0, 0, 0)
                sequence, prev = known.last_sequence, known.last_hash
                entries = _sealed(fields, sequence, prev, rule_for(key, rel), int(size * share))
                if not rotated:
                    fd = os.open(active, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                    with os.fdopen(fd, "ab") as out:  # the same inode: the state still names it
                        chunk: list[bytes] = []
                        for line, entry in entries:
                            chunk.append(line)
                            home.entry_bytes += len(line)
                            home.entries += 1
                            sequence, prev = entry["sequence"], entry["entry_hash"]
                            if len(chunk) == 4096:
                                out.write(b"".join(chunk))
                                chunk = []
                        out.write(b"".join(chunk))
                    stat = active.stat()
                    state.files[rel] = FileState(
                        prev, sequence, stat.st_ino, stat.st_dev, stat.st_size, known.base_sequence, known.base_hash
                    )
                    continue
                # The active file's entries open the first segment, as a rotation would seal them.
                chunk = [active.read_bytes()] if active.exists() and active.stat().st_size else []
                chunk_bytes, first = sum(map(len, chunk)), known.base_sequence + 1
                segments.folder(active).mkdir(mode=0o700, exist_ok=True)

                def seal_segment(active: Path, first: int, last: int, chunk: list[bytes]) -> None:
                    path = segments.path_for(active, first, last)
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                    with os.fdopen(fd, "wb") as out:
                        out.write(b"".join(chunk))
                    home.segments += 1
                    if compress:
                        jobs.append(pool.submit(segments.compress, path))

                for line, entry in entries:
                    if chunk and chunk_bytes + len(line) > SEGMENT_BYTES:
                        seal_segment(active, first, sequence, chunk)
                        chunk, chunk_bytes, first = [], 0, sequence + 1
                    chunk.append(line)
                    chunk_bytes += len(line)
                    home.entry_bytes += len(line)
                    home.entries += 1
                    sequence, prev = entry["sequence"], entry["entry_hash"]
                if chunk:
                    seal_segment(active, first, sequence, chunk)
                active.unlink(missing_ok=True)
                fd = os.open(active, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                stat = os.fstat(fd)
                os.close(fd)
                state.files[rel] = FileState(prev, sequence, stat.st_ino, stat.st_dev, 0, sequence, prev)
            for job in jobs:
                job.result()
        state.save()
        state.close()
        trail.save(PROXY, key, state)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    home.disk_bytes = sum(p.stat().st_size for p in home.log_dir.rglob("*.jsonl*") if p.is_file())


# --------------------------------------------------------------------------- measurements


@dataclass
class Start:
    seconds: float
    rss_mb: float
    peak_mb: float


def _peak_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def measure_start(home: Home) -> Start:
    stderr = open(home.root / "proxy-stderr.log", "ab")  # noqa: SIM115 - closed below
    started = time.perf_counter()
    process = subprocess.Popen(
        [MCP_ACP, "start", "--proxy", PROXY, "--headless"],
        env=home.env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=stderr,
    )
    try:
        process.stdin.write(INITIALIZE.encode())
        process.stdin.flush()
        while True:
            line = process.stdout.readline()
            if not line:
                raise RuntimeError(
                    f"{home.label}: the proxy closed stdout before answering initialize "
                    f"(exit {process.wait(30)}; see {home.root / 'proxy-stderr.log'})"
                )
            message = json.loads(line)
            if message.get("id") == 1 and "method" not in message:
                break
        seconds = time.perf_counter() - started
        if "result" not in message:
            raise RuntimeError(f"{home.label}: initialize failed: {message}")
        result = Start(seconds, psutil.Process(process.pid).memory_info().rss / (1 << 20), _peak_mb(process.pid))
        process.stdin.write(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
        process.stdin.close()
        code = process.wait(60)
        if code != 0:
            raise RuntimeError(f"{home.label}: the proxy exited {code} (see {home.root / 'proxy-stderr.log'})")
        return result
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
        stderr.close()


def measure_checks(home: Home, repeat: int = 15) -> list[float]:
    """The start-up checks alone, in-process: verify_on_startup (key, state, trail record, the
    segments' names, the active files), the part of a start that depends on the trail. Seconds."""
    saved = {name: os.environ.get(name) for name in ("MCP_ACP_HOME", "MCP_ACP_SECRET_BACKEND")}
    os.environ.update(MCP_ACP_HOME=home.env["MCP_ACP_HOME"], MCP_ACP_SECRET_BACKEND="file")
    try:
        from mcp_acp.audit.keys import load_audit_key
        from mcp_acp.audit.verify import verify_on_startup

        key = load_audit_key(PROXY)
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            state, _ = verify_on_startup(home.log_dir, PROXY, key)
            times.append(time.perf_counter() - started)
            state.close()
        return times
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@dataclass
class Verify:
    seconds: float
    peak_mb: float
    entries: int
    overall: str


def measure_verify(home: Home) -> Verify:
    started = time.perf_counter()
    process = subprocess.Popen(
        [MCP_ACP, "audit", "verify", "--proxy", PROXY, "--json"],
        env=home.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    peak = 0.0
    while process.poll() is None:
        with contextlib.suppress(OSError, ValueError):
            peak = max(peak, _peak_mb(process.pid))
        time.sleep(0.05)
    seconds = time.perf_counter() - started
    stdout, stderr = process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"{home.label}: audit verify exited {process.returncode}: {stdout[-2000:]} {stderr[-2000:]}")
    report = json.loads(stdout)["proxies"][PROXY]
    entries = sum(f["entries"] for f in report["files"])
    return Verify(seconds, peak, entries, report["overall_status"])


@dataclass
class Row:
    label: str
    segments: int
    sealed_entries: int
    entry_bytes: int
    disk_bytes: int
    starts: list[Start] = field(default_factory=list)
    checks: list[float] = field(default_factory=list)
    verify: Verify | None = None

    @property
    def median_s(self) -> float:
        return statistics.median(s.seconds for s in self.starts)


def show(rows: list[Row], args: argparse.Namespace, loads: tuple[float, float]) -> None:
    table = Table(title="`mcp-acp start` to the answer of initialize, alternating homes", title_justify="left")
    for column in (
        "home",
        "segments",
        "entries added",
        "logs",
        "on disk",
        "runs",
        "median s",
        "min–max s",
        "RSS MB",
        "peak RSS MB",
        "checks ms",
    ):
        table.add_column(column, justify="left" if column == "home" else "right")
    for row in rows:
        times = [s.seconds for s in row.starts]
        table.add_row(
            row.label,
            f"{row.segments:,}",
            f"{row.sealed_entries:,}",
            f"{row.entry_bytes / 1e6:,.0f} MB",
            f"{row.disk_bytes / 1e6:,.0f} MB",
            str(len(times)),
            f"{row.median_s:.3f}",
            f"{min(times):.3f}–{max(times):.3f}",
            f"{statistics.median(s.rss_mb for s in row.starts):.0f}",
            f"{max(s.peak_mb for s in row.starts):.0f}",
            f"{statistics.median(row.checks) * 1000:.1f}" if row.checks else "-",
        )
    console.print(table)
    console.print(
        "[dim]logs: the entries' bytes as written (uncompressed); RSS: the proxy's resident memory at the "
        "answer (median); peak RSS: its VmHWM at that moment (the largest of the runs); checks: "
        "verify_on_startup alone, in-process, median of 15 (1 for unrotated): the part of a start that "
        "depends on the trail[/]"
    )
    none, rotated = rows[0], rows[1]
    difference = rotated.median_s - none.median_s
    verdict = "[green]met[/]" if difference <= TARGET_S else "[red]not met[/]"
    console.print(
        f"start-up with the rotated trail − start-up with none: {difference * 1000:+.0f} ms at the median "
        f"(target: within {TARGET_S:.0f} s): {verdict}"
    )

    table = Table(title="Full `mcp-acp audit verify --proxy bench --json` (reads every segment)", title_justify="left")
    for column in ("home", "seconds", "peak RSS MB", "entries", "status", "MB/s of logs"):
        table.add_column(column, justify="left" if column == "home" else "right")
    for row in rows:
        v = row.verify
        rate = f"{row.entry_bytes / 1e6 / v.seconds:,.0f}" if row.entry_bytes else "-"
        table.add_row(row.label, f"{v.seconds:.2f}", f"{v.peak_mb:.0f}", f"{v.entries:,}", v.overall, rate)
    console.print(table)
    console.print(
        f"[dim]1-minute load average {loads[0]:.2f} before, {loads[1]:.2f} after; {os.cpu_count()} CPUs; "
        f"Python {platform.python_version()}; segments {'plain' if args.plain else 'gzip'}, "
        f"{SEGMENT_BYTES >> 20} MB each[/]"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="1G", help="bytes of rotated entries, as written (default 1G; e.g. 200M)")
    parser.add_argument("--runs", type=int, default=7, help="timed starts per home (default 7)")
    parser.add_argument(
        "--plain", action="store_true", help="keep the segments uncompressed (log_rotation.compress false)"
    )
    parser.add_argument(
        "--unrotated-runs",
        type=int,
        default=0,
        metavar="N",
        help="also measure N starts of a third home holding the same entries in its active files, "
        "as before rotation existed (each start reads them all; default 0: skipped)",
    )
    parser.add_argument("--workdir", type=Path, help="where to build the homes (default: a new temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the homes afterwards")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args()
    size = parse_size(args.size)
    compress = not args.plain

    base = Path(tempfile.mkdtemp(prefix="mcp-acp-bench-startup-", dir=args.workdir))
    free = shutil.disk_usage(base).free
    needed = size * (1.1 if args.plain else 0.3) + (size * 1.1 if args.unrotated_runs else 0)
    if needed > free:
        shutil.rmtree(base, ignore_errors=True)
        raise SystemExit(f"not enough disk under {base}: {free / 1e9:.1f} GB free, {needed / 1e9:.1f} GB needed")
    loads = [os.getloadavg()[0]]
    try:
        homes = []
        with console.status("the home with no rotated logs"):
            homes.append(make_home(base, "none", compress))
        variants = [("rotated", True)] + ([("unrotated", False)] if args.unrotated_runs else [])
        for label, rotated in variants:
            with console.status(f"the home '{label}' with {size / 1e6:,.0f} MB of logs"):
                started = time.perf_counter()
                home = make_home(base, label, compress, SEGMENT_BYTES if rotated else 1 << 30)
                grow_trail(home, size, compress, rotated)
                console.print(
                    f"[dim]{label}: {home.segments:,} segments, {home.entries:,} entries, "
                    f"{home.entry_bytes / 1e6:,.0f} MB as written, {home.disk_bytes / 1e6:,.0f} MB on disk, "
                    f"built in {time.perf_counter() - started:.0f} s[/]"
                )
                homes.append(home)
        rows = [Row(h.label, h.segments, h.entries, h.entry_bytes, h.disk_bytes) for h in homes]
        pairs = list(zip(homes[:2], rows[:2], strict=True))
        for run in range(args.runs):
            for home, row in pairs if run % 2 == 0 else pairs[::-1]:
                with console.status(f"start {run + 1}/{args.runs}: {home.label}"):
                    row.starts.append(measure_start(home))
        for home, row in zip(homes, rows, strict=True):
            if home.label != "unrotated" or args.unrotated_runs:
                with console.status(f"start-up checks in-process: {home.label}"):
                    row.checks = measure_checks(home, 15 if home.label != "unrotated" else 1)
        for run in range(args.unrotated_runs):
            with console.status(f"start {run + 1}/{args.unrotated_runs}: unrotated"):
                rows[2].starts.append(measure_start(homes[2]))
        for home, row in zip(homes, rows, strict=True):
            with console.status(f"audit verify: {home.label}"):
                row.verify = measure_verify(home)
        loads.append(os.getloadavg()[0])
        show(rows, args, (loads[0], loads[1]))
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(
                json.dumps(
                    {
                        "size": size,
                        "runs": args.runs,
                        "compress": compress,
                        "segment_bytes": SEGMENT_BYTES,
                        "python": platform.python_version(),
                        "platform": platform.platform(),
                        "cpu_count": os.cpu_count(),
                        "load_avg_1m": loads,
                        "rows": [asdict(r) | {"median_s": r.median_s} for r in rows],
                    },
                    indent=2,
                )
                + "\n",
                encoding="utf-8",
            )
            console.print(f"results written to {args.json}")
    finally:
        if args.keep:
            console.print(f"homes kept in {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
