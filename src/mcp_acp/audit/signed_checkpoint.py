"""Signed checkpoints: one JSON line per checkpoint in `<proxy log folder>/checkpoints.jsonl`.

A checkpoint pins, for each protected file, its chain head (sequence, entry_hash), and says which
replica and proxy wrote it, when, its counter (1, 2, 3...) and the hash of the checkpoint before
it (GENESIS for the first): checkpoints form a chain of their own. `signature` is Ed25519 by the
replica's key over the canonical JSON of every other field (keys sorted, compact, ASCII), so
only the public key is needed to check one (offline.py).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, cast

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from mcp_acp.audit.chain import GENESIS
from mcp_acp.audit.signing import Signer, valid

FILE_NAME = "checkpoints.jsonl"
VERSION = 1


def canonical(record: dict[str, Any]) -> bytes:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def signed_body(record: dict[str, Any]) -> bytes:
    return canonical({k: v for k, v in record.items() if k != "signature"})


def record_hash(record: dict[str, Any]) -> str:
    """What the next checkpoint's `prev_hash` holds: sha256 over the whole record, signature included."""
    return hashlib.sha256(canonical(record)).hexdigest()


def build(
    signer: Signer,
    proxy: str,
    time: str,
    counter: int,
    prev_hash: str,
    heads: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "version": VERSION,
        "replica": signer.replica,
        "proxy": proxy,
        "time": time,
        "counter": counter,
        "prev_hash": prev_hash,
        "key_id": signer.key_id,
        "heads": heads,
    }
    record["signature"] = signer.sign(signed_body(record))
    return record


def line(record: dict[str, Any]) -> bytes:
    return canonical(record) + b"\n"


@dataclass
class Parsed:
    """checkpoints.jsonl read and checked as a chain under one public key."""

    records: list[dict[str, Any]] = field(default_factory=list[dict[str, Any]])  # the well-formed ones, in order
    errors: list[str] = field(default_factory=list[str])
    torn_tail: bool = False


def _well_formed(record: object) -> dict[str, Any] | None:
    if not isinstance(record, dict):
        return None
    found = cast("dict[str, Any]", record)
    heads = found.get("heads")
    if not (
        found.get("version") == VERSION
        and isinstance(found.get("counter"), int)
        and isinstance(found.get("prev_hash"), str)
        and isinstance(found.get("signature"), str)
        and isinstance(heads, dict)
    ):
        return None
    for head in cast("dict[str, Any]", heads).values():
        if not isinstance(head, dict):
            return None
        head = cast("dict[str, Any]", head)
        if not isinstance(head.get("sequence"), int) or not isinstance(head.get("entry_hash"), str):
            return None
    return found


def check(data: bytes, public: Ed25519PublicKey, expected_key_id: str) -> Parsed:
    """Every checkpoint's signature, counter and link to the one before it."""
    parsed = Parsed()
    *lines, tail = data.split(b"\n")
    parsed.torn_tail = bool(tail)  # a write cut short by a crash: reported, never trusted
    previous: dict[str, Any] | None = None
    for number, raw in enumerate(lines, start=1):
        try:
            record = _well_formed(json.loads(raw))
        except ValueError:
            record = None
        if record is None:
            parsed.errors.append(f"checkpoint line {number}: not a checkpoint (damaged or edited)")
            continue
        counter = record["counter"]
        where = f"checkpoint {counter} (line {number})"
        if not valid(public, signed_body(record), record["signature"]):
            if record.get("key_id") != expected_key_id:
                parsed.errors.append(
                    f"{where}: signed by another key ({record.get('key_id')}), not this replica's ({expected_key_id})"
                )
            else:
                parsed.errors.append(f"{where}: the signature does not verify (the checkpoint was altered)")
            continue
        want_counter = previous["counter"] + 1 if previous else 1
        want_prev = record_hash(previous) if previous else GENESIS
        if counter != want_counter:
            parsed.errors.append(
                f"{where}: expected checkpoint {want_counter} here (checkpoints were removed, inserted or reordered)"
            )
        elif record["prev_hash"] != want_prev:
            parsed.errors.append(f"{where}: does not chain to the checkpoint before it (a checkpoint was replaced)")
        if previous is not None:
            for rel, head in record["heads"].items():
                before = previous["heads"].get(rel)
                if before is not None and head["sequence"] < before["sequence"]:
                    parsed.errors.append(
                        f"{where}: {rel} goes back from entry {before['sequence']} to {head['sequence']}"
                    )
        parsed.records.append(record)
        previous = record
    return parsed


def last_record(data: bytes) -> dict[str, Any] | None:
    """The newest complete checkpoint in `data` (the writer continues the chain from it)."""
    for raw in reversed(data.split(b"\n")[:-1]):
        try:
            record = _well_formed(json.loads(raw))
        except ValueError:
            record = None
        if record is not None:
            return record
    return None
