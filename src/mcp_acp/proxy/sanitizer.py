"""Sanitizes what the client's model reads about a server before it reads it (docs/sanitizer.md).

Which strings: every string under a key `description`, `title` or `instructions`, at any depth
of what a server describes itself with: each tool in `tools/list` (its title, description,
annotations, and its input and output schemas with `$defs`, `anyOf`/`oneOf`/`allOf`, `items`
as a schema or a list, `additionalProperties`, `patternProperties` and whatever else nests),
each resource, resource template and prompt in `resources/list`, `resources/templates/list` and
`prompts/list` (prompt arguments included), and the result of `initialize` and of the
2026-07-28 revision's `server/discover` (`instructions`, `serverInfo`, and any descriptors they
carry). Nothing else is touched: names, URIs, types, defaults and enums are data, not prose.

How: one walk with an explicit stack, no recursion, so a schema nested 10,000 levels deep is
cleaned all the way down instead of crashing (RecursionError) or being left as it is. Every
container is visited once and every descriptive string goes through the per-text pipeline
once (remembered per raw text), so the cost is linear in the size of the result.

Per text: NFKC → drop invisible characters and whole terminal escape sequences → collapse
whitespace → markdown links to their text → strip HTML tags → tidy again → warn about
suspicious phrases → truncate (500 characters; 10,000 for `instructions`).

- Invisible characters: Unicode categories Cc (controls, except \\n \\t \\r), Cf (zero-width,
  bidi overrides, tag characters) and Cs (lone surrogates, which cannot be encoded).
- Terminal escape sequences: ESC is a control and goes anyway, but the rest of `ESC [31m`
  would stay as text, so CSI sequences (`ESC [` or 0x9B, parameters, final byte), OSC, DCS,
  SOS, PM and APC strings (up to BEL or ST, or to the end when unterminated) and two-character
  escapes are removed whole. Other invisible characters go first, so a zero-width character
  cannot split a sequence to save its tail. Removal never loops, so text such as
  `ESC ESC [31m [31m` may leave a harmless `[31m` behind, but never an ESC.
- Whitespace: \\r\\n, \\r, U+2028 and U+2029 become \\n, so line breaks survive (lists and
  paragraphs stay readable) while tabs and runs of spaces become one space, spaces around
  line breaks go, more than one blank line in a row becomes one, and the ends are trimmed.
- Markup: `[text](url)` and `![alt](src)` keep only their text; tags, comments and
  doctypes are removed whole, attributes included; entities such as `&lt;` stay as written.
  Removing markup can bring together characters that were apart, so the first three
  steps run once more.
- Suspicious phrases are only reported, never removed. They are looked for both before
  and after markup removal, so `<system>` or a phrase hidden in a tag or link still shows.
- Layout: `instructions` with nothing to remove keep their own whitespace (a Markdown
  document's indented lists and code, its final newline), so an honest server's guide reaches
  the client byte for byte; whitespace is tidied only in text that is cleaned anyway.
- Length: a description or title is a sentence or a paragraph, cut at 500. A server's
  `instructions` are its whole guide to using it, several paragraphs in real servers (a few
  thousand characters), and clients put them in the system prompt; cutting them at 500 would
  break honest servers, so they are cut at 10,000: everything an honest server writes, but
  still a bound on what a hostile one can push into the prompt.

An unchanged result comes back as the very same object (and each unchanged part as the same
part), so the relay can pass the backend's own bytes on; what changes is copied, never
modified in place.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

MAX_DESCRIPTION_LENGTH = 500
MAX_INSTRUCTIONS_LENGTH = 10_000
ELLIPSIS = "..."

# The keys whose string values the model reads as prose, at any depth, with their length caps.
DESCRIPTIVE_KEYS: dict[str, int] = {
    "description": MAX_DESCRIPTION_LENGTH,
    "title": MAX_DESCRIPTION_LENGTH,
    "instructions": MAX_INSTRUCTIONS_LENGTH,
}
# A finding's field path longer than this many keys is shortened (its head and tail are kept),
# so a deep schema full of descriptions costs linear time and memory to report.
MAX_FIELD_PATH_KEYS = 32

_INVISIBLE_CATEGORIES = {"Cc", "Cf", "Cs"}
_KEPT_CONTROLS = {"\n", "\t", "\r"}

# The characters that start or end a terminal escape sequence: ESC, BEL, and the C1 forms of
# DCS, SOS, CSI, ST, OSC, PM and APC.
_ESCAPE_CHARACTERS = {"\x1b", "\x07", "\x90", "\x98", "\x9b", "\x9c", "\x9d", "\x9e", "\x9f"}
_ESCAPE_START = re.compile(r"[\x1b\x90\x98\x9b\x9d\x9e\x9f]")
# Classes that do not overlap and no nested repetition: each match is linear.
_ESCAPE_SEQUENCE = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"  # CSI: parameters, intermediates, final byte
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"  # OSC, DCS, SOS, PM, APC
    r"|\x1b[ -/]*[0-~]?"  # any other escape: intermediates and a final byte
)

_LINE_BREAK = re.compile(r"\r\n?|[\u2028\u2029]")
_HORIZONTAL_SPACE = re.compile(r"[^\S\n]+")
_SPACE_AROUND_LINE_BREAK = re.compile(r" ?\n ?")
_BLANK_LINES = re.compile(r"\n{3,}")

# No brackets inside the text and no parentheses inside the URL: besides keeping links
# simple, it stops every '[' from rescanning the rest of the text (quadratic time).
_MARKDOWN_LINK = re.compile(r"!?\[([^\[\]]*)\]\([^()]*\)")
# A tag starts with a letter, '/', '!' or '?'. A '<' may also start one so `<<b>b>` goes
# in one pass: `a < b` and `x <3` stay text, and no tag can be left behind.
_HTML_TAG = re.compile(r"<(?=[A-Za-z/!?<])[^>]*>")

_FILLER = r"(?:(?:all|any|the|your|of|these|those)\s+)*"
SUSPICIOUS_PATTERNS: dict[str, tuple[re.Pattern[str], ...]] = {
    "instruction_override": (
        re.compile(
            rf"\b(?:ignore|disregard|forget|override)\s+{_FILLER}"
            r"(?:previous|prior|above|earlier|preceding)\s+"
            r"(?:instructions?|directions?|prompts?|rules|guidelines|context)\b",
            re.IGNORECASE,
        ),
        re.compile(
            rf"\bdisregard\s+{_FILLER}(?:instructions?|directions?|prompts?|rules|guidelines)\b",
            re.IGNORECASE,
        ),
    ),
    "role_assumption": (
        re.compile(r"\byou\s+are\s+now\b", re.IGNORECASE),
        re.compile(r"\bact\s+as\b", re.IGNORECASE),
        re.compile(r"\bpretend\s+(?:to\s+be|you\s+are)\b", re.IGNORECASE),
    ),
    "system_prompt": (
        re.compile(r"\bsystem\s+prompt\b", re.IGNORECASE),
        re.compile(r"<\s*/?\s*system\s*>", re.IGNORECASE),
        re.compile(r"\[/?INST\]", re.IGNORECASE),
        re.compile(r"^[ \t]*#+\s*system\b", re.IGNORECASE | re.MULTILINE),
        re.compile(r"<\|im_(?:start|end)\|>", re.IGNORECASE),
    ),
}


def _drop_invisible(text: str, kept: set[str]) -> str:
    return "".join(ch for ch in text if ch in kept or unicodedata.category(ch) not in _INVISIBLE_CATEGORIES)


def _strip_invisible(text: str) -> str:
    if _ESCAPE_START.search(text):
        # Other invisible characters first, so that none can split a sequence and save its tail.
        text = _ESCAPE_SEQUENCE.sub("", _drop_invisible(text, _KEPT_CONTROLS | _ESCAPE_CHARACTERS))
    return _drop_invisible(text, _KEPT_CONTROLS)


def _collapse_whitespace(text: str) -> str:
    text = _LINE_BREAK.sub("\n", text)
    text = _HORIZONTAL_SPACE.sub(" ", text)
    text = _SPACE_AROUND_LINE_BREAK.sub("\n", text)
    return _BLANK_LINES.sub("\n\n", text).strip()


def _normalize(text: str) -> str:
    return _collapse_whitespace(_strip_invisible(unicodedata.normalize("NFKC", text)))


def _strip_markup(text: str) -> str:
    text = _MARKDOWN_LINK.sub(r"\1", text)
    # Tags can only end at or before the last '>'. Searching the rest would rescan it
    # from every '<' in it (quadratic time on a flood of '<').
    head, last_gt, tail = text.rpartition(">")
    return _HTML_TAG.sub("", head + last_gt) + tail


def _suspicious(*texts: str) -> list[str]:
    return [
        name
        for name, patterns in SUSPICIOUS_PATTERNS.items()
        if any(pattern.search(text) for pattern in patterns for text in texts)
    ]


def _truncate(text: str, limit: int = MAX_DESCRIPTION_LENGTH) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - len(ELLIPSIS)] + ELLIPSIS


# sanitize_text is a pure function of its input, and a server sends the same descriptions in
# every list: remembering the answer per raw text (and length cap) makes an unchanged list cost
# one dict lookup per description instead of the whole pipeline (~30 µs each). Bounded by total
# size, since the texts come from the backend.
_MEMO: dict[Any, tuple[str, tuple[str, ...]]] = {}
MEMO_MAX_CHARS = 2_000_000
_memo_chars = 0


def sanitize_text(text: str, limit: int = MAX_DESCRIPTION_LENGTH) -> tuple[str, list[str]]:
    """The clean text (at most `limit` characters) and the names of suspicious patterns found
    in it (kept in the text)."""
    clean, found = _sanitized(text, limit)
    return clean, list(found)


def _sanitized(text: str, limit: int) -> tuple[str, tuple[str, ...]]:
    global _memo_chars
    key: Any = text if limit == MAX_DESCRIPTION_LENGTH else (limit, text)
    known = _MEMO.get(key)
    if known is None:
        known = _sanitize_text(text, limit)
        if len(text) <= MEMO_MAX_CHARS:
            if _memo_chars + len(text) > MEMO_MAX_CHARS:
                _MEMO.clear()
                _memo_chars = 0
            _MEMO[key] = known
            _memo_chars += len(text)
    return known


def _sanitize_text(text: str, limit: int) -> tuple[str, tuple[str, ...]]:
    normalized = _normalize(text)
    # Removing markup can join what was apart (a combining mark, two spaces): tidy again.
    clean = _normalize(_strip_markup(normalized))
    found = tuple(_suspicious(normalized, clean))
    clean = _truncate(clean, limit)
    if limit == MAX_INSTRUCTIONS_LENGTH and clean != text and _only_layout_differs(text, clean):
        clean = text  # instructions keep their own layout (a Markdown document's indents, a final newline)
    return clean, found


def _only_layout_differs(text: str, clean: str) -> bool:
    """Whether `text` has nothing to remove, only whitespace that tidying would change."""
    return _collapse_whitespace(text) == clean and not any(
        ch not in _KEPT_CONTROLS and unicodedata.category(ch) in _INVISIBLE_CATEGORIES for ch in text
    )


# --- whole results --------------------------------------------------------------------

# The lists of descriptors a result can carry, and what a finding calls one of their items.
LIST_KINDS = {"tools": "tool", "resources": "resource", "resourceTemplates": "resource_template", "prompts": "prompt"}


def sanitize_tools_result(result: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A `tools/list` result with every descriptive string of every tool sanitized.

    Returns the result and one finding per string that was changed or looks suspicious:
    `{"tool": name, "field": "inputSchema.properties.path.description", "modified": bool,
    "patterns": [...]}`. Anything that is not shaped as expected is passed through untouched.
    `result` is never modified: what changes is copied, the rest is shared, and with nothing to
    change the very same object comes back (the usual case: a list costs lookups, not copies).
    """
    return sanitize_list_result(result, "tools")


