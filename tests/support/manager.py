"""The manager daemon under test: a private home, managers and proxies started and always cleaned up, and its API over the socket and over TCP."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psutil

from tests.support.config import ECHO_ONLY_POLICY, HIGH_LIMITS, proxy_config_dir
from tests.support.processes import BACKEND, MCP_ACP, free_port, wait_until
from tests.support.proxies import LiveProxy

# --------------------------------------------------------------------------- the manager daemon
# Manager tests drive the real daemon: started with `mcp-acp manager _run`, or auto-started by a
# proxy that runs without --headless. They speak to it over its Unix-socket API (as the CLI does)
# and over 127.0.0.1 with the API token (as a browser does), and follow its event stream.

# Generous bounds: a cold Python start of the daemon or a proxy on a loaded two-core CI box.
MANAGER_TIMEOUT = 30.0


class ManagerHome:
    """A private MCP_ACP_HOME for manager tests: `init --auth local`, a free `ui_port` (tests run
    in parallel), never a browser. It starts managers and proxies, and `cleanup` leaves no daemon
    behind, whoever started it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.home = root / "acp-home"
        env = {
            **os.environ,
            "MCP_ACP_HOME": str(self.home),
            "HOME": str(root / "user-home"),
            "MCP_ACP_SECRET_BACKEND": "file",
            "MCP_ACP_NO_BROWSER": "1",
            "NO_COLOR": "1",
            "COLUMNS": "250",
        }
        env.pop("MCP_ACP_CORS_ORIGINS", None)  # it would widen the allowed origins
        self.env = env
        self._daemons: list[subprocess.Popen] = []
        self._idle_proxies: list[subprocess.Popen] = []
        self._live_proxies: list[LiveProxy] = []
        self.cli("init", "--auth", "local", check=True)
        self.port = free_port()
        config_path = self.home / "config" / "manager.json"
        config = json.loads(config_path.read_text(encoding="utf-8"))
        config["ui_port"] = self.port
        config_path.write_text(json.dumps(config), encoding="utf-8")

    # -- files -----------------------------------------------------------------

    def cli(self, *args: str, check: bool = False, timeout: float = 60) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [MCP_ACP, *args],
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"mcp-acp {' '.join(args)} failed ({result.returncode}): {result.stdout}{result.stderr}"
            )
        return result

    def add_proxy(self, name: str, policy: dict = ECHO_ONLY_POLICY) -> str:
        """Proxy `name` in front of the fixture backend over STDIO; returns its proxy_id."""
        self.cli(
            "proxy", "add", name, "--server-name", "fixture", "--command", sys.executable, "--arg", BACKEND, check=True
        )
        folder = proxy_config_dir(self.env, name)
        (folder / "policy.json").write_text(json.dumps(policy), encoding="utf-8")
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        config["limits"] = HIGH_LIMITS
        (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
        return config["proxy_id"]

    def proxy_id(self, name: str) -> str:
        return json.loads((proxy_config_dir(self.env, name) / "config.json").read_text(encoding="utf-8"))["proxy_id"]

    def path(self, function: str, *args: Any) -> Path:
        """`mcp_acp.config.paths.<function>(*args)` as computed under this home (a deep home
        puts sockets elsewhere, so never guess)."""
        from mcp_acp.config import paths

        saved = os.environ.get("MCP_ACP_HOME")
        os.environ["MCP_ACP_HOME"] = str(self.home)
        try:
            return getattr(paths, function)(*args)
        finally:
            if saved is None:
                os.environ.pop("MCP_ACP_HOME", None)
            else:
                os.environ["MCP_ACP_HOME"] = saved

    @property
    def token(self) -> str:
        return (self.home / "config" / "manager_token").read_text(encoding="utf-8").strip()

    @property
    def manager_log(self) -> Path:
        return self.home / "logs" / "mcp-acp" / "manager" / "system.jsonl"

    # -- the manager -----------------------------------------------------------

    def start_manager(self, *extra: str, wait: bool = True) -> subprocess.Popen:
        """`mcp-acp manager _run --port P [extra]` (what `manager start` and auto-start spawn),
        once its API answers (unless `wait` is false)."""
        log_path = self.root / f"manager-{len(self._daemons)}.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [MCP_ACP, "manager", "_run", "--port", str(self.port), *extra],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._daemons.append(process)
        if not wait:
            return process
        wait_until(
            lambda: process.poll() is not None or self.status() is not None,
            MANAGER_TIMEOUT,
            "the manager's API to answer",
        )
        assert process.poll() is None, f"the manager exited ({process.returncode}): {log_path.read_text()}"
        return process

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The manager's API over its Unix socket, as the CLI calls it."""
        transport = httpx.HTTPTransport(uds=str(self.path("manager_api_socket_path")))
        with httpx.Client(transport=transport, base_url="http://manager", timeout=30, trust_env=False) as client:
            return client.request(method, path, **kwargs)

    def status(self) -> dict | None:
        """GET /api/manager/status over the socket; None when no manager answers."""
        try:
            response = self.api("GET", "/api/manager/status", timeout=5)
        except (httpx.TransportError, OSError):
            return None
        return response.json() if response.status_code == 200 else None

    def registered(self, *names: str) -> Callable[[], dict | None]:
        """A condition: the manager answers and lists exactly `names`."""

        def check() -> dict | None:
            status = self.status()
            return status if status is not None and status["proxies"] == sorted(names) else None

        return check

    def tcp(
        self,
        method: str,
        path: str,
        *,
        token: str | bool | None = True,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """The API on 127.0.0.1:ui_port, as a browser would call it; with the API token as a Bearer
        unless `token` is None/False (or another string)."""
        sent = {}
        if token is True:
            token = self.token
        if token:
            sent["Authorization"] = f"Bearer {token}"
        sent.update(headers or {})
        with httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=30, trust_env=False) as client:
            return client.request(method, path, headers=sent, **kwargs)

    def manager_processes(self) -> list[psutil.Process]:
        """Live `manager _run` processes of this home (whoever started them)."""
        found = []
        for process in psutil.process_iter(["cmdline", "environ", "status"], ad_value=None):
            cmdline = " ".join(process.info["cmdline"] or [])
            if (
                "manager _run" in cmdline
                and process.info["status"] != psutil.STATUS_ZOMBIE
                and (process.info["environ"] or {}).get("MCP_ACP_HOME") == str(self.home)
            ):
                found.append(process)
        return found

    # -- proxies ---------------------------------------------------------------

    async def start_proxy(self, name: str) -> LiveProxy:
        """`mcp-acp start --proxy NAME` without --headless, initialized; killed by `aclose`."""
        proxy = await LiveProxy.start(self.env, name, self.root / f"proxy-{name}-{len(self._live_proxies)}.log")
        self._live_proxies.append(proxy)
        await proxy.initialize()
        return proxy

    def start_idle_proxy(self, name: str) -> subprocess.Popen:
        """A proxy no client talks to (its stdin stays open): enough to register and serve its API."""
        with open(self.root / f"idle-{name}.log", "wb") as log:
            process = subprocess.Popen(
                [MCP_ACP, "start", "--proxy", name],
                env=self.env,
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        self._idle_proxies.append(process)
        return process

    # -- teardown --------------------------------------------------------------

    async def aclose(self) -> None:
        for proxy in self._live_proxies:
            with contextlib.suppress(Exception):
                await proxy.close()
        self.cleanup()

    def cleanup(self) -> None:
        """Kill every proxy and manager of this home, and reap what we started."""
        for process in self._idle_proxies:
            if process.poll() is None:
                process.kill()
            with contextlib.suppress(Exception):
                process.stdin.close()
                process.wait(10)
        with contextlib.suppress(Exception):
            self.cli("manager", "stop", timeout=30)
        leftovers = self.manager_processes()
        for process in leftovers:
            with contextlib.suppress(psutil.Error):
                process.kill()
        psutil.wait_procs(leftovers, timeout=10)
        for process in self._daemons:
            if process.poll() is None:
                process.kill()
            with contextlib.suppress(Exception):
                process.wait(10)

    def diagnostics(self) -> str:
        """The managers' and proxies' output and the manager log (printed when a test fails)."""
        parts = []
        for path in [*sorted(self.root.glob("*.log")), self.manager_log]:
            if path.exists():
                parts.append(f"=== {path.name} ===\n{path.read_text(errors='replace')[-4000:]}")
        return "\n".join(parts)
