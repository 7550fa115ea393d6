"""What a human is shown of a request's arguments (issue 15): everything, with secrets redacted.

A human who approves a request must be able to see all of it. So nothing here cuts anything:
`redacted()` returns every key, every list item and every character of the arguments, as JSON
values, with only secret-looking values replaced by a marker that says so and gives the length
(`[redacted: 40 characters]`). Display surfaces with little room (a terminal, a native dialog)
fold long values with `fold_lines()`: a head, an explicit line with the full size and how to see
everything (`mcp-acp approvals show ID`), and the tail; never a silent cut.

Redaction, two ways:

- by key name (`SECRET_NAME`, at any depth): every string or number under such a key is
  replaced, the structure around it stays visible; except a string that reads like a command
  or prose (shell punctuation, a line break, several words, over 512 characters), which is
  shown (with secret-shaped spans still redacted) so that a key's name cannot hide a command;
- by value shape, anywhere in any string (bearer tokens, JWTs, PEM private keys, `sk-…`,
  `ghp_…`/`github_pat_…`, `AKIA…`, `xox[bp]-…`, credentials in URLs, `PASSWORD=…`). Only the
  matching span is replaced, and a span never includes whitespace, quotes or shell punctuation
  (`;|&<>()$` and backquote), so a fake secret cannot hide the `| sh` after it. The one exception
  is a complete PEM private-key block (BEGIN line to END line), whose base64 lines are hidden.

Hostile input is expected: every walk uses an explicit stack (no recursion), runs in time linear
in the input, and anything nested deeper than `MAX_DEPTH` is shown as (redacted) JSON text.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping

import orjson

# Argument names whose values are never shown: the human needs to see what is touched, not secrets.
SECRET_NAME = re.compile(
    r"pass(word|phrase)?|secret|token|api[_-]?key|auth|credential|private[_-]?key|cookie", re.IGNORECASE
)
MAX_DEPTH = 32  # deeper than this, a value is shown as its JSON text (a string), still redacted
SHOW_COMMAND = "mcp-acp approvals show {id}"
DEEP_PREFIX = f"[nested deeper than {MAX_DEPTH} levels, shown as JSON text] "

# Characters a secret token is made of: never whitespace, quotes or shell punctuation.
_TOK = r"A-Za-z0-9._~+/=-"
# Each shape: (pattern, the group that is hidden). Whatever the pattern matched before that group
# stays visible ("Bearer ", "https://user:"). Every pattern starts with a literal, and checks the
# boundary before it with a lookbehind *after* it, so the regex engine can skip to candidates.
_SHAPES: tuple[tuple[re.Pattern, str], ...] = tuple(
    (re.compile(pattern), group)
    for pattern, group in (
        # Authorization: <scheme> <credentials> (a header line, a curl -H, a JSON string).
        (
            rf"[Aa][Uu][Tt][Hh][Oo][Rr][Ii][Zz][Aa][Tt][Ii][Oo][Nn][ \t]*[:=][ \t]*[\"']?[A-Za-z-]{{1,40}}[ \t]+"
            rf"(?P<s>[{_TOK}]++)",
            "s",
        ),
        (rf"(?i:bearer)(?<![A-Za-z0-9_]......)[ \t]+(?P<s>[{_TOK}]{{16,}}+)", "s"),
        (r"(?P<s>eyJ(?<![A-Za-z0-9_-]eyJ)[A-Za-z0-9_-]{4,}+\.[A-Za-z0-9_-]{4,}+\.[A-Za-z0-9_-]*+)", "s"),
        # A whole PEM private key block (its BEGIN line stays visible): base64 lines and RFC 1421
        # headers only, up to its END line; a BEGIN line without its END hides nothing.
        (
            r"-----BEGIN (?:[A-Z0-9]{1,20} ){0,3}PRIVATE KEY-----"
            r"(?P<s>(?:\r?\n(?:[A-Za-z0-9+/=]{1,128}|[A-Za-z-]{1,40}: [A-Za-z0-9,-]{1,200})?(?=\r?\n))++"
            r"\r?\n-----END (?:[A-Z0-9]{1,20} ){0,3}PRIVATE KEY-----)",
            "s",
        ),
        (r"(?P<s>sk-(?<![A-Za-z0-9_-]sk-)[A-Za-z0-9_-]{16,}+)", "s"),
        (r"(?P<s>gh[pousr]_(?<![A-Za-z0-9_]gh._)[A-Za-z0-9]{20,}+)", "s"),
        (r"(?P<s>github_pat_(?<![A-Za-z0-9_]github_pat_)[A-Za-z0-9_]{20,}+)", "s"),
        (r"(?P<s>A[KS]IA(?<![A-Za-z0-9]A[KS]IA)[A-Z0-9]{16}(?![A-Za-z0-9]))", "s"),
        (r"(?P<s>xox[abposr]-(?<![A-Za-z0-9_-]xox.-)[A-Za-z0-9-]{10,}+)", "s"),
        (r"(?P<s>AIza(?<![A-Za-z0-9_-]AIza)[A-Za-z0-9_-]{30,}+)", "s"),
        # scheme://user:PASSWORD@host
        (r"://[^\s/:@\"'<>]{1,256}+:(?P<s>[^\s/@\"'<>`;|&()$\\]++)(?=@)", "s"),
    )
)
# NAME=value, --api-key=value, "token": "value" inside a string (a shell command, a config
# snippet): found from the keyword (a fast search in the lowercased text), then matched on.
_ASSIGN_WORDS = (
    "pass",
    "secret",
    "token",
    "apikey",
    "api_key",
    "api-key",
    "credential",
    "privatekey",
    "private_key",
    "private-key",
    "cookie",
)
_ASSIGN_REST = re.compile(
    r"[A-Za-z0-9_-]{0,40}+[\"']?[ \t]*+[=:][ \t]*+[\"']?(?!\[redacted: )"
    r"(?P<s>[^\s\"'`;|&<>()$\\]++)"
)


def marker(length: int) -> str:
    """What replaces a secret: that it was one, and how long it was; never any of it."""
    return f"[redacted: {length:,} character{'s' if length != 1 else ''}]"


def _replace(match: re.Match) -> str:
    start, end = match.span("s")
    return match[0][: start - match.start()] + marker(end - start) + match[0][end - match.start() :]


def _redact_assignments(text: str) -> str:
    lowered = text.lower()
    if len(lowered) != len(text):  # a few characters change length when lowercased: scan as is
        lowered = text
    hits = sorted({index for word in _ASSIGN_WORDS for index in _find_all(lowered, word)})
    if not hits:
        return text
    pieces, cursor = [], 0
    for index in hits:
        if index < cursor:
            continue  # inside a value already hidden
        word_end = next(index + len(word) for word in _ASSIGN_WORDS if lowered.startswith(word, index))
        match = _ASSIGN_REST.match(text, word_end)
        if match is None:
            continue
        pieces += [text[cursor : match.start("s")], marker(match.end("s") - match.start("s"))]
        cursor = match.end("s")
    return "".join(pieces) + text[cursor:]


def _find_all(text: str, word: str) -> Iterator[int]:
    index = text.find(word)
    while index != -1:
        yield index
        index = text.find(word, index + 1)


def redact_text(text: str) -> str:
    """`text` with every secret-looking span replaced by its marker; the rest exactly as it was."""
    # Assignments first: a shape's marker has spaces, which an assignment's value would stop at,
    # leaving half a marker behind.
    text = _redact_assignments(text)
    for pattern, _ in _SHAPES:
        text = pattern.sub(_replace, text)
    return text


# A value that reads like a command or prose is shown even under a secret-looking key: hiding
# it would let a key named `auth_script` carry a command past the human's eyes.
NOT_A_SECRET = re.compile(r"[\n;|&$`<>()]|\s.*\s.*\s.*\s")


def _scalar(value: object, secret: bool) -> object:
    if value is None or isinstance(value, bool):
        return value  # carries no secret, and says something (`"use_auth": true`)
    if secret and not (isinstance(value, str) and (len(value) > 512 or NOT_A_SECRET.search(value))):
        return marker(len(value if isinstance(value, str) else _scalar_json(value)))
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, (int, float)):
        return value
    return redact_text(str(value))


def _key(key: object, taken: Mapping[str, object]) -> str:
    """A key as shown: secret-shaped parts redacted; never merged with another key."""
    shown = redact_text(str(key))
    if shown in taken:
        number = 2
        while f"{shown} ({number})" in taken:
            number += 1
        shown = f"{shown} ({number})"
    return shown


def redacted(arguments: object) -> object:
    """The arguments whole, as JSON values, with secret-looking values replaced by a marker."""
    holder: list[object] = [None]
    stack: list[tuple[object, object, object, bool, int]] = [(arguments, holder, 0, False, 0)]
    while stack:
        value, parent, slot, secret, depth = stack.pop()
        if isinstance(value, (dict, list, tuple)) and depth >= MAX_DEPTH:
            parent[slot] = DEEP_PREFIX + "".join(_json_chunks(value, redact=True, secret=secret))  # type: ignore[index]
        elif isinstance(value, dict):
            out: dict[str, object] = {}
            parent[slot] = out  # type: ignore[index]
            for key, item in value.items():
                shown = _key(key, out)
                out[shown] = None  # the key's place, in the client's order
                stack.append((item, out, shown, secret or bool(SECRET_NAME.search(str(key))), depth + 1))
        elif isinstance(value, (list, tuple)):
            items: list[object] = [None] * len(value)
            parent[slot] = items  # type: ignore[index]
            stack.extend((item, items, index, secret, depth + 1) for index, item in enumerate(value))
        else:
            parent[slot] = _scalar(value, secret)  # type: ignore[index]
    return holder[0]


# --------------------------------------------------------------------------- JSON text, iteratively


def _scalar_json(value: object) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return float.__repr__(value)
    return json.encoder.encode_basestring(value if isinstance(value, str) else str(value))


def _json_chunks(
    value: object, *, redact: bool = False, secret: bool = False, sort_keys: bool = False
) -> Iterator[str]:
    """Compact JSON text of `value` (optionally redacted), with an explicit stack: any depth."""
    stack: list[tuple[bool, object, bool]] = [(False, value, secret)]  # (is literal text, item, secret)
    while stack:
        literal, item, under_secret = stack.pop()
        if literal:
            yield item  # type: ignore[misc]
        elif isinstance(item, dict):
            entries = sorted(item.items(), key=lambda entry: str(entry[0])) if sort_keys else list(item.items())
            stack.append((True, "}", False))
            for index in range(len(entries) - 1, -1, -1):
                key, child = entries[index]
                child_secret = under_secret or (redact and bool(SECRET_NAME.search(str(key))))
                stack.append((False, child, child_secret))
                stack.append((True, _scalar_json(redact_text(str(key)) if redact else str(key)) + ":", False))
                if index:
                    stack.append((True, ",", False))
            stack.append((True, "{", False))
        elif isinstance(item, (list, tuple)):
            stack.append((True, "]", False))
            for index in range(len(item) - 1, -1, -1):
                stack.append((False, item[index], under_secret))
                if index:
                    stack.append((True, ",", False))
            stack.append((True, "[", False))
        else:
            yield _scalar_json(_scalar(item, under_secret) if redact else item)


def json_text(value: object, *, sort_keys: bool = False) -> str:
    """Compact JSON text of `value` exactly (nothing redacted); any depth."""
    return "".join(_json_chunks(value, sort_keys=sort_keys))


def json_size(value: object) -> int:
    """Bytes of the compact UTF-8 JSON of `value`; any depth."""
    try:
        return len(orjson.dumps(value))
    except orjson.JSONEncodeError:  # deeper than orjson goes, an integer beyond 64 bits, NaN
        pass
    return sum(len(chunk.encode("utf-8", "surrogatepass")) for chunk in _json_chunks(value))


# --------------------------------------------------------------------------- folding for small surfaces


def show_hint(approval_id: str | None) -> str:
    command = SHOW_COMMAND.format(id=approval_id or "ID")
    return f"run '{command}' to see everything"


def _count(number: int, unit: str) -> str:
    return f"{number:,} {unit}{'s' if number != 1 else ''}"


def fold_notice(hidden: int, total: int, unit: str, approval_id: str | None) -> str:
    """The explicit line that stands where something is folded away: how much, of how much."""
    return f"… {_count(hidden, f'more {unit}')} ({total:,} in all): {show_hint(approval_id)}"


def fold_text(text: str, max_chars: int, tail_chars: int, approval_id: str | None) -> list[str]:
    """`text` in one line when it fits; else its head, the fold notice, and its tail."""
    if len(text) <= max_chars:
        return [text]
    tail_chars = max(0, min(tail_chars, max_chars // 2))
    head = text[: max_chars - tail_chars]
    hidden = len(text) - len(head) - tail_chars
    lines = [head + "…", fold_notice(hidden, len(text), "character", approval_id)]
    if tail_chars:
        lines.append("…" + text[len(text) - tail_chars :])
    return lines


def _value_lines(value: object, max_chars: int, tail_chars: int, approval_id: str | None) -> list[str]:
    """One value as JSON text, folded by characters. A string is folded on its own characters
    (what the sizes count), then quoted."""
    if isinstance(value, str) and len(value) > max_chars:
        head, notice, *tail = fold_text(value, max_chars, tail_chars, approval_id)
        quoted_head = _scalar_json(head[:-1])[:-1] + "…"  # opening quote, no closing one
        lines = [quoted_head, notice]
        if tail:
            lines.append("…" + _scalar_json(tail[0][1:])[1:])  # closing quote, no opening one
        return lines
    text = _scalar_json(value) if isinstance(value, str) else "".join(_json_chunks(value))
    return fold_text(text, max_chars, tail_chars, approval_id)


def fold_lines(
    arguments: Mapping[str, object] | None,
    approval_id: str | None,
    *,
    max_chars: int = 200,
    max_items: int = 20,
    max_keys: int = 50,
    tail_chars: int = 60,
    tail_items: int = 2,
    indent: str = "  ",
) -> list[str]:
    """The arguments as display lines: `"name": value` per argument, a list's items one per line,
    anything long folded to a head, an explicit notice with its full size and the
    `approvals show` hint, and its tail. Lines are plain text: each surface escapes them."""
    lines: list[str] = []
    if arguments is not None and not isinstance(arguments, Mapping):
        arguments = {"arguments": arguments}
    entries = list((arguments or {}).items())
    shown_entries = entries if len(entries) <= max_keys else entries[:max_keys]
    for key, value in shown_entries:
        name, *name_rest = _value_lines(str(key), max_chars, tail_chars, approval_id)
        if name_rest:  # a name too long for one line is folded like any value
            lines.append(name)
            lines.extend(indent + line for line in name_rest)
            prefix = indent + "= "
        else:
            prefix = f"{name}: "
        if isinstance(value, list) and value and len(_first_line(value, max_chars)) > max_chars:
            lines.append(f"{prefix}a list of {_count(len(value), 'item')}")
            lines.extend(_list_lines(value, max_chars, max_items, tail_chars, tail_items, approval_id, indent))
            continue
        first, *rest = _value_lines(value, max_chars, tail_chars, approval_id)
        lines.append(prefix + first)
        lines.extend(indent + line for line in rest)
    if len(entries) > len(shown_entries):
        lines.append(fold_notice(len(entries) - len(shown_entries), len(entries), "argument", approval_id))
    return lines


def _first_line(value: list, max_chars: int) -> str:
    """The list as compact JSON, as far as it matters to decide whether it fits on one line."""
    text = []
    length = 0
    for chunk in _json_chunks(value):
        text.append(chunk)
        length += len(chunk)
        if length > max_chars:
            break
    return "".join(text)


def _list_lines(
    value: list, max_chars: int, max_items: int, tail_chars: int, tail_items: int, approval_id: str | None, indent: str
) -> list[str]:
    total = len(value)
    if total <= max_items:
        indices = list(range(total))
        hidden = 0
    else:
        tail_items = max(0, min(tail_items, max_items // 2))
        indices = list(range(max_items - tail_items)) + list(range(total - tail_items, total))
        hidden = total - len(indices)
    width = len(str(total))
    lines: list[str] = []
    for position, index in enumerate(indices):
        if hidden and position == max_items - tail_items:
            lines.append(indent + fold_notice(hidden, total, "item", approval_id))
        first, *rest = _value_lines(value[index], max_chars, tail_chars, approval_id)
        label = f"[{index + 1:>{width}}] "
        lines.append(indent + label + first)
        lines.extend(indent + " " * len(label) + line for line in rest)
    return lines
