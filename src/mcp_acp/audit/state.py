"""`.integrity_state` (docs/audit.md#crashes-are-not-tampering): the last hash, sequence and inode of every protected file.

Saved after every protected write, so it must be cheap and never half-written. It is one
fixed-size 4 KiB block (JSON padded with spaces) overwritten in place by a single pwrite():
a write inside one page is never torn by a process crash (kill -9 lands before or after
it), and it costs a tenth of the temp-file-and-rename dance, which this machine can do only
~6,500 times a second. A state that outgrows the block is written by temp + rename instead.
Power loss is the durable mode's business (fsync).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mcp_acp.audit.chain import GENESIS, utc_now
from mcp_acp.config.store import write_private_text

STATE_FILE = ".integrity_state"
BLOCK = 4096


class StateError(Exception):
    """The integrity state cannot be read: it was damaged or replaced."""


@dataclass
class FileState:
    last_hash: str
    last_sequence: int
    last_inode: int
    last_dev: int
    last_size: int
    # Where the active file's chain starts: the last entry of the segment sealed before it
    # (0 and GENESIS while the log has never rotated).
    base_sequence: int = 0
    base_hash: str = GENESIS


def _mac(key: bytes, files: dict[str, Any]) -> str:
    body = json.dumps(files, sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def _json_str(text: str) -> str:
    """json.dumps(text), without its cost for the usual hex digest or file name."""
    return (
        f'"{text}"'
        if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text
        else json.dumps(text)
    )


class IntegrityState:
    """With an audit key the state carries an HMAC of its contents: without the key nobody can
    point it at an earlier entry, so a truncated log is caught even when the state was edited."""

    def __init__(self, path: Path, files: dict[str, FileState] | None = None, key: bytes | None = None) -> None:
        self.path = path
        self.files: dict[str, FileState] = files or {}
        self.key = key
        self._fd: int | None = None
        self._fragments: dict[str, tuple[FileState, str]] = {}  # rel -> (state, its JSON)
        self.last_written = b""  # our last save: a different peek() means another process saved

    def peek(self) -> bytes:
        """The state as saved now, by this process or another of the same proxy (sharing.py)."""
        try:
            return os.pread(self._fd, BLOCK, 0) if self._fd is not None else self.path.read_bytes()
        except FileNotFoundError:
            return b""  # never saved yet, or deleted (which differs from our last save: caught)
        except OSError as exc:
            raise StateError(f"cannot read {self.path.name}: {exc.strerror or exc}") from None

    @classmethod
    def load(cls, log_dir: Path, key: bytes | None = None) -> IntegrityState:
        path = log_dir / STATE_FILE
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return cls(path, key=key)
        except OSError as exc:
            raise StateError(f"cannot read {path}: {exc.strerror}") from None
        return cls.parse(path, raw, key)

    @classmethod
    def parse(cls, path: Path, raw: bytes, key: bytes | None) -> IntegrityState:
        try:
            data = json.loads(raw)
            files = {name: FileState(**fields) for name, fields in data["files"].items()}
        except (ValueError, KeyError, TypeError) as exc:
            raise StateError(f"{path} is damaged ({exc.__class__.__name__})") from None
        # With a key the signature is required always: an unsigned state, even an empty one, is a forgery.
        if key is not None and not hmac.compare_digest(str(data.get("mac", "")), _mac(key, data["files"])):
            raise StateError(f"{path} does not carry a valid audit-key signature (it was edited or replaced)")
        return cls(path, files, key)

    @property
    def exists(self) -> bool:
        return self.path.exists()

    def _fragment(self, rel: str, state: FileState) -> str:
        cached = self._fragments.get(rel)
        if cached is None or cached[0] is not state:
            # Sorted keys, compact: the bytes json.dumps(..., sort_keys=True) would give.
            base = (
                f'"base_hash":{_json_str(state.base_hash)},"base_sequence":{state.base_sequence},'
                if state.base_sequence
                else ""
            )
            text = (
                f'{_json_str(rel)}:{{{base}"last_dev":{state.last_dev},"last_hash":{_json_str(state.last_hash)},'
                f'"last_inode":{state.last_inode},"last_sequence":{state.last_sequence},'
                f'"last_size":{state.last_size}}}'
            )
            cached = self._fragments[rel] = (state, text)
        return cached[1]

    def _document(self) -> bytes:
        """Saved after every write, so only the file that changed is serialised again."""
        files = "{" + ",".join(self._fragment(rel, self.files[rel]) for rel in sorted(self.files)) + "}"
        mac = "" if self.key is None else f',"mac":"{hmac.new(self.key, files.encode(), hashlib.sha256).hexdigest()}"'
        return f'{{"version":1,"updated_at":"{utc_now()}","files":{files}{mac}}}'.encode()

    def save(self) -> None:
        data = self._document()
        if len(data) < BLOCK:
            fd = self._fd if self._fd is not None else self._open_block()
            block = data.ljust(BLOCK - 1) + b"\n"
            os.pwrite(fd, block, 0)
            self.last_written = block
            return
        self.close()
        write_private_text(self.path, data.decode())
        self.last_written = data

    def _open_block(self) -> int:
        if not self.path.exists() or self.path.stat().st_size != BLOCK:
            write_private_text(self.path, self._document().decode().ljust(BLOCK - 1) + "\n")
        self._fd = os.open(self.path, os.O_RDWR)
        return self._fd

    def fsync(self) -> None:
        if self._fd is not None:
            os.fsync(self._fd)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
