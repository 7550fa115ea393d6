"""A private redis-server (Debian's) on a free loopback port, for shared-state tests: it can be
stopped, killed with SIGKILL and started again on the same port (outages)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support.processes import ListeningProcess, free_port

REDIS_SERVER = "/usr/bin/redis-server"


class RedisServer(ListeningProcess):
    """Its data in `directory`; no persistence unless `persistence` (append-only file, fsync always).
    With `tls`, it speaks only TLS, with a self-signed certificate for 127.0.0.1 (`ca_file`)."""

    def __init__(
        self, directory: Path, *, port: int | None = None, persistence: bool = False, tls: bool = False
    ) -> None:
        if not Path(REDIS_SERVER).is_file():
            raise RuntimeError("redis-server is missing: install redis-server (Debian: apt-get install redis-server)")
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        port = port or free_port()
        self.url = f"redis://127.0.0.1:{port}/0"
        durable = ["--appendonly", "yes", "--appendfsync", "always"] if persistence else ["--appendonly", "no"]
        listen = ["--port", str(port)]
        if tls:
            self.ca_file = self._certificate(directory)
            self.url = f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={self.ca_file}"
            key = str(directory / "key.pem")
            listen = ["--port", "0", "--tls-port", str(port), "--tls-auth-clients", "no"]
            listen += [
                "--tls-cert-file",
                str(self.ca_file),
                "--tls-key-file",
                key,
                "--tls-ca-cert-file",
                str(self.ca_file),
            ]
        self.argv = [
            REDIS_SERVER,
            *listen,
            *("--bind", "127.0.0.1", "--dir", str(directory)),
            *("--save", "", *durable, "--daemonize", "no", "--protected-mode", "yes"),
        ]
        self._starts = 0
        self._start(port)

    @staticmethod
    def _certificate(directory: Path) -> Path:
        cert = directory / "cert.pem"
        key = directory / "key.pem"
        request = ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        request += ["-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1"]
        subprocess.run([*request, "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
        return cert

    def _start(self, port: int) -> None:
        self._starts += 1
        super().__init__(self.argv, port, self.directory / f"redis-{self._starts}.log")

    def start(self) -> None:
        """Again, on the same port (after stop or kill)."""
        if self.process.poll() is None:
            raise RuntimeError("redis-server is still running")
        self._start(self.port)

    def kill(self) -> None:
        """SIGKILL: no shutdown, as in a crash."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(self.stop_timeout)
