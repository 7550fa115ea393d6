"""Verifying replicas' copied log folders with nothing but their public keys (no secret store,
no config): docs/audit.md#signed-checkpoints-and-verifying-replicas-offline.

Per proxy folder (one holding checkpoints.jsonl):
- every checkpoint's Ed25519 signature, counter and link to the one before it;
- every protected log read end to end (rotated segments, compressed or not, then the active
  file): sequences continuous and each prev_hash the entry_hash before it. An entry's own hash
  is recomputed where it is a plain sha256; entries sealed under the proxy's HMAC key (from the
  sequence a checkpoint names as `keyed_from`) cannot be, without the key: for those only the
  structure and the signed pins are checked;
- every (file, sequence, entry_hash) a valid checkpoint pins is in the log: an entry missing
  behind a checkpoint is a truncation, a different hash a rewrite (a log replaced wholesale by a
  fresh valid chain is caught here, which a plain hash chain cannot do).
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from mcp_acp.audit import segments, signed_checkpoint
from mcp_acp.audit.chain import CHAIN_FIELDS, GENESIS, entry_hash
from mcp_acp.audit.files import PROTECTED
from mcp_acp.audit.signing import key_id

MAX_ERRORS_PER_FILE = 20


@dataclass
class FileResult:
    rel: str
    entries: int = 0
    last_sequence: int = 0
    recomputed: int = 0  # entries whose hash was recomputed (plain sha256)
    keyed: int = 0  # entries under the HMAC key: structure and pins only
    pinned: int = 0  # sequence of the newest valid checkpoint's head (0: none)
    errors: list[str] = field(default_factory=list[str])

    @property
    def uncovered(self) -> int:
        """Entries after the newest checkpoint: not yet under any signature."""
        return max(0, self.last_sequence - self.pinned)


@dataclass
class ProxyResult:
    folder: Path
    proxy: str
    replica: str | None = None
    checkpoints: int = 0
    last_checkpoint_time: str | None = None
    files: list[FileResult] = field(default_factory=list[FileResult])
    errors: list[str] = field(default_factory=list[str])  # checkpoint file problems
    warnings: list[str] = field(default_factory=list[str])

    @property
    def ok(self) -> bool:
        return not self.errors and not any(f.errors for f in self.files)


@dataclass
class ReplicaResult:
    folder: Path
    key_id: str
    proxies: list[ProxyResult] = field(default_factory=list[ProxyResult])
    errors: list[str] = field(default_factory=list[str])

    @property
    def ok(self) -> bool:
        return not self.errors and all(p.ok for p in self.proxies)


def proxy_folders(root: Path) -> list[Path]:
    """The proxy log folders in what the auditor copied: the folder itself, its subfolders, or
    `proxies/*` under a log root."""
    if (root / signed_checkpoint.FILE_NAME).is_file():
        return [root]
    found = [p for p in sorted(root.iterdir()) if (p / signed_checkpoint.FILE_NAME).is_file()]
    if (root / "proxies").is_dir():
        found += [p for p in sorted((root / "proxies").iterdir()) if (p / signed_checkpoint.FILE_NAME).is_file()]
    return found


def verify_replica(root: Path, public: Ed25519PublicKey) -> ReplicaResult:
    result = ReplicaResult(root, key_id(public))
    try:
        folders = proxy_folders(root)
    except OSError as exc:
        result.errors.append(f"cannot read {root}: {exc.strerror or exc}")
        return result
    if not folders:
        result.errors.append(
            f"no {signed_checkpoint.FILE_NAME} under {root}: nothing signed to verify against "
            "(copy the proxy's log folder, or the replica's log root)"
        )
    result.proxies = [verify_proxy_folder(folder, public, result.key_id) for folder in folders]
    replicas = {p.replica for p in result.proxies if p.replica}
    if len(replicas) > 1:
        result.errors.append(f"the checkpoints name several replicas ({', '.join(sorted(replicas))})")
    return result


def verify_proxy_folder(folder: Path, public: Ed25519PublicKey, expected_key_id: str) -> ProxyResult:
    result = ProxyResult(folder, folder.name)
    try:
        data = (folder / signed_checkpoint.FILE_NAME).read_bytes()
    except OSError as exc:
        result.errors.append(f"cannot read {signed_checkpoint.FILE_NAME}: {exc.strerror or exc}")
        return result
    parsed = signed_checkpoint.check(data, public, expected_key_id)
    result.errors += parsed.errors
    if parsed.torn_tail:
        result.warnings.append("the last checkpoint line is incomplete (written when the process died); ignored")
    records = parsed.records
    result.checkpoints = len(records)
    if not records:
        result.errors.append("no valid checkpoint: nothing pins this folder's logs")
    else:
        newest = records[-1]
        result.proxy = str(newest.get("proxy", folder.name))
        result.replica = str(newest.get("replica")) if newest.get("replica") else None
        result.last_checkpoint_time = str(newest.get("time"))
    for rel in PROTECTED.values():
        heads = [(r, cast("dict[str, Any]", r["heads"][rel])) for r in records if rel in r["heads"]]
        keyed_from = next((h["keyed_from"] for _, h in reversed(heads) if isinstance(h.get("keyed_from"), int)), None)
        checked, hashes = _check_file(folder / rel, rel, keyed_from)
        if heads:
            checked.pinned = heads[-1][1]["sequence"]
        _check_pins(checked, hashes, heads)
        if checked.entries or heads:
            result.files.append(checked)
    return result


def _pieces(active: Path) -> list[tuple[str, bytes]]:
    pieces = [(s.path.name, s.read()) for s in segments.list_segments(active)]
    with contextlib.suppress(FileNotFoundError):  # no active file: all rotated, or deleted (the pins say)
        pieces.append((active.name, active.read_bytes()))
    return pieces


def _check_file(active: Path, rel: str, keyed_from: int | None) -> tuple[FileResult, dict[int, str]]:
    result = FileResult(rel)
    hashes: dict[int, str] = {}
    errors = result.errors

    def error(message: str) -> None:
        if len(errors) < MAX_ERRORS_PER_FILE:
            errors.append(message)

    try:
        pieces = _pieces(active)
    except segments.UNREADABLE as exc:
        error(f"cannot read a segment of {rel}: {exc}")
        return result, hashes
    expected, previous = 1, GENESIS
    for name, data in pieces:
        *lines, torn = data.split(b"\n")
        if torn:
            error(f"{name} ends in an incomplete line")
        for number, raw in enumerate(lines, start=1):
            where = f"{name} line {number}"
            try:
                entry: object = json.loads(raw)
            except ValueError:
                error(f"{where}: not valid JSON")
                continue
            if not isinstance(entry, dict) or not all(k in entry for k in CHAIN_FIELDS):
                if result.entries:
                    error(f"{where}: not a chained entry")
                continue
            entry = cast("dict[str, Any]", entry)
            sequence = entry["sequence"]
            if not isinstance(sequence, int) or isinstance(sequence, bool):
                error(f"{where}: sequence is not an integer")
                continue
            if sequence != expected:
                error(
                    f"{where}: entry {sequence} where entry {expected} belongs (entries deleted, inserted or reordered)"
                )
            elif entry["prev_hash"] != previous:
                error(f"{where} (entry {sequence}): prev_hash is not the hash of the entry before it")
            if keyed_from is not None and sequence >= keyed_from:
                result.keyed += 1
            elif entry_hash(entry) == entry["entry_hash"]:
                result.recomputed += 1
            else:
                error(f"{where} (entry {sequence}): entry hash mismatch (the entry was modified)")
            result.entries += 1
            hashes[sequence] = str(entry["entry_hash"])
            result.last_sequence = sequence
            expected, previous = sequence + 1, str(entry["entry_hash"])
    return result, hashes


def _check_pins(result: FileResult, hashes: dict[int, str], heads: list[tuple[dict[str, Any], dict[str, Any]]]) -> None:
    """Every pin a valid checkpoint holds must be in the log; each kind of failure once per file."""
    truncated = replaced = None
    for record, head in heads:
        sequence, found = head["sequence"], hashes.get(head["sequence"])
        if found is None and truncated is None:
            truncated = (record, sequence)
        elif found is not None and found != head["entry_hash"] and replaced is None:
            replaced = (record, sequence)
    if truncated is not None:
        record, sequence = truncated
        result.errors.append(
            f"TRUNCATED: checkpoint {record['counter']} ({record['time']}) signed entry {sequence}, but the log "
            f"ends at entry {result.last_sequence}: entries were deleted behind a signed checkpoint"
        )
    if replaced is not None:
        record, sequence = replaced
        result.errors.append(
            f"REWRITTEN: entry {sequence} is not the one checkpoint {record['counter']} ({record['time']}) signed: "
            "the log was rewritten or replaced by another chain"
        )