def sanitize_list_result(result: Any, key: str) -> tuple[Any, list[dict[str, Any]]]:
    """`sanitize_tools_result` for the list under `key` (a key of LIST_KINDS): `resources`,
    `resourceTemplates` and `prompts` too. Findings name the item by its kind."""
    if not isinstance(result, dict) or not isinstance(result.get(key), list):
        return result, []
    findings: list[dict[str, Any]] = []
    items = _sanitize_items(result[key], LIST_KINDS[key], findings)
    return (result if items is result[key] else {**result, key: items}), findings


def sanitize_server_result(result: Any) -> tuple[Any, list[dict[str, Any]]]:
    """An `initialize` or `server/discover` result with its descriptive strings sanitized:
    `instructions` (cut at MAX_INSTRUCTIONS_LENGTH), those of `serverInfo` and anything else
    nested, and the items of any tool, resource, template or prompt list it carries. Findings
    about the server itself are `{"server": serverInfo.name, ...}`. Same sharing and identity
    as `sanitize_tools_result`."""
    if not isinstance(result, dict):
        return result, []
    findings: list[dict[str, Any]] = []
    info = result.get("serverInfo")
    subject = {"server": info.get("name") if isinstance(info, dict) else None}
    lists = {key: value for key, value in result.items() if key in LIST_KINDS and isinstance(value, list)}
    rest = {key: value for key, value in result.items() if key not in lists}
    clean_rest = _sanitize_tree(rest, subject, findings)
    changes = {} if clean_rest is rest else {k: v for k, v in clean_rest.items() if v is not result[k]}
    for key, items in lists.items():
        clean_items = _sanitize_items(items, LIST_KINDS[key], findings)
        if clean_items is not items:
            changes[key] = clean_items
    return ({**result, **changes} if changes else result), findings


