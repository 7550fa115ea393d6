"""Sanitizes tool descriptions in `tools/list` results before the client's model reads them (SPEC §11).

Per text: NFKC → drop invisible characters → collapse whitespace → markdown links to their
text → strip HTML tags → tidy again → warn about suspicious phrases → truncate to 500.

- Invisible characters: Unicode categories Cc (controls, except \\n \\t \\r), Cf (zero-width,
  bidi overrides, tag characters) and Cs (lone surrogates, which cannot be encoded).
- Whitespace: \\r\\n, \\r, U+2028 and U+2029 become \\n, so line breaks survive (lists and
  paragraphs stay readable) while tabs and runs of spaces become one space, spaces around
  line breaks go, more than one blank line in a row becomes one, and the ends are trimmed.
- Markup: `[text](url)` and `![alt](src)` keep only their text; tags, comments and
  doctypes are removed whole, attributes included; entities such as `&lt;` stay as written.
  Removing markup can bring together characters that were apart, so the first three
  steps run once more.
- Suspicious phrases are only reported, never removed. They are looked for both before
  and after markup removal, so `<system>` or a phrase hidden in a tag or link still shows.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

MAX_DESCRIPTION_LENGTH = 500
ELLIPSIS = "..."
# Deeper schemas are left as they are rather than recursing without bound.
MAX_SCHEMA_DEPTH = 16

_INVISIBLE_CATEGORIES = {"Cc", "Cf", "Cs"}
_KEPT_CONTROLS = {"\n", "\t", "\r"}

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


def _strip_invisible(text: str) -> str:
    return "".join(
        ch for ch in text if ch in _KEPT_CONTROLS or unicodedata.category(ch) not in _INVISIBLE_CATEGORIES
    )


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


def _truncate(text: str) -> str:
    if len(text) <= MAX_DESCRIPTION_LENGTH:
        return text
    return text[: MAX_DESCRIPTION_LENGTH - len(ELLIPSIS)] + ELLIPSIS


# sanitize_text is a pure function of its input, and a server sends the same descriptions in
# every tools/list: remembering the answer per raw text makes an unchanged list cost one dict
# lookup per description instead of the whole pipeline (~30 µs each). Bounded by total size,
# since the texts come from the backend.
_MEMO: dict[str, tuple[str, tuple[str, ...]]] = {}
MEMO_MAX_CHARS = 2_000_000
_memo_chars = 0


def sanitize_text(text: str) -> tuple[str, list[str]]:
    """The clean text and the names of suspicious patterns found in it (kept in the text)."""
    global _memo_chars
    known = _MEMO.get(text)
    if known is None:
        known = _sanitize_text(text)
        if len(text) <= MEMO_MAX_CHARS:
            if _memo_chars + len(text) > MEMO_MAX_CHARS:
                _MEMO.clear()
                _memo_chars = 0
            _MEMO[text] = known
            _memo_chars += len(text)
    return known[0], list(known[1])


def _sanitize_text(text: str) -> tuple[str, tuple[str, ...]]:
    normalized = _normalize(text)
    # Removing markup can join what was apart (a combining mark, two spaces): tidy again.
    clean = _normalize(_strip_markup(normalized))
    return _truncate(clean), tuple(_suspicious(normalized, clean))


def sanitize_tools_result(result: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A `tools/list` result with tool and input-schema descriptions sanitized.

    Returns the result and one finding per description that was changed or looks suspicious.
    Anything that is not shaped as expected is passed through untouched. `result` is never
    modified: what changes is copied, the rest is shared, and with nothing to change the very
    same object comes back (the usual case: a list costs lookups, not copies).
    """
    if not isinstance(result, dict) or not isinstance(result.get("tools"), list):
        return result, []
    findings: list[dict[str, Any]] = []
    tools = [_sanitize_tool(tool, findings) for tool in result["tools"]]
    if all(new is old for new, old in zip(tools, result["tools"], strict=True)):
        return result, findings
    return {**result, "tools": tools}, findings


def _sanitize_tool(tool: Any, findings: list[dict[str, Any]]) -> Any:
    if not isinstance(tool, dict):
        return tool
    name = tool.get("name")
    clean = _with_clean_description(tool, name, ("description",), findings)
    schema = tool.get("inputSchema")
    if isinstance(schema, dict):
        clean_schema = _sanitize_schema(schema, name, ("inputSchema",), findings, 0)
        if clean_schema is not schema:
            clean = {**clean, "inputSchema": clean_schema}
    return clean


def _sanitize_schema(
    schema: dict[str, Any], tool_name: Any, path: tuple[str, ...], findings: list[dict[str, Any]], depth: int
) -> dict[str, Any]:
    """Sanitizes the descriptions of a schema's properties, and of theirs, recursively."""
    if depth >= MAX_SCHEMA_DEPTH:
        return schema
    changes: dict[str, Any] = {}
    properties = schema.get("properties")
    if isinstance(properties, dict):
        clean = {name: _sanitize_property(prop, tool_name, (*path, "properties", name), findings, depth)
                 for name, prop in properties.items()}
        if any(clean[name] is not prop for name, prop in properties.items()):
            changes["properties"] = clean
    items = schema.get("items")
    if isinstance(items, dict):
        # Arrays of objects: their element schema has properties of its own.
        clean_items = _sanitize_schema(items, tool_name, (*path, "items"), findings, depth + 1)
        if clean_items is not items:
            changes["items"] = clean_items
    return {**schema, **changes} if changes else schema


def _sanitize_property(
    prop: Any, tool_name: Any, path: tuple[str, ...], findings: list[dict[str, Any]], depth: int
) -> Any:
    if not isinstance(prop, dict):
        return prop
    clean = _with_clean_description(prop, tool_name, (*path, "description"), findings)
    return _sanitize_schema(clean, tool_name, path, findings, depth + 1)


def _with_clean_description(
    obj: dict[str, Any], tool_name: Any, field: tuple[str, ...], findings: list[dict[str, Any]]
) -> dict[str, Any]:
    """`obj` with its description sanitized: `obj` itself when that changes nothing."""
    description = obj.get("description")
    if not isinstance(description, str):
        return obj
    clean, patterns = sanitize_text(description)
    modified = clean != description
    if modified or patterns:
        findings.append({"tool": tool_name, "field": ".".join(field), "modified": modified, "patterns": patterns})
    return {**obj, "description": clean} if modified else obj
    clean["description"], patterns = sanitize_text(description)
    modified = clean["description"] != description
    if modified or patterns:
        findings.append({"tool": tool_name, "field": field, "modified": modified, "patterns": patterns})
    return clean
