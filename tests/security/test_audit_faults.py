"""Failing closed means answering (issue 16, class 5): a full disk, an unwritable integrity state
and a read-only log folder each give the waiting client a JSON-RPC error at once, an entry in
the emergency log, a shutdown record and exit 10; never a hang, never a traceback.

The faults are real: a small tmpfs the test mounts and fills, `chattr +i` on the state, a
read-only bind mount over the log folder. They need root (CI runs as root); where the kernel
or the filesystem refuses, the test is skipped and says why. The proxy is the real
`mcp-acp start --headless` in front of the fixture backend. The emergency writer's order of
places is also checked directly (emergency.py), with real folders and a real full tmpfs.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from mcp_acp.audit import emergency
from tests.security.conftest import ALLOW_ALL, FIXTURE_BACKEND, Home
from tests.support.audit import read_jsonl

INTERNAL_ERROR = -32603
EXIT_TIMEOUT = 30.0  # "does not hang": the proxy exits 0.1 s after the error; this is the bound
MAX_CALLS = 300  # a just-filled disk still takes a few lines into the last page of each file


# --------------------------------------------------------------------------- real faults


def _run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=60)


def mount_tmpfs(folder: Path, size: str = "4m") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    done = _run("mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(folder))
    if done.returncode:
        pytest.skip(f"cannot mount a small tmpfs to fill (needs root and mount rights): {done.stderr.strip()}")


def unmount(folder: Path) -> None:
    _run("chattr", "-R", "-i", str(folder))
    _run("umount", "-l", str(folder))


def fill(folder: Path) -> None:
    """Take every free byte of the filesystem holding `folder`."""
    fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for chunk in (b"\0" * 65536, b"\0" * 4096, b"\0"):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, chunk)
    finally:
        os.close(fd)
    assert os.statvfs(folder).f_bavail == 0


def make_immutable(path: Path) -> None:
    """`chattr +i`: even root cannot write (where the filesystem enforces it on open files)."""
    if shutil.which("chattr") is None:
        pytest.skip("chattr is not installed: no way to make a file unwritable for root")
    probe = path.with_name(".probe")
    probe.write_bytes(b"x")
    fd = os.open(probe, os.O_RDWR)
    try:
        if _run("chattr", "+i", str(probe)).returncode:
            pytest.skip(f"the filesystem under {path.parent} does not take chattr +i")
        try:
            os.pwrite(fd, b"y", 0)
            pytest.skip("this filesystem lets an open file be written after chattr +i")
        except PermissionError:
            pass
    finally:
        os.close(fd)
        _run("chattr", "-i", str(probe))
        probe.unlink()
    assert _run("chattr", "+i", str(path)).returncode == 0


def read_only_bind(folder: Path) -> None:
    done = _run("mount", "--bind", str(folder), str(folder))
    if done.returncode:
        pytest.skip(f"cannot bind-mount the log folder read-only (needs root): {done.stderr.strip()}")
    done = _run("mount", "-o", "remount,bind,ro", str(folder))
    if done.returncode:
        _run("umount", str(folder))
        pytest.skip(f"cannot remount the bind mount read-only: {done.stderr.strip()}")


# --------------------------------------------------------------------------- the proxy under a fault


def private_runtime_dir(tmp_path: Path) -> Path:
    """$XDG_RUNTIME_DIR for the proxy: the emergency log's fallback, on another filesystem than
    the tmpfs it fills (and the test's own, so nothing lands in a shared /dev/shm)."""
    folder = tmp_path / "xdg-runtime"
    folder.mkdir(mode=0o700)
    return folder


def new_home(root: Path, runtime: Path) -> Home:
    home = Home(root)
    home.env["XDG_RUNTIME_DIR"] = str(runtime)
    home.add_proxy("faulty", sys.executable, [FIXTURE_BACKEND], ALLOW_ALL)
    return home


def emergency_entries(home: Home, runtime: Path) -> dict[str, list[dict]]:
    found = {
        "configured": home.acp_home / "config" / "emergency_audit.jsonl",
        "runtime": runtime / "mcp-acp" / "emergency_audit.jsonl",
    }
    return {place: read_jsonl(path) if path.is_file() else [] for place, path in found.items()}


def call_until_refused(proxy) -> dict:
    """Calls until one is refused; each must be answered (ANSWER_TIMEOUT bounds a hang)."""
    for n in range(MAX_CALLS):
        answer = proxy.call("echo", {"text": f"call {n}"})
        if "error" in answer:
            return answer
    raise AssertionError(f"{MAX_CALLS} calls were answered on a full disk")


def assert_fails_closed(proxy, answer: dict) -> None:
    assert answer["error"]["code"] == INTERNAL_ERROR, answer
    assert "Audit log failure" in answer["error"]["message"], answer
    assert proxy.process.wait(EXIT_TIMEOUT) == 10, proxy.stderr()
    assert "Traceback" not in proxy.stderr(), proxy.stderr()
    assert "SECURITY SHUTDOWN (audit_failure)" in proxy.stderr()


def lost_entry(entries: list[dict], request_id: int) -> dict:
    found = [
        e
        for e in entries
        if e.get("event") == "emergency_audit" and (e.get("operation") or {}).get("request_id") == str(request_id)
    ]
    assert found, f"no emergency entry for request {request_id}: {entries!r:.3000}"
    return found[0]


def shutdown_recorded(home: Home, entries: list[dict]) -> bool:
    in_log = [e for e in read_jsonl(home.log_dir("faulty") / "shutdowns.jsonl") if e.get("exit_code") == 10]
    in_emergency = [e for e in entries if e.get("event") == "security_shutdown" and e.get("exit_code") == 10]
    return bool(in_log or in_emergency)


@pytest.fixture
def disk(tmp_path: Path):
    """A home whose MCP_ACP_HOME (config and logs: the default layout) is a 4 MiB tmpfs. The
    test's own files (the proxies' stderr) stay on the ordinary disk."""
    root = tmp_path / "home"
    mount_tmpfs(root / "acp-home")
    homes: list[Home] = []
    try:
        yield root, homes
    finally:
        for home in homes:
            home.close()
            print(home.diagnostics())
        unmount(root / "acp-home")


def test_a_full_disk_answers_the_waiting_call_and_keeps_it_in_the_reserved_emergency_log(disk, tmp_path):
    root, homes = disk
    runtime = private_runtime_dir(tmp_path)
    home = new_home(root, runtime)
    homes.append(home)
    proxy = home.start("faulty")
    assert "result" in proxy.call("echo", {"text": "before"})
    fill(home.acp_home)

    answer = call_until_refused(proxy)
    assert_fails_closed(proxy, answer)
    entries = emergency_entries(home, runtime)
    # The room reserved at start took it: the configured place, on the full disk itself.
    lost = lost_entry(entries["configured"], answer["id"])
    assert lost["failure_reason"].endswith("No space left on device")
    assert lost["operation"]["tool_name"] == "echo"
    assert shutdown_recorded(home, entries["configured"] + entries["runtime"])


def test_a_full_disk_without_the_configured_emergency_log_falls_back_to_memory(disk, tmp_path):
    root, homes = disk
    runtime = private_runtime_dir(tmp_path)
    home = new_home(root, runtime)
    homes.append(home)
    (home.acp_home / "config" / "emergency_audit.jsonl").mkdir()  # no file can be opened there
    proxy = home.start("faulty")
    fill(home.acp_home)

    answer = call_until_refused(proxy)
    assert_fails_closed(proxy, answer)
    assert "$XDG_RUNTIME_DIR/mcp-acp/emergency_audit.jsonl" in answer["error"]["message"]
    entries = emergency_entries(home, runtime)
    lost_entry(entries["runtime"], answer["id"])
    fallback = runtime / "mcp-acp" / "emergency_audit.jsonl"
    assert stat.S_IMODE(fallback.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(fallback.stat().st_mode) == 0o600
    # Neither shutdowns.jsonl nor .last_crash fit on the disk: the record went to the fallback.
    assert shutdown_recorded(home, entries["runtime"])


def test_starting_on_a_full_disk_refuses_or_fails_closed_at_the_first_write_that_does_not_fit(disk, tmp_path):
    """A start writes little (its own pages may still have room for it), so it may run; then the
    first entry that does not fit fails closed. Either way: exit 10, never a traceback."""
    root, homes = disk
    home = new_home(root, private_runtime_dir(tmp_path))
    homes.append(home)
    assert home.start("faulty").finish() == 0
    fill(home.acp_home)
    proxy = home.start("faulty", initialize=False)
    try:
        proxy.initialize()
    except (AssertionError, OSError):  # it refused to start: closed its output, or its input
        assert proxy.process.wait(EXIT_TIMEOUT) == 10, proxy.stderr()
        assert "Traceback" not in proxy.stderr(), proxy.stderr()
        assert "No space left on device" in proxy.stderr()
        return
    assert_fails_closed(proxy, call_until_refused(proxy))


@pytest.fixture
def home_on_disk(tmp_path: Path):
    """A home on the ordinary filesystem of the test's temp folder (tmpfs does not stop writes
    to a file opened before chattr +i; ext4 and xfs do)."""
    runtime = private_runtime_dir(tmp_path)
    home = new_home(tmp_path / "home", runtime)
    try:
        yield home, runtime
    finally:
        _run("chattr", "-R", "-i", str(home.root))
        home.close()
        print(home.diagnostics())


def test_an_unwritable_state_answers_the_waiting_call_and_exits_10(home_on_disk):
    home, runtime = home_on_disk
    proxy = home.start("faulty")
    assert "result" in proxy.call("echo", {"text": "before"})
    make_immutable(home.log_dir("faulty") / ".integrity_state")

    answer = proxy.call("echo", {"text": "after"})
    assert_fails_closed(proxy, answer)
    assert ".integrity_state" in answer["error"]["message"]
    lost = lost_entry(emergency_entries(home, runtime)["configured"], answer["id"])
    assert ".integrity_state" in lost["failure_reason"]
    assert [e["exit_code"] for e in read_jsonl(home.log_dir("faulty") / "shutdowns.jsonl")] == [10]


def test_a_policy_reload_that_cannot_be_recorded_is_not_applied_and_fails_closed(home_on_disk):
    """Not on the request path, so nobody is waiting; still exit 10, an emergency entry, no traceback."""
    home, runtime = home_on_disk
    proxy = home.start("faulty")
    make_immutable(home.log_dir("faulty") / ".integrity_state")
    proxy.process.send_signal(signal.SIGHUP)
    assert proxy.process.wait(EXIT_TIMEOUT) == 10, proxy.stderr()
    assert "Traceback" not in proxy.stderr(), proxy.stderr()
    kept = [e for e in emergency_entries(home, runtime)["configured"] if e.get("event_type") == "system"]
    assert any("policy reload (sighup) could not be recorded" in e["operation"]["message"] for e in kept), kept


def test_an_unwritable_state_at_start_exits_10_without_a_traceback(home_on_disk):
    home, _ = home_on_disk
    assert home.start("faulty").finish() == 0
    make_immutable(home.log_dir("faulty") / ".integrity_state")
    proxy = home.start("faulty", initialize=False)
    assert proxy.process.wait(EXIT_TIMEOUT) == 10, proxy.stderr()
    assert "Traceback" not in proxy.stderr(), proxy.stderr()
    assert "Operation not permitted" in proxy.stderr()


@pytest.mark.parametrize("history", ["fresh", "used"])
def test_a_read_only_log_folder_at_start_exits_10_with_a_clear_message(home_on_disk, history):
    home, _ = home_on_disk
    log_dir = home.log_dir("faulty")
    if history == "used":
        assert home.start("faulty").finish() == 0
    else:
        log_dir.mkdir(parents=True, mode=0o700)
    read_only_bind(log_dir)
    try:
        proxy = home.start("faulty", initialize=False)
        assert proxy.process.wait(EXIT_TIMEOUT) == 10, proxy.stderr()
        err = proxy.stderr()
        assert "Traceback" not in err, err
        assert f"cannot use the log folder {log_dir}: Read-only file system" in err, err
        refused = read_jsonl(home.config_dir("faulty") / "bootstrap.jsonl")
        assert [(e["event"], e["exit_code"]) for e in refused] == [("audit_failure", 10)]
    finally:
        _run("umount", str(log_dir))


# --------------------------------------------------------------------------- the emergency writer


@pytest.fixture
def places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The three places under the test's control: config folder, $XDG_RUNTIME_DIR, and a
    stand-in for /dev/shm (the real one is shared by every user)."""
    monkeypatch.setenv("MCP_ACP_HOME", str(tmp_path / "acp-home"))
    runtime = tmp_path / "xdg"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    shm = tmp_path / "shm"
    shm.mkdir(mode=0o1777)
    monkeypatch.setattr(emergency, "SHARED_MEMORY", shm)
    uid = os.getuid()
    return {
        "configured": tmp_path / "acp-home" / "config" / "emergency_audit.jsonl",
        "runtime": runtime / "mcp-acp" / "emergency_audit.jsonl",
        "shm": shm / f"mcp-acp-{uid}" / "emergency_audit.jsonl",
    }


def blocked(path: Path) -> None:
    """No file can be opened at `path` (a folder is there), whoever runs the test."""
    path.mkdir(parents=True)


def test_the_emergency_log_goes_to_the_configured_file_first(places):
    assert emergency.write({"n": 1}) == "emergency_audit.jsonl"
    assert read_jsonl(places["configured"]) == [{"n": 1}]
    assert stat.S_IMODE(places["configured"].stat().st_mode) == 0o600
    assert not places["runtime"].exists() and not places["shm"].exists()


def test_the_emergency_log_then_tries_the_runtime_folder_then_shared_memory_then_stderr(places, capfd):
    blocked(places["configured"])
    assert emergency.write({"n": 2}) == "$XDG_RUNTIME_DIR/mcp-acp/emergency_audit.jsonl"
    assert read_jsonl(places["runtime"]) == [{"n": 2}]

    shutil.rmtree(places["runtime"].parent)
    blocked(places["runtime"])
    assert emergency.write({"n": 3}) == "/dev/shm/mcp-acp-<uid>/emergency_audit.jsonl"
    assert read_jsonl(places["shm"]) == [{"n": 3}]
    assert stat.S_IMODE(places["shm"].parent.stat().st_mode) == 0o700

    shutil.rmtree(places["shm"].parent)
    blocked(places["shm"])
    assert emergency.write({"n": 4, "value": object()}) == "stderr"  # never raises, whatever the entry
    line = capfd.readouterr().err
    assert line.startswith("mcp-acp: EMERGENCY AUDIT ENTRY")
    assert json.loads(line.split(": ", 2)[2])["n"] == 4


def test_without_xdg_runtime_dir_the_fallback_is_shared_memory(places, monkeypatch):
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    blocked(places["configured"])
    assert emergency.write({"n": 5}) == "/dev/shm/mcp-acp-<uid>/emergency_audit.jsonl"
    assert read_jsonl(places["shm"]) == [{"n": 5}]


@pytest.mark.parametrize("squat", ["open to others", "a symlink", "another owner"])
def test_a_squatted_shared_memory_folder_is_never_used(places, monkeypatch, capfd, squat, tmp_path):
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    blocked(places["configured"])
    folder = places["shm"].parent
    if squat == "open to others":
        folder.mkdir(mode=0o777)
        os.chmod(folder, 0o777)
    elif squat == "a symlink":
        (tmp_path / "elsewhere").mkdir(mode=0o700)
        folder.symlink_to(tmp_path / "elsewhere")
    else:
        if os.getuid() != 0:
            pytest.skip("making a folder another user's needs root")
        folder.mkdir(mode=0o700)
        os.chown(folder, 65534, 65534)
    assert emergency.write({"n": 6}) == "stderr"
    assert '"n": 6' in capfd.readouterr().err
    assert not any(folder.iterdir()) if squat != "a symlink" else not any((tmp_path / "elsewhere").iterdir())


def test_a_line_cut_short_by_a_full_disk_is_taken_back_and_written_whole_elsewhere(places):
    folder = places["configured"].parent
    mount_tmpfs(folder, size="64k")
    try:
        earlier = b'{"n": 0}\n'
        places["configured"].write_bytes(earlier)  # its page has room for ~4 KB more, no more
        fill(folder)
        entry = {"payload": "x" * 20000}
        assert emergency.write(entry) == "$XDG_RUNTIME_DIR/mcp-acp/emergency_audit.jsonl"
        assert read_jsonl(places["runtime"]) == [entry]
        assert places["configured"].read_bytes() == earlier
    finally:
        unmount(folder)


def test_room_reserved_at_start_takes_entries_on_a_full_disk(tmp_path, places):
    mount_tmpfs(places["configured"].parent, size="1m")
    try:
        assert emergency.reserve()
        assert places["configured"].stat().st_size == 0  # reserved past the end: nothing to read
        fill(places["configured"].parent)
        entries = [{"n": n, "payload": "x" * 1000} for n in range(20)]
        assert all(emergency.write(entry) == "emergency_audit.jsonl" for entry in entries)
        assert read_jsonl(places["configured"]) == entries
    finally:
        unmount(places["configured"].parent)


# --------------------------------------------------------------------------- the relay never goes silent


async def test_a_recorder_that_raises_still_answers_the_client():
    """Defence in depth: whatever escapes the recorder, the waiting request gets an error."""
    from mcp_acp.backends.stdio import StdioBackend
    from mcp_acp.proxy.gate import Gate
    from mcp_acp.proxy.operations import describe_request
    from mcp_acp.proxy.relay import Relay
    from tests.support.processes import BACKEND

    class Broken:
        describe = staticmethod(describe_request)

        def admit(self, message):
            return None

        def record(self, request, answer, answer_bytes, duration_ms):
            if request.get("method") == "tools/call":
                raise OSError(28, "No space left on device")
            return None

        def record_notification(self, message):
            return True

        def record_exchange(self, *args, **kwargs):
            return True

        async def sync(self, request):
            return None

    import asyncio

    received: list[dict] = []
    arrived = asyncio.Event()

    async def write(data: bytes) -> None:
        received.append(orjson.loads(data))
        arrived.set()

    async def answer_to(request_id) -> dict:
        while not [m for m in received if m.get("id") == request_id]:
            arrived.clear()
            await asyncio.wait_for(arrived.wait(), 30)
        return next(m for m in received if m.get("id") == request_id)

    relay = Relay(
        StdioBackend("fixture", sys.executable, [BACKEND], dict(os.environ)),
        Gate(lambda message, parsed: None),
        write,
        Broken(),
    )
    await relay.start()
    try:
        await relay.from_client(
            orjson.dumps(
                {
                    "jsonrpc": "2.0",
                    "id": 0,
                    "method": "initialize",
                    "params": {
                        "protocolVersion": "2025-06-18",
                        "capabilities": {},
                        "clientInfo": {"name": "t", "version": "1"},
                    },
                }
            )
            + b"\n"
        )
        assert "result" in await answer_to(0)
        await relay.from_client(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
        await relay.from_client(
            orjson.dumps(
                {
                    "jsonrpc": "2.0",
                    "id": 1,
                    "method": "tools/call",
                    "params": {"name": "echo", "arguments": {"text": "x"}},
                }
            )
            + b"\n"
        )
        answer = await answer_to(1)
        assert "result" not in answer and answer["error"]["code"] == INTERNAL_ERROR, answer
    finally:
        await relay.close()


def test_the_system_log_handler_never_raises():
    """A WARNING logged while the disk is full must not become a second failure."""
    import logging

    from mcp_acp.audit.system_log import SystemLogHandler

    class Full:
        def write(self, name, fields):
            raise OSError(28, "No space left on device")

    class Failing:
        is_shutting_down = False

        def record_with_fallback(self, *args):
            raise OSError(28, "No space left on device")

        def initiate(self, *args):
            raise AssertionError("not reached")

    handler = SystemLogHandler(Full(), Failing(), "s")  # type: ignore[arg-type]
    handler.handle(logging.LogRecord("t", logging.WARNING, __file__, 1, "disk full", None, None))
