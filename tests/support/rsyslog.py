"""Debian's rsyslogd as a test receiver: its own config, pid file and work folder under a test's
tmp_path, TCP syslog (imtcp, octet-counted framing) on a free loopback port, every message
written raw (`%rawmsg%`, one a line) to `received`. With `tls` (certificate, key), imtcp speaks
TLS through rsyslog's gtls driver (Debian's rsyslog-gnutls), as RFC 5425 receivers do."""

from __future__ import annotations

from pathlib import Path

from tests.support.processes import ListeningProcess, free_port

RSYSLOGD = "/usr/sbin/rsyslogd"

GTLS = Path("/usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_gtls.so")
CONFIG = """\
global(workDirectory="{work}" maxMessageSize="4m"{tls_global})
module(load="imtcp"{tls_module})
template(name="raw" type="string" string="%rawmsg%\\n")
input(type="imtcp" address="127.0.0.1" port="{port}")
*.* action(type="omfile" file="{received}" template="raw" flushOnTXEnd="on" asyncWriting="off")
"""


class Rsyslog(ListeningProcess):
    def __init__(self, folder: Path, port: int | None = None, tls: tuple[Path, Path] | None = None) -> None:
        self.folder = folder
        self.tls = tls
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "work").mkdir(exist_ok=True)
        self.received = folder / "received.log"
        port = port or free_port()
        conf = folder / "rsyslog.conf"
        tls_global = tls_module = ""
        if tls is not None:
            tls_global = (
                f' defaultNetstreamDriver="gtls" defaultNetstreamDriverCertFile="{tls[0]}"'
                f' defaultNetstreamDriverKeyFile="{tls[1]}"'
            )
            tls_module = ' streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon"'
        conf.write_text(
            CONFIG.format(
                work=folder / "work", port=port, received=self.received, tls_global=tls_global, tls_module=tls_module
            )
        )
        pid = folder / "rsyslogd.pid"
        pid.unlink(missing_ok=True)
        super().__init__([RSYSLOGD, "-n", "-f", str(conf), "-i", str(pid)], port, folder / "rsyslogd.out")

    def restart(self) -> Rsyslog:
        """Stopped before: the same receiver (port, output file) again."""
        return Rsyslog(self.folder, self.port, self.tls)

    def lines(self) -> list[str]:
        try:
            # split on newlines only: an entry may hold U+2028, which str.splitlines() also splits on
            return self.received.read_text(encoding="utf-8").split("\n")[:-1]
        except FileNotFoundError:
            return []
