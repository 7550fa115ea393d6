"""A private redis-server (Debian's) on a free loopback port, for shared-state tests: it can be
stopped, killed with SIGKILL and started again on the same port (outages)."""

from __future__ import annotations

from pathlib import Path

from tests.support.processes import ListeningProcess, free_port

REDIS_SERVER = "/usr/bin/redis-server"


class RedisServer(ListeningProcess):
    """Its data in `directory`; no persistence unless `persistence` (append-only file, fsync always)."""

    def __init__(self, directory: Path, *, port: int | None = None, persistence: bool = False) -> None:
        if not Path(REDIS_SERVER).is_file():
            raise RuntimeError("redis-server is missing: install redis-server (Debian: apt-get install redis-server)")
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        port = port or free_port()
        self.url = f"redis://127.0.0.1:{port}/0"
        durable = ["--appendonly", "yes", "--appendfsync", "always"] if persistence else ["--appendonly", "no"]
        self.argv = [
            REDIS_SERVER,
            *("--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory)),
            *("--save", "", *durable, "--daemonize", "no", "--protected-mode", "yes"),
        ]
        self._starts = 0
        self._start(port)

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
