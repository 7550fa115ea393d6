"""The deployment of deploy/compose.yaml as processes on loopback: N gateway replicas, each with
its own MCP_ACP_HOME (the same proxies and policies, replica ids gw-1..gw-N, the same
`state.url`), behind haproxy running deploy/haproxy.cfg itself with only its `bind` and `server`
lines rewritten to loopback ports. The state server is the caller's: pass its URL (None: each
replica keeps its state in process)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

from tests.support.gateway import GatewayProcess, write_gateway_config
from tests.support.processes import ROOT, ListeningProcess, free_port

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
DEPLOY_HAPROXY = ROOT / "deploy" / "haproxy.cfg"


def loopback_haproxy_config(port: int, servers: dict[str, int], template: Path = DEPLOY_HAPROXY) -> str:
    """deploy/haproxy.cfg, listening on 127.0.0.1:`port`, its servers the replicas on their ports."""
    lines: list[str] = []
    servers_written = False
    for line in template.read_text().splitlines():
        indent = line[: len(line) - len(line.lstrip())]
        word = line.strip().split(" ", 1)[0]
        if word == "bind":
            lines.append(f"{indent}bind 127.0.0.1:{port}")
        elif word == "server":
            if not servers_written:
                lines += [f"{indent}server {name} 127.0.0.1:{server_port}" for name, server_port in servers.items()]
                servers_written = True
        else:
            lines.append(line)
    if not servers_written or not any(re.match(r"\s*bind 127\.0\.0\.1:", line) for line in lines):
        raise ValueError(f"{template} has no bind or server line to rewrite")
    return "\n".join(lines) + "\n"


class HaproxyProcess(ListeningProcess):
    """haproxy in the foreground (-db) on a loopback port, its log (stdout) kept."""

    def __init__(self, config: Path, port: int, log: Path) -> None:
        if not Path(HAPROXY).is_file():  # test_replicas and test_topology fail, never skip, without it
            raise RuntimeError(
                "haproxy is missing: install haproxy (Debian: apt-get install haproxy; `make test` does)"
            )
        # A config haproxy rejects fails here with haproxy's words, not after the port wait.
        check = subprocess.run([HAPROXY, "-c", "-f", str(config)], capture_output=True, text=True, timeout=30)
        if check.returncode != 0:
            raise RuntimeError(f"haproxy rejects {config}:\n{check.stdout}{check.stderr}")
        super().__init__([HAPROXY, "-f", str(config), "-db"], port, log)


class Topology:
    """Replicas numbered 1..N (gw-1..gw-N, as in deploy/compose.yaml). `template_env` is an
    initialized MCP_ACP_HOME with its proxies and policies (the launcher fixture's env); each
    replica gets a copy of its config folder, with its own logs. `settings`: more gateway.json."""

    def __init__(
        self,
        template_env: dict[str, str],
        root: Path,
        replicas: int = 3,
        state_url: str | None = None,
        settings: dict[str, Any] | None = None,
    ) -> None:
        self.root = root
        self.envs: dict[int, dict[str, str]] = {}
        self.ports: dict[int, int] = {}
        self.processes: dict[int, GatewayProcess] = {}
        self.haproxy: HaproxyProcess | None = None
        self._starts = 0
        port = free_port()
        # Clients reach every replica at haproxy's address: their tokens name it (the audience).
        settings = {"public_url": f"http://127.0.0.1:{port}", **(settings or {})}
        try:
            for i in range(1, replicas + 1):
                self.envs[i] = self._home(template_env, i, state_url, settings)
                self.ports[i] = free_port()
                self._start(i)
            config = root / "haproxy.cfg"
            config.write_text(loopback_haproxy_config(port, {self.replica_id(i): p for i, p in self.ports.items()}))
            self.haproxy = HaproxyProcess(config, port, root / "haproxy.log")
        except BaseException:
            self.stop()
            raise

    @staticmethod
    def replica_id(i: int) -> str:
        return f"gw-{i}"

    def _home(self, template_env: dict[str, str], i: int, state_url: str | None, settings: dict) -> dict[str, str]:
        home = self.root / self.replica_id(i)
        shutil.copytree(Path(template_env["MCP_ACP_HOME"]) / "config", home / "config")
        env = {**template_env, "MCP_ACP_HOME": str(home)}
        manager = home / "config" / "manager.json"
        if manager.exists():  # its log_dir names the template's folder: each replica keeps its own logs
            data = json.loads(manager.read_text())
            data["log_dir"] = str(home / "logs")
            manager.write_text(json.dumps(data))
        gateway = {"replica_id": self.replica_id(i), **settings}
        if state_url:
            gateway["state"] = {"url": state_url}
        write_gateway_config(env, gateway)
        return env

    def _start(self, i: int) -> None:
        self._starts += 1
        log = self.root / f"{self.replica_id(i)}.{self._starts}.log"
        self.processes[i] = GatewayProcess(self.envs[i], log, port=self.ports[i])

    @property
    def base_url(self) -> str:
        assert self.haproxy is not None
        return f"http://127.0.0.1:{self.haproxy.port}"

    def url(self, proxy: str) -> str:
        """The proxy's endpoint through haproxy."""
        return f"{self.base_url}/mcp/{proxy}"

    def replica_url(self, i: int, proxy: str) -> str:
        return self.processes[i].endpoint(proxy)

    def kill(self, i: int) -> None:
        """kill -9 the replica and its backends (its process group), as when its container dies."""
        process = self.processes[i].process
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)

    def restart(self, i: int) -> None:
        """Start replica i again, same home and port (after kill or stop)."""
        self.processes[i].stop()
        self._start(i)

    def output(self) -> str:
        """Every log, for a failure message."""
        parts = [
            f"=== {path.name} ===\n{path.read_text(errors='replace')[-4000:]}"
            for path in sorted(self.root.glob("*.log"))
        ]
        return "\n".join(parts)

    def stop(self) -> None:
        if self.haproxy is not None:
            self.haproxy.stop()
        for process in self.processes.values():
            process.stop()

    def __enter__(self) -> Topology:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()
