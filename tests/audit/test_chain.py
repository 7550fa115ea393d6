"""The hash chain (audit/chain.py) attacked directly: seal, check_chain and KeyRule.

Unit and property tests: every way of editing a sealed file that an attacker has without the
audit key must come out as "not protected". verify_file against the integrity state is in
test_verify.py (which shares the helpers here)."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mcp_acp.audit.chain import (
    GENESIS,
    KeyRule,
    canonical,
    check_chain,
    entry_hash,
    seal,
)
from mcp_acp.audit.keys import AuditKey
from mcp_acp.audit.state import FileState
from mcp_acp.audit.verify import verify_file

REL = "audit/operations.jsonl"
KEY = b"k" * 32
OTHER_KEY = b"x" * 32


# --------------------------------------------------------------------------- helpers


def sample_fields(i: int) -> dict:
    """Fields shaped like a real operations entry (nested dicts, ints, None dropped by seal)."""
    return {
        "session_id": "alice:abc",
        "request_id": str(i),
        "method": "tools/call",
        "tool_name": "echo",
        "status": "Success" if i % 3 else "Failure",
        "error_code": None if i % 3 else -32000,
        "message": None if i % 3 else f"boom {i}",
        "subject": {"subject_id": "alice", "subject_claims": {"provenance": "local"}},
        "arguments_summary": {
            "redacted": True,
            "body_hash": hashlib.sha256(str(i).encode()).hexdigest(),
            "payload_length": i * 7,
        },
        "duration": {"duration_ms": i},
    }


def build(n: int, rule: KeyRule | None = None, fields=sample_fields) -> tuple[list[dict], list[bytes]]:
    """n sealed entries exactly as the writer chains them: seal() with the key rule per sequence."""
    rule = rule or KeyRule()
    entries, lines, prev = [], [], GENESIS
    for sequence in range(1, n + 1):
        entry, line = seal(fields(sequence), sequence, prev, rule.key_for(sequence))
        entries.append(entry)
        lines.append(line)
        prev = entry["entry_hash"]
    return entries, lines


def dump(entry: dict) -> bytes:
    return json.dumps(entry, separators=(",", ":")).encode() + b"\n"


def rehash(entries: list[dict], key: bytes | None = None) -> list[dict]:
    """Re-chain edited entries the way an attacker would: fix every prev_hash/entry_hash."""
    out, prev = [], GENESIS
    for entry in entries:
        entry = dict(entry)
        entry["prev_hash"] = prev
        entry.pop("entry_hash", None)
        entry["entry_hash"] = entry_hash(entry, key)
        prev = entry["entry_hash"]
        out.append(entry)
    return out


def write_log(tmp: Path, data: bytes) -> Path:
    path = tmp / REL
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def state_for(path: Path, entries: list[dict]) -> FileState:
    stat = path.stat()
    return FileState(entries[-1]["entry_hash"], entries[-1]["sequence"], stat.st_ino, stat.st_dev, stat.st_size)


# --------------------------------------------------------------------------- seal / round trip


def test_seal_layout_and_round_trip():
    entries, lines = build(5)
    assert [e["sequence"] for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0]["prev_hash"] == GENESIS
    for before, after in itertools.pairwise(entries):
        assert after["prev_hash"] == before["entry_hash"]
    first = entries[0]
    assert list(first)[:3] == ["time", "sequence", "prev_hash"] and list(first)[-1] == "entry_hash"
    assert "error_code" not in entries[1]  # None values are dropped
    for entry, line in zip(entries, lines, strict=True):
        assert line.endswith(b"\n") and line.count(b"\n") == 1
        assert json.loads(line) == entry
    check = check_chain(b"".join(lines))
    assert check.ok, check.errors
    assert (check.entries, check.first_sequence, check.last_sequence) == (5, 1, 5)
    assert check.last_hash == entries[-1]["entry_hash"] and check.last_entry_valid
    assert check.hashes == {e["sequence"]: e["entry_hash"] for e in entries}
    assert check.torn_tail == b"" and check.unchained == 0 and not check.warnings


def test_seal_does_not_let_fields_override_chain_fields():
    entry, _ = seal({"sequence": 99, "prev_hash": "evil", "time": "x", "entry_hash": "y", "a": 1}, 1, GENESIS, None)
    assert entry["sequence"] == 1 and entry["prev_hash"] == GENESIS and entry["time"] != "x"
    assert entry["entry_hash"] == entry_hash(entry)


@pytest.mark.parametrize("n", [1, 2, 7])
def test_entry_hash_formula_is_sha256_of_canonical_json(n):
    """docs/audit.md#how-an-entry-is-sealed: sha256_hex(json.dumps(entry minus entry_hash, sort_keys=True, separators=(",",":")))."""

    def fields(i):
        return {**sample_fields(i), "note": "naïve – ünïcödé \t\r\n \u2028 ☃", "zeta": [3, 1, 2]}

    entries, _ = build(n, fields=fields)
    for entry in entries:
        body = {k: v for k, v in entry.items() if k != "entry_hash"}
        text = json.dumps(body, sort_keys=True, separators=(",", ":"))
        assert text.isascii()  # ASCII-escaped
        assert entry["entry_hash"] == hashlib.sha256(text.encode("utf-8")).hexdigest()
        assert canonical(entry) == text.encode()
        assert entry["time"] in text  # time is inside the hash


