"""The hash chain (docs/audit.md#how-an-entry-is-sealed): sealing entries and checking a file's chain.

entry_hash = sha256 over the canonical JSON of the entry without `entry_hash` (keys sorted,
compact separators, ASCII-escaped). With an audit key it is HMAC-SHA256 under that key, so a
chain rewritten by someone without the key no longer verifies.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from typing import Any, cast

import orjson

GENESIS = "GENESIS"
CHAIN_FIELDS = ("sequence", "prev_hash", "entry_hash")


_second: tuple[int, str] = (-1, "")


def utc_now() -> str:
    """Now as `2026-01-01T12:00:00.123Z`: the same text as
    datetime.now(UTC).isoformat(timespec="milliseconds") (milliseconds truncated), with the
    seconds part formatted once per second (several entries are sealed per request)."""
    global _second
    seconds, nanos = divmod(time.time_ns(), 1_000_000_000)
    if _second[0] != seconds:
        _second = (seconds, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)))
    return f"{_second[1]}.{nanos // 1_000_000:03d}Z"


def canonical(entry: dict[str, Any]) -> bytes:
    return _canonical_body({k: v for k, v in entry.items() if k != "entry_hash"})


def _canonical_body(body: dict[str, Any]) -> bytes:
    return _canonical_fast(body) or json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


_PLAIN_SCALARS = frozenset({str, int, bool, type(None)})


def _plain(value: Any) -> bool:  # any decoded JSON value; checked by exact type, not isinstance
    """Whether orjson writes `value` exactly as the canonical json.dumps does: exact dicts (str
    keys), lists, str, int, bool, None, and floats where both print the shortest repr the same
    way (orjson writes 1e-05 as 0.00001; NaN and infinities fail the range test)."""
    kind = type(value)  # pyright: ignore[reportUnknownVariableType]  exact types on purpose: no isinstance narrowing here
    if kind in _PLAIN_SCALARS:
        return True
    if kind is float:
        return value == 0.0 or 1e-4 <= abs(value) < 1e16
    if kind is dict:
        for key, item in value.items():  # noqa: SIM110  a plain loop: this runs on every audit entry, all() is slower
            if type(key) is not str or not _plain(item):
                return False
        return True
    if kind is list:
        for item in value:  # noqa: SIM110  as above
            if not _plain(item):
                return False
        return True
    return False


def _canonical_fast(body: dict[str, Any]) -> bytes | None:
    """The canonical bytes through orjson (a tenth of json.dumps' cost), or None when they could
    differ and json.dumps must write them: a value _plain() does not vouch for, an int beyond
    64 bits or a lone surrogate (orjson refuses both), or any non-ASCII or DEL character (which
    json.dumps escapes as \\uXXXX and orjson writes as is). The two agree on every other
    escape (tests/audit/test_chain.py checks this against json.dumps)."""
    try:
        for value in body.values():
            if type(value) not in _PLAIN_SCALARS and not _plain(value):
                return None
        data = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    except (orjson.JSONEncodeError, RecursionError):
        return None
    return data if data.isascii() and b"\x7f" not in data else None


def _digest(data: bytes, key: bytes | None) -> str:
    if key is None:
        return hashlib.sha256(data).hexdigest()
    return hmac.new(key, data, hashlib.sha256).hexdigest()


def entry_hash(entry: dict[str, Any], key: bytes | None = None) -> str:
    return _digest(canonical(entry), key)


def seal(fields: dict[str, Any], sequence: int, prev_hash: str, key: bytes | None) -> tuple[dict[str, Any], bytes]:
    """The chained entry for `fields` (None values dropped) and its line, newline included."""
    entry = {"time": utc_now(), "sequence": sequence, "prev_hash": prev_hash}
    entry.update({k: v for k, v in fields.items() if v is not None and k not in entry})
    # The usual entry has no entry_hash yet, so it is its own canonical body (no copy).
    entry["entry_hash"] = _digest(canonical(entry) if "entry_hash" in entry else _canonical_body(entry), key)
    return entry, _line(entry) + b"\n"


def _line(entry: dict[str, Any]) -> bytes:
    """The line as written: compact JSON from orjson (UTF-8), a tenth of json.dumps' cost.
    Only the hash needs the canonical json.dumps form (docs/audit.md#how-an-entry-is-sealed); the line's spelling is free."""
    return orjson.dumps(entry)


@dataclass
class KeyRule:
    """Which entries are keyed: those at or after `since` when a key exists."""

    key: bytes | None = None
    since: int = 1

    def key_for(self, sequence: int) -> bytes | None:
        return self.key if self.key is not None and sequence >= self.since else None


@dataclass
class ChainCheck:
    entries: int = 0  # chained entries seen
    unchained: int = 0  # lines without chain fields (written before the chain existed)
    first_sequence: int | None = None
    last_sequence: int | None = None
    last_hash: str | None = None
    last_entry_valid: bool = True  # the final entry's own hash is right
    hashes: dict[int, str] = field(default_factory=dict[int, str])  # sequence -> entry_hash
    torn_tail: bytes = b""  # bytes after the last newline: a write cut short
    errors: list[str] = field(default_factory=list[str])
    warnings: list[str] = field(default_factory=list[str])

    @property
    def ok(self) -> bool:
        return not self.errors


def check_chain(
    data: bytes, rule: KeyRule | None = None, partial: bool = False, start: tuple[int, str] = (1, GENESIS)
) -> ChainCheck:
    """Check every complete line of `data`. `partial` is for a tail window: no GENESIS expected.
    `start` is the (sequence, prev_hash) the first entry must have: a later segment of a rotated
    log continues the chain of the one before it."""
    rule = rule or KeyRule()
    result = ChainCheck()
    *lines, result.torn_tail = data.split(b"\n")  # the tail is b"" when the file ends cleanly
    previous: dict[str, Any] | None = None
    last_time = ""
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            result.errors.append(f"line {number}: empty line")
            continue
        try:
            entry = json.loads(raw)
        except ValueError:
            result.errors.append(f"line {number}: not valid JSON")
            continue
        if not isinstance(entry, dict):
            result.errors.append(f"line {number}: not a JSON object")
            continue
        entry = cast("dict[str, Any]", entry)
        if not all(name in entry for name in CHAIN_FIELDS):
            if result.entries:
                result.errors.append(f"line {number}: entry without chain fields after chained entries")
            else:
                result.unchained += 1
            continue
        sequence = entry["sequence"]
        if not isinstance(sequence, int) or isinstance(sequence, bool):
            result.errors.append(f"line {number}: sequence is not an integer")
            continue
        valid = hmac.compare_digest(str(entry["entry_hash"]), entry_hash(entry, rule.key_for(sequence)))
        if not valid:
            result.errors.append(f"line {number} (sequence {sequence}): entry hash mismatch (entry was modified)")
        elif raw != _line(entry) and raw not in (
            json.dumps(entry).encode(),
            json.dumps(entry, separators=(",", ":")).encode(),
        ):
            # A line is in our writer's exact form, or a form docs/audit.md#how-an-entry-is-sealed allows (default or compact
            # json.dumps); other bytes that parse the same (a \u escape spelled differently) are an edit.
            valid = False
            result.errors.append(f"line {number} (sequence {sequence}): the line was re-encoded (bytes changed)")
        if previous is None:
            if not partial and (sequence, entry["prev_hash"]) != start:
                result.errors.append(
                    f"line {number}: first entry must be sequence 1 with prev_hash GENESIS"
                    if start == (1, GENESIS)
                    else f"line {number}: first entry must be sequence {start[0]}, chained to the "
                    "last entry of the segment before it"
                )
            result.first_sequence = sequence
        else:
            if sequence != previous["sequence"] + 1:
                result.errors.append(
                    f"line {number}: sequence {sequence} follows {previous['sequence']} (entries deleted, inserted or reordered)"
                )
            if entry["prev_hash"] != previous["entry_hash"]:
                result.errors.append(
                    f"line {number} (sequence {sequence}): prev_hash does not match the previous entry"
                )
        if isinstance(entry.get("time"), str):
            if entry["time"] < last_time:
                result.warnings.append(f"line {number}: timestamp goes backwards")
            last_time = entry["time"]
        result.entries += 1
        result.last_sequence, result.last_hash, result.last_entry_valid = sequence, entry["entry_hash"], valid
        result.hashes[sequence] = entry["entry_hash"]
        previous = entry
    if result.entries == 0 and result.unchained:
        result.warnings.append("no chained entries (written before the hash chain existed)")
    return result
