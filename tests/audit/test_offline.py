"""Offline verification of a copied log folder with only the public key, on real files written
by a real AuditLog and checkpointer (rotated and gzip-compressed segments included)."""

from __future__ import annotations

import secrets
import shutil
import threading
from pathlib import Path

import pytest

from mcp_acp.audit import offline, segments, signing
from mcp_acp.audit.chain import GENESIS, seal
from mcp_acp.audit.checkpointer import Checkpointer
from mcp_acp.audit.files import PROTECTED
from mcp_acp.audit.keys import AuditKey
from mcp_acp.audit.state import IntegrityState
from mcp_acp.audit.writer import AuditLog, Rotation

OPS = PROTECTED["operations"]


@pytest.fixture(autouse=True)
def private_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCP_ACP_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MCP_ACP_SECRET_BACKEND", "file")


def settle() -> None:
    for thread in threading.enumerate():
        if thread.name == "segment-gzip":
            thread.join(60)


def make_logs(log_dir: Path, count: int = 40, key: AuditKey | None = None) -> signing.Signer:
    signer = signing.load_or_create("r1")
    since = dict(key.since) if key else None
    checkpointer = Checkpointer(log_dir, "p", signer, 10, 3600, since)
    state = IntegrityState.load(log_dir, key.key if key else None)
    log = AuditLog(log_dir, state, key, rotation=Rotation(max_bytes=2048), checkpoints=checkpointer)
    for i in range(count):
        log.write("operations", {"event": "tools/call", "i": i, "pad": "x" * 60})
    log.close()
    settle()
    return signer


def verify(log_dir: Path, signer: signing.Signer) -> offline.ReplicaResult:
    return offline.verify_replica(log_dir, signer.public)


def errors(result: offline.ReplicaResult) -> list[str]:
    return result.errors + [e for p in result.proxies for e in p.errors + [x for f in p.files for x in f.errors]]


def test_a_clean_rotated_and_compressed_log_passes(tmp_path: Path) -> None:
    signer = make_logs(tmp_path / "p")
    assert any(s.path.suffix == ".gz" for s in segments.list_segments(tmp_path / "p" / OPS))
    result = verify(tmp_path / "p", signer)
    assert errors(result) == [] and result.ok
    ops = next(f for f in result.proxies[0].files if f.rel == OPS)
    assert (ops.entries, ops.recomputed, ops.keyed, ops.pinned, ops.uncovered) == (40, 40, 0, 40, 0)
    # The log root layout is found too.
    shutil.copytree(tmp_path / "p", tmp_path / "root" / "proxies" / "p")
    assert verify(tmp_path / "root", signer).ok


def test_a_log_truncated_behind_a_checkpoint_is_caught(tmp_path: Path) -> None:
    signer = make_logs(tmp_path / "p")
    active = tmp_path / "p" / OPS
    lines = active.read_bytes().splitlines(keepends=True)
    active.write_bytes(b"".join(lines[:-3]))
    assert any("TRUNCATED" in e for e in errors(verify(tmp_path / "p", signer)))


def test_a_log_replaced_by_a_fresh_valid_chain_is_caught(tmp_path: Path) -> None:
    signer = make_logs(tmp_path / "p")
    active = tmp_path / "p" / OPS
    shutil.rmtree(segments.folder(active))
    previous, out = GENESIS, b""
    for sequence in range(1, 41):
        entry, line = seal({"event": "tools/call", "forged": True}, sequence, previous, None)
        previous, out = entry["entry_hash"], out + line
    active.write_bytes(out)
    found = errors(verify(tmp_path / "p", signer))
    assert any("REWRITTEN" in e for e in found) and not any("hash mismatch" in e for e in found), found


def test_keyed_entries_are_checked_by_structure_and_pins(tmp_path: Path) -> None:
    key = AuditKey(secrets.token_bytes(32), {OPS: 11})
    signer = make_logs(tmp_path / "p", key=key)
    result = verify(tmp_path / "p", signer)
    assert result.ok, errors(result)
    ops = next(f for f in result.proxies[0].files if f.rel == OPS)
    assert (ops.recomputed, ops.keyed) == (10, 30)


def test_a_folder_without_checkpoints_fails(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = offline.verify_replica(tmp_path / "empty", signing.load_or_create("r1").public)
    assert not result.ok and "no checkpoints.jsonl" in result.errors[0]