def test_line_may_use_default_spacing():
    """docs/audit.md#how-an-entry-is-sealed: the line itself may be serialized with default spacing; only content is hashed."""
    entries, _ = build(4)
    data = b"".join(json.dumps(e).encode() + b"\n" for e in entries)
    assert check_chain(data).ok


def test_entry_hash_keyed_is_hmac():
    entries, _ = build(3, KeyRule(KEY))
    for entry in entries:
        expected = hmac.new(KEY, canonical(entry), hashlib.sha256).hexdigest()
        assert entry["entry_hash"] == expected != entry_hash(entry)


# --------------------------------------------------------------------------- GENESIS and sequence rules


def test_empty_data_is_ok_with_nothing():
    check = check_chain(b"")
    assert check.ok and check.entries == 0 and check.last_sequence is None


def test_first_entry_must_be_genesis_and_sequence_one():
    entries, _ = build(3)
    # an attacker drops entry 1 and re-chains the rest from a fake GENESIS with sequences 2..3
    rest = rehash(entries[1:])
    assert rest[0]["sequence"] == 2 and rest[0]["prev_hash"] == GENESIS
    check = check_chain(b"".join(dump(e) for e in rest))
    assert not check.ok and any("GENESIS" in e for e in check.errors)
    # sequence 1 but prev_hash not GENESIS
    bad = dict(entries[0], prev_hash="0" * 64)
    bad["entry_hash"] = entry_hash(bad)
    assert not check_chain(dump(bad)).ok


def test_partial_check_skips_genesis_rule():
    _, lines = build(8)
    tail = b"".join(lines[5:])
    assert not check_chain(tail).ok
    check = check_chain(tail, partial=True)
    assert check.ok and check.first_sequence == 6 and check.last_sequence == 8


def test_sequence_must_be_integer():
    entries, _ = build(2)
    for bogus in ("2", 2.0, True, None):
        edited = [*entries[:1], dict(entries[1], sequence=bogus)]
        edited[1]["entry_hash"] = entry_hash(edited[1])
        assert not check_chain(b"".join(dump(e) for e in edited)).ok, bogus


def test_sequence_gap_detected_even_when_rehashed():
    entries, _ = build(5)
    edited = [dict(e) for e in entries]
    for e in edited[2:]:
        e["sequence"] += 1  # 1,2,4,5,6
    edited = rehash(edited)
    check = check_chain(b"".join(dump(e) for e in edited))
    assert not check.ok and any("sequence 4 follows 2" in e for e in check.errors)


def test_unchained_prefix_is_a_warning_unchained_after_chain_is_error():
    legacy = b'{"time":"2020-01-01T00:00:00.000Z","event":"old"}\n'
    _, lines = build(2)
    check = check_chain(legacy + b"".join(lines))
    assert check.ok and check.unchained == 1 and check.entries == 2
    check = check_chain(b"".join(lines) + legacy)
    assert not check.ok and any("without chain fields" in e for e in check.errors)
    only_legacy = check_chain(legacy * 3)
    assert only_legacy.ok and only_legacy.entries == 0 and only_legacy.warnings


def test_timestamp_regression_is_only_a_warning():
    entries, _ = build(3)
    edited = [dict(e) for e in entries]
    edited[1]["time"] = "1999-01-01T00:00:00.000Z"
    edited = rehash(edited)
    check = check_chain(b"".join(dump(e) for e in edited))
    assert check.ok and any("backwards" in w for w in check.warnings)


@pytest.mark.parametrize("junk", [b"\n", b"   \n", b"not json\n", b"[1,2]\n", b'"str"\n', b"\xff\xfe\n"])
def test_garbage_lines_are_errors(junk):
    _, lines = build(3)
    assert not check_chain(lines[0] + junk + lines[1] + lines[2]).ok
    assert not check_chain(b"".join(lines) + junk).ok


