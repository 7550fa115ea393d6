"""Fixtures for the transparency suite: the official npm MCP servers, reached
either directly or through `mcp-acp start --proxy NAME --headless`.

Every scenario is parametrized over ``mode`` in ("direct", "proxy") and runs the
exact same client code and assertions both ways; the only difference is which
process the client launches over STDIO:

* direct: the npm server itself;
* proxy:  `mcp-acp start --proxy NAME --headless`, configured (via `mcp-acp init`
  and `mcp-acp proxy add`) to spawn that same npm server as its STDIO backend.

The client is the official `mcp` SDK's `ClientSession` over its stdio transport.
A thin tap between the transport and the session records every JSON-RPC message
in both directions (`WireLog`), so tests can also assert on the wire sequence
(e.g. "no response ever arrives for a cancelled request").

Isolation: every test gets its own MCP_ACP_HOME (and HOME / XDG_* dirs) under
tmp_path; nothing touches the real home directory. The proxy is only driven
through its CLI, never imported.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp.client._probe import negotiate_auto
from mcp.client.session import (
    ClientSession,
    ElicitationFnT,
    ListRootsFnT,
    LoggingFnT,
    SamplingFnT,
)
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.shared.message import SessionMessage

from tests.support.config import allow_everything

REPO_ROOT = Path(__file__).resolve().parents[2]
NPM_BIN = REPO_ROOT / "tests" / "npm" / "node_modules" / ".bin"
EVERYTHING_BIN = NPM_BIN / "mcp-server-everything"
FILESYSTEM_BIN = NPM_BIN / "mcp-server-filesystem"
EVERYTHING_DOCS = (
    REPO_ROOT / "tests" / "npm" / "node_modules" / "@modelcontextprotocol" / "server-everything" / "dist" / "docs"
)
MCP_ACP_EXE = Path(sys.executable).parent / "mcp-acp"

MODES = ("direct", "proxy")

# Upper bounds. Generous enough for a cold `node` + Python start on a loaded CI box,
# small enough that a hung relay fails the test well before pytest-timeout.
CLI_TIMEOUT = 60.0
CONNECT_TIMEOUT = 45.0
REQUEST_TIMEOUT = 30.0


# --------------------------------------------------------------------------- env


def _require(path: Path) -> None:
    if not path.exists():
        pytest.skip(f"{path} is missing: run `make npm-deps` first")


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    """Which process the client launches: the npm server ("direct") or mcp-acp ("proxy")."""
    return request.param


@pytest.fixture
def everything_bin() -> Path:
    _require(EVERYTHING_BIN)
    return EVERYTHING_BIN


@pytest.fixture
def filesystem_bin() -> Path:
    _require(FILESYSTEM_BIN)
    return FILESYSTEM_BIN


@dataclass
class Launcher:
    """Builds StdioServerParameters for a backend, direct or behind the proxy.

    Owns an isolated MCP_ACP_HOME / HOME for the test and collects every
    subprocess's stderr into files under tmp_path (dumped on teardown, so a
    failing test shows the proxy's and the server's own diagnostics).
    """

    root: Path
    acp_home: Path
    env: dict[str, str]
    stderr_logs: list[Path] = field(default_factory=list)
    cli_transcript: list[str] = field(default_factory=list)
    _initialized: bool = False
    _proxies: set[str] = field(default_factory=set)
    _http_backends: list[subprocess.Popen[bytes]] = field(default_factory=list)

    # -- CLI ------------------------------------------------------------------

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run `mcp-acp ARGS...` with the isolated environment."""
        if not MCP_ACP_EXE.exists():
            pytest.fail(f"{MCP_ACP_EXE} does not exist (is the package installed in the venv?)")
        cmd = [str(MCP_ACP_EXE), *args]
        proc = subprocess.run(
            cmd,
            env={**os.environ, **self.env},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT,
            cwd=self.root,
        )
        self.cli_transcript.append(
            f"$ {' '.join(cmd)}\n[rc={proc.returncode}]\n--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
        )
        if check and proc.returncode != 0:
            pytest.fail(
                f"`mcp-acp {' '.join(args)}` failed with exit code {proc.returncode}\n"
                f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
            )
        return proc

    def ensure_init(self) -> None:
        if not self._initialized:
            self.cli("init", "--auth", "local")
            self._initialized = True

    # -- parameters -----------------------------------------------------------

    def direct(self, command: str | Path, args: list[str]) -> StdioServerParameters:
        return StdioServerParameters(command=str(command), args=list(args), env=dict(self.env), cwd=str(self.root))

    def proxy(
        self, command: str | Path, args: list[str], *, name: str = "backend", server_name: str | None = None
    ) -> StdioServerParameters:
        """Configure proxy NAME in front of `command args...` and return the params that launch it."""
        self.ensure_init()
        if name not in self._proxies:
            cli_args = ["proxy", "add", name, "--server-name", server_name or name, "--command", str(command)]
            for arg in args:
                cli_args += ["--arg", arg]
            self.cli(*cli_args)
            allow_everything(self.env, name)
            self._proxies.add(name)
        return StdioServerParameters(
            command=str(MCP_ACP_EXE),
            args=["start", "--proxy", name, "--headless"],
            env=dict(self.env),
            cwd=str(self.root),
        )

    def proxy_url(self, url: str, *, name: str = "backend", server_name: str | None = None) -> StdioServerParameters:
        """Configure proxy NAME in front of a streamable-HTTP backend; return the params that launch it."""
        self.ensure_init()
        if name not in self._proxies:
            self.cli("proxy", "add", name, "--server-name", server_name or name, "--url", url)
            allow_everything(self.env, name)
            self._proxies.add(name)
        return StdioServerParameters(
            command=str(MCP_ACP_EXE),
            args=["start", "--proxy", name, "--headless"],
            env=dict(self.env),
            cwd=str(self.root),
        )

    def params(
        self, mode: str, command: str | Path, args: list[str], *, name: str = "backend"
    ) -> StdioServerParameters:
        if mode == "direct":
            return self.direct(command, args)
        if mode == "proxy":
            return self.proxy(command, args, name=name)
        raise ValueError(f"unknown mode {mode!r}")

    # -- HTTP backends --------------------------------------------------------

    def start_http_backend(
        self, command: str | Path, args: list[str], *, path: str = "/mcp", label: str = "http-backend"
    ) -> str:
        """Run `command args...` with PORT=<free loopback port>; return its URL once it listens."""
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        log = self.new_stderr_log(label)
        out = open(log, "wb")  # noqa: SIM115 - closed with the process in close()
        proc = subprocess.Popen(
            [str(command), *args],
            env={**os.environ, **self.env, "PORT": str(port)},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=self.root,
            start_new_session=True,
        )
        out.close()
        self._http_backends.append(proc)
        deadline = time.monotonic() + CONNECT_TIMEOUT
        while True:
            if proc.poll() is not None:
                pytest.fail(f"HTTP backend exited early with {proc.returncode}:\n{log.read_text(errors='replace')}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"HTTP backend never listened on port {port}")
                time.sleep(0.05)
        return f"http://127.0.0.1:{port}{path}"

    def close(self) -> None:
        for proc in self._http_backends:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
        self._http_backends.clear()

    def new_stderr_log(self, label: str) -> Path:
        path = self.root / "stderr" / f"{len(self.stderr_logs):02d}-{label}.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
        self.stderr_logs.append(path)
        return path

    def connect(self, params: StdioServerParameters, *, label: str, **callbacks: Any) -> Any:
        """`async with launcher.connect(params, label=...) as conn:` -> an initialized Connection."""
        return open_client(self, params, label=label, **callbacks)

    @staticmethod
    async def wait_for_tool(session: ClientSession, name: str, timeout: float = 10.0) -> types.Tool:
        return await wait_for_tool(session, name, timeout)

    @staticmethod
    def text_of(result: Any) -> str:
        return text_of(result)

    def diagnostics(self, max_chars: int = 6000) -> str:
        parts: list[str] = []
        for entry in self.cli_transcript:
            parts.append(entry[-max_chars:])
        for path in self.stderr_logs:
            text = path.read_text(errors="replace")
            parts.append(f"=== stderr {path.name} ===\n{text[-max_chars:]}")
        logs = self.acp_home / "logs"
        if logs.is_dir():
            for path in sorted(p for p in logs.rglob("*") if p.is_file()):
                try:
                    text = path.read_text(errors="replace")
                except OSError:
                    continue
                parts.append(f"=== log {path.relative_to(self.acp_home)} ===\n{text[-max_chars:]}")
        return "\n".join(parts)


@pytest.fixture
def launcher(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    root = tmp_path / "acp"
    acp_home = root / "mcp-acp-home"
    user_home = root / "home"
    for d in (acp_home, user_home):
        d.mkdir(parents=True)
    env = {
        "MCP_ACP_HOME": str(acp_home),
        "HOME": str(user_home),
        "XDG_CONFIG_HOME": str(user_home / ".config"),
        "XDG_DATA_HOME": str(user_home / ".local" / "share"),
        "XDG_STATE_HOME": str(user_home / ".local" / "state"),
        "XDG_CACHE_HOME": str(user_home / ".cache"),
        "XDG_RUNTIME_DIR": str(root / "xdg-runtime"),
        "NO_COLOR": "1",
        "MCP_ACP_SECRET_BACKEND": "file",
    }
    (root / "xdg-runtime").mkdir(mode=0o700)
    # The test process itself must not point anything at the real home either.
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: run `make npm-deps`")
    launch = Launcher(root=root, acp_home=acp_home, env=env)
    yield launch
    launch.close()
    # Shown by pytest only when the test fails.
    print(launch.diagnostics())


# --------------------------------------------------------------------------- wire tap


@dataclass
class WireLog:
    """Every JSON-RPC message seen by the client, in order: ("out"|"in", t, message-dict)."""

    entries: list[tuple[str, float, dict[str, Any]]] = field(default_factory=list)

    def record(self, direction: str, item: SessionMessage | Exception) -> None:
        if isinstance(item, SessionMessage):
            msg = item.message.model_dump(by_alias=True, mode="json", exclude_unset=True)
        else:
            msg = {"transport_exception": repr(item)}
        self.entries.append((direction, time.monotonic(), msg))

    def sent(self) -> list[dict[str, Any]]:
        return [m for d, _, m in self.entries if d == "out"]

    def received(self) -> list[dict[str, Any]]:
        return [m for d, _, m in self.entries if d == "in"]

    def requests_sent(self, method: str) -> list[dict[str, Any]]:
        return [m for m in self.sent() if m.get("method") == method and "id" in m]

    def responses_to(self, request_id: Any) -> list[dict[str, Any]]:
        return [
            m
            for m in self.received()
            if "method" not in m and m.get("id") == request_id and ("result" in m or "error" in m)
        ]

    def dump(self, limit: int = 80) -> str:
        lines = []
        t0 = self.entries[0][1] if self.entries else 0.0
        for direction, t, msg in self.entries[-limit:]:
            arrow = "client -> server" if direction == "out" else "server -> client"
            text = repr(msg)
            lines.append(f"{t - t0:8.3f}s {arrow}: {text[:400]}")
        return "\n".join(lines)


@asynccontextmanager
async def _tap(read_stream: Any, write_stream: Any, wire: WireLog) -> AsyncIterator[tuple[Any, Any]]:
    """Insert recording pumps between the stdio transport and the session."""
    in_send, in_recv = anyio.create_memory_object_stream[SessionMessage | Exception](0)
    out_send, out_recv = anyio.create_memory_object_stream[SessionMessage](0)

    async def pump_in() -> None:
        try:
            async with in_send:
                async for item in read_stream:
                    wire.record("in", item)
                    await in_send.send(item)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            pass

    async def pump_out() -> None:
        try:
            async with out_recv:
                async for item in out_recv:
                    wire.record("out", item)
                    await write_stream.send(item)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            pass

    async with anyio.create_task_group() as tg:
        tg.start_soon(pump_in)
        tg.start_soon(pump_out)
        try:
            yield in_recv, out_send
        finally:
            tg.cancel_scope.cancel()
            in_recv.close()
            out_send.close()


# --------------------------------------------------------------------------- inbox


@dataclass
class Inbox:
    """Server notifications and log messages delivered to the client, with bounded waits."""

    notifications: list[types.ServerNotification] = field(default_factory=list)
    logs: list[types.LoggingMessageNotificationParams] = field(default_factory=list)
    errors: list[Exception] = field(default_factory=list)

    async def message_handler(self, message: Any) -> None:
        if isinstance(message, Exception):
            self.errors.append(message)
        else:
            self.notifications.append(message)

    async def logging_callback(self, params: types.LoggingMessageNotificationParams) -> None:
        self.logs.append(params)

    def of_type(self, cls: type) -> list[Any]:
        return [n for n in self.notifications if isinstance(n, cls)]

    async def wait_for(self, predicate: Callable[[], Any], timeout: float, what: str) -> Any:
        """Poll `predicate` until it returns something truthy; fail with `what` after `timeout` s."""
        deadline = anyio.current_time() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if anyio.current_time() >= deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}")
            await anyio.sleep(0.05)


# --------------------------------------------------------------------------- client


@dataclass
class Connection:
    session: ClientSession
    wire: WireLog
    inbox: Inbox
    init: types.InitializeResult


@asynccontextmanager
async def open_client(
    launcher: Launcher,
    params: StdioServerParameters,
    *,
    label: str,
    sampling_callback: SamplingFnT | None = None,
    elicitation_callback: ElicitationFnT | None = None,
    list_roots_callback: ListRootsFnT | None = None,
    logging_callback: LoggingFnT | None = None,
    era: str = "legacy",
) -> AsyncIterator[Connection]:
    """Launch `params` over STDIO, run the initialize handshake, yield a live Connection.
    `era="auto"`: probe server/discover first, as dual-era clients do, and fall back to the
    handshake (only 2025-era servers are reached this way: `init` is the handshake's result)."""
    wire = WireLog()
    inbox = Inbox()

    async def log_cb(p: types.LoggingMessageNotificationParams) -> None:
        await inbox.logging_callback(p)
        if logging_callback is not None:
            await logging_callback(p)

    errlog_path = launcher.new_stderr_log(label)
    with open(errlog_path, "w", encoding="utf-8", errors="replace") as errlog:
        async with (
            stdio_client(params, errlog=errlog) as (read_stream, write_stream),
            _tap(read_stream, write_stream, wire) as (r, w),
            ClientSession(
                r,
                w,
                read_timeout_seconds=REQUEST_TIMEOUT,
                sampling_callback=sampling_callback,
                elicitation_callback=elicitation_callback,
                list_roots_callback=list_roots_callback,
                logging_callback=log_cb,
                message_handler=inbox.message_handler,
                client_info=types.Implementation(name="mcp-acp-integration-tests", version="0.0.0"),
            ) as session,
        ):
            with anyio.fail_after(CONNECT_TIMEOUT):
                if era == "auto":
                    await negotiate_auto(session)
                    init = session.initialize_result
                    assert init is not None, "the server answered server/discover: it is not a 2025-era server"
                else:
                    init = await session.initialize()
            conn = Connection(session=session, wire=wire, inbox=inbox, init=init)
            try:
                yield conn
                # Anything the transport could not parse (e.g. backend stderr leaking
                # into the proxy's stdout) reaches message_handler as an exception.
                assert not inbox.errors, f"transport-level errors: {inbox.errors!r}"
            except BaseException:
                print(f"--- wire log ({label}) ---\n{wire.dump()}")
                raise


async def wait_for_tool(session: ClientSession, name: str, timeout: float = 10.0) -> types.Tool:
    """Some everything-server tools register only after `notifications/initialized`."""
    deadline = anyio.current_time() + timeout
    while True:
        tools = (await session.list_tools()).tools
        for tool in tools:
            if tool.name == name:
                return tool
        if anyio.current_time() >= deadline:
            raise AssertionError(f"tool {name!r} never appeared; have {[t.name for t in tools]}")
        await anyio.sleep(0.1)


def text_of(result: types.CallToolResult | types.GetPromptResult) -> str:
    """All text blocks of a tool result joined by newlines."""
    blocks = result.content if isinstance(result, types.CallToolResult) else [m.content for m in result.messages]
    return "\n".join(b.text for b in blocks if isinstance(b, types.TextContent))
