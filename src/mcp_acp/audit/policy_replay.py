"""`mcp-acp policy replay` (docs/policies.md#testing-a-policy-and-previewing-a-change): every recorded decision, decided again under a candidate policy.

The proxy's decisions.jsonl, its rotated and compressed segments included, is read oldest first.
Each entry the policy decided is rebuilt into the request the enforcer saw, from the fields the
entry records (mcp_method, tool_name, uri, paths with path_roles, subject_id, backend_id), and
decided through policy/decide.py. Arguments are never logged, so nothing else is known: an entry
that lacks what its decision depended on is counted as not re-decidable, with the reason, and
never guessed. A request a human decided keeps "hitl" as the policy's outcome.
"""

from __future__ import annotations

import contextlib
import json
import posixpath
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from mcp_acp.audit.files import PROTECTED
from mcp_acp.audit.log_query import parse_time
from mcp_acp.audit.segments import list_segments
from mcp_acp.identity.local import Identity
from mcp_acp.policy.decide import decide_request
from mcp_acp.policy.engine import UNJUDGEABLE_RULE, PolicyEngine
from mcp_acp.policy.paths import PATH_MAX, PathArg, as_filesystem_text, judge_all

DECISIONS = PROTECTED["decisions"]
# Decided before or beside the policy (proxy/enforcement.py, proxy/tasks.py): a candidate policy
# would not change them. tests/audit/test_policy_replay.py checks these names against the proxy's.
NOT_BY_POLICY = frozenset(
    {
        "discovery_bypass",
        "task_follow_up",
        "rate_limit_flood",
        "rate_limit_breach",
        "notification_not_allowed",
        "path_changed_after_approval",
        "request_state_invalid",
        "evaluation_error",
        "task_bound",
        "task_not_bound",
        "task_list_own",
    }
)
USED_FIELDS = ("mcp_method", "tool_name", "uri", "paths", "path_roles", "subject_id", "backend_id")
_AGO = re.compile(r"^(\d+)([mhd])$")


@dataclass(frozen=True, slots=True)
class Recorded:
    file: str  # relative to the proxy's log folder
    entry: dict[str, Any]


def since_time(text: str, now: datetime | None = None) -> datetime:
    """`--since`: an ISO time (UTC unless it says otherwise), or an age such as 30m, 12h, 7d."""
    if match := _AGO.match(text.strip()):
        unit = {"m": "minutes", "h": "hours", "d": "days"}[match[2]]
        return (now or datetime.now(UTC)) - timedelta(**{unit: int(match[1])})
    try:
        return parse_time(text)
    except ValueError:
        raise ValueError(f"--since {text!r} is neither an ISO time nor an age such as 30m, 12h or 7d") from None


def recorded_decisions(log_dir: Path) -> Iterator[Recorded]:
    """Every entry of decisions.jsonl, its segments first (oldest first), then the active file."""
    active = log_dir / DECISIONS
    for segment in list_segments(active):  # one segment in memory at a time
        yield from _entries(str(segment.path.relative_to(log_dir)), segment.read())
    with contextlib.suppress(FileNotFoundError):
        yield from _entries(DECISIONS, active.read_bytes())


def _entries(name: str, data: bytes) -> Iterator[Recorded]:
    for line in data.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # a torn last line after a crash
        if isinstance(entry, dict):
            yield Recorded(name, cast("dict[str, Any]", entry))


def _paths(entry: dict[str, Any]) -> list[PathArg] | str:
    """The recorded path arguments with their roles, or why they cannot be known exactly."""
    paths, roles = entry.get("paths"), entry.get("path_roles")
    if not paths:
        return []
    if not isinstance(paths, list) or not isinstance(roles, list):
        return "the entry records its paths but not their roles (written before path_roles was recorded)"
    written, kinds = cast("list[object]", paths), cast("list[object]", roles)
    if len(written) != len(kinds) or not all(isinstance(p, str) for p in written + kinds):
        return "the entry's paths and path_roles do not match"
    found: list[PathArg] = []
    for text, role in zip(cast("list[str]", written), cast("list[str]", kinds), strict=True):
        if len(text) > PATH_MAX:
            return "a path was too long to be recorded in full"
        if not posixpath.isabs(as_filesystem_text(text)):
            return f"the relative path '{text}' was judged against the server's roots, which the entry does not record"
        found.append(PathArg(text, role, True))
    return found


