"""Audit export throughput to a local rsyslog (issue 21: at least 5,000 entries/s).

Writes `--entries` audit entries with the proxy's own writer (operations-like entries of about
600 bytes, 1 MiB segments, so the export also reads sealed, compressed segments), starts its own
rsyslogd (imtcp on a free loopback port, every message written raw to a file), then exports
the backlog with the exporter (syslog, octet-counted RFC 5424, batches of `--batch`) and reports:

- sent/s: entries the exporter had sent and the receiver's kernel acknowledged, over the export's time;
- end-to-end/s: entries rsyslog had written to its file, over the time from the export's start.

With `--live`, the entries are written by another process while the exporter follows the log
(`--follow`), as in production: it reports the writer's rate and the rate at which rsyslog had
them all, so "keeps up" means the second is not below the first.

With `--tls`, rsyslog listens with TLS (its gtls driver, Debian's rsyslog-gnutls) and the
exporter checks its certificate against a CA made for the run (tests/fixtures/tls_certs.py).

    .venv/bin/python bench/export.py [--entries 50000] [--batch 500] [--live] [--tls] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mcp_acp.audit.export.exporter import Exporter
from mcp_acp.audit.state import IntegrityState
from mcp_acp.audit.writer import AuditLog, Rotation
from mcp_acp.config.export import ExportSettings

ROOT = Path(__file__).resolve().parents[1]
RSYSLOG_CONFIG = """\
global(workDirectory="{work}" maxMessageSize="4m"{tls_global})
module(load="imtcp"{tls_module})
template(name="raw" type="string" string="%rawmsg%\\n")
input(type="imtcp" address="127.0.0.1" port="{port}")
*.* action(type="omfile" file="{out}" template="raw")
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_rsyslog(folder: Path, tls: tuple[Path, Path] | None) -> tuple[subprocess.Popen[bytes], int, Path]:
    port, out = free_port(), folder / "received.log"
    (folder / "work").mkdir()
    conf = folder / "rsyslog.conf"
    tls_global = tls_module = ""
    if tls:
        tls_global = f' defaultNetstreamDriver="gtls" defaultNetstreamDriverCertFile="{tls[0]}" defaultNetstreamDriverKeyFile="{tls[1]}"'
        tls_module = ' streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon"'
    conf.write_text(
        RSYSLOG_CONFIG.format(work=folder / "work", port=port, out=out, tls_global=tls_global, tls_module=tls_module)
    )
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
    parser.add_argument("--live", action="store_true", help="write while exporting (another process)")
    parser.add_argument("--tls", action="store_true", help="syslog over TLS (RFC 5425)")
    parser.add_argument("--write-only", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, metavar="FILE")
    args = parser.parse_args()
    if args.write_only:
        started = time.perf_counter()
        write_entries(args.write_only, args.entries)
        print(round(args.entries / (time.perf_counter() - started)))
        return
    with tempfile.TemporaryDirectory() as temp:
        root = Path(temp)
        log_dir = root / "proxies" / "bench"
        if not args.live:
            write_entries(log_dir, args.entries)
        (root / "rsyslog").mkdir()
        syslog: dict[str, object] = {"host": "127.0.0.1"}
        tls = None
        if args.tls:
            sys.path.insert(0, str(ROOT))
            from tests.fixtures.tls_certs import make_pki

            pki = make_pki(root / "pki")
            tls, syslog["tls"] = (pki.server_cert, pki.server_key), {"ca_file": str(pki.ca)}
        rsyslog, port, out = start_rsyslog(root / "rsyslog", tls)
        try:
            settings = ExportSettings.model_validate({"syslog": {**syslog, "port": port}, "batch_size": args.batch})
            exporter = Exporter(settings, {"bench": log_dir}, "bench-host", root / "cursors")
            started = time.perf_counter()
            writer = None
            if args.live:
                writer = subprocess.Popen(
                    [sys.executable, __file__, "--write-only", str(log_dir), "--entries", str(args.entries)],
                    stdout=subprocess.PIPE,
                    text=True,
                )
            exporter.start(follow=args.live)
            if writer is not None:
                written_rate = int(writer.communicate()[0].strip())
            else:
                exporter.wait()
            sent_seconds = time.perf_counter() - started
            while count_lines(out) < args.entries and time.perf_counter() - started < 600:
                time.sleep(0.01)
            received_seconds = time.perf_counter() - started
            received = count_lines(out)
            exporter.stop()
        finally:
            rsyslog.terminate()
            rsyslog.wait(30)
    result = {
        "entries": args.entries,
        "batch": args.batch,
        "live": args.live,
        "tls": args.tls,
        "received": received,
        "end_to_end_per_second": round(received / received_seconds),
    }
    if args.live:
        result["written_per_second"] = written_rate
        print(
            f"{args.entries} entries written live at {written_rate:,}/s, batches of {args.batch}: "
            f"all in rsyslog at {result['end_to_end_per_second']:,}/s ({received} received)"
        )
    else:
        result["sent_per_second"] = round(args.entries / sent_seconds)
        print(
            f"{args.entries} entries backlog{' over TLS' if args.tls else ''}, batches of {args.batch}: sent {result['sent_per_second']:,}/s, "
            f"written by rsyslog {result['end_to_end_per_second']:,}/s ({received} received)"
        )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