def test_torn_tail_is_reported_not_counted():
    _, lines = build(3)
    data = b"".join(lines) + lines[0][:17]
    check = check_chain(data)
    assert check.ok and check.torn_tail == lines[0][:17] and check.last_sequence == 3


# --------------------------------------------------------------------------- tampering


def test_detect_modified_field():
    entries, lines = build(6)
    edited = dict(entries[3], status="Failure" if entries[3]["status"] == "Success" else "Success")
    check = check_chain(b"".join([*lines[:3], dump(edited), *lines[4:]]))
    assert not check.ok and any("sequence 4" in e and "hash mismatch" in e for e in check.errors)


def test_detect_modified_field_even_if_that_entry_is_rehashed():
    entries, lines = build(6)
    edited = dict(entries[3], method="tools/list")
    edited["entry_hash"] = entry_hash(edited)
    check = check_chain(b"".join([*lines[:3], dump(edited), *lines[4:]]))
    assert not check.ok and any("prev_hash" in e for e in check.errors)


@pytest.mark.parametrize("index", [0, 2, 4])  # the last one is a truncation: see below
def test_detect_deleted_entry(index):
    _, lines = build(6)
    data = b"".join(lines[:index] + lines[index + 1 :])
    assert not check_chain(data).ok


def test_deleting_last_entry_is_invisible_to_the_chain_but_not_to_the_state(tmp_path):
    entries, lines = build(6)
    path = write_log(tmp_path, b"".join(lines))
    state = state_for(path, entries)
    path.write_bytes(b"".join(lines[:-1]))
    assert check_chain(path.read_bytes()).ok  # the chain alone cannot see a truncation
    report = verify_file(tmp_path, REL, state, None)
    assert report.status == "broken" and any("truncated" in e for e in report.errors)


@pytest.mark.parametrize("index", [0, 3, 5])
def test_detect_inserted_copy(index):
    _, lines = build(6)
    data = b"".join([*lines[: index + 1], lines[index], *lines[index + 1 :]])
    assert not check_chain(data).ok
    data = b"".join([*lines, lines[index]])  # a copy appended at the end
    assert not check_chain(data).ok


@pytest.mark.parametrize("i,j", [(0, 1), (2, 3), (1, 4), (4, 5)])
def test_detect_reordered(i, j):
    _, lines = build(6)
    lines[i], lines[j] = lines[j], lines[i]
    assert not check_chain(b"".join(lines)).ok


def test_detect_forged_entry_inserted_and_rechained_from_there_on(tmp_path):
    """Insertion + re-chaining the tail without touching the state: the state catches it."""
    entries, lines = build(6)
    path = write_log(tmp_path, b"".join(lines))
    state = state_for(path, entries)
    forged = [dict(e) for e in entries[:3]] + [dict(entries[2], request_id="forged")] + [dict(e) for e in entries[3:]]
    for seq, e in enumerate(forged, start=1):
        e["sequence"] = seq
    forged = rehash(forged)
    with open(path, "r+b") as handle:  # same inode
        handle.truncate(0)
        handle.write(b"".join(dump(e) for e in forged))
    assert check_chain(path.read_bytes()).ok
    assert verify_file(tmp_path, REL, state, None).status == "broken"


# --------------------------------------------------------------------------- HMAC


def test_plain_rehash_fails_under_the_key():
    entries, lines = build(6, KeyRule(KEY))
    assert check_chain(b"".join(lines), KeyRule(KEY)).ok
    assert not check_chain(b"".join(lines)).ok  # keyed chain is not a plain chain
    edited = [dict(e) for e in entries]
    edited[2]["status"] = "Success" if edited[2]["status"] == "Failure" else "Failure"
    forged = rehash(edited)  # attacker without the key: plain sha256
    data = b"".join(dump(e) for e in forged)
    assert check_chain(data).ok  # self-consistent as a plain chain ...
    check = check_chain(data, KeyRule(KEY))
    assert not check.ok and len([e for e in check.errors if "hash mismatch" in e]) == 6  # ... but not keyed
    assert not check_chain(b"".join(dump(e) for e in rehash(edited, OTHER_KEY)), KeyRule(KEY)).ok