def _request(entry: dict[str, Any]) -> tuple[dict[str, Any], list[PathArg]] | str:
    """The request the enforcer saw, as far as the policy looks at it; or why it is not known."""
    method, tool, uri = entry.get("mcp_method"), entry.get("tool_name"), entry.get("uri")
    if not isinstance(method, str) or not method:
        return "the entry records no method"
    if not isinstance(entry.get("subject_id"), str) or not isinstance(entry.get("backend_id"), str):
        return "the entry records no subject or no backend"
    if method == "subscriptions/listen":
        return "a subscriptions/listen is judged on every resource it watches; the entry records only the first"
    if entry.get("final_rule") == UNJUDGEABLE_RULE and "at most" in str(entry.get("reason")):
        return "the request named more paths than are judged; the entry records only the first"
    if method == "tools/call":
        if not isinstance(tool, str):
            return "the entry records no tool name"
        params: dict[str, Any] = {"name": tool, "arguments": {}}
    else:
        params = {"uri": uri} if isinstance(uri, str) else {}
    paths = _paths(entry)
    if isinstance(paths, str):
        return paths
    return {"jsonrpc": "2.0", "id": entry.get("request_id"), "method": method, "params": params}, paths


def _link(item: Recorded) -> dict[str, Any]:
    entry = item.entry
    return {
        "file": item.file,
        "sequence": entry.get("sequence"),
        "time": entry.get("time"),
        "request_id": entry.get("request_id"),
        "session_id": entry.get("session_id"),
        "mcp_method": entry.get("mcp_method"),
        "tool_name": entry.get("tool_name"),
        "paths": entry.get("paths"),
        "uri": entry.get("uri"),
        "subject_id": entry.get("subject_id"),
    }


def replay(log_dir: Path, candidate: PolicyEngine, *, since: datetime | None = None, limit: int = 10) -> dict[str, Any]:
    """What would change under `candidate`: counts by (old -> new) outcome, and up to `limit`
    examples of each change, each naming its audit entry (file and sequence)."""
    transitions: Counter[tuple[str, str]] = Counter()
    not_redecidable: Counter[str] = Counter()
    examples: dict[tuple[str, str], list[dict[str, Any]]] = {}
    unknown: list[dict[str, Any]] = []
    counts = Counter[str]()
    for item in recorded_decisions(log_dir):
        entry = item.entry
        if entry.get("event") != "policy_decision":
            continue
        if since is not None and _before(entry.get("time"), since):
            continue
        counts["entries"] += 1
        method = str(entry.get("mcp_method") or "")
        if entry.get("final_rule") in NOT_BY_POLICY or method.startswith("tasks/"):
            counts["not_decided_by_policy"] += 1
            continue
        request = _request(entry)
        if isinstance(request, str):
            not_redecidable[request] += 1
            if len(unknown) < limit:
                unknown.append({**_link(item), "reason": request})
            continue
        message, paths = request
        identity = Identity(str(entry["subject_id"]), "local", {"sub": entry["subject_id"]})
        roots: tuple[str, ...] = ()  # every recorded path is absolute (relative ones are not re-decided)
        try:
            _, decision = decide_request(
                candidate, message, identity, str(entry["backend_id"]), roots, judged=judge_all(paths, roots)
            )
        except Exception as exc:  # an entry no request could have produced: reported, never guessed
            reason = f"the entry could not be re-decided ({type(exc).__name__})"
            not_redecidable[reason] += 1
            if len(unknown) < limit:
                unknown.append({**_link(item), "reason": reason})
            continue
        old, new = str(entry.get("decision")), decision.effect
        counts["redecided"] += 1
        transitions[(old, new)] += 1
        if old == new:
            counts["rule_changed" if entry.get("final_rule") != decision.final_rule else "unchanged"] += 1
            continue
        counts["changed"] += 1
        shown = examples.setdefault((old, new), [])
        if len(shown) < limit:
            shown.append(
                {
                    **_link(item),
                    "old": {
                        "decision": old,
                        "rule": entry.get("final_rule"),
                        "hitl_outcome": entry.get("hitl_outcome"),
                    },
                    "new": {"decision": new, "rule": decision.final_rule, "reason": decision.reason},
                }
            )
    return {
        "since": since.isoformat() if since else None,
        "entries": counts["entries"],
        "redecided": counts["redecided"],
        "changed": counts["changed"],
        "unchanged": counts["unchanged"],
        "same_outcome_other_rule": counts["rule_changed"],
        "not_decided_by_policy": counts["not_decided_by_policy"],
        "not_redecidable": sum(not_redecidable.values()),
        "not_redecidable_reasons": dict(not_redecidable.most_common()),
        "transitions": [{"from": old, "to": new, "count": count} for (old, new), count in sorted(transitions.items())],
        "changes": [
            {"from": old, "to": new, "count": transitions[(old, new)], "examples": shown}
            for (old, new), shown in sorted(examples.items())
        ],
        "not_redecidable_examples": unknown,
        "fields_used": list(USED_FIELDS),
    }


def _before(text: object, since: datetime) -> bool:
    try:
        return isinstance(text, str) and parse_time(text) < since
    except ValueError:
        return False
