"""Where a value sits in a JSON text: the line of each path, so a problem found in the decoded data
(a pydantic location such as `rules.2.conditions.tool_name`) can be shown at its line of the file."""

from __future__ import annotations

import json
import re

_SPACE = re.compile(r"[ \t\n\r]*")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_SCALAR = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?|true|false|null")

Path = tuple[int | str, ...]


def offsets(text: str) -> dict[Path, int]:
    """The offset of every path of a valid JSON text: a member at its key, an item at its value.
    Empty when the text is not valid JSON (or too deep to walk)."""
    found: dict[Path, int] = {}

    def skip(i: int) -> int:
        match = _SPACE.match(text, i)
        return match.end() if match else i

    def value(i: int, path: Path) -> int:
        i = skip(i)
        found.setdefault(path, i)
        char = text[i]
        if char == "{":
            i = skip(i + 1)
            if text[i] == "}":
                return i + 1
            while True:
                i = skip(i)
                key, end = _string(text, i)
                found[(*path, key)] = i  # the last of duplicate keys wins, as json.loads keeps it
                i = skip(end)
                i = skip(value(i + 1, (*path, key)))  # past the ':'
                if text[i] == "}":
                    return i + 1
                i += 1  # ','
        if char == "[":
            i = skip(i + 1)
            if text[i] == "]":
                return i + 1
            index = 0
            while True:
                i = skip(value(i, (*path, index)))
                if text[i] == "]":
                    return i + 1
                i, index = i + 1, index + 1
        if char == '"':
            return _string(text, i)[1]
        match = _SCALAR.match(text, i)
        if not match:
            raise ValueError(f"unexpected {char!r} at {i}")
        return match.end()

    try:
        value(0, ())
    except (ValueError, IndexError, RecursionError):
        return {}
    return found


def _string(text: str, i: int) -> tuple[str, int]:
    match = _STRING.match(text, i)
    if not match:
        raise ValueError(f"no string at {i}")
    return json.loads(match.group()), match.end()


def line_of(text: str, location: Path, known: dict[Path, int] | None = None) -> int:
    """The 1-based line of `location`, or of its nearest part that is in the text (a missing field
    is shown at the object that lacks it). Parts that are no path (pydantic's union tags) are skipped."""
    known = offsets(text) if known is None else known
    path: Path = ()
    at = known.get((), 0)
    for part in location:
        if (*path, part) in known:
            path = (*path, part)
            at = known[path]
    return text.count("\n", 0, at) + 1
