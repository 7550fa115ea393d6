"""Several processes of one proxy writing its log folder (audit/sharing.py, writer.py's turns).

flock locks belong to an open file, so two FolderLocks in this process exclude each other as two
processes would: each AuditLog here stands for one client's proxy process. The crash case is a
real process killed between its line and its state save.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from mcp_acp.audit import repair
from mcp_acp.audit.chain import check_chain, seal
from mcp_acp.audit.files import PROTECTED
from mcp_acp.audit.keys import AuditKey
from mcp_acp.audit.sharing import AlreadyRunning, FolderLocks
from mcp_acp.audit.state import IntegrityState
from mcp_acp.audit.verify import verify_on_startup
from mcp_acp.audit.writer import AuditLog, AuditWriteError, Rotation

OPS = PROTECTED["operations"]
KEYED = pytest.mark.parametrize("keyed", [False, True], ids=["unkeyed", "keyed"])


@pytest.fixture(autouse=True)
def private_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCP_ACP_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MCP_ACP_SECRET_BACKEND", "file")


def new_key(keyed: bool) -> AuditKey | None:
    return AuditKey(secrets.token_bytes(32), {}) if keyed else None


def open_process(log_dir: Path, key: AuditKey | None, rotation: Rotation | None = None) -> AuditLog:
    """What one proxy process opens at start: its locks, then the state, under its turn."""
    locks = FolderLocks(log_dir)
    locks.claim_slot(8)
    with locks.held():
        state = IntegrityState.load(log_dir, key.key if key else None)
        return AuditLog(log_dir, state, key, rotation=rotation, locks=locks)


def chain_of(log_dir: Path, key: AuditKey | None, rel: str = OPS):
    from mcp_acp.audit.keys import rule_for

    return check_chain((log_dir / rel).read_bytes(), rule_for(key, rel))


@KEYED
def test_interleaved_writers_keep_one_unbroken_chain(tmp_path, keyed):
    key = new_key(keyed)
    log_dir = tmp_path / "logs"
    first, second = open_process(log_dir, key), open_process(log_dir, key)
    for n in range(20):
        (first if n % 3 else second).write("operations", {"method": "tools/call", "n": n})
        (second if n % 2 else first).write("decisions", {"decision": "allow", "n": n})
    check = chain_of(log_dir, key)
    assert check.ok and check.entries == 20 and check.last_sequence == 20
    assert [e for e in (log_dir / OPS).read_text().splitlines() if '"n":19' in e]
    # The state every process saved describes the files as they are: a new start accepts them.
    verify_on_startup(log_dir, "px", key)


def test_a_sibling_rotation_is_followed_not_taken_for_a_replaced_file(tmp_path):
    log_dir = tmp_path / "logs"
    small = Rotation(max_bytes=64 * 1024, max_age_seconds=3600.0, compress=False)
    first, second = open_process(log_dir, None, small), open_process(log_dir, None, small)
    padding = "x" * 2000
    for n in range(80):  # about 160 KiB: first rotates more than once
        first.write("operations", {"n": n, "pad": padding})
    second.write("operations", {"n": "after"})
    assert second.health_problems() == []
    assert list((log_dir / "audit" / "segments").iterdir())
    assert chain_of(log_dir, None).first_sequence is not None


CRASH_BETWEEN_LINE_AND_STATE = """
import os, sys
from pathlib import Path
from mcp_acp.audit.sharing import FolderLocks
from mcp_acp.audit.state import IntegrityState
from mcp_acp.audit.writer import AuditLog

log_dir = Path(sys.argv[1])
locks = FolderLocks(log_dir)
locks.claim_slot(8)
with locks.held():
    log = AuditLog(log_dir, IntegrityState.load(log_dir), None, locks=locks)
