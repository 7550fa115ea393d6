"""The checkpoint record and its chain: each line signed, counted, linked to the one before."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mcp_acp.audit import signed_checkpoint as sc
from mcp_acp.audit import signing
from mcp_acp.audit.chain import GENESIS


@pytest.fixture(autouse=True)
def private_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCP_ACP_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MCP_ACP_SECRET_BACKEND", "file")


def chain(signer: signing.Signer, count: int) -> list[dict]:
    records, previous = [], None
    for counter in range(1, count + 1):
        heads = {"audit/operations.jsonl": {"sequence": counter * 10, "entry_hash": f"h{counter}"}}
        previous = sc.build(
            signer, "p", "2026-01-01T00:00:00.000Z", counter, sc.record_hash(previous) if previous else GENESIS, heads
        )
        records.append(previous)
    return records


def data(records: list[dict]) -> bytes:
    return b"".join(sc.line(r) for r in records)


def test_a_clean_chain_verifies() -> None:
    signer = signing.load_or_create("r1")
    parsed = sc.check(data(chain(signer, 3)), signer.public, signer.key_id)
    assert parsed.errors == [] and len(parsed.records) == 3 and not parsed.torn_tail
    last = sc.last_record(data(chain(signer, 3)))
    assert last is not None and last["counter"] == 3


def test_an_altered_checkpoint_fails_its_signature() -> None:
    signer = signing.load_or_create("r1")
    records = chain(signer, 3)
    records[1]["heads"]["audit/operations.jsonl"]["sequence"] = 5
    parsed = sc.check(data(records), signer.public, signer.key_id)
    assert any("checkpoint 2" in e and "signature does not verify" in e for e in parsed.errors), parsed.errors


def test_another_replicas_key_is_named() -> None:
    signer, other = signing.load_or_create("r1"), signing.load_or_create("r2")
    parsed = sc.check(data(chain(other, 1)), signer.public, signer.key_id)
    assert parsed.errors and "signed by another key" in parsed.errors[0]


def test_a_checkpoint_removed_from_the_middle_breaks_the_count() -> None:
    signer = signing.load_or_create("r1")
    records = chain(signer, 4)
    parsed = sc.check(data(records[:1] + records[2:]), signer.public, signer.key_id)
    assert any("expected checkpoint 2" in e for e in parsed.errors), parsed.errors


def test_a_replaced_checkpoint_does_not_chain() -> None:
    signer = signing.load_or_create("r1")
    records = chain(signer, 3)
    forged = sc.build(signer, "p", "t", 2, "0" * 64, records[1]["heads"])  # valid signature, wrong link
    parsed = sc.check(data([records[0], forged, records[2]]), signer.public, signer.key_id)
    assert any("does not chain" in e for e in parsed.errors), parsed.errors


def test_a_torn_last_line_is_reported_and_damaged_lines_are_errors() -> None:
    signer = signing.load_or_create("r1")
    raw = data(chain(signer, 2))
    assert sc.check(raw + b'{"vers', signer.public, signer.key_id).torn_tail
    parsed = sc.check(raw + b"garbage\n", signer.public, signer.key_id)
    assert parsed.errors == ["checkpoint line 3: not a checkpoint (damaged or edited)"]
    assert json.loads(sc.line(chain(signer, 1)[0]))["version"] == sc.VERSION
