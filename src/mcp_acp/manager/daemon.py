"""The manager daemon (docs/manager.md#starting-and-stopping): one per user. It registers proxies on `manager.sock`, relays
their events to browsers, and serves the API on 127.0.0.1 (browsers) and on `manager_api.sock`
(the CLI). It stops on SIGTERM/SIGINT, or when nothing has used it for a while."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import secrets
import signal
import socket
import time
import webbrowser
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import uvicorn

from mcp_acp.config import paths
from mcp_acp.config.models import ManagerConfig
from mcp_acp.config.private_dir import UnsafeFolder
from mcp_acp.config.store import ensure_private_dir, write_private_text
from mcp_acp.event_loop import run_event_loop
from mcp_acp.localhttp import manager_process, protocol
from mcp_acp.localhttp.protocol import MAX_LINE
from mcp_acp.localhttp.server import EmbeddedServer, bind_private_socket
from mcp_acp.manager.app import STATIC, build_app
from mcp_acp.manager.connections import broadcast, handle_proxy, ui_status
from mcp_acp.manager.http_limits import tcp_settings
from mcp_acp.manager.security import guard_socket, guard_tcp
from mcp_acp.manager.state import ManagerState

log = logging.getLogger("mcp_acp.manager")

HEARTBEAT_SECONDS = 30.0
STOP_TIMEOUT = 5


class ManagerStartError(Exception):
    """The manager cannot start; the message says why and what to do."""


@dataclass(frozen=True)
class IdlePolicy:
    """docs/manager.md#starting-and-stopping: after `grace` s, every `interval` s, stop when no proxy is registered, no
    browser follows events and nothing used the API for `timeout` s."""

    grace: float = 60.0
    interval: float = 30.0
    timeout: float = 300.0

    def should_stop(self, state: ManagerState, now: float) -> bool:
        return (
            now - state.started >= self.grace
            and len(state.registry) == 0
            and not state.hub.subscribers
            and now - state.last_activity >= self.timeout
        )


class JsonLinesHandler(logging.Handler):
    """manager/system.jsonl: WARNING and above, one JSON object per line (no hash chain)."""

    def __init__(self, path: Path) -> None:
        super().__init__(logging.WARNING)
        ensure_private_dir(path.parent)
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def emit(self, record: logging.LogRecord) -> None:
        entry = {
            "time": datetime.now(UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": os.getpid(),
        }
        if record.exc_info:
            entry["exception"] = logging.Formatter().formatException(record.exc_info)
        try:
            os.write(self.fd, (json.dumps(entry) + "\n").encode())
        except OSError:
            self.handleError(record)


def api_token() -> str:
    """The per-install API token, created on first start (0600, in the protected config folder)."""
    path = paths.manager_token_path()
    try:
        token = path.read_text(encoding="utf-8").strip()
        if len(token) == 64:
            return token
    except FileNotFoundError:
        pass
    token = secrets.token_hex(32)
    write_private_text(path, token + "\n")
    return token


def _bind_tcp(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError as exc:
        sock.close()
        raise ManagerStartError(
            f"port {port} on 127.0.0.1 is in use ({exc.strerror}); stop what uses it, or "
            "choose another with 'mcp-acp manager start --port N'"
        ) from None
    sock.listen(100)
    return sock


def _claim(port: int) -> tuple[socket.socket, socket.socket, socket.socket]:
    """The three listening sockets and the PID file, or ManagerStartError."""
    try:
        paths.private_runtime_dir()
        proxies_path, api_path = paths.manager_socket_path(), paths.manager_api_socket_path()
    except UnsafeFolder as exc:  # someone else's folder: never bind there
        raise ManagerStartError(str(exc)) from None
    if manager_process.socket_answers():
        raise ManagerStartError("the manager is already running ('mcp-acp manager status' shows it)")
    tcp = _bind_tcp(port)
    proxies = bind_private_socket(proxies_path)
    api = bind_private_socket(api_path)
    write_private_text(paths.manager_pid_path(), f"{os.getpid()}\n")
    return tcp, proxies, api


def _release() -> None:
    for path in (paths.manager_socket_path(), paths.manager_api_socket_path()):
        path.unlink(missing_ok=True)
    with contextlib.suppress(OSError, ValueError):
        if int(paths.manager_pid_path().read_text().strip()) == os.getpid():
            paths.manager_pid_path().unlink()


async def serve(config: ManagerConfig, port: int, idle: IdlePolicy = IdlePolicy(), open_browser: bool = False) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):  # before the files exist, so a stop always removes them
        loop.add_signal_handler(sig, stop.set)
    tcp, proxies_sock, api_sock = _claim(port)
    state = ManagerState(config=config.model_copy(update={"ui_port": port}), api_token=api_token())
    if config.auth.mode == "oidc":
        from mcp_acp.manager.tokens import TokenService

        state.tokens = TokenService(config.auth.oidc_settings, functools.partial(broadcast, state))

    def subscribers_changed(count: int) -> None:  # proxies route approvals by it (docs/manager.md#the-proxy-connection)
        state.touch()
        broadcast(state, ui_status(state))

    state.hub.on_subscribers_changed.append(subscribers_changed)
    app = build_app(state)
    servers = [
        EmbeddedServer(
            uvicorn.Config(
                guard_tcp(app, state.api_token, port),
                log_level="warning",
                access_log=False,
                lifespan="off",
                timeout_graceful_shutdown=STOP_TIMEOUT,
                **tcp_settings(),
            )
        ),
        EmbeddedServer(
            uvicorn.Config(
                guard_socket(app),
                log_level="warning",
                access_log=False,
                lifespan="off",
                timeout_graceful_shutdown=STOP_TIMEOUT,
            )
        ),
    ]
    proxies = await asyncio.start_unix_server(functools.partial(handle_proxy, state), sock=proxies_sock, limit=MAX_LINE)
    tasks = [
        asyncio.create_task(servers[0].serve(sockets=[tcp])),
        asyncio.create_task(servers[1].serve(sockets=[api_sock])),
    ]
    chores = [asyncio.create_task(_heartbeat(state)), asyncio.create_task(_idle_watch(state, idle, stop))]
    if state.tokens is not None:
        chores.append(asyncio.create_task(state.tokens.run()))
    log.info("manager %d listening on http://127.0.0.1:%d/ and %s", os.getpid(), port, paths.manager_socket_path())
    if open_browser and (STATIC / "index.html").is_file() and manager_process.can_open_browser():
        url = f"http://127.0.0.1:{port}/ui-login?code={app.state.login_codes.issue()}"
        loop.run_in_executor(None, webbrowser.open, url)
    try:
        await stop.wait()
    finally:
        log.info("manager stopping")
        for chore in chores:
            chore.cancel()
        proxies.close()
        for connection in state.registry.all():
            connection.close()
        state.hub.close_all()
        for server in servers:
            server.should_exit = True
        await asyncio.wait(tasks, timeout=STOP_TIMEOUT + 1)
        await state.close_clients()
        _release()


async def _heartbeat(state: ManagerState) -> None:
    while True:
        await asyncio.sleep(HEARTBEAT_SECONDS)
        broadcast(state, protocol.heartbeat())


async def _idle_watch(state: ManagerState, idle: IdlePolicy, stop: asyncio.Event) -> None:
    while True:
        await asyncio.sleep(idle.interval)
        if idle.should_stop(state, time.monotonic()):
            log.warning("manager idle for %g s with no proxies and no browsers: stopping", idle.timeout)
            stop.set()
            return


def run(
    config: ManagerConfig,
    port: int,
    idle: IdlePolicy = IdlePolicy(),
    open_browser: bool = False,
    foreground: bool = False,
) -> None:
    """The daemon's process: logging set up, then `serve` until stopped."""
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    root.addHandler(JsonLinesHandler(paths.manager_log_path(config.log_path)))
    if foreground:
        console = logging.StreamHandler()
        console.setFormatter(logging.Formatter("mcp-acp manager %(levelname)s: %(message)s"))
        root.addHandler(console)
    try:
        run_event_loop(serve(config, port, idle, open_browser))
    except ManagerStartError as exc:  # a detached daemon has no terminal: the log is where to look
        log.error("the manager cannot start: %s", exc)
        raise
