"""Finding secrets and injected instructions in a parsed answer, and redacting them
(docs/output-inspection.md). Pure functions of the answer and the settings: proxy/output_inspection.py
hooks them into the relay.

Speed: every text the answer carries is joined and searched once with one re2 automaton of every
pattern (linear time). Only when that finds something is each text searched kind by kind, so an
answer with nothing to report costs one pass over its text.

What is searched: every string value at any depth and every object key (keys are logged as
field names, so a secret hidden in one must be found too), except the base64 `data` of image and
audio blocks; a `blob` is decoded and searched when it is UTF-8 text. The text items of a `content`
list are also searched as one text, so a secret split over two items is found and both parts go.
Text with characters other than ASCII is also searched as the model would read it (NFKC, with
invisible characters removed), so a zero-width character inside a token does not hide it.

Never does a finding carry the matched text: a kind, a category, where (a JSON path whose keys are
themselves redacted when they hold a secret) and the action.
"""

from __future__ import annotations

import base64
import binascii
import unicodedata
from dataclasses import dataclass, field
from typing import Any

import orjson

from mcp_acp.proxy.secret_patterns import (
    BUILTIN,
    INSTRUCTION_TRIGGERS,
    INSTRUCTIONS,
    INVISIBLE_CLASS,
    SECRET_TRIGGERS,
    compile_pattern,
    pattern_set,
)

SECRET = "secret"
INSTRUCTION = "instruction"
REDACT, DENY, RECORD = "redact", "deny", "record"
MAX_PATH_KEY = 64  # a key shown in a path is cut to this many characters
BINARY_TYPES = {"image", "audio"}


def marker(kind: str) -> str:
    return f"[redacted: {kind}]"


class Detector:
    """Every pattern compiled once: built-in secrets, the policy's own, and the instruction rules."""

    def __init__(self, custom: tuple[tuple[str, str], ...] = ()) -> None:
        sources: list[tuple[str, str, str]] = [(kind, SECRET, p) for kind, p in BUILTIN.items()]
        sources += [(kind, SECRET, p) for kind, p in custom]
        sources += [(kind, INSTRUCTION, p) for kind, ps in INSTRUCTIONS.items() for p in ps]
        compiled = [(kind, category, compile_pattern(p)) for kind, category, p in sources]
        # The group whose span is redacted: `secret` when the pattern names one, else the match.
        self.patterns = [(kind, category, r, r.groupindex.get("secret", 0)) for kind, category, r in compiled]
        # Group names would clash in the alternation; the prefilter only needs to know "anything?".
        self.any = compile_pattern("|".join(f"(?:{p.replace('?P<secret>', '')})" for _, _, p in sources))
        # One pass says which patterns match a text at all; only those are run for their spans.
        self.set = pattern_set([p.replace("?P<secret>", "") for _, _, p in sources])
        # Over the answer as JSON: the triggers, and the policy's own patterns as they are.
        triggers = (*SECRET_TRIGGERS, *INSTRUCTION_TRIGGERS, *(p.replace("?P<secret>", "") for _, p in custom))
        self.trigger = compile_pattern("|".join(f"(?:{p})" for p in triggers))

    def spans(self, text: str) -> list[tuple[int, int, str, str]]:
        """(start, end, kind, category) of every finding, secrets first, overlaps dropped."""
        found: list[tuple[int, int, str, str]] = []
        for index in sorted(self.set.Match(text) or ()):  # None when nothing matches; in BUILTIN order
            kind, category, pattern, group = self.patterns[index]
            for match in pattern.finditer(text):
                start, end = match.span(group)
                if end > start:
                    found.append((start, end, kind, category))
        found.sort(key=lambda s: (s[3] != SECRET, s[0], -s[1]))
        kept: list[tuple[int, int, str, str]] = []
        for span in found:
            if all(span[1] <= k[0] or span[0] >= k[1] for k in kept):
                kept.append(span)
        return sorted(kept)


@dataclass(frozen=True, slots=True)
class Settings:
    """What happens per finding: `secrets` and `instructions` by default, `kinds` per kind."""

    secrets: str = REDACT
    instructions: str = RECORD
    kinds: tuple[tuple[str, str], ...] = ()
    detector: Detector = field(default_factory=Detector)

    def action(self, kind: str, category: str) -> str:
        for name, action in self.kinds:
            if name == kind:
                return action
        return self.secrets if category == SECRET else self.instructions


@dataclass(slots=True)
class Outcome:
    value: Any  # the scanned value, redacted where the settings say (the very same object if not)
    findings: list[dict[str, str]] = field(default_factory=list)

    @property
    def denied(self) -> list[dict[str, str]]:
        return [f for f in self.findings if f["action"] == DENY]


# A place a text sits: its container and key, how it is shown in a path, and how it is stored
# (plain text, or base64 of UTF-8).
@dataclass(slots=True)
class _Text:
    container: Any
    key: Any
    path: str
    text: str
    encoded: bool = False
    is_key: bool = False
    prefix: str = ""  # searched before the text, never changed: the key a value is filed under