@pytest.mark.parametrize("since", [1, 2, 4, 6, 7])
def test_key_rule_since_boundary(since):
    rule = KeyRule(KEY, since)
    entries, lines = build(6, rule)
    data = b"".join(lines)
    for entry in entries:
        key = KEY if entry["sequence"] >= since else None
        assert entry["entry_hash"] == entry_hash(entry, key)
    assert check_chain(data, rule).ok
    for other in {1, 2, 4, 6, 7} - {since}:  # any other boundary keys some entry differently
        assert not check_chain(data, KeyRule(KEY, other)).ok, other
    if since <= 6:
        assert not check_chain(data).ok
        assert not check_chain(data, KeyRule(OTHER_KEY, since)).ok
    else:
        assert check_chain(data).ok  # nothing keyed yet


def test_key_rule_key_for():
    assert KeyRule().key_for(5) is None
    assert KeyRule(None, 1).key_for(1) is None
    rule = KeyRule(KEY, 3)
    assert [rule.key_for(s) for s in (1, 2, 3, 4)] == [None, None, KEY, KEY]


def test_moving_the_since_boundary_to_plain_hash_keyed_entries_fails(tmp_path):
    """An attacker cannot re-hash keyed entries as plain ones: the boundary lives with the key."""
    entries, _ = build(6, KeyRule(KEY, 4))
    forged = rehash(entries)  # every entry plain sha256, as if the boundary had been moved past the end
    path = write_log(tmp_path, b"".join(dump(e) for e in forged))
    state = state_for(path, forged)
    assert verify_file(tmp_path, REL, state, AuditKey(KEY, {REL: 4})).status == "broken"


# --------------------------------------------------------------------------- property: any single byte


ALPHABET = st.characters(codec="utf-8", exclude_categories=("Cs",))


def _flexible_fields(texts: list[str]):
    def fields(i: int) -> dict:
        return {**sample_fields(i), "message": texts[(i - 1) % len(texts)]}

    return fields


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(2, 30), data=st.data())
def test_any_single_byte_change_is_detected(tmp_path_factory, n, data):
    """For a file of N sealed entries, ANY single-byte change at ANY offset (to any other byte)
    makes verify_file with the matching FileState report something other than "protected".

    Entries are ASCII content as the proxy writes it for ASCII traffic. (Non-ASCII content is
    written as \\uXXXX escapes, whose hex digits can change case without changing the entry:
    see test_escape_case_flip_is_semantically_invisible.)"""
    keyed = data.draw(st.booleans(), label="keyed")
    texts = data.draw(
        st.lists(st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=12), min_size=1, max_size=3),
        label="texts",
    )
    rule = KeyRule(KEY, data.draw(st.integers(1, n + 1), label="since")) if keyed else KeyRule()
    entries, lines = build(n, rule, _flexible_fields(texts))
    original = b"".join(lines)
    offset = data.draw(st.integers(0, len(original) - 1), label="offset")
    byte = data.draw(st.integers(0, 255).filter(lambda b: b != original[offset]), label="byte")
    tampered = bytearray(original)
    tampered[offset] = byte
    tmp = tmp_path_factory.mktemp("flip")
    path = write_log(tmp, original)
    state = state_for(path, entries)
    key = AuditKey(KEY, {REL: rule.since}) if keyed else None
    assert verify_file(tmp, REL, state, key).status == "protected"
    path.write_bytes(bytes(tampered))  # same inode, same size
    report = verify_file(tmp, REL, state, key)
    assert report.status != "protected", (offset, original[offset : offset + 1], bytes([byte]), report)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(2, 30), data=st.data())
def test_any_single_byte_change_to_unicode_content_is_detected_or_changes_nothing(tmp_path_factory, n, data):
    """Same property with arbitrary Unicode content: every single-byte change is detected,
    unless the file still decodes to exactly the same entries (an escape written differently)."""
    texts = data.draw(st.lists(st.text(ALPHABET, max_size=12), min_size=1, max_size=3), label="texts")
    entries, lines = build(n, KeyRule(), _flexible_fields(texts))
    original = b"".join(lines)
    offset = data.draw(st.integers(0, len(original) - 1), label="offset")
    byte = data.draw(st.integers(0, 255).filter(lambda b: b != original[offset]), label="byte")
    tampered = bytearray(original)
    tampered[offset] = byte
    tmp = tmp_path_factory.mktemp("flipu")
    path = write_log(tmp, original)
    state = state_for(path, entries)
    path.write_bytes(bytes(tampered))
    report = verify_file(tmp, REL, state, None)
    assert report.status != "protected", (offset, bytes([byte]), report)


