"""Every path a request carries, and every place a real server may take each one (issue 15).

A server acts on whatever argument it likes, so the proxy does not pick one "main path": every
string at any depth that a server could take as a path is a resource of the request.

- **Path-like.** Any string under a key that names a path (`path`, `paths`, `file_path`,
  `sourcePath`, `directory`…) is one, whatever it looks like, the empty string included (a
  server reads it as its root). Under a key that only may name one (`source`, `to`, `uri`…) a
  string counts when it looks like a path, contains a `/`, or when the server's roots are
  known. Anywhere else, a one-line string counts when it is absolute (`/`, `~`, `file:`) or
  climbs (`./`, `../`).
- **Relative paths** are judged against each of the server's roots, never against the proxy's
  own working folder. With no known root one under a path key cannot be judged, and the
  request is refused; free text elsewhere that merely looks relative is then left alone.
- **Readings.** Servers resolve paths differently: the kernel follows symlinks before `..`;
  Node servers collapse `..` first (`realpath(normpath(p))`); and a rule may name the path as
  written. Each reading of each path is judged, and the strictest outcome wins.
- **Bounded cost.** A string longer than PATH_MAX is not a path (under a path key it is
  refused); at most MAX_PATHS paths per request.
"""

from __future__ import annotations

import os
import posixpath
import re
import sys
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import unquote, urlsplit

PATH_MAX = 4096
MAX_PATHS = 1024
# Filesystems that ignore case: a pattern must then ignore it too (macOS and Windows defaults).
CASE_INSENSITIVE_FS = sys.platform in ("darwin", "win32")

# The last word of a key (snake, kebab or camel case) that says its value is a path.
PATH_WORDS = frozenset(
    {
        "path",
        "paths",
        "file",
        "files",
        "filename",
        "filenames",
        "filepath",
        "filepaths",
        "dir",
        "dirs",
        "directory",
        "directories",
        "folder",
        "folders",
        "cwd",
        "workdir",
        "pathname",
    }
)
# Keys that may name a path, or may not (`to` of an e-mail).
MAYBE_PATH_WORDS = frozenset(
    {
        "source",
        "sources",
        "src",
        "destination",
        "destinations",
        "dest",
        "target",
        "targets",
        "from",
        "to",
        "uri",
        "uris",
        "url",
        "location",
        "root",
        "roots",
        "origin",
        "repo",
        "repository",
    }
)
NOT_PATHS = frozenset({"xpath", "jsonpath", "xpaths"})  # query languages, not files
SOURCE_WORDS = frozenset({"source", "sources", "src", "from", "origin"})
DEST_WORDS = frozenset({"destination", "destinations", "dest", "to", "target", "targets"})

