"""Shared helpers for the adversarial suite (issue 15).

Every test drives real processes: the proxy is `mcp-acp start --proxy NAME --headless` as a
subprocess, spoken to in raw JSON lines (so a test can send bytes no SDK would), in front of a
real backend: the official server-filesystem from tests/npm, the FastMCP fixture backend, or
tests/fixtures/hostile_server.py, which records every line it receives.

`Home` is a private MCP_ACP_HOME (plus HOME) made with the real CLI; `Proxy` is a synchronous
client (a reader thread collects every line the proxy writes), so hypothesis tests and
module-scoped proxies need no event loop. Every wait is a generous upper bound ("does not
hang"), never a speed assertion.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.support.audit import read_jsonl
from tests.support.config import HIGH_LIMITS, proxy_config_dir, proxy_log_dir
from tests.support.processes import MCP_ACP, ROOT

FIXTURES = ROOT / "tests" / "fixtures"
HOSTILE_SERVER = FIXTURES / "hostile_server.py"
FIXTURE_BACKEND = FIXTURES / "backend.py"
QUICK_BACKEND = FIXTURES / "quick_backend.py"  # stdlib only: for tests where the backend plays no part
FILESYSTEM_BIN = ROOT / "tests" / "npm" / "node_modules" / ".bin" / "mcp-server-filesystem"

POLICY_DENIED = -32001
INVALID_REQUEST = -32600
PARSE_ERROR = -32700
ANSWER_TIMEOUT = 60.0  # one answer through a cold proxy on a loaded 2-core box
MAX_SAFE_INTEGER = 2**53 - 1

FILESYSTEM_MISSING = not FILESYSTEM_BIN.exists() or shutil.which("node") is None
needs_filesystem = pytest.mark.skipif(
    FILESYSTEM_MISSING, reason="server-filesystem or node missing: run `make npm-deps`"
)


def same_id(a: Any, b: Any) -> bool:
    """JSON ids compare by type too (True is not 1, 1.0 is not 1)."""
    return type(a) is type(b) and a == b


# --------------------------------------------------------------------------- the proxy as a client sees it


class Proxy:
    """`mcp-acp start --proxy NAME --headless`, spoken to in raw JSON lines from any thread.

    Server-to-client requests are answered by `handlers[method](message) -> result` (or left
    unanswered when no handler is set); every line the proxy writes is kept in `messages`."""

    def __init__(
        self, env: dict[str, str], name: str, log_path: Path, cwd: Path | None = None, headless: bool = True
    ) -> None:
        self.env = env
        self.name = name
        self.log_path = log_path
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in close()
        argv = [MCP_ACP, "start", "--proxy", name, *(["--headless"] if headless else [])]
        self.process = subprocess.Popen(
            argv, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, cwd=cwd or log_path.parent
        )
        self.messages: list[Any] = []
        self.handlers: dict[str, Callable[[dict], Any]] = {}
        self._cond = threading.Condition()
        self._send_lock = threading.Lock()
        self._ids = itertools.count(1)
        self.eof = False
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    # -- wire ------------------------------------------------------------------

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            try:
                message = json.loads(line)
            except RecursionError:  # deeper than Python's parser goes: orjson's limit is 1024 levels
                try:
                    message = orjson.loads(line)
                except orjson.JSONDecodeError:
                    message = {"__unparsed__": line[:2000]}
            except ValueError:
                message = {"__unparsed__": line[:2000]}
            with self._cond:
                self.messages.append(message)
                self._cond.notify_all()
            if isinstance(message, dict) and "method" in message and "id" in message:
                handler = self.handlers.get(message["method"])
                if handler is not None:
                    with contextlib.suppress(Exception):
                        self.send({"jsonrpc": "2.0", "id": message["id"], "result": handler(message)})
        with self._cond:
            self.eof = True
            self._cond.notify_all()

    def send(self, message: dict | bytes) -> None:
        data = message if isinstance(message, bytes) else json.dumps(message).encode()
        if not data.endswith(b"\n"):
            data += b"\n"
        with self._send_lock:
            assert self.process.stdin is not None
            self.process.stdin.write(data)
            self.process.stdin.flush()

    def wait_for(
        self, predicate: Callable[[Any], bool], what: str, timeout: float = ANSWER_TIMEOUT, start: int = 0
    ) -> Any:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for message in self.messages[start:]:
                    if predicate(message):
                        return message
                if self.eof:
                    raise AssertionError(
                        f"the proxy closed its output (exit {self.process.poll()}) before {what}"
                        f"\n{self.stderr()[-3000:]}"
                    )
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"timed out after {timeout:g} s waiting for {what}; last messages: {self.messages[-5:]!r:.2000}"
                    )
                self._cond.wait(min(remaining, 0.5))

    def mark(self) -> int:
        """The number of messages seen so far (to wait only for later ones)."""
        with self._cond:
            return len(self.messages)

    def response(self, request_id: Any, timeout: float = ANSWER_TIMEOUT, start: int = 0) -> dict:
        return self.wait_for(
            lambda m: is_answer(m) and same_id(m["id"], request_id), f"the answer to id {request_id!r}", timeout, start
        )

    def responses_to(self, request_id: Any) -> list[dict]:
        with self._cond:
            return [m for m in self.messages if is_answer(m) and same_id(m["id"], request_id)]

    def next_id(self) -> int:
        return next(self._ids)

    def request(
        self, method: str, params: Any = None, *, request_id: Any = None, timeout: float = ANSWER_TIMEOUT
    ) -> dict:
        request_id = self.next_id() if request_id is None else request_id
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        self.send(message)
        return self.response(request_id, timeout)

    def call(self, tool: str, arguments: Any, *, request_id: Any = None, timeout: float = ANSWER_TIMEOUT) -> dict:
        return self.request(
            "tools/call", {"name": tool, "arguments": arguments}, request_id=request_id, timeout=timeout
        )

    def initialize(self, capabilities: dict | None = None) -> dict:
        answer = self.request(
            "initialize",
            {
                "protocolVersion": "2025-06-18",
                "capabilities": capabilities or {},
                "clientInfo": {"name": "security-suite", "version": "1"},
            },
        )
        assert "result" in answer, answer
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return answer

    def ping(self, timeout: float = ANSWER_TIMEOUT) -> None:
        answer = self.request("ping", {}, timeout=timeout)
        assert answer.get("result") == {}, answer

    # -- process ---------------------------------------------------------------

    def alive(self) -> bool:
        return self.process.poll() is None

    def stderr(self) -> str:
        return self.log_path.read_text(errors="replace")

    def finish(self, timeout: float = 30) -> int:
        """Close stdin (how a client disconnects); the exit code."""
        with contextlib.suppress(Exception):
            assert self.process.stdin is not None
            self.process.stdin.close()
        try:
            return self.process.wait(timeout)
        finally:
            self.close()

    def close(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(Exception):
                assert self.process.stdin is not None
                self.process.stdin.close()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._reader.join(10)
        with contextlib.suppress(Exception):
            assert self.process.stdout is not None
            self.process.stdout.close()
        self._log.close()


def is_answer(message: Any) -> bool:
    return (
        isinstance(message, dict)
        and "method" not in message
        and "id" in message
        and ("result" in message or "error" in message)
    )


def text_of(answer: dict) -> str:
    assert "result" in answer, f"expected a result, got {answer}"
    return "\n".join(block.get("text", "") for block in answer["result"].get("content", []))


def assert_denied(answer: dict, code: int = POLICY_DENIED) -> dict:
    assert "result" not in answer, f"expected a refusal, the request went through: {answer!r:.3000}"
    assert answer["error"]["code"] == code, answer
    return answer["error"]


# --------------------------------------------------------------------------- a private home


class Home:
    """A private MCP_ACP_HOME (and HOME) made with the real CLI (`init --auth local`), or, with
    `init=False`, a copy of such a home already at `root`."""

    def __init__(self, root: Path, init: bool = True) -> None:
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.acp_home = self.root / "acp-home"
        self.user_home = self.root / "user-home"
        self.user_home.mkdir(exist_ok=True)
        env = {
            **os.environ,
            "MCP_ACP_HOME": str(self.acp_home),
            "HOME": str(self.user_home),
            "MCP_ACP_SECRET_BACKEND": "file",
            "NO_COLOR": "1",
            "MCP_ACP_NO_BROWSER": "1",
        }
        for name in ("DISPLAY", "WAYLAND_DISPLAY", "MCP_ACP_CORS_ORIGINS"):
            env.pop(name, None)  # no native approval dialog, nothing widened
        self.env = env
        self.proxies: list[Proxy] = []
        self._live: dict[str, Proxy] = {}
        if init:
            self.cli("init", "--auth", "local")

    def cli(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
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

    # -- proxies ---------------------------------------------------------------

    def add_proxy(
        self,
        name: str,
        command: str | Path,
        args: list[str | Path],
        policy: dict,
        *,
        server_name: str | None = None,
        config: dict | None = None,
    ) -> None:
        cli_args = ["proxy", "add", name, "--server-name", server_name or name, "--command", str(command)]
        for arg in args:
            cli_args += ["--arg", str(arg)]
        self.cli(*cli_args)
        path = self.config_dir(name) / "config.json"
        data = json.loads(path.read_text(encoding="utf-8"))
        data["limits"] = HIGH_LIMITS
        data.update(config or {})
        path.write_text(json.dumps(data, indent=2), encoding="utf-8")
        self.write_policy(name, policy)

    def add_hostile(self, name: str, policy: dict, *, config: dict | None = None) -> Path:
        """A proxy in front of hostile_server.py; returns the file that records what it received."""
        record = self.root / f"{name}-received.jsonl"
        record.touch()
        self.add_proxy(name, sys.executable, [HOSTILE_SERVER, record], policy, config=config)
        return record

    def add_filesystem(self, name: str, roots: list[Path], policy: dict, *, config: dict | None = None) -> None:
        self.add_proxy(
            name, FILESYSTEM_BIN, [str(root) for root in roots], policy, server_name="filesystem", config=config
        )

    def write_policy(self, name: str, policy: dict) -> None:
        target = self.config_dir(name) / "policy.json"
        tmp = target.with_name(".policy.json.test-tmp")
        tmp.touch(mode=0o600)  # as mcp-acp writes it (tests/security/test_file_modes.py checks every mode)
        tmp.write_text(json.dumps(policy, indent=2), encoding="utf-8")
        os.replace(tmp, target)

    def start(
        self,
        name: str,
        *,
        initialize: bool = True,
        capabilities: dict | None = None,
        handlers: dict[str, Callable[[dict], Any]] | None = None,
        cwd: Path | None = None,
        headless: bool = True,
    ) -> Proxy:
        """`headless=False`: the proxy registers with the manager, starting one when none runs."""
        logs = self.root / "stderr"
        logs.mkdir(exist_ok=True)
        proxy = Proxy(self.env, name, logs / f"{name}-{len(self.proxies)}.log", cwd=cwd, headless=headless)
        proxy.handlers.update(handlers or {})
        self.proxies.append(proxy)
        if initialize:
            proxy.initialize(capabilities)
        return proxy

    def live(self, name: str, **start: Any) -> Proxy:
        """The proxy NAME shared by a module's tests, started again if an earlier test killed it
        (so one broken defence fails its own test, not every later one)."""
        proxy = self._live.get(name)
        if proxy is None or not proxy.alive() or proxy.eof:
            if proxy is not None:
                proxy.close()
            proxy = self._live[name] = self.start(name, **start)
        return proxy

    def close(self) -> None:
        for proxy in self.proxies:
            with contextlib.suppress(Exception):
                proxy.close()

    # -- files -----------------------------------------------------------------

    def config_dir(self, name: str) -> Path:
        return proxy_config_dir(self.env, name)

    def log_dir(self, name: str) -> Path:
        return proxy_log_dir(self.env, name)

    def decisions(self, name: str) -> list[dict]:
        return read_jsonl(self.log_dir(name) / "audit" / "decisions.jsonl")

    def operations(self, name: str) -> list[dict]:
        return read_jsonl(self.log_dir(name) / "audit" / "operations.jsonl")

    def system_log(self, name: str) -> list[dict]:
        return read_jsonl(self.log_dir(name) / "system" / "system.jsonl")

    def audit_verify(self) -> subprocess.CompletedProcess:
        return self.cli("audit", "verify", check=False)

    def socket_path(self, name: str) -> str:
        """`mcp_acp.config.paths.proxy_socket_path(name)` as computed under this home."""
        code = "import sys\nfrom mcp_acp.config import paths\nprint(paths.proxy_socket_path(sys.argv[1]))\n"
        result = subprocess.run(
            [sys.executable, "-c", code, name], env=self.env, capture_output=True, text=True, timeout=60, check=True
        )
        return result.stdout.strip()

    def diagnostics(self) -> str:
        parts = []
        for proxy in self.proxies:
            parts.append(f"=== {proxy.log_path.name} ===\n{proxy.stderr()[-4000:]}")
        return "\n".join(parts)


@pytest.fixture
def home(tmp_path: Path):
    home = Home(tmp_path / "home")
    try:
        yield home
    finally:
        home.close()
        print(home.diagnostics())  # shown when the test failed


@pytest.fixture(scope="module")
def module_home(tmp_path_factory: pytest.TempPathFactory):
    home = Home(tmp_path_factory.mktemp("security-home"))
    try:
        yield home
    finally:
        home.close()
        print(home.diagnostics())


def received(record: Path) -> list[bytes]:
    """The raw lines the hostile server was sent."""
    return record.read_bytes().splitlines() if record.exists() else []


def received_text(record: Path) -> str:
    return record.read_bytes().decode("utf-8", errors="replace") if record.exists() else ""


def wait_until(condition: Callable[[], Any], what: str, timeout: float = ANSWER_TIMEOUT) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.05)


def socket_client(socket_path: str) -> httpx.Client:
    return httpx.Client(
        transport=httpx.HTTPTransport(uds=socket_path), base_url="http://proxy", timeout=30, trust_env=False
    )


ALLOW_ALL = {"rules": [{"id": "allow-all", "effect": "allow", "conditions": {"mcp_method": "*"}}]}
