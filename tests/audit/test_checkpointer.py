"""The checkpointer on a real AuditLog in a temp folder: a checkpoint every N entries (from its
own thread), none while nothing moved, a final one at close, and a chain that continues across
restarts and across two writers of one folder."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from mcp_acp.audit import signed_checkpoint, signing
from mcp_acp.audit.checkpointer import Checkpointer
from mcp_acp.audit.files import PROTECTED
from mcp_acp.audit.state import IntegrityState
from mcp_acp.audit.writer import AuditLog

OPS = PROTECTED["operations"]


@pytest.fixture(autouse=True)
def private_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCP_ACP_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MCP_ACP_SECRET_BACKEND", "file")


def open_log(log_dir: Path, every: int = 5, seconds: float = 3600) -> tuple[AuditLog, Checkpointer]:
    checkpointer = Checkpointer(log_dir, "p", signing.load_or_create("r1"), every, seconds)
    return AuditLog(log_dir, IntegrityState.load(log_dir), None, checkpoints=checkpointer), checkpointer


def records(log_dir: Path) -> list[dict]:
    path = log_dir / signed_checkpoint.FILE_NAME
    return [json.loads(raw) for raw in path.read_bytes().splitlines()] if path.exists() else []


def write(log: AuditLog, count: int) -> None:
    for i in range(count):
        log.write("operations", {"event": "x", "i": i})


def wait_for(log_dir: Path, count: int) -> list[dict]:
    """Up to 30 s for the checkpoint thread (an upper bound against a hang, not a speed claim)."""
    done = threading.Event()
    for _ in range(300):
        if len(records(log_dir)) >= count:
            break
        done.wait(0.1)
    return records(log_dir)


def test_every_n_entries_a_signed_checkpoint_pins_the_heads_and_close_pins_the_last(tmp_path: Path) -> None:
    log, _ = open_log(tmp_path)
    write(log, 5)
    first = wait_for(tmp_path, 1)
    assert len(first) == 1 and first[0]["heads"][OPS]["sequence"] == 5 and first[0]["counter"] == 1
    write(log, 2)  # below N: nothing until close
    log.close()
    found = records(tmp_path)
    assert [r["counter"] for r in found] == [1, 2] and found[-1]["heads"][OPS]["sequence"] == 7
    signer = signing.load_or_create("r1")
    parsed = signed_checkpoint.check(
        (tmp_path / signed_checkpoint.FILE_NAME).read_bytes(), signer.public, signer.key_id
    )
    assert parsed.errors == [] and found[-1]["prev_hash"] == signed_checkpoint.record_hash(found[0])


def test_time_alone_brings_a_checkpoint_and_nothing_moved_brings_none(tmp_path: Path) -> None:
    log, checkpointer = open_log(tmp_path, every=1000, seconds=0.2)
    write(log, 1)
    assert len(wait_for(tmp_path, 1)) == 1
    assert checkpointer.write_now() is False  # heads unchanged
    log.close()
    assert len(records(tmp_path)) == 1


def test_the_chain_continues_after_a_restart_and_a_torn_line_is_dropped(tmp_path: Path) -> None:
    log, _ = open_log(tmp_path)
    write(log, 3)
    log.close()
    with open(tmp_path / signed_checkpoint.FILE_NAME, "ab") as handle:
        handle.write(b'{"version":1,"cou')  # a crash in the middle of a line
    log, _ = open_log(tmp_path)
    write(log, 1)
    log.close()
    found = records(tmp_path)
    assert [r["counter"] for r in found] == [1, 2]
    assert found[1]["prev_hash"] == signed_checkpoint.record_hash(found[0])


def test_keyed_files_say_from_which_entry_they_are_keyed(tmp_path: Path) -> None:
    checkpointer = Checkpointer(tmp_path, "p", signing.load_or_create("r1"), 100, 3600, {OPS: 4})
    log = AuditLog(tmp_path, IntegrityState.load(tmp_path), None, checkpoints=checkpointer)
    write(log, 2)
    log.close()
    assert records(tmp_path)[0]["heads"][OPS] == {
        "sequence": 2,
        "entry_hash": records(tmp_path)[0]["heads"][OPS]["entry_hash"],
        "keyed_from": 4,
    }


def test_two_writers_of_one_folder_keep_one_checkpoint_chain(tmp_path: Path) -> None:
    """Two sessions of one proxy (each its own locks, as two processes have): each checkpoint
    continues the newest one on disk, whoever wrote it, so the chain never forks."""
    from mcp_acp.audit.sharing import FolderLocks

    def open_session() -> tuple[AuditLog, Checkpointer]:
        locks = FolderLocks(tmp_path)
        locks.claim_slot(8)
        checkpointer = Checkpointer(tmp_path, "p", signing.load_or_create("r1"), 1000, 3600)
        with locks.held():
            log = AuditLog(tmp_path, IntegrityState.load(tmp_path), None, locks=locks, checkpoints=checkpointer)
        return log, checkpointer

    (first, first_signs), (second, second_signs) = open_session(), open_session()
    for _ in range(3):
        write(first, 1)
        assert first_signs.write_now()
        write(second, 1)
        assert second_signs.write_now()
    first.close()
    second.close()
    found = records(tmp_path)
    assert [r["counter"] for r in found] == list(range(1, len(found) + 1)) and len(found) >= 6
    assert found[-1]["heads"][OPS]["sequence"] == 6
    signer = signing.load_or_create("r1")
    data = (tmp_path / signed_checkpoint.FILE_NAME).read_bytes()
    assert signed_checkpoint.check(data, signer.public, signer.key_id).errors == []
