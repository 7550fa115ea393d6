"""Merge mcp-acp's server entries into an MCP client's config file without harming what the user has
there: an entry mcp-acp did not write is never replaced unless forced, nothing is written (nor backed
up) when nothing changes, the file keeps its mode, and comments and layout survive.

The file is edited through json-five's round-trip model rather than re-serialised, so only the
entries mcp-acp writes change. VS Code reads its mcp.json as JSONC (comments, trailing commas), so
that is accepted there; the other clients parse strict JSON, so strict JSON is required for them."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import json5
from json5 import model as jm
from json5.dumper import ModelDumper
from json5.loader import ModelLoader

# JSON5 goes further than JSONC; VS Code would reject these, so they are refused here too.
_NOT_JSONC = (jm.Identifier, jm.SingleQuotedString, jm.Infinity, jm.NaN)


class ClientFileError(Exception):
    """The client's file cannot be read or edited safely; it was left untouched."""


def accepts_jsonc(client: str) -> bool:
    return client == "vscode"


def is_mcp_acp_entry(entry: object, name: str) -> bool:
    """An entry that mcp-acp wrote: it runs `mcp-acp start --proxy NAME` (or `python -m mcp_acp ...`)."""
    if not isinstance(entry, dict):
        return False
    command, args = entry.get("command"), entry.get("args")
    if not isinstance(command, str) or not isinstance(args, list):
        return False
    runs_mcp_acp = Path(command).name in ("mcp-acp", "mcp-acp.exe") or args[:2] == ["-m", "mcp_acp"]
    return runs_mcp_acp and args[-3:] == ["start", "--proxy", name]


@dataclass(frozen=True)
class Conflict:
    """An entry of the same name that mcp-acp did not write: what is there, what would replace it."""

    name: str
    current: object
    wanted: dict


@dataclass
class MergePlan:
    path: Path
    old_text: str | None  # None: the file does not exist yet
    new_text: str | None = None  # None: nothing to write
    added: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)


def plan_merge(path: Path, client: str, key: str, entries: dict[str, dict], force: bool = False) -> MergePlan:
    """What writing `entries` under `key` would do to the file at `path`; reads, never writes."""
    old_text = path.read_text(encoding="utf-8") if path.exists() else None
    plan = MergePlan(path=path, old_text=old_text)
    if old_text is None or not old_text.strip():
        plan.added = list(entries)
        plan.new_text = json.dumps({key: entries}, indent=2) + "\n"
        return plan
    data, tree = _parse(path, old_text, client)
    servers = data.get(key, {})
    if not isinstance(servers, dict):
        raise ClientFileError(f"{path}: '{key}' is not a JSON object; fix it first. Nothing was changed.")
    for name, wanted in entries.items():
        if name not in servers:
            plan.added.append(name)
        elif servers[name] == wanted:
            plan.unchanged.append(name)
        elif force or is_mcp_acp_entry(servers[name], name):
            plan.replaced.append(name)
        else:
            plan.conflicts.append(Conflict(name, servers[name], wanted))
    if plan.conflicts and not force:
        return plan
    if not plan.added and not plan.replaced:
        return plan
    changes = {name: entries[name] for name in [*plan.added, *plan.replaced]}
    new_text = _edit(tree, key, changes)
    expected = {**data, key: {**servers, **changes}}
    # A safety net for the editing: the result must read back as exactly the intended content.
    if _parse(path, new_text, client)[0] != expected:
        raise ClientFileError(f"{path}: could not merge without disturbing other content. Nothing was changed.")
    plan.new_text = new_text
    return plan


def apply(plan: MergePlan) -> Path | None:
    """Write the planned text, keeping the file's mode; returns the backup, if a file was replaced."""
    if plan.new_text is None:
        return None
    target = plan.path.resolve()  # a symlinked config (dotfiles) stays a symlink; its target is edited
    if plan.old_text is None:
        target.parent.mkdir(parents=True, exist_ok=True)
        _write_atomically(target, plan.new_text, mode=None)
        return None
    backup = free_backup_path(target)
    shutil.copy2(target, backup)
    _write_atomically(target, plan.new_text, mode=target.stat().st_mode & 0o7777)
    return backup


def free_backup_path(target: Path) -> Path:
    """`<file>.bak.<timestamp>`, with a counter when that name is taken: a backup is never overwritten."""
    stem = f"{target.name}.bak.{datetime.now():%Y%m%d-%H%M%S}"
    candidate, n = target.with_name(stem), 1
    while candidate.exists():
        candidate, n = target.with_name(f"{stem}.{n}"), n + 1
    return candidate


def read_servers(path: Path, client: str, key: str) -> dict[str, object]:
    """The server entries under `key` in the client's file ({} when it has none); reads, never writes."""
    text = path.read_text(encoding="utf-8")
    if not text.strip():
        return {}
    data, _ = _parse(path, text, client)
    servers = data.get(key, {})
    if not isinstance(servers, dict):
        raise ClientFileError(f"{path}: '{key}' is not a JSON object; fix it first. Nothing was changed.")
    return servers


def restore_bytes(path: Path, content: bytes, mode: int | None) -> None:
    """Put a file's former bytes back exactly (`mcp-acp unwrap`), atomically, with its former mode."""
    _write_atomically(path.resolve(), content, mode)


