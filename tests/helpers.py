"""Helpers for tests that drive real processes: the CLI, the fixture backend, a raw JSON-RPC client."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Self

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
MCP_ACP = str(Path(sys.executable).parent / "mcp-acp")
BACKEND = str(ROOT / "tests" / "fixtures" / "backend.py")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port}")


class HttpBackendServer:
    """The fixture backend serving streamable HTTP on a loopback port; can be stopped and restarted."""

    def __init__(self, script: str = BACKEND, port_option: str = "--http", *flags: str) -> None:
        self.command = [sys.executable, script, *flags]
        self.port_option = port_option
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/mcp"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [*self.command, self.port_option, str(self.port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


class RawProxy:
    """`mcp-acp start` as a subprocess, spoken to in raw JSON-RPC lines, as a client would."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self._next_id = 0

    @classmethod
    async def start(cls, env: dict[str, str], name: str) -> RawProxy:
        process = await asyncio.create_subprocess_exec(
            MCP_ACP,
            "start",
            "--proxy",
            name,
            "--headless",
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=64 * 1024 * 1024,
        )
        return cls(process)

    async def send(self, message: dict | bytes) -> None:
        data = message if isinstance(message, bytes) else json.dumps(message).encode() + b"\n"
        self.process.stdin.write(data)
        await self.process.stdin.drain()

    async def receive(self, timeout: float = 20) -> dict:
        line = await asyncio.wait_for(self.process.stdout.readline(), timeout)
        if not line:
            raise EOFError("the proxy closed its stdout")
        return json.loads(line)

    async def response_to(self, request_id: Any, timeout: float = 20) -> dict:
        """The response for `request_id`, skipping notifications and other traffic."""
        while True:
            message = await self.receive(timeout)
            if message.get("id") == request_id and "method" not in message:
                return message

    async def request(self, method: str, params: dict | None = None, timeout: float = 20) -> dict:
        self._next_id += 1
        request_id = self._next_id
        await self.send({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params or {}})
        return await self.response_to(request_id, timeout)

    async def initialize(self) -> dict:
        answer = await self.request(
            "initialize",
            {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "raw-test-client", "version": "1"},
            },
        )
        await self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return answer

    async def call_tool(self, name: str, arguments: dict, timeout: float = 20) -> dict:
        return await self.request("tools/call", {"name": name, "arguments": arguments}, timeout)

    async def finish(self, timeout: float = 20) -> tuple[int, str]:
        """Close stdin (how a client disconnects) and return (exit code, stderr)."""
        if not self.process.stdin.is_closing():
            self.process.stdin.close()
        stderr = await asyncio.wait_for(self.process.stderr.read(), timeout)
        code = await asyncio.wait_for(self.process.wait(), timeout)
        return code, stderr.decode()

    async def close(self) -> None:
        """Kill and reap the proxy, so no pipe outlives the test's event loop."""
        if self.process.returncode is None:
            self.process.kill()
        await self.process.wait()
        self.process._transport.close()


# Tests of the relay and the audit trail are about transport, not policy: they run their proxy
# under a policy that allows every method, with limits high enough for load tests.
ALLOW_ALL_POLICY = {"rules": [{"id": "test-allow-all", "effect": "allow", "conditions": {"mcp_method": "*"}}]}
HIGH_LIMITS = {"requests_per_second": 100000, "burst": 1000000, "tool_calls_per_window": 1000000}