def _texts(value: Any) -> tuple[list[list[_Text]], list[str]]:
    """The groups of texts to search (a `content` list's text items form one group) in walk order,
    and the joined text of each group. Explicit stack: no depth limit."""
    groups: list[list[_Text]] = []
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        node, path = stack.pop()
        if isinstance(node, dict):
            binary = node.get("type") in BINARY_TYPES
            for key, child in node.items():
                where = f"{path}.{_shown_key(key)}" if path else _shown_key(key)
                if isinstance(key, str) and key:
                    groups.append([_Text(node, key, where, key, is_key=True)])
                if isinstance(child, str):
                    if binary and key == "data":
                        continue
                    if key == "blob":
                        decoded = _decoded(child)
                        if decoded is not None:
                            groups.append([_Text(node, key, where, decoded, encoded=True)])
                        continue
                    named = isinstance(key, str) and _CREDENTIAL_KEY.search(key) is not None
                    groups.append([_Text(node, key, where, child, prefix=f"{key}=" if named else "")])
                elif isinstance(child, dict | list):
                    if key == "content" and isinstance(child, list):
                        items = [
                            _Text(item, "text", f"{where}[{i}].text", item["text"])
                            for i, item in enumerate(child)
                            if isinstance(item, dict) and isinstance(item.get("text"), str)
                        ]
                        if len(items) > 1:  # also as one text: a secret split over items is found
                            groups.append(items)
                    stack.append((child, where))
        elif isinstance(node, list):
            for index, child in enumerate(node):
                if isinstance(child, str):
                    groups.append([_Text(node, index, f"{path}[{index}]", child)])
                elif isinstance(child, dict | list):
                    stack.append((child, f"{path}[{index}]"))
    return groups, [group[0].prefix + "".join(t.text for t in group) for group in groups]


def _shown_key(key: Any) -> str:
    text = str(key)
    return text if len(text) <= MAX_PATH_KEY else text[:MAX_PATH_KEY] + "…"


