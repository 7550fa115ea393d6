"""The local surface as another user on the same machine sees it (issue 16, class 8).

A second Unix user, `mcpacp-other`, is created when the suite runs as root (CI does), and every
probe runs as that user in its own process (`runuser`, the system Python): connecting to the
manager's and a proxy's sockets, reading the config and log folders, and squatting the socket
folder before mcp-acp starts, with a stand-in manager listening there. mcp-acp runs as the real
CLI, with real sockets.

The homes live in a folder under /tmp that the second user may enter (checked), so each refusal
comes from mcp-acp's own modes, not from a folder on the way (pytest's own is 0700).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pwd
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil
import pytest

from tests.security.conftest import ALLOW_ALL, Home, text_of, wait_until
from tests.support.config import proxy_log_dir
from tests.support.processes import free_port

OTHER = "mcpacp-other"
SYSTEM_PYTHON = "/usr/bin/python3"  # the second user cannot enter /work, where the venv lives

PROBE = r"""
import errno, json, os, socket, sys
results = []
for kind, path in zip(sys.argv[1::2], sys.argv[2::2]):
    try:
        if kind == "list":
            os.listdir(path)
        elif kind == "read":
            open(path, "rb").close()
        elif kind == "connect":
            with socket.socket(socket.AF_UNIX) as sock:
                sock.settimeout(5)
                sock.connect(path)
        results.append("ok")
    except OSError as exc:
        results.append(errno.errorcode.get(exc.errno, str(exc.errno)))
print(json.dumps(results))
"""

# A stand-in manager, as the other user would run it: it listens on the given paths (0777, so
# anyone may connect) and writes down every connection and what it was sent.
FAKE_MANAGER = r"""
import os, selectors, socket, sys
record, paths = sys.argv[1], sys.argv[2:]
selector = selectors.DefaultSelector()
for path in paths:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if os.path.exists(path):
        os.unlink(path)
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    os.chmod(path, 0o777)
    server.listen(16)
    selector.register(server, selectors.EVENT_READ)
open(record + ".ready", "w").close()
while True:
    for key, _ in selector.select():
        connection, _ = key.fileobj.accept()
        connection.settimeout(2)
        try:
            data = connection.recv(4096)
        except OSError:
            data = b""
        with open(record, "a") as out:
            out.write(repr((key.fileobj.getsockname(), data)) + "\n")
        connection.close()
