"""Audit export throughput to a local rsyslog (issue 21: at least 5,000 entries/s).

Writes `--entries` audit entries with the proxy's own writer (operations-like entries of about
600 bytes, 1 MiB segments, so the export also reads sealed, compressed segments), starts its own
rsyslogd (imtcp on a free loopback port, every message written raw to a file), then exports
the backlog with the exporter (syslog, octet-counted RFC 5424, batches of `--batch`) and reports:

- sent/s: entries the exporter had sent and the receiver's kernel acknowledged, over the export's time;
- end-to-end/s: entries rsyslog had written to its file, over the time from the export's start.

    .venv/bin/python bench/export.py [--entries 50000] [--batch 500] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from mcp_acp.audit.export.exporter import Exporter
from mcp_acp.audit.state import IntegrityState
from mcp_acp.audit.writer import AuditLog, Rotation
from mcp_acp.config.export import ExportSettings

RSYSLOG_CONFIG = """\
global(workDirectory="{work}" maxMessageSize="4m")
module(load="imtcp")
template(name="raw" type="string" string="%rawmsg%\\n")
input(type="imtcp" address="127.0.0.1" port="{port}")
*.* action(type="omfile" file="{out}" template="raw")
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_rsyslog(folder: Path) -> tuple[subprocess.Popen[bytes], int, Path]:
    port, out = free_port(), folder / "received.log"
    (folder / "work").mkdir()
    conf = folder / "rsyslog.conf"
    conf.write_text(RSYSLOG_CONFIG.format(work=folder / "work", port=port, out=out))
    process = subprocess.Popen(
        ["/usr/sbin/rsyslogd", "-n", "-f", str(conf), "-i", str(folder / "pid")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return process, port, out
        time.sleep(0.05)
    process.kill()
    raise SystemExit("rsyslogd did not start")


def count_lines(path: Path) -> int:
    try:
        with open(path, "rb") as handle:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
    except FileNotFoundError:
        return 0


def write_entries(log_dir: Path, count: int) -> None:
    log = AuditLog(log_dir, IntegrityState.load(log_dir), None, rotation=Rotation(max_bytes=1 << 20))
    for number in range(count):
        log.write(
            "operations",
            {
                "event": "operation",
                "method": "tools/call",
                "tool_name": "read_file",
                "request_id": number,
                "session_id": "4f1c2a0e-5b7d-4f39-9f0e-2b6c1d7e8a90",
                "subject": "alice@example.com",
                "backend_id": "filesystem",
                "transport": "stdio",
                "status": "Success",
                "paths": ["/home/alice/projects/report.md"],
                "arguments_summary": {"body_hash": "ab" * 32, "payload_length": 143},
                "response_summary": {"size_bytes": 2048, "body_hash": "cd" * 32},
                "duration": {"duration_ms": 1.234},
            },
        )
    log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument("--entries", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--json", type=Path, metavar="FILE")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        root = Path(temp)
        log_dir = root / "proxies" / "bench"
        write_entries(log_dir, args.entries)
        (root / "rsyslog").mkdir()
        rsyslog, port, out = start_rsyslog(root / "rsyslog")
        try:
            settings = ExportSettings.model_validate(
                {"syslog": {"host": "127.0.0.1", "port": port}, "batch_size": args.batch}
            )
            exporter = Exporter(settings, {"bench": log_dir}, "bench-host", root / "cursors")
            started = time.perf_counter()
            exporter.start(follow=False)
            ok = exporter.wait()
            sent_seconds = time.perf_counter() - started
            while count_lines(out) < args.entries and time.perf_counter() - started < 600:
                time.sleep(0.01)
            received_seconds = time.perf_counter() - started
            received = count_lines(out)
        finally:
            rsyslog.terminate()
            rsyslog.wait(30)
    result = {
        "entries": args.entries,
        "batch": args.batch,
        "completed": ok,
        "received": received,
        "sent_per_second": round(args.entries / sent_seconds),
        "end_to_end_per_second": round(received / received_seconds),
    }
    print(
        f"{args.entries} entries, batches of {args.batch}: sent {result['sent_per_second']:,}/s, "
        f"written by rsyslog {result['end_to_end_per_second']:,}/s ({received} received)"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