def test_re_encoded_escape_is_detected(tmp_path):
    """The hash covers the parsed entry, and verification also demands the writer's exact bytes:
    a newline escaped as `\\u000a` instead of `\\n` means the same, but the file was edited."""
    entries, lines = build(3, fields=lambda i: {**sample_fields(i), "message": "two\nlines"})
    original = b"".join(lines)
    assert b"two\\nlines" in original
    tampered = original.replace(b"two\\nlines", b"two\\u000alines", 1)
    path = write_log(tmp_path, original)
    state = state_for(path, entries)
    path.write_bytes(tampered)
    report = verify_file(tmp_path, REL, state, None)
    assert [json.loads(x) for x in tampered.splitlines()] == entries
    assert report.status == "broken" and "re-encoded" in " ".join(report.errors)


@settings(max_examples=100, deadline=None)
@given(n=st.integers(2, 30), data=st.data())
def test_any_single_line_deletion_duplication_or_swap_is_detected(tmp_path_factory, n, data):
    entries, lines = build(n)
    kind = data.draw(st.sampled_from(["delete", "duplicate", "swap", "truncate_bytes"]), label="kind")
    i = data.draw(st.integers(0, n - 1), label="i")
    edited = list(lines)
    if kind == "delete":
        del edited[i]
    elif kind == "duplicate":
        edited.insert(data.draw(st.integers(0, n), label="at"), lines[i])
    elif kind == "swap":
        j = data.draw(st.integers(0, n - 1).filter(lambda j: j != i), label="j")
        edited[i], edited[j] = edited[j], edited[i]
    blob = b"".join(edited)
    if kind == "truncate_bytes":
        cut = data.draw(st.integers(1, len(blob)), label="cut")
        blob = blob[:-cut]
    tmp = tmp_path_factory.mktemp("lines")
    path = write_log(tmp, b"".join(lines))
    state = state_for(path, entries)
    path.write_bytes(blob)
    assert verify_file(tmp, REL, state, None).status != "protected"


# --------------------------------------------------------------------------- fast canonical form
# canonical() writes most entries with orjson (issue 9); the bytes, and so every hash, must be
# exactly those of the canonical json.dumps form (docs/audit.md#how-an-entry-is-sealed), whatever the values.


def _spec_canonical(entry: dict) -> bytes:
    body = {k: v for k, v in entry.items() if k != "entry_hash"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.text()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([0.0, -0.0, 1e-4, 9.99e-5, 1e-5, 1e15, 1e16, 9999999999999998.0, 2**63, 2**64, -(2**63) - 1]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=600, deadline=None)
@given(st.dictionaries(st.text(max_size=10), _json_values, max_size=8))
def test_canonical_is_byte_identical_to_the_spec_form(entry):
    assert canonical(entry) == _spec_canonical(entry)


@pytest.mark.parametrize("char", [chr(c) for c in range(0x80)] + ["\u00e9", "\u2028", "\ud800", "\U0001f600"])
def test_canonical_escapes_every_character_like_json_dumps(char):
    entry = {"k" + char: "a" + char + "b", "entry_hash": "x"}
    assert canonical(entry) == _spec_canonical(entry)


def test_canonical_handles_subclasses_and_odd_values_like_json_dumps():
    import enum

    class Code(enum.IntEnum):
        A = 7

    class Text(str):
        pass

    entry = {
        "code": Code.A,
        "text": Text("t"),
        "tuple": (1, 2),
        "nested": {"deep": [[[1.5e-7]]]},
        "nan": float("nan"),
        "big": 2**80,
    }
    assert canonical(entry) == _spec_canonical(entry)
    assert entry_hash(entry) == hashlib.sha256(_spec_canonical(entry)).hexdigest()


def test_seal_hashes_the_spec_form():
    fields = {"message": "caf\u00e9 \x7f", "duration_ms": 1e-05, "n": 1e300, "ok": True}
    entry, _ = seal(fields, 3, GENESIS, None)
    assert entry["entry_hash"] == hashlib.sha256(_spec_canonical(entry)).hexdigest()
    entry, _ = seal({"tool": "echo", "ms": 0.052}, 4, entry["entry_hash"], KEY)
    assert entry["entry_hash"] == hmac.new(KEY, _spec_canonical(entry), hashlib.sha256).hexdigest()


def test_utc_now_is_isoformat_milliseconds():
    from datetime import UTC, datetime

    from mcp_acp.audit.chain import utc_now

    before = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    now = utc_now()
    after = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    assert before <= now <= after and len(now) == len(before) and now.endswith("Z")