log.write("operations", {"n": "before the crash"})
IntegrityState.save = lambda self: os._exit(9)  # killed after its line, before its state
log.write("operations", {"n": "its last line"})
"""


def test_a_sibling_killed_between_line_and_state_is_not_tampering(tmp_path):
    log_dir = tmp_path / "logs"
    survivor = open_process(log_dir, None)
    survivor.write("operations", {"n": "survivor first"})
    done = subprocess.run([sys.executable, "-c", CRASH_BETWEEN_LINE_AND_STATE, str(log_dir)], timeout=60)
    assert done.returncode == 9
    survivor.write("operations", {"n": "survivor after"})  # adopts the dead one's last line
    assert survivor.health_problems() == []
    check = chain_of(log_dir, None)
    assert check.ok and check.entries == 4
    verify_on_startup(log_dir, "px", None)


@KEYED
def test_a_line_no_writer_wrote_stops_the_next_writer(tmp_path, keyed):
    key = new_key(keyed)
    log_dir = tmp_path / "logs"
    writer = open_process(log_dir, key)
    last = writer.write("operations", {"n": 1})
    # The attacker's line chains to the last entry, but without the key when there is one.
    _, line = seal({"n": "forged"}, last["sequence"] + 1, last["entry_hash"], None if not keyed else b"guess")
    with open(log_dir / OPS, "ab") as handle:
        handle.write(line if keyed else b'{"not": "chained"}\n')
    with pytest.raises(AuditWriteError, match="did not write"):
        writer.write("operations", {"n": 2})


def test_a_state_signed_with_another_key_stops_the_next_writer(tmp_path):
    key = new_key(True)
    log_dir = tmp_path / "logs"
    writer = open_process(log_dir, key)
    writer.write("operations", {"n": 1})
    intruder = IntegrityState.load(log_dir, key.key if key else None)
    intruder.key = secrets.token_bytes(32)
    intruder.save()
    with pytest.raises(AuditWriteError, match="signature"):
        writer.write("operations", {"n": 2})


def test_slots_are_distinct_and_alone_sees_siblings(tmp_path):
    log_dir = tmp_path / "logs"
    first = FolderLocks(log_dir)
    assert first.claim_slot(4) == 0 and first.alone()
    second = FolderLocks(log_dir)
    assert second.claim_slot(4) == 1
    assert not first.alone() and not second.alone()
    second.close()
    assert first.alone()
    third = FolderLocks(log_dir)
    assert third.claim_slot(4) == 1  # the freed slot is reused
    # alone() probes slots, never converts the shared lock: repair still sees a running proxy.
    assert repair.is_running(log_dir)
    first.close()
    third.close()
    assert not repair.is_running(log_dir)


def test_no_start_while_a_repair_holds_the_folder(tmp_path):
    log_dir = tmp_path / "logs"
    log_dir.mkdir(mode=0o700)
    with repair.exclusive(log_dir, "px"), pytest.raises(AlreadyRunning, match="repair or a deletion"):
        FolderLocks(log_dir)
    assert os.listdir(log_dir)


def test_an_older_signed_state_put_back_stops_the_writer(tmp_path):
    """Replaying a state the key once signed would rewind the writer into a fork: refused."""
    key = new_key(True)
    log_dir = tmp_path / "logs"
    writer = open_process(log_dir, key)
    writer.write("operations", {"n": 1})
    old = (log_dir / ".integrity_state").read_bytes()
    writer.write("operations", {"n": 2})
    (log_dir / ".integrity_state").write_bytes(old)
    with pytest.raises(AuditWriteError, match="set back"):
        writer.write("operations", {"n": 3})


def test_two_unrecorded_lines_are_not_a_crash(tmp_path):
    """A killed session leaves one line; two chained lines past the state are someone else's."""
    log_dir = tmp_path / "logs"
    writer = open_process(log_dir, None)
    last = writer.write("operations", {"n": 1})
    first, line1 = seal({"n": "x"}, last["sequence"] + 1, last["entry_hash"], None)
    _, line2 = seal({"n": "y"}, first["sequence"] + 1, first["entry_hash"], None)
    with open(log_dir / OPS, "ab") as handle:
        handle.write(line1 + line2)
    with pytest.raises(AuditWriteError, match="did not write"):
        writer.write("operations", {"n": 2})


def test_a_lock_held_for_ever_fails_closed_instead_of_hanging(tmp_path, monkeypatch):
    import fcntl

    from mcp_acp.audit import writer as writer_module

    monkeypatch.setattr(writer_module, "TURN_WAIT_SECONDS", 0.3)
    log_dir = tmp_path / "logs"
    writer = open_process(log_dir, None)
    holder = os.open(log_dir / ".append.lock", os.O_RDWR)
    fcntl.flock(holder, fcntl.LOCK_EX)
    try:
        with pytest.raises(AuditWriteError, match="held"):
            writer.write("operations", {"n": 1})
    finally:
        os.close(holder)
    writer.write("operations", {"n": 2})  # and works again once it is free
