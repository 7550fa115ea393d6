"""Pinned tool definitions (docs/tool-pinning.md): what a server said its tools were when they
were first seen, so that a later change (a "rug pull") is noticed.

A pin is the tool's whole definition as the backend sent it (every field: name, title,
description, schemas, annotations, icons, `_meta`), kept with the sha256 of its canonical JSON
without the name. Pins are found by name and by that content hash: a tool that appears under a
new name with a pinned definition is recognised as a renamed copy.

The state lives in one JSON file per proxy, in its config folder (0600, written atomically),
behind `PinStore` so that a shared backend (the gateway's replicas) can stand in for the file:

    {"pins":     {name: {"hash", "definition", "pinned_at"}},
     "changes":  {name: {"hash", "definition", "seen_at", "kind": "changed"|"renamed",
                         "renamed_from"?}},
     "accepted": [{"tool", "hash", "at", "by"}]}   # accepts a proxy has not audited yet

`observe` compares a listed page of tools with the pins; `accept` re-pins changed tools (the CLI,
the manager); the running proxy picks the file up again and audits the accepts.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from mcp_acp.config import paths
from mcp_acp.config.store import write_private_text

PIN_FILE = "tool_pins.json"
CHANGED = "changed"
RENAMED = "renamed"


def pin_path(proxy_name: str) -> Path:
    return paths.proxy_config_dir(proxy_name) / PIN_FILE


def canonical(definition: dict[str, Any]) -> str:
    """Sorted keys, no spaces, non-ASCII kept: the same definition is always the same text."""
    return json.dumps(definition, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_hash(definition: dict[str, Any]) -> str:
    """sha256 of the definition without its name: a renamed copy has the same hash."""
    return hashlib.sha256(canonical({k: v for k, v in definition.items() if k != "name"}).encode()).hexdigest()


def _now() -> str:
    return datetime.now(UTC).isoformat()


@dataclass
class PinState:
    pins: dict[str, dict[str, Any]] = field(default_factory=dict)
    changes: dict[str, dict[str, Any]] = field(default_factory=dict)
    accepted: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: Any) -> PinState:
        if not isinstance(data, dict):
            raise ValueError("the pin file does not hold a JSON object")
        pins, changes, accepted = data.get("pins", {}), data.get("changes", {}), data.get("accepted", [])
        if not isinstance(pins, dict) or not isinstance(changes, dict) or not isinstance(accepted, list):
            raise ValueError("the pin file's pins, changes or accepted have the wrong type")
        return cls(pins, changes, accepted)

    def to_json(self) -> dict[str, Any]:
        return {"version": 1, "pins": self.pins, "changes": self.changes, "accepted": self.accepted}

    def by_hash(self) -> dict[str, str]:
        """Content hash -> the name it is pinned under."""
        return {pin["hash"]: name for name, pin in self.pins.items()}


class PinStore(Protocol):
    """Where pins are kept. The file is the default; a shared store may stand in for it."""

    def load(self) -> PinState: ...
    def save(self, state: PinState) -> None: ...
    def version(self) -> object:
        """Changes whenever the stored state does (cheap: a proxy asks it to pick up accepts)."""
        ...


class FilePinStore:
    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> PinState:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return PinState()
        return PinState.from_json(json.loads(text))

    def save(self, state: PinState) -> None:
        write_private_text(self.path, json.dumps(state.to_json(), indent=2, sort_keys=True, ensure_ascii=False) + "\n")

    def version(self) -> object:
        try:
            info = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (info.st_mtime_ns, info.st_size, info.st_ino)


@dataclass(frozen=True)
class Observation:
    """What one listed tool was, compared with the pins: `pinned` (first sight), `changed`,
    `renamed`, `reverted` (back to its pin), or `same`."""

    tool: str
    what: str
    hash: str
    previous_hash: str | None = None
    renamed_from: str | None = None


def observe(state: PinState, tools: list[dict[str, Any]]) -> list[Observation]:
    """Compare listed tools with `state` and update it: new tools are pinned, changed ones and
    renamed copies are recorded in `changes` (the pin stays what was trusted)."""
    seen: list[Observation] = []
    hashes = state.by_hash()
    listed = {tool.get("name") for tool in tools}
    for tool in tools:
        name = tool.get("name")
        if not isinstance(name, str):
            continue
        digest = content_hash(tool)
        pin = state.pins.get(name)
        change = state.changes.get(name)
        if pin is not None and pin.get("hash") == digest:
            if change is not None:
                del state.changes[name]
                seen.append(Observation(name, "reverted", digest))
            else:
                seen.append(Observation(name, "same", digest))
            continue
        if change is not None and change.get("hash") == digest:
            seen.append(
                Observation(name, "known", digest, pin.get("hash") if pin else None, change.get("renamed_from"))
            )
            continue
        definition = json.loads(canonical(tool))  # a copy as deep as JSON goes (deepcopy stops sooner)
        if pin is not None:
            state.changes[name] = {"hash": digest, "definition": definition, "seen_at": _now(), "kind": CHANGED}
            seen.append(Observation(name, CHANGED, digest, pin.get("hash")))
        elif (original := hashes.get(digest)) is not None and original not in listed:
            # A copy under a new name of a pinned tool that is gone. Two tools listed together
            # with one definition (a bare `{"type": "object"}` schema, say) are two tools.
            state.changes[name] = {
                "hash": digest,
                "definition": definition,
                "seen_at": _now(),
                "kind": RENAMED,
                "renamed_from": original,
            }
            seen.append(Observation(name, RENAMED, digest, renamed_from=original))
        else:
            state.pins[name] = {"hash": digest, "definition": definition, "pinned_at": _now()}
            hashes[digest] = name
            seen.append(Observation(name, "pinned", digest))
    return seen


def accept(state: PinState, tools: list[str] | None, by: str) -> list[str]:
    """Re-pin the changed `tools` (all when None) as they are now; the names accepted."""
    names = list(state.changes) if tools is None else [name for name in tools if name in state.changes]
    for name in names:
        change = state.changes.pop(name)
        state.pins[name] = {"hash": change["hash"], "definition": change["definition"], "pinned_at": _now()}
        state.accepted.append({"tool": name, "hash": change["hash"], "at": _now(), "by": by})
    return names


def changed_tools(state: PinState) -> list[dict[str, Any]]:
    """Each changed tool with its pinned (old) and current (new) definition, for the CLI and UI."""
    rows = []
    for name, change in sorted(state.changes.items()):
        old_name = change.get("renamed_from") or name
        pin = state.pins.get(old_name)
        rows.append(
            {
                "tool": name,
                "kind": change.get("kind", CHANGED),
                "renamed_from": change.get("renamed_from"),
                "seen_at": change.get("seen_at"),
                "old_hash": pin.get("hash") if pin else None,
                "new_hash": change.get("hash"),
                "old": pin.get("definition") if pin else None,
                "new": change.get("definition"),
                "diff": unified_diff(pin.get("definition") if pin else None, change.get("definition"), old_name, name),
            }
        )
    return rows


def unified_diff(old: Any, new: Any, old_name: str, new_name: str) -> str:
    """A readable unified diff of the two definitions' canonical JSON, pretty-printed."""

    def lines(value: Any) -> list[str]:
        if value is None:
            return []
        return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False).splitlines(keepends=True)

    return "".join(difflib.unified_diff(lines(old), lines(new), f"pinned: {old_name}", f"now: {new_name}", n=3))