_WORD = re.compile(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
# Free text (a file's content, a message) is not a path: paths are one line.
_MULTILINE = re.compile(r"[\n\r\t]")
_COMMENTS = ("/*", "// ")  # a one-line file that is a comment, not a path

PATH, SOURCE, DEST, OTHER = "path", "source", "dest", "other"


@dataclass(frozen=True, slots=True)
class PathArg:
    written: str
    role: str  # path | source | dest | other (a string that looks like a path under any key)
    keyed: bool  # under a key that names a path: refused when it cannot be judged
    # A bare name ("notes") under a key that may name a path: a path only against a known root.
    needs_roots: bool = field(default=False, compare=False)


@dataclass(frozen=True, slots=True)
class JudgedPath:
    """One path argument with every absolute path a server may take it to."""

    written: str
    role: str
    readings: tuple[str, ...]  # empty when it cannot be judged (`problem` says why)
    problem: str | None = None


def _key_words(key: str) -> list[str]:
    return [word.lower() for word in _WORD.findall(key)] or [key.lower()]


def key_kind(key: str) -> tuple[bool, bool, str]:
    """(names a path, may name a path, role) of an argument's key."""
    words = _key_words(key)
    last, joined = words[-1], "".join(words)
    first = words[0]
    role = (
        SOURCE
        if first in SOURCE_WORDS or first.startswith(("from", "src", "source"))
        else DEST
        if first in DEST_WORDS or first.startswith(("to", "dest", "target"))
        else PATH
    )
    if last in PATH_WORDS or joined in PATH_WORDS or (last.endswith(("path", "paths")) and last not in NOT_PATHS):
        return True, True, role
    if last in MAYBE_PATH_WORDS or words[0] in MAYBE_PATH_WORDS:
        return False, True, role
    return False, False, OTHER


def _looks_like_path(text: str) -> bool:
    if text.startswith(("/", "~", "./", "../")) or text == ".." or "/../" in text or text.endswith("/.."):
        return True
    return text[:5].lower() == "file:"


def _has_other_scheme(text: str, strict: bool = False) -> bool:
    """`https://…`, `mailto:…`: a URI a server fetches or mails, not a file it opens. Under a
    key that names a path only `scheme://` counts (`a:b.env` is a file name there)."""
    return bool((_URL if strict else _SCHEME).match(text)) and text[:5].lower() != "file:"


def path_arguments(value: Any, roots_known: bool, key: str | None = None) -> list[PathArg]:
    """Every path-like string in `value` (any depth, arrays included): the nearest enclosing key
    decides what a string is. Iterative, so no input depth can exhaust the stack."""
    found: list[PathArg] = []
    stack: list[tuple[Any, str | None]] = [(value, key)]
    kinds: dict[str, tuple[bool, bool, str]] = {}
    while stack:
        item, parent = stack.pop()
        if isinstance(item, dict):
            stack.extend((v, k) for k, v in cast("dict[str, Any]", item).items() if k != "_meta")
        elif isinstance(item, list):
            stack.extend((v, parent) for v in cast("list[Any]", item))
        elif isinstance(item, str):
            if parent is None:
                names, maybe, role = False, False, OTHER
            else:
                if (kind := kinds.get(parent)) is None:
                    kind = kinds[parent] = key_kind(parent)
                names, maybe, role = kind
            if names and not _has_other_scheme(item, strict=True):
                found.append(PathArg(item, role, True))
            elif (
                maybe
                and not _has_other_scheme(item)
                and ((looks := _looks_like_path(item)) or (len(item) <= PATH_MAX and (roots_known or "/" in item)))
            ):
                # an over-long one is refused, not skipped
                found.append(PathArg(item, role, True, needs_roots=not looks and "/" not in item))
            elif (
                len(item) <= PATH_MAX
                and _looks_like_path(item)
                and not _MULTILINE.search(item)
                and not item.startswith(_COMMENTS)
            ):
                found.append(PathArg(item, OTHER, False))
    found.reverse()  # the order they were written in
    return found


def json_object(value: object) -> dict[str, Any]:
    """`value` when it is a JSON object, else an empty one."""
    return cast("dict[str, Any]", value) if isinstance(value, dict) else {}


def request_paths(method: str, params: dict[str, Any], roots_known: bool) -> list[PathArg]:
    """The path arguments of a request, by method."""
    if method == "tools/call" or method == "prompts/get":
        return path_arguments(params.get("arguments"), roots_known)
    if method == "completion/complete":
        argument = json_object(params.get("argument"))
        name = given if isinstance(given := argument.get("name"), str) else "value"
        context = json_object(params.get("context"))
        return [
            *path_arguments({name: argument.get("value")}, roots_known),
            *path_arguments(context.get("arguments"), roots_known),
        ]
    if method.startswith("resources/"):
        uri = params.get("uri")
        found = path_arguments(params.get("arguments"), roots_known)
        if isinstance(uri, str) and uri[:5].lower() == "file:":
            found.insert(0, PathArg(uri, PATH, True))
        return found
    return path_arguments({k: v for k, v in params.items() if k != "_meta"}, roots_known)


# --- readings ---------------------------------------------------------------------------


def as_filesystem_text(text: str) -> str:
    """What a server hands the filesystem: a file URI's path, `~` expanded, a leading `//` as `/`."""
    if text[:5].lower() == "file:":
        text = unquote(urlsplit(text).path)
    if text.startswith("//"):  # POSIX keeps a leading "//"; the kernel reads it as "/"
        text = "/" + text.lstrip("/")
    return os.path.expanduser(text)


READINGS = ("written", "kernel", "node")  # the ways of reading, in the order readings_of gives them


def readings_of(text: str) -> tuple[str, ...]:
    """The absolute path as written (`..` collapsed, no link followed), where the kernel takes it
    (links, then `..`), and where Node servers take it (`..` collapsed, then links); then the
    same three for its NFC spelling, which some servers match folder entries against. Always in
    that order, so the n-th reading of two paths is one server's way of reading both."""
    spellings = [text]
    if not text.isascii() and (nfc := unicodedata.normalize("NFC", text)) != text:
        spellings.append(nfc)
    found: list[str] = []
    for spelling in spellings:
        lexical = posixpath.normpath(spelling)
        kernel = os.path.realpath(spelling)
        found += [lexical, kernel, os.path.realpath(lexical) if ".." in spelling else kernel]
    return tuple(found)


def judge(arg: PathArg, roots: Iterable[str]) -> JudgedPath:
    """Every absolute path `arg` may lead to, against each root when it is relative."""
    written = arg.written
    if len(written) > PATH_MAX:
        return JudgedPath(
            written,
            arg.role,
            (),
            f"'{written[:40]}…' is too long to be a path ({len(written)} characters; the limit is {PATH_MAX})",
        )
    if "\x00" in written:  # no real path has one; a backend written in C stops there
        return JudgedPath(written, arg.role, (), "a path argument contains a NUL byte")
    text = as_filesystem_text(written)
    if posixpath.isabs(text):
        return JudgedPath(written, arg.role, readings_of(text))
    roots = tuple(roots)
    if not roots and not arg.keyed:  # free text that merely looks relative: nothing to judge it by
        return JudgedPath(written, arg.role, ())
    if not roots:
        return JudgedPath(
            written,
            arg.role,
            (),
            (
                f"the relative path '{written}' cannot be judged: this server's roots are unknown. Declare "
                'them with "roots": ["/abs/folder", …] in the proxy\'s config.json, or use an absolute path'
            ),
        )
    found: list[str] = []
    for root in roots:
        found += readings_of(posixpath.join(root, text))
    return JudgedPath(written, arg.role, tuple(found))


def judge_all(args: list[PathArg], roots: Iterable[str]) -> tuple[JudgedPath, ...]:
    roots = tuple(roots)
    if len(args) > MAX_PATHS:
        return (
            JudgedPath(
                args[0].written,
                args[0].role,
                (),
                f"the request names {len(args)} paths; at most {MAX_PATHS} are judged per request",
            ),
        )
    judged = (judge(arg, roots) for arg in dict.fromkeys(args))
    return tuple(item for item in judged if item.readings or item.problem)


def match_key(path: str) -> str:
    """The form patterns are matched on: NFC, and case-folded where the filesystem ignores case."""
    if not path.isascii():
        path = unicodedata.normalize("NFC", path)
    return path.casefold() if CASE_INSENSITIVE_FS else path