def _write_atomically(target: Path, text: str | bytes, mode: int | None) -> None:
    """Temp file + fsync + rename: never a half-written client file. `mode=None`: a new file, made
    with the user's umask like any file they create. Bytes are written as they are."""
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        handle_mode, encoding = ("wb", None) if isinstance(text, bytes) else ("w", "utf-8")
        with os.fdopen(fd, handle_mode, encoding=encoding) as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _parse(path: Path, text: str, client: str) -> tuple[dict, jm.JSONText]:
    """The file's content as data, and its round-trip model; strict JSON unless the client reads JSONC."""
    kind = "JSON with comments (JSONC)" if accepts_jsonc(client) else "valid JSON"
    try:
        if accepts_jsonc(client):
            data: Any = json5.loads(text)
        else:
            data = json.loads(text)
        tree = json5.loads(text, loader=ModelLoader())
    except (json.JSONDecodeError, ValueError) as exc:
        where = (
            f" (line {exc.lineno}: {_first_error(exc.msg)})"
            if isinstance(exc, json.JSONDecodeError) and exc.lineno
            else ""
        )
        raise ClientFileError(f"{path} is not {kind}{where}; fix it first. Nothing was changed.") from exc
    if accepts_jsonc(client):
        for node in jm.walk(tree):
            if isinstance(node, _NOT_JSONC):
                line = f" (line {node.lineno})" if node.lineno else ""
                raise ClientFileError(
                    f"{path} uses JSON5 syntax that {client} does not read{line}; fix it first. Nothing was changed."
                )
    if not isinstance(data, dict) or not isinstance(tree.value, jm.JSONObject):
        raise ClientFileError(f"{path} does not hold a JSON object; fix it first. Nothing was changed.")
    return data, tree


def _first_error(message: str) -> str:
    """json-five lists every error it met; the first is the one to fix."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    if len(lines) > 1 and lines[0].startswith("There were multiple errors"):
        return lines[2] if lines[1].startswith("The primary error") and len(lines) > 2 else lines[1]
    return lines[0] if lines else message


def _edit(tree: jm.JSONText, key: str, changes: dict[str, dict]) -> str:
    """Put `changes` into the object under `key`, touching nothing else in the text."""
    root = tree.value
    assert isinstance(root, jm.JSONObject)
    root_indent = _key_indent(root, "\n")
    index = _find(root, key)
    if index is None:
        _append(root, key, changes, "\n")
    else:
        servers = root.values[index]
        assert isinstance(servers, jm.JSONObject)  # checked on the data by plan_merge
        parent = _key_indent_at(root, index) or root_indent
        for name, entry in changes.items():
            at = _find(servers, name)
            if at is None:
                _append(servers, name, entry, parent)
            else:
                _replace(servers, at, entry, _key_indent_at(servers, at) or _key_indent(servers, parent))
    return json5.dumps(tree, dumper=ModelDumper())  # type: ignore[arg-type]  # a model dumper, not a base one


def _find(obj: jm.JSONObject, name: str) -> int | None:
    """The index of the last pair named `name` (the one a JSON reader keeps)."""
    found = None
    for i, k in enumerate(obj.keys):
        if getattr(k, "characters", getattr(k, "name", None)) == name:
            found = i
    return found


def _trailing_indent(items: list) -> str | None:
    """The newline and indent at the end of a whitespace-and-comments list, if it ends with one."""
    if items and isinstance(items[-1], str) and "\n" in items[-1]:
        return "\n" + items[-1].rsplit("\n", 1)[1]
    return None


def _key_indent_at(obj: jm.JSONObject, index: int) -> str | None:
    return _trailing_indent(obj.leading_wsc if index == 0 else obj.keys[index].wsc_before)


def _key_indent(obj: jm.JSONObject, parent_indent: str) -> str:
    """How this object indents its keys: as its first key does, else one step (2 spaces) in."""
    if obj.keys and (found := _key_indent_at(obj, 0)):
        return found
    return parent_indent + "  "


def _value_node(value: object, indent: str) -> jm.Value:
    node = json5.loads(json.dumps(value, indent=2).replace("\n", indent), loader=ModelLoader()).value
    node.wsc_before = [" "]
    return node


def _replace(obj: jm.JSONObject, index: int, value: object, indent: str) -> None:
    old = obj.values[index]
    new = _value_node(value, indent)
    new.wsc_before, new.wsc_after = old.wsc_before, old.wsc_after  # the comments around it stay
    obj.values[index] = new


def _append(obj: jm.JSONObject, name: str, value: object, parent_indent: str) -> None:
    indent = _key_indent(obj, parent_indent)
    key_node = json5.loads(json.dumps(name), loader=ModelLoader()).value
    value_node = _value_node(value, indent)
    if obj.keys:
        last = obj.values[-1]
        if all(isinstance(w, str) for w in last.wsc_after):
            # the whitespace before the closing brace moves after the new pair
            value_node.wsc_after, last.wsc_after = last.wsc_after, []
        else:
            # a comment after the last pair stays with it (and keeps its newline, so the comma
            # written after it is not swallowed by a line comment)
            value_node.wsc_after = [parent_indent]
        key_node.wsc_before = [indent]
    else:
        leading = list(obj.leading_wsc)
        while leading and isinstance(leading[-1], str) and not leading[-1].strip():
            leading.pop()
        obj.leading_wsc = [*leading, indent]
        value_node.wsc_after = [parent_indent]
    assert isinstance(key_node, jm.Key)
    obj.keys.append(key_node)
    obj.values.append(value_node)
