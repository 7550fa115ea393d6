"""How far one destination got in every log: `<state_dir>/<destination>.json`.

Written only after the receiver took a batch, by a write to a temporary file and a rename, so
a kill at any moment leaves either the old cursor or the new one, never a torn file. An old
cursor only means some entries are sent again (at-least-once; `sequence` is the dedupe key).
The same file carries the status `mcp-acp audit export --status` prints.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from mcp_acp.audit.chain import utc_now


@dataclass
class Cursor:
    path: Path
    positions: dict[str, dict[str, int]] = field(default_factory=lambda: {})  # proxy -> rel -> last sent
    # proxy -> rel -> entry_hash of the last sent: tells a log that was started again (audit repair)
    hashes: dict[str, dict[str, str]] = field(default_factory=lambda: {})
    sent: int = 0  # entries accepted by the receiver since this exporter started
    last_error: str | None = None
    last_error_at: str | None = None
    last_sent_at: str | None = None
    updated_at: str | None = None

    @classmethod
    def load(cls, path: Path) -> Cursor:
        try:
            raw: object = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls(path)
        except (OSError, ValueError) as exc:
            raise CursorError(f"cannot read the export cursor {path}: {exc}") from None
        if not isinstance(raw, dict):
            raise CursorError(f"the export cursor {path} is damaged")
        data = cast("dict[str, Any]", raw)
        positions: dict[str, dict[str, int]] = {}
        hashes: dict[str, dict[str, str]] = {}
        try:
            for proxy, files in cast("dict[str, dict[str, Any]]", data.get("positions", {})).items():
                positions[str(proxy)] = {str(rel): int(number) for rel, number in files.items()}
            for proxy, files in cast("dict[str, dict[str, Any]]", data.get("hashes", {})).items():
                hashes[str(proxy)] = {str(rel): str(value) for rel, value in files.items()}
        except (TypeError, ValueError, AttributeError):
            raise CursorError(f"the export cursor {path} is damaged") from None
        last_error = data.get("last_error")
        return cls(
            path,
            positions,
            hashes,
            last_error=str(last_error) if last_error else None,
            last_error_at=cast("str | None", data.get("last_error_at")),
            last_sent_at=cast("str | None", data.get("last_sent_at")),
            updated_at=cast("str | None", data.get("updated_at")),
        )

    def get(self, proxy: str, rel: str) -> int:
        return self.positions.get(proxy, {}).get(rel, 0)

    def hash_of(self, proxy: str, rel: str) -> str | None:
        return self.hashes.get(proxy, {}).get(rel)

    def advance(self, proxy: str, rel: str, sequence: int, count: int, entry_hash: str = "") -> None:
        self.positions.setdefault(proxy, {})[rel] = sequence
        self.hashes.setdefault(proxy, {})[rel] = entry_hash
        self.sent += count
        self.last_error = None
        self.last_sent_at = utc_now()

    def move_to(self, proxy: str, rel: str, sequence: int) -> None:
        """Back (a re-send, a log started again): the entry there is not known."""
        self.positions.setdefault(proxy, {})[rel] = sequence
        self.hashes.get(proxy, {}).pop(rel, None)

    def failed(self, message: str) -> None:
        self.last_error, self.last_error_at = message, utc_now()

    def save(self) -> None:
        self.updated_at = utc_now()
        record = {
            "version": 1,
            "updated_at": self.updated_at,
            "positions": self.positions,
            "hashes": self.hashes,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
            "last_sent_at": self.last_sent_at,
        }
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        partial = self.path.with_name(f".{self.path.name}.{os.getpid()}.partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(json.dumps(record, indent=1) + "\n")
        os.replace(partial, self.path)


class CursorError(Exception):
    """The cursor file cannot be read."""