def _sanitize_items(items: list[Any], kind: str, findings: list[dict[str, Any]]) -> list[Any]:
    clean = [
        _sanitize_tree(item, {kind: item.get("name") if isinstance(item, dict) else None}, findings) for item in items
    ]
    return items if all(new is old for new, old in zip(clean, items, strict=True)) else clean


def _entries(node: dict[Any, Any] | list[Any]) -> Any:
    return iter(node.items()) if isinstance(node, dict) else enumerate(node)


def _sanitize_tree(root: Any, subject: dict[str, Any], findings: list[dict[str, Any]]) -> Any:
    """`root` with every string under a DESCRIPTIVE_KEYS key sanitized, at any depth: `root`
    itself when that changes nothing, else a copy of what changed sharing the rest.

    Depth-first with an explicit stack of frames `[container, its remaining entries, changes]`
    (no recursion, so no depth limit); `keys` holds the key of each frame's container in its
    parent's, which is the path a finding reports."""
    if not isinstance(root, dict | list):
        return root
    stack: list[list[Any]] = [[root, _entries(root), None]]
    keys: list[Any] = []
    while True:
        frame = stack[-1]
        child = None
        for key, value in frame[1]:
            if isinstance(value, str):
                limit = DESCRIPTIVE_KEYS.get(key) if isinstance(key, str) else None
                if limit is None:
                    continue
                clean, patterns = _sanitized(value, limit)
                modified = clean != value
                if modified or patterns:
                    findings.append(
                        {**subject, "field": _field(keys, key), "modified": modified, "patterns": list(patterns)}
                    )
                if modified:
                    if frame[2] is None:
                        frame[2] = {}
                    frame[2][key] = clean
            elif isinstance(value, dict | list):
                child = key, value
                break
        if child is not None:
            keys.append(child[0])
            stack.append([child[1], _entries(child[1]), None])
            continue
        stack.pop()
        node, changes = frame[0], frame[2]
        new = node if changes is None else _with_changes(node, changes)
        if not stack:
            return new
        key = keys.pop()
        if new is not node:
            parent = stack[-1]
            if parent[2] is None:
                parent[2] = {}
            parent[2][key] = new


def _with_changes(node: dict[Any, Any] | list[Any], changes: dict[Any, Any]) -> dict[Any, Any] | list[Any]:
    if isinstance(node, dict):
        return {**node, **changes}
    copy = list(node)
    for index, value in changes.items():
        copy[index] = value
    return copy


def _field(keys: list[Any], key: Any) -> str:
    """The dotted path of `key` below `keys`; a long one keeps its head and tail only."""
    if len(keys) < MAX_FIELD_PATH_KEYS:
        parts = [*keys, key]
    else:
        half = MAX_FIELD_PATH_KEYS // 2
        parts = [*keys[:half], f"...({len(keys) - 2 * half + 1} more)...", *keys[-half + 1 :], key]
    return ".".join(map(str, parts))
