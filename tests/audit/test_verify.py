"""verify_file (audit/verify.py) against the integrity state: a file rehashed without the audit key
is caught with the key, each file's key boundary is honoured, and every status (protected,
broken, missing, replaced inode, no state yet) is reported as such."""

from __future__ import annotations

import os

from mcp_acp.audit.chain import (
    KeyRule,
)
from mcp_acp.audit.keys import AuditKey
from mcp_acp.audit.state import FileState
from mcp_acp.audit.verify import verify_file
from tests.audit.test_chain import KEY, REL, build, dump, rehash, state_for, write_log


def test_plain_rehash_with_matching_state_fails_verify_file_with_key(tmp_path):
    entries, _ = build(5, KeyRule(KEY))
    forged = rehash([dict(e, status="Success") for e in entries])
    path = write_log(tmp_path, b"".join(dump(e) for e in forged))
    state = state_for(path, forged)  # the attacker also rewrote the state to match
    assert verify_file(tmp_path, REL, state, None).status == "protected"
    report = verify_file(tmp_path, REL, state, AuditKey(KEY, {REL: 1}))
    assert report.status == "broken"


def test_verify_file_uses_the_per_file_boundary(tmp_path):
    entries, lines = build(5, KeyRule(KEY, 3))
    path = write_log(tmp_path, b"".join(lines))
    state = state_for(path, entries)
    assert verify_file(tmp_path, REL, state, AuditKey(KEY, {REL: 3})).status == "protected"
    assert verify_file(tmp_path, REL, state, AuditKey(KEY, {REL: 1})).status == "broken"
    assert verify_file(tmp_path, REL, state, AuditKey(KEY, {"audit/other.jsonl": 3})).status == "broken"
    assert verify_file(tmp_path, REL, state, None).status == "broken"


# --------------------------------------------------------------------------- verify_file + state


def test_verify_file_statuses(tmp_path):
    entries, lines = build(4)
    path = write_log(tmp_path, b"".join(lines))
    state = state_for(path, entries)
    assert verify_file(tmp_path, REL, state, None).status == "protected"
    # one entry ahead of the state: the crash window between line and state
    more, more_lines = build(5)
    path.write_bytes(b"".join(more_lines))
    st_ = FileState(more[3]["entry_hash"], 4, path.stat().st_ino, path.stat().st_dev, 0)
    report = verify_file(tmp_path, REL, st_, None)
    assert report.status == "protected" and report.ahead_by_one
    # two ahead: not a crash artefact
    st2 = FileState(more[2]["entry_hash"], 3, path.stat().st_ino, path.stat().st_dev, 0)
    assert verify_file(tmp_path, REL, st2, None).status == "broken"
    # torn tail with the state naming the last complete entry: accepted as a crash artefact
    path.write_bytes(b"".join(lines) + b'{"time":"20')
    report = verify_file(tmp_path, REL, state_for(path, entries), None)
    assert report.status == "protected" and report.torn_tail
    # missing / empty with a state
    path.write_bytes(b"")
    assert verify_file(tmp_path, REL, state_for(path, entries), None).status == "broken"
    path.unlink()
    assert verify_file(tmp_path, REL, state, None).status == "missing"
    assert verify_file(tmp_path, REL, None, None).status == "not_created"


def test_verify_file_without_state(tmp_path):
    _, lines = build(3)
    write_log(tmp_path, b"".join(lines))
    assert verify_file(tmp_path, REL, None, None, state_exists=True).status == "broken"
    assert verify_file(tmp_path, REL, None, None, state_exists=False).status == "broken"
    write_log(tmp_path, lines[0])  # the very first line written just before a crash
    assert verify_file(tmp_path, REL, None, None, state_exists=True).status == "protected"
    assert verify_file(tmp_path, REL, None, None, state_exists=False).status == "broken"


def test_verify_file_detects_new_inode(tmp_path):
    entries, lines = build(3)
    path = write_log(tmp_path, b"".join(lines))
    state = state_for(path, entries)
    copy = path.with_name("copy.jsonl")
    copy.write_bytes(path.read_bytes())
    os.replace(copy, path)
    report = verify_file(tmp_path, REL, state, None)
    assert report.status == "broken" and report.replaced