def _decoded(blob: str) -> str | None:
    try:
        return base64.b64decode(blob, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None


# A key under which a value is a credential whatever it looks like: the value is searched with
# the key before it, so a rule that needs its keyword (aws_secret_key) finds a bare value too.
_CREDENTIAL_KEY = compile_pattern(r"(?i)secret|private|passw|token|credential|api_?key")

_INVISIBLE = {"Cc", "Cf", "Cs"}
_INVISIBLE_CHAR = compile_pattern(INVISIBLE_CLASS)


def readable(text: str) -> str:
    """`text` as the model reads it: NFKC, without invisible characters (line breaks and tabs kept)."""
    return _INVISIBLE_CHAR.sub("", unicodedata.normalize("NFKC", text))


def _nothing_to_see(value: Any, detector: Detector) -> bool:
    """The fast path: the answer as JSON holds no trigger, so no pattern can match any text."""
    try:
        dumped = orjson.dumps(value).decode()
    except (TypeError, orjson.JSONEncodeError):  # deeper than orjson goes: the walk decides
        return False
    if detector.trigger.search(dumped) is not None:
        return False
    content = value.get("content") if isinstance(value, dict) else None
    if isinstance(content, list) and len(content) > 1:  # a secret split over text items
        texts = [item["text"] for item in content if isinstance(item, dict) and isinstance(item.get("text"), str)]
        if len(texts) > 1 and detector.any.search("".join(texts)) is not None:
            return False
    return dumped.isascii() or unicodedata.is_normalized("NFKC", dumped)


def _hidden_by_layout(text: str) -> bool:
    return _INVISIBLE_CHAR.search(text) is not None or not unicodedata.is_normalized("NFKC", text)


def scan(value: Any, settings: Settings) -> Outcome:
    """`value` (a result, or a request's params) searched and redacted as `settings` say."""
    detector = settings.detector
    if _nothing_to_see(value, detector):
        return Outcome(value)
    groups, joined = _texts(value)
    variants = [
        (i, readable(text))
        for i, text in enumerate(joined)
        if not text.isascii() and not groups[i][0].prefix and _hidden_by_layout(text)
    ]
    variants = [(i, v) for i, v in variants if v != joined[i]]
    everything = "\n".join(joined) + "\n" + "\n".join(v for _, v in variants)
    if detector.any.search(everything) is None:
        return Outcome(value)
    edits: dict[int, list[tuple[int, int, str]]] = {}  # group -> spans to replace (in the joined text)
    rewrites: dict[int, str] = {}  # group -> its readable variant, redacted, replacing it whole
    findings: list[dict[str, Any]] = []
    for index, text in enumerate(joined):
        if detector.any.search(text) is None:
            continue
        shift = len(groups[index][0].prefix)
        spans = [(s - shift, e - shift, k, c) for s, e, k, c in detector.spans(text) if e > shift]
        if len(groups[index]) > 1:  # the items as one text: only what crosses from one to the next
            spans = [span for span in spans if _crosses(groups[index], span[0], span[1])]
        for start, end, kind, category in spans:
            start = max(start, 0)
            action = settings.action(kind, category)
            findings.append(_finding(kind, category, action, _where(groups[index], start, end), index))
            if action == REDACT:
                edits.setdefault(index, []).append((start, end, kind))
    for index, variant in variants:
        seen = {f["kind"] for f in findings if f["group"] == index}
        spans = [s for s in detector.spans(variant) if s[2] not in seen]
        for _start, _end, kind, category in spans:
            action = settings.action(kind, category)
            findings.append(_finding(kind, category, action, groups[index][0].path, index))
        redact = [(s, e, k) for s, e, k, c in spans if settings.action(k, c) == REDACT]
        if redact:
            rewrites[index] = _replaced(variant, redact)
    # A key that holds a secret is not shown in any path either.
    withheld = {_shown_key(groups[f["group"]][0].key) for f in findings if groups[f["group"]][0].is_key}
    for finding in findings:
        finding.pop("group", None)
        for key in withheld:
            finding["where"] = finding["where"].replace(key, "[redacted key]")
    if not edits and not rewrites:
        return Outcome(value, findings)
    return Outcome(_apply(value, groups, edits, rewrites), findings)


MAX_WHERE = 200  # a path longer than this keeps its head and tail (a 3,000-level result)


def _finding(kind: str, category: str, action: str, where: str, group: int | None = None) -> dict[str, Any]:
    if len(where) > MAX_WHERE:
        where = f"{where[:80]}…{where[-(MAX_WHERE - 81) :]}"
    return {"kind": kind, "category": category, "action": action, "where": where, "group": group}


def _where(group: list[_Text], start: int, end: int) -> str:
    offset, parts = 0, []
    for text in group:
        if offset < end and start < offset + len(text.text):
            parts.append(text.path + (" (key)" if text.is_key else "") + (" (base64)" if text.encoded else ""))
        offset += len(text.text)
    return " + ".join(parts)


def _replaced(text: str, spans: list[tuple[int, int, str]]) -> str:
    """`text` with each span replaced by its kind's marker (by nothing for an empty kind); a span
    that overlaps one already replaced only extends it."""
    out, last = [], 0
    for start, end, kind in sorted(spans, key=lambda span: (span[0], -span[1])):
        if start < last:
            if end > last:
                last = end
            continue
        out.append(text[last:start])
        out.append(marker(kind) if kind else "")
        last = end
    out.append(text[last:])
    return "".join(out)


def _crosses(group: list[_Text], start: int, end: int) -> bool:
    offset = 0
    for text in group:
        offset += len(text.text)
        if start < offset:
            return end > offset
    return False


def _apply(
    value: Any, groups: list[list[_Text]], edits: dict[int, list[tuple[int, int, str]]], rewrites: dict[int, str]
) -> Any:
    """A copy of `value` with the edits made. Copies the whole value once (the rare path: something
    was found), then writes each changed text into the copy by identity of its container. The
    spans found in a text alone and across content items are merged per text first."""
    copies: dict[int, Any] = {}
    copied = _copy(value, copies)
    local: dict[tuple[int, Any, bool], tuple[_Text, list[tuple[int, int, str]]]] = {}
    for index, spans in edits.items():
        offset = 0
        for text in groups[index]:
            length = len(text.text)
            for start, end, kind in spans:
                s, e = max(start, offset) - offset, min(end, offset + length) - offset
                if s < e:  # the marker where the finding starts, nothing for the rest of a split one
                    entry = local.setdefault((id(text.container), text.key, text.is_key), (text, []))
                    entry[1].append((s, e, kind if start >= offset else ""))
            offset += length
    new_texts: dict[tuple[int, Any], str] = {}
    renamed: dict[tuple[int, str], str] = {}
    for text, spans in local.values():
        _store(text, _replaced(text.text, spans), new_texts, renamed)
    for index, text in rewrites.items():
        _store(groups[index][0], text, new_texts, renamed)
    for (container_id, key), text in new_texts.items():
        container = copies[container_id]
        container[key] = text
    for (container_id, key), new_key in renamed.items():
        container = copies[container_id]
        container[new_key] = container.pop(key)
    return copied


def _store(text: _Text, value: str, new_texts: dict, renamed: dict) -> None:
    if text.is_key:
        renamed[(id(text.container), text.key)] = value
    elif text.encoded:
        new_texts[(id(text.container), text.key)] = base64.b64encode(value.encode()).decode()
    else:
        new_texts[(id(text.container), text.key)] = value


def _copy(value: Any, copies: dict[int, Any]) -> Any:
    """A deep copy of the containers of `value` (strings and numbers shared), without recursion;
    `copies` maps each original container's id to its copy."""
    if not isinstance(value, dict | list):
        return value
    root = dict(value) if isinstance(value, dict) else list(value)
    copies[id(value)] = root
    stack = [root]
    while stack:
        node = stack.pop()
        entries = node.items() if isinstance(node, dict) else enumerate(node)
        for key, child in list(entries):
            if isinstance(child, dict | list):
                new = dict(child) if isinstance(child, dict) else list(child)
                copies[id(child)] = new
                node[key] = new
                stack.append(new)
    return root
