"""Glob patterns compiled once, when the policy loads (SPEC §2.2).

Name globs (tool names, backend ids, MCP methods): `*` is any run of characters, `?` one.
Path globs: `*` and `?` stop at `/`, `**` crosses folders, and a trailing `/**` also matches
the folder itself. Everything is anchored: a pattern matches the whole value or nothing.
"""

from __future__ import annotations

import re

WILDCARDS = frozenset("*?")


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
    parts, i = [], 0
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


def compile_any(patterns: list[str], to_regex, flags: int = 0) -> re.Pattern[str]:
    """One regex matching any of `patterns`, so a list costs one match call."""
    return re.compile("|".join(f"(?:{to_regex(p)})" for p in patterns), flags | re.DOTALL)