"""


# --------------------------------------------------------------------------- the second user


@pytest.fixture(scope="session")
def other() -> pwd.struct_passwd:
    if os.getuid() != 0:
        pytest.skip("running a process as a second Unix user needs root (CI runs as root)")
    for tool in ("runuser", "useradd"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    if not os.access(SYSTEM_PYTHON, os.X_OK):
        pytest.skip(f"{SYSTEM_PYTHON} is missing: the second user needs a Python outside /work")
    for _ in range(20):  # idempotent, and other test workers may be creating it at the same time
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(OTHER)
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", OTHER],
            capture_output=True,
            check=False,
        )
        time.sleep(0.2)
    pytest.fail(f"could not create the user {OTHER}")


def as_other(*argv: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["runuser", "-u", OTHER, "--", *argv], capture_output=True, text=True, timeout=timeout, cwd="/", check=False
    )


def probe(*checks: tuple[str, Path]) -> list[str]:
    """Each (kind, path) tried as the other user: "ok" or the errno's name."""
    args = [str(item) for check in checks for item in check]
    result = as_other(SYSTEM_PYTHON, "-I", "-c", PROBE, *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


class FakeManager:
    """The other user's stand-in manager, listening on `paths`."""

    def __init__(self, folder: Path, paths: list[Path]) -> None:
        folder.mkdir(exist_ok=True)
        os.chown(folder, pwd.getpwnam(OTHER).pw_uid, -1)  # a folder of the other user's, to write to
        self.record = folder / "connections.log"
        self.process = subprocess.Popen(
            ["runuser", "-u", OTHER, "--", SYSTEM_PYTHON, "-I", "-c", FAKE_MANAGER, str(self.record), *map(str, paths)],
            cwd="/",
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        wait_until(
            lambda: Path(f"{self.record}.ready").exists() or self.process.poll() is not None,
            "the stand-in manager to listen",
        )
        assert self.process.poll() is None, self.process.stderr.read()

    def connections(self) -> list[str]:
        return self.record.read_text().splitlines() if self.record.exists() else []

    def stop(self) -> None:
        # runuser runs the server as its child: end both, the process group is runuser's own
        with contextlib.suppress(psutil.Error):
            for child in psutil.Process(self.process.pid).children(recursive=True):
                child.kill()
        self.process.kill()
        self.process.wait(10)


# --------------------------------------------------------------------------- homes the other user can reach


@pytest.fixture
def shared(other) -> Path:
    """A folder under /tmp the other user may enter and list: what is refused in it is ours."""
    folder = Path(tempfile.mkdtemp(prefix="acp-ls-"))
    folder.chmod(0o755)
    yield folder
    for process in psutil.process_iter(["environ"], ad_value=None):  # managers a proxy started, if any
        if str(folder) in (process.info["environ"] or {}).get("MCP_ACP_HOME", ""):
            with contextlib.suppress(psutil.Error):
                process.kill()
    shutil.rmtree(folder, ignore_errors=True)


def make_home(root: Path) -> Home:
    home = Home(root)
    config = home.acp_home / "config" / "manager.json"
    data = json.loads(config.read_text(encoding="utf-8"))
    data["ui_port"] = free_port()  # tests run in parallel: never the default 8765
    config.write_text(json.dumps(data), encoding="utf-8")
    return home


@pytest.fixture
def home(shared: Path):
    home = make_home(shared / "h")
    try:
        yield home
    finally:
        home.close()
        home.cli("manager", "stop", check=False)
        print(home.diagnostics())


def in_process(home: Home, function: str, *args: str) -> Path:
    """`mcp_acp.config.paths.<function>(*args)` as a process of this home computes it."""
    code = f"import sys\nfrom mcp_acp.config import paths\nprint(paths.{function}(*sys.argv[1:]))\n"
    result = subprocess.run(
        [sys.executable, "-c", code, *args], env=home.env, capture_output=True, text=True, timeout=60, check=True
    )
    return Path(result.stdout.strip())


def manager_status(home: Home) -> dict | None:
    transport = httpx.HTTPTransport(uds=str(in_process(home, "manager_api_socket_path")))
    try:
        with httpx.Client(transport=transport, base_url="http://manager", timeout=5) as client:
            response = client.get("/api/manager/status")
            return response.json() if response.status_code == 200 else None
    except (httpx.TransportError, OSError):
        return None


def a_session(home: Home, name: str = "files") -> None:
    """A proxy registered with a running manager, after one call (so every file exists)."""
    home.add_hostile(name, ALLOW_ALL)
    proxy = home.start(name, headless=False)
    assert "EXECUTED echo" in text_of(proxy.call("echo", {"text": "private"}))
    wait_until(lambda: name in ((manager_status(home) or {}).get("proxies") or []), "the proxy to register")


# --------------------------------------------------------------------------- reading and connecting


def test_the_other_user_reaches_our_folder_but_nothing_in_it(home: Home) -> None:
    """The control: the other user lists the folder around our home (so nothing on the way stops
    it), and our home itself refuses it."""
    a_session(home)
    assert probe(("list", home.root)) == ["ok"]
    assert "acp-home" in as_other(SYSTEM_PYTHON, "-I", "-c", f"import os; print(os.listdir({str(home.root)!r}))").stdout
    assert probe(("list", home.acp_home)) == ["EACCES"]


def test_the_other_user_cannot_read_config_or_logs_or_use_the_sockets(home: Home) -> None:
    a_session(home)
    logs = proxy_log_dir(home.env, "files")
    sockets = [
        in_process(home, "manager_socket_path"),
        in_process(home, "manager_api_socket_path"),
        in_process(home, "proxy_socket_path", "files"),
    ]
    for path in sockets:
        assert stat.S_ISSOCK(os.lstat(path).st_mode), path
        with socket.socket(socket.AF_UNIX) as sock:  # live: we can connect
            sock.connect(str(path))
    checks = [
        ("list", home.acp_home / "config"),
        ("read", home.acp_home / "config" / "manager.json"),
        ("read", home.acp_home / "config" / "manager_token"),
        ("read", home.config_dir("files") / "policy.json"),
        ("list", logs),
        ("read", logs / "audit" / "decisions.jsonl"),
        *[("connect", path) for path in sockets],
    ]
    assert probe(*checks) == ["EACCES"] * len(checks)


def test_each_file_and_socket_is_closed_even_when_its_folders_are_open(home: Home) -> None:
    """The same, with every folder of the home opened to others for a moment: then the files'
    0600 and the sockets' 0600 are what refuses, each on its own."""
    a_session(home)
    entries = [home.acp_home, *home.acp_home.rglob("*")]
    folders = [path for path in entries if path.is_dir() and not path.is_symlink()]
    files = [path for path in entries if path.is_file() and not path.is_symlink()]
    sockets = [path for path in entries if path.is_socket()]
    assert len(files) > 10 and len(sockets) == 3, (files, sockets)
    modes = {path: stat.S_IMODE(path.stat().st_mode) for path in folders}
    try:
        for path in folders:
            path.chmod(0o755)
        results = probe(*[("read", path) for path in files], *[("connect", path) for path in sockets])
    finally:
        for path, mode in modes.items():
            path.chmod(mode)
    refused = dict(zip([*files, *sockets], results, strict=True))
    assert {str(path): result for path, result in refused.items() if result != "EACCES"} == {}


# --------------------------------------------------------------------------- squatting


def shared_tmp(shared: Path) -> Path:
    """This test's own /tmp: sticky and writable by everyone, as the real one (left alone)."""
    tmp = shared / "tmp"
    tmp.mkdir(mode=0o1777)
    tmp.chmod(0o1777)
    return tmp


def test_a_squatted_runtime_folder_is_refused_by_the_proxy_and_the_manager(other, shared: Path) -> None:
    """A home in a shared folder: the other user makes its runtime folder first and listens there
    as a stand-in manager. The proxy refuses to start (its start-up check of mcp-acp's folders), the
    manager will not start, the CLI will not connect, and nothing reaches the stand-in. (A proxy
    whose folder is taken over while it runs carries on without the manager: tests/config/
    test_private_dir.py and the manager client.)"""
    tmp = shared_tmp(shared)
    run = tmp / "acp-home" / "run"
    made = as_other(
        SYSTEM_PYTHON,
        "-I",
        "-c",
        f"import os; os.makedirs({str(run)!r}, 0o777); "
        f"[os.chmod(p, 0o777) for p in ({str(run.parent)!r}, {str(run)!r})]",
    )
    assert made.returncode == 0, made.stderr
    fake = FakeManager(shared / "fake", [run / "manager.sock", run / "manager_api.sock", run / "proxy_files.sock"])
    home = make_home(tmp)
    try:
        home.add_hostile("files", ALLOW_ALL)
        proxy = home.start("files", headless=False, initialize=False)
        assert proxy.process.wait(60) == 1
        assert fake.connections() == []  # nothing reached the stand-in
        stderr = " ".join(proxy.stderr().split())
        assert f"{run} belongs to user '{OTHER}'" in stderr
        assert "remove it" in stderr or "find out who did" in stderr  # and says what to do
        started = home.cli("manager", "start", "--port", str(free_port()), check=False)
        assert started.returncode == 1
        assert f"{run} belongs to user '{OTHER}'" in " ".join(started.stderr.split())
        status = home.cli("manager", "status", check=False)
        assert status.returncode == 1 and "belongs to user" in status.stderr
        assert fake.connections() == []  # nothing ever reached the stand-in
        assert sorted(path.name for path in run.iterdir()) == ["manager.sock", "manager_api.sock", "proxy_files.sock"]
    finally:
        fake.stop()
        home.close()
        print(home.diagnostics())


def test_the_old_shared_tmp_folder_is_never_used_for_a_deep_home(other, shared: Path) -> None:
    """The issue's attack: with a deep MCP_ACP_HOME sockets moved to /tmp/mcp-acp-<uid>/, which
    another user could make first and listen in. Now they go to a folder of ours: the proxy
    registers with its own manager, and the stand-in in the old place hears nothing."""
    tmp = shared_tmp(shared)  # $TMPDIR for mcp-acp here
    home = make_home(shared / "deep" / ("d" * 50) / ("e" * 50))
    home.env["TMPDIR"] = str(tmp)
    old_folder = tmp / f"mcp-acp-{os.getuid()}"
    old = [
        old_folder / (hashlib.sha256(os.fsencode(home.acp_home / "run" / name)).hexdigest()[:16] + ".sock")
        for name in ("manager.sock", "manager_api.sock", "proxy_files.sock")
    ]
    assert len(os.fsencode(home.acp_home / "run" / "manager.sock")) > 100  # the case that used /tmp
    result = as_other(
        SYSTEM_PYTHON,
        "-I",
        "-c",
        f"import os; os.mkdir({str(old_folder)!r}, 0o777); os.chmod({str(old_folder)!r}, 0o777)",
    )
    assert result.returncode == 0, result.stderr
    fake = FakeManager(shared / "fake", old)
    try:
        a_session(home)
        used = in_process(home, "manager_socket_path").parent
        assert not used.is_relative_to(tmp) and used.stat().st_uid == os.getuid()
        assert stat.S_IMODE(used.stat().st_mode) == 0o700
        assert fake.connections() == []
        assert probe(("connect", in_process(home, "manager_socket_path"))) == ["EACCES"]
    finally:
        fake.stop()
        home.close()
        home.cli("manager", "stop", check=False)
        print(home.diagnostics())


# --------------------------------------------------------------------------- modes checked at start


def test_start_tightens_what_is_ours_and_refuses_what_is_not(home: Home) -> None:
    home.add_hostile("files", ALLOW_ALL)
    home.start("files").finish()  # the log folder exists from now on
    config, logs = home.acp_home / "config", proxy_log_dir(home.env, "files")
    loosened = [
        config,
        config / "manager.json",
        home.config_dir("files") / "policy.json",
        logs,
        logs / "audit" / "decisions.jsonl",
    ]
    for path in loosened:
        path.chmod(0o755 if path.is_dir() else 0o644)
    proxy = home.start("files")
    assert "EXECUTED echo" in text_of(proxy.call("echo", {"text": "tightened"}))
    assert {str(path): stat.S_IMODE(path.stat().st_mode) for path in loosened} == {
        str(path): 0o700 if path.is_dir() else 0o600 for path in loosened
    }
    assert "made it 0600" in proxy.stderr()
    proxy.finish()
    policy = home.config_dir("files") / "policy.json"
    os.chown(policy, pwd.getpwnam(OTHER).pw_uid, -1)  # someone else's policy: they could rewrite it
    refused = home.start("files", initialize=False)
    assert refused.process.wait(60) == 1
    assert f"{policy} belongs to user '{OTHER}'" in " ".join(refused.stderr().split())
