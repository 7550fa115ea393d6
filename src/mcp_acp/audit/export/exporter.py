"""The exporter: one thread per destination, each reading every log of every proxy from its
cursor, sending batches in sequence order, and saving the cursor after each accepted batch.

It never touches the decision path: it only reads the files the proxies have already written,
in threads of its own, so a slow or absent receiver costs the proxies nothing. While the
receiver is away nothing moves: the files are the spool, and sending resumes from the cursor
with back-off (0.5 s doubling up to `max_backoff_seconds`).
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from filelock import FileLock, Timeout

from mcp_acp.audit.export.cursor import Cursor, CursorError
from mcp_acp.audit.export.otlp import OtlpSender
from mcp_acp.audit.export.reader import LogReader, Record
from mcp_acp.audit.export.syslog import SendError, SyslogSender
from mcp_acp.audit.files import PROTECTED
from mcp_acp.audit.segments import UNREADABLE
from mcp_acp.config import paths
from mcp_acp.config.export import ExportSettings

log = logging.getLogger("mcp_acp.audit.export")
BATCHES_PER_TURN = 20  # then the next log gets its turn, so one busy log does not starve the others


class Sender(Protocol):
    name: str
    resend_on_reconnect: int

    def describe(self) -> str: ...
    def send(self, batch: list[Record]) -> None: ...
    def close(self) -> None: ...


def state_dir(settings: ExportSettings, log_root: Path) -> Path:
    return Path(settings.state_dir).expanduser() if settings.state_dir else paths.product_log_root(log_root) / "export"


def senders(settings: ExportSettings, replica: str) -> list[Sender]:
    found: list[Sender] = []
    if settings.syslog is not None:
        found.append(SyslogSender(settings.syslog, replica))
    if settings.otlp is not None:
        found.append(OtlpSender(settings.otlp, replica))
    return found


class Pump:
    """One destination: every log of every proxy, in order, from the cursor on."""

    def __init__(self, sender: Sender, sources: dict[str, Path], cursor_path: Path, settings: ExportSettings) -> None:
        self.sender = sender
        self.settings = settings
        self.cursor_path = cursor_path
        self.readers = [
            LogReader(proxy, folder, rel) for proxy, folder in sources.items() for rel in PROTECTED.values()
        ]

    def run(self, follow: bool, stop: threading.Event) -> bool:
        """Until caught up (or, following, until `stop`). False when it stopped on an error."""
        # One exporter per destination and log folder: two would send everything twice.
        self.cursor_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        lock = FileLock(self.cursor_path.with_suffix(".lock"), mode=0o600)
        try:
            lock.acquire(timeout=0)
        except Timeout:
            log.error(
                "another exporter (a gateway, or 'mcp-acp audit export --follow') is already sending to the %s "
                "from these logs (it holds %s)",
                self.sender.describe(),
                lock.lock_file,
            )
            self.sender.close()
            return False
        try:
            return self._run(follow, stop)
        finally:
            lock.release()

    def _run(self, follow: bool, stop: threading.Event) -> bool:
        try:
            cursor = Cursor.load(self.cursor_path)
        except CursorError as exc:
            log.error("%s; delete it to export everything again (the receiver gets duplicates)", exc)
            return False
        backoff = 0.0
        sent_since_failure = True
        last_error = ""
        try:
            while not stop.is_set():
                try:
                    moved = self._turn(cursor, stop)
                except (SendError, *UNREADABLE) as exc:
                    message = str(exc) if isinstance(exc, SendError) else f"cannot read the audit trail: {exc}"
                    if message != last_error:
                        log.error("audit export to the %s: %s", self.sender.describe(), message)
                    last_error = message
                    cursor.failed(message)
                    if sent_since_failure and isinstance(exc, SendError):
                        self._rewind(cursor)
                    sent_since_failure = False
                    _save(cursor)
                    if not follow:
                        return False
                    backoff = min(self.settings.max_backoff_seconds, backoff * 2 or 0.5)
                    stop.wait(backoff)
                    continue
                if moved:
                    sent_since_failure, backoff = True, 0.0
                    if last_error:
                        log.warning("audit export to the %s: sending again", self.sender.describe())
                        last_error = ""
                elif not follow:
                    return True
                else:
                    stop.wait(self.settings.poll_seconds)
            return True
        finally:
            self.sender.close()

    def _turn(self, cursor: Cursor, stop: threading.Event) -> bool:
        moved = False
        for reader in self.readers:
            if reader.replaced():
                self._check_same_chain(reader, cursor)
            for _ in range(BATCHES_PER_TURN):
                batch = reader.read_after(cursor.get(reader.proxy, reader.rel), self.settings.batch_size)
                if not batch or stop.is_set():
                    break
                self.sender.send(batch)
                last = batch[-1]
                cursor.advance(
                    reader.proxy, reader.rel, last.sequence, len(batch), str(last.entry.get("entry_hash", ""))
                )
                _save(cursor)
                moved = True
        return moved

    @staticmethod
    def _check_same_chain(reader: LogReader, cursor: Cursor) -> None:
        """The entry the cursor stops at must still be there: a log that `audit repair` moved
        aside starts again from entry 1, and would otherwise be skipped up to the old cursor."""
        sequence, expected = cursor.get(reader.proxy, reader.rel), cursor.hash_of(reader.proxy, reader.rel)
        if not sequence or not expected:
            return
        found = reader.hash_at(sequence)
        if found == expected or (found is None and reader.head() >= sequence):
            return  # the same chain (or that entry's segment is gone: the reader reports the gap)
        log.warning(
            "%s of proxy %s no longer holds the entry %d that was sent last (it was started again, "
            "e.g. by 'audit repair'): exporting it from its first entry",
            reader.rel,
            reader.proxy,
            sequence,
        )
        cursor.move_to(reader.proxy, reader.rel, 0)

    def _rewind(self, cursor: Cursor) -> None:
        """Plain TCP syslog: what the receiver's kernel acknowledged but the receiver never read
        is gone with it, so the last entries of each log are sent again."""
        back = self.sender.resend_on_reconnect
        if back:
            for proxy, files in cursor.positions.items():
                for rel, number in list(files.items()):
                    cursor.move_to(proxy, rel, max(0, number - back))


def _save(cursor: Cursor) -> None:
    try:
        cursor.save()
    except OSError as exc:  # the receiver has the entries; at worst they are sent again
        log.warning("cannot save the export cursor %s: %s", cursor.path, exc.strerror or exc)


@dataclass
class Exporter:
    settings: ExportSettings
    sources: dict[str, Path]  # proxy name -> its log folder
    replica: str
    state: Path  # where the cursors are kept
    stop_event: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=lambda: [])
    results: dict[str, bool] = field(default_factory=lambda: {})

    def pumps(self) -> list[Pump]:
        return [
            Pump(sender, self.sources, self.state / f"{sender.name}.json", self.settings)
            for sender in senders(self.settings, self.replica)
        ]

    def start(self, follow: bool = True) -> None:
        """In the background (the gateway): daemon threads, stopped by `stop()`."""
        for pump in self.pumps():
            thread = threading.Thread(
                target=self._run_one, args=(pump, follow), name=f"audit-export-{pump.sender.name}", daemon=True
            )
            thread.start()
            self.threads.append(thread)

    def _run_one(self, pump: Pump, follow: bool) -> None:
        try:
            self.results[pump.sender.name] = pump.run(follow, self.stop_event)
        except Exception:  # never a traceback on the user's terminal; the log says what happened
            log.exception("audit export to the %s stopped", pump.sender.describe())
            self.results[pump.sender.name] = False

    def wait(self, timeout: float | None = None) -> bool:
        for thread in self.threads:
            thread.join(timeout)
        return all(self.results.values()) and len(self.results) == len(self.threads)

    def stop(self, timeout: float = 10.0) -> None:
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout)


def status(exporter: Exporter) -> list[dict[str, Any]]:
    """Per destination: its cursor in every log, the lag behind the newest entry, the last error."""
    report: list[dict[str, Any]] = []
    for pump in exporter.pumps():
        try:
            cursor = Cursor.load(pump.cursor_path)
        except CursorError as exc:
            report.append(
                {"destination": pump.sender.describe(), "cursor_file": str(pump.cursor_path), "error": str(exc)}
            )
            continue
        finally:
            pump.sender.close()
        files: list[dict[str, Any]] = []
        for reader in pump.readers:
            head, sent = reader.head(), cursor.get(reader.proxy, reader.rel)
            files.append(
                {"proxy": reader.proxy, "file": reader.rel, "sent": sent, "head": head, "lag": max(0, head - sent)}
            )
        report.append(
            {
                "destination": pump.sender.describe(),
                "cursor_file": str(pump.cursor_path),
                "last_sent_at": cursor.last_sent_at,
                "last_error": cursor.last_error,
                "last_error_at": cursor.last_error_at,
                "lag": sum(f["lag"] for f in files),
                "files": files,
            }
        )
    return report


class Background:
    """The gateway's exporter: `mcp-acp audit export --follow` as a child process, so its work
    (reading, parsing, sending) never competes with the gateway's event loop for the GIL. It
    reads gateway.json's `export` itself, and stops when its standard input closes: when the
    gateway stops, or dies, even by `kill -9`."""

    def __init__(self, proxies: list[str]) -> None:
        argv = [sys.executable, "-m", "mcp_acp", "audit", "export", "--follow", "--with-parent"]
        for name in proxies:
            argv += ["--proxy", name]
        self.process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout)


def start_in_background(settings: ExportSettings | None, proxies: list[str]) -> Background | None:
    """For the gateway: ship the served proxies' trails (None when `export` is not configured).
    The decision path never waits for it."""
    return Background(proxies) if settings is not None else None