def allow_everything(env: dict, name: str, limits: bool = True) -> None:
    folder = Path(env["MCP_ACP_HOME"]) / "config" / "proxies" / name
    (folder / "policy.json").write_text(json.dumps(ALLOW_ALL_POLICY), encoding="utf-8")
    if limits:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        config["limits"] = HIGH_LIMITS
        (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")


def proxy_config_dir(env: dict, name: str) -> Path:
    return Path(env["MCP_ACP_HOME"]) / "config" / "proxies" / name


def proxy_log_dir(env: dict, name: str) -> Path:
    return Path(env["MCP_ACP_HOME"]) / "logs" / "mcp-acp" / "proxies" / name


def read_jsonl(path: Path) -> list[dict]:
    """The entries of a JSONL log; none when it does not exist yet."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# --------------------------------------------------------------------------- the manager daemon
# Manager tests drive the real daemon: started with `mcp-acp manager _run`, or auto-started by a
# proxy that runs without --headless. They speak to it over its Unix-socket API (as the CLI does)
# and over 127.0.0.1 with the API token (as a browser does), and follow its event stream.

# Generous bounds: a cold Python start of the daemon or a proxy on a loaded two-core CI box.
MANAGER_TIMEOUT = 30.0
EVENT_TIMEOUT = 20.0

# `echo` allowed, `add` denied: requests through the proxy get both decisions.
ECHO_ONLY_POLICY = {
    "rules": [
        {"id": "echo-ok", "effect": "allow", "conditions": {"tool_name": "echo"}},
        {"id": "no-add", "effect": "deny", "conditions": {"tool_name": "add"}},
    ]
}


def wait_until(condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    """Poll `condition` until it returns something truthy (which is returned); fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


async def wait_until_async(condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    """`wait_until` for async tests: `condition` is a plain (quick) function, the wait yields to the loop."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(interval)


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


class LiveProxy(RawProxy):
    """`mcp-acp start --proxy NAME` WITHOUT --headless: it registers with the manager (starting
    one when none runs) and pushes its events there. Its stderr goes to a file."""

    name: str
    log_path: Path

    @classmethod
    async def start(cls, env: dict[str, str], name: str, log_path: Path | None = None) -> LiveProxy:
        log_path = log_path or Path(env["MCP_ACP_HOME"]).parent / f"proxy-{name}.log"
        with open(log_path, "ab") as log:
            process = await asyncio.create_subprocess_exec(
                MCP_ACP,
                "start",
                "--proxy",
                name,
                env=env,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                limit=64 * 1024 * 1024,
            )
        proxy = cls(process)
        proxy.name = name
        proxy.log_path = log_path
        return proxy

    # A cold proxy and backend on a loaded CI box can take a while to answer the first request.
    async def request(self, method: str, params: dict | None = None, timeout: float = 90) -> dict:
        return await super().request(method, params, timeout)

    async def call_tool(self, name: str, arguments: dict, timeout: float = 90) -> dict:
        return await self.request("tools/call", {"name": name, "arguments": arguments}, timeout)

    def stderr_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def finish(self, timeout: float = 20) -> tuple[int, str]:
        if not self.process.stdin.is_closing():
            self.process.stdin.close()
        code = await asyncio.wait_for(self.process.wait(), timeout)
        return code, self.stderr_text()


class EventStream:
    """The manager's `GET /api/events`, followed as a browser does: every `data:` message, in order.

    async with EventStream(home) as events:
        await events.wait_for(lambda e: e["type"] == "proxy_registered", "a registration")
    """

    path = "/api/events"

    def __init__(self, home: ManagerHome | None, *, query_token: bool = False) -> None:
        self.home = home
        self.query_token = query_token
        self.events: list[dict] = []
        self.status_code: int | None = None
        self.ended = False
        self._task: asyncio.Task | None = None

    def opening(self, event: dict) -> bool:
        """The event that shows the subscription is live (the stream starts with it)."""
        return True

    def _client(self) -> tuple[httpx.AsyncClient, dict, dict]:
        """The client, headers and query parameters to follow the stream with."""
        token = self.home.token
        headers, params = ({}, {"token": token}) if self.query_token else ({"Authorization": f"Bearer {token}"}, {})
        client = httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{self.home.port}", trust_env=False, timeout=httpx.Timeout(30, read=None)
        )
        return client, headers, params

    async def __aenter__(self) -> Self:
        self._task = asyncio.create_task(self._follow())
        await self.wait_for(self.opening, "the stream's opening events")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._task.cancel()
        with contextlib.suppress(BaseException):
            await self._task

    async def _follow(self) -> None:
        client, headers, params = self._client()
        async with client, client.stream("GET", self.path, headers=headers, params=params) as response:
            self.status_code = response.status_code
            assert response.status_code == 200, (response.status_code, await response.aread())
            async for line in response.aiter_lines():
                if line.startswith("data:"):
                    self.events.append(json.loads(line[5:]))
        self.ended = True

    def of_type(self, event_type: str, proxy_name: str | None = None) -> list[dict]:
        return [
            event
            for event in self.events
            if event["type"] == event_type and (proxy_name is None or event.get("proxy_name") == proxy_name)
        ]

    async def wait_for(self, predicate: Callable[[dict], Any], what: str, timeout: float = EVENT_TIMEOUT) -> dict:
        """The first event (already received or still to come) that satisfies `predicate`."""
        deadline = time.monotonic() + timeout
        while True:
            for event in list(self.events):
                if predicate(event):
                    return event
            if self._task.done():
                self._task.result()  # raises what ended it
                raise AssertionError(f"the event stream ended before {what}; got {self.events}")
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"timed out after {timeout:g} s waiting for {what}; got {[event['type'] for event in self.events]}"
                )
            await asyncio.sleep(0.05)


class ProxyEventStream(EventStream):
    """`GET /api/approvals/pending` on a proxy's Unix socket (what `mcp-acp approvals watch` and
    the manager-less UI follow): every `data:` message, in order."""

    path = "/api/approvals/pending"

    def __init__(self, socket_path: str) -> None:
        super().__init__(None)
        self.socket_path = socket_path

    def opening(self, event: dict) -> bool:
        return event["type"] == "stats_updated"

    def _client(self) -> tuple[httpx.AsyncClient, dict, dict]:
        client = httpx.AsyncClient(
            transport=httpx.AsyncHTTPTransport(uds=self.socket_path),
            base_url="http://proxy",
            trust_env=False,
            timeout=httpx.Timeout(30, read=None),
        )
        return client, {}, {}


@contextlib.contextmanager
def home(env: dict):
    """MCP_ACP_HOME and the secret backend for in-process calls (read at call time), as the
    proxy subprocesses see them."""
    names = ("MCP_ACP_HOME", "MCP_ACP_SECRET_BACKEND")
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update({name: env[name] for name in names})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def audit_key_of(env: dict, name: str):
    """The proxy's audit key (a proxy creates one at its first start), read as the CLI would."""
    from mcp_acp.audit.keys import load_audit_key

    with home(env):
        return load_audit_key(name)


def chain_ok(env: dict, name: str, rel: str, data: bytes):
    """check_chain of one of the proxy's logs under its own key rule."""
    from mcp_acp.audit.chain import check_chain
    from mcp_acp.audit.keys import rule_for

    return check_chain(data, rule_for(audit_key_of(env, name), rel))
