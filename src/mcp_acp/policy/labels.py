"""Information-flow labels (docs/policies.md#information-flow-labels-and-session_labels): what a tool's data is.

`private_data` reads what the user would not publish, `untrusted_content` brings in text from
outside, `egress` can send data out. A tool gets its labels from the presets below (well-known
tool names, like policy/side_effects.py) and from the policy's `labels` section (tool-name
globs). A session remembers the labels of the calls it forwarded (`LabelMemory`), so a rule can
ask once private data and untrusted content were both touched before an egress call: the
"lethal trifecta".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from mcp_acp.policy import globs

Label = Literal["private_data", "untrusted_content", "egress"]
LABELS: tuple[str, ...] = ("private_data", "untrusted_content", "egress")

_PRIVATE = frozenset({"private_data"})
_WEB = frozenset({"untrusted_content", "egress"})  # a fetch brings text in and its URL carries data out
_EGRESS = frozenset({"egress"})
_INBOX = frozenset({"private_data", "untrusted_content"})  # mail and messages: private, written by others


def _each(names: str, labels: frozenset[str]) -> dict[str, frozenset[str]]:
    return dict.fromkeys(names.split(), labels)


# Exact tool names of well-known servers, compared lower-cased (the filesystem, fetch, git,
# browser, mail and chat servers). A policy's `labels` section adds to these.
PRESET_LABELS: dict[str, frozenset[str]] = {
    **_each(
        "read_file read_text_file read_media_file read_multiple_files get_file_contents view_file cat_file "
        "open_file search_files grep get_secret read_secret get_password read_password read_clipboard "
        "get_clipboard get_env read_env query read_query sql_query git_diff git_show git_log",
        _PRIVATE,
    ),
    **_each(
        "fetch fetch_url web_fetch http_get http_request curl wget download_file browse web_search search_web "
        "open_url navigate browser_navigate browser_snapshot",
        _WEB,
    ),
    **_each(
        "http_post http_put send_email send_mail git_push slack_post_message post_message send_message "
        "create_issue create_pull_request add_issue_comment create_gist",
        _EGRESS,
    ),
    **_each("read_email read_emails search_emails get_email list_messages slack_get_channel_history", _INBOX),
}


def preset_labels(tool_name: str) -> frozenset[str]:
    return PRESET_LABELS.get(tool_name.lower(), frozenset())


class ToolLabels:
    """A tool's labels: the presets (unless the policy turns them off) and the policy's globs.
    Built once per policy; a tool name is looked up once, then cached."""

    __slots__ = ("_cache", "_globs", "_presets")

    def __init__(self, globs_by_label: Mapping[str, list[str]], presets: bool = True) -> None:
        self._presets = presets
        self._globs: tuple[tuple[str, globs.Matcher], ...] = tuple(
            (label, globs.compile_any(patterns, globs.name_regex, re.IGNORECASE))
            for label, patterns in globs_by_label.items()
            if patterns
        )
        self._cache: dict[str, frozenset[str]] = {}

    def of(self, tool_name: str | None) -> frozenset[str]:
        if not tool_name:
            return frozenset()
        found = self._cache.get(tool_name)
        if found is None:
            labels: set[str] = set(preset_labels(tool_name)) if self._presets else set()
            labels.update(label for label, regex in self._globs if regex.fullmatch(tool_name))
            found = frozenset(labels)
            if len(self._cache) >= 4096:  # tool names come from the client: keep the cache bounded
                self._cache.clear()
            self._cache[tool_name] = found
        return found


@dataclass(frozen=True, slots=True)
class Touch:
    """The request that first gave a session a label: what the explanation and the audit name."""

    label: str
    request_id: str | None
    tool_name: str
    target: str | None  # the path, URI or URL the call named, if any
    at: datetime

    def as_entry(self) -> dict[str, str | None]:
        return {
            "label": self.label,
            "request_id": self.request_id,
            "tool_name": self.tool_name,
            "target": self.target,
            "at": self.at.isoformat(),
        }


_VERBS = {
    "private_data": "read private data",
    "untrusted_content": "took in untrusted content",
    "egress": "sent data out",
}
TARGET_MAX = 120


class LabelMemory:
    """The labels one proxy session has touched: a label is touched when a call of a tool that
    carries it was allowed and forwarded (a denied call touches nothing). The first touch of
    each label is kept, to say which request set it."""

    __slots__ = ("_first", "touched")

    def __init__(self) -> None:
        self._first: dict[str, Touch] = {}
        # Replaced whole, never changed in place: a decision judged in a worker thread reads a
        # consistent set, and the call path builds nothing.
        self.touched: frozenset[str] = frozenset()

    def touch(
        self, labels: frozenset[str], request_id: str | None, tool_name: str, target: str | None, at: datetime
    ) -> None:
        new = [label for label in labels if label not in self._first]
        if not new:  # the usual case once a session is under way: nothing to build
            return
        if target is not None:  # it comes from the client: printable, and short, in a log line
            target = "".join(ch if ch.isprintable() else "?" for ch in target[: TARGET_MAX + 1])
            target = target[:TARGET_MAX] + "…" if len(target) > TARGET_MAX else target
        for label in new:
            self._first[label] = Touch(label, request_id, tool_name, target, at)
        self.touched = frozenset(self._first)

    def sources(self, labels: frozenset[str]) -> tuple[Touch, ...]:
        """The touches that set `labels`, in the order of LABELS."""
        return tuple(self._first[label] for label in LABELS if label in labels and label in self._first)


def explain(effect: str, sources: tuple[Touch, ...]) -> str:
    """What the decision explorer and the refused client are told: "asked because this session
    read private data (read_file ~/notes, request 2, at 10:02:03) and … before"."""
    verb = {"hitl": "asked", "deny": "denied", "allow": "allowed"}.get(effect, effect)
    parts: list[str] = []
    for touch in sources:
        what = f"{touch.tool_name} {touch.target}" if touch.target else touch.tool_name
        parts.append(f"{_VERBS[touch.label]} ({what}, request {touch.request_id}, at {touch.at.strftime('%H:%M:%S')})")
    return f"{verb} because this session {' and '.join(parts)} before"
