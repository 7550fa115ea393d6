"""Glob patterns compiled once, when the policy loads (docs/policies.md#path-patterns).

Name globs (tool names, backend ids, MCP methods): `*` is any run of characters, `?` one.
Path globs: `*` and `?` stop at `/`, `**` crosses folders, and a trailing `/**` also matches
the folder itself. Everything is anchored: a pattern matches the whole value or nothing. Matching never
backtracks more than linearly (`compile_any`), whatever the pattern and the input.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Protocol

import re2

WILDCARDS = frozenset("*?")
_STAR_RUN = re.compile(r"\*+")


class Matcher(Protocol):
    def fullmatch(self, text: str, /) -> object | None: ...


def has_wildcard(pattern: str) -> bool:
    return not WILDCARDS.isdisjoint(pattern)


def name_regex(pattern: str) -> str:
    return "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)


def strip_slashes(path: str) -> str:
    """Trailing slashes do not change what a path names ("/" itself stays)."""
    return path.rstrip("/") or "/"


def path_regex(pattern: str) -> str:
    pattern = strip_slashes(pattern)
    suffix = ""
    if pattern.endswith("/**"):
        pattern, suffix = pattern[:-3], "(?:/.*)?"
    parts: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            parts.append(".*")
            i += 2
        elif pattern[i] == "*":
            parts.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            parts.append("[^/]")
            i += 1
        else:
            parts.append(re.escape(pattern[i]))
            i += 1
    return "".join(parts) + suffix


def literal_depth(pattern: str) -> int:
    """Non-empty path segments before the first wildcard: the specificity depth bonus."""
    segments = 0
    for segment in strip_slashes(pattern).split("/"):
        if has_wildcard(segment):
            break
        segments += bool(segment)
    return segments


def star_runs(pattern: str) -> int:
    """How many runs of `*` a glob has: each becomes an unbounded repetition in its regex."""
    return len(_STAR_RUN.findall(pattern))


def compile_any(patterns: list[str], to_regex: Callable[[str], str], flags: int = 0) -> Matcher:
    """One matcher for any of `patterns`, so a list costs one match call.

    A backtracking engine takes time exponential in the number of `*` runs of a glob
    (`*a*a*a*a*b` against a long name took seconds). A glob with at most one run cannot backtrack
    more than linearly, so it keeps Python's `re` (the fastest per call); any other list is
    compiled with RE2, whose matching time is linear whatever the pattern and the input."""
    source = "|".join(f"(?:{to_regex(p)})" for p in patterns)
    if all(star_runs(p) <= 1 for p in patterns):
        return re.compile(source, flags | re.DOTALL)
    options = re2.Options()
    options.dot_nl = True
    options.case_sensitive = not flags & re.IGNORECASE
    return re2.compile(source, options)
