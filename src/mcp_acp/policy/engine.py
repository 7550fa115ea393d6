"""The policy decision point (docs/policies.md#how-a-request-is-decided): context in, ALLOW / DENY / HITL out.

Order: protected folders (never overridable), then the discovery bypass, then the rules.
Matching rules combine as HITL > DENY > ALLOW; no match is DENY. `final_rule` names the most
specific rule of the winning effect (first in the file on a tie); specificity never changes
the decision itself.

Speed comes from doing the work once: globs compile to one regex per condition when the policy
loads, and the conditions that depend only on (method, tool, subject, backend) are evaluated
once per such combination and cached, so a request only checks its paths against the few rules
left. Every path the request carries is judged in every reading a server may use (policy/paths.py),
and the strictest outcome wins. Paths match patterns in NFC (and ignoring case where the
filesystem does).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from mcp_acp.policy import globs
from mcp_acp.policy.context import DecisionContext, Resource, first_in_role, resource_for
from mcp_acp.policy.labels import ToolLabels, Touch
from mcp_acp.policy.methods import BYPASS_RULES
from mcp_acp.policy.model import Policy, Rule
from mcp_acp.policy.paths import DEST, SOURCE, match_key
from mcp_acp.policy.protected import ProtectedPaths, real

ALLOW, DENY, HITL = "allow", "deny", "hitl"
_RANK = {ALLOW: 0, DENY: 1, HITL: 2}
# Across the paths of a request and their readings a denial beats an approval request: a human
# must never be asked to approve what one reading forbids.
_STRICTNESS = {ALLOW: 0, HITL: 1, DENY: 2}
PROTECTED_RULE = "built_in_protected_path"
UNJUDGEABLE_RULE = "unjudgeable_path"
CANDIDATE_CACHE_SIZE = 4096

StaticCheck = Callable[[DecisionContext], bool]  # on what the candidate cache is keyed by
ResourceCheck = Callable[[Resource], bool]  # on one reading of the request's paths and URI
_Subject = TypeVar("_Subject", DecisionContext, Resource)


@dataclass(frozen=True, slots=True)
class MatchedRule:
    id: str
    effect: str
    description: str | None


@dataclass(frozen=True, slots=True)
class Decision:
    effect: str
    final_rule: str
    matched_rules: tuple[MatchedRule, ...] = ()
    reason: str | None = None  # why, when the rules are not the reason (a protected path)
    rule: CompiledRule | None = None  # the final rule, when one decided
    # The earlier requests whose labels made a session_labels rule match (policy/labels.Touch).
    label_sources: tuple[Touch, ...] = ()


def _as_list(value: str | list[str]) -> list[str]:
    return value if isinstance(value, list) else [value]


def _never(_: object) -> bool:
    return False


def _literal_folder(pattern: str) -> str:
    """The folder every match of `pattern` lies in (or is): the part before the first wildcard,
    up to its last `/`; an exact pattern is its own folder. Empty when it could be anywhere."""
    cut = min((pattern.index(c) for c in "*?" if c in pattern), default=None)
    return globs.strip_slashes(pattern) if cut is None else pattern[:cut].rpartition("/")[0]


def _pattern_variants(patterns: list[str]) -> list[str]:
    """Each pattern as written, with `~` expanded, and with its literal folder resolved on this
    machine (/tmp on macOS is /private/tmp): so the resolved form of an allowed path matches too."""
    variants = list(patterns)
    for pattern in patterns:
        expanded = os.path.expanduser(pattern)
        if expanded != pattern:
            variants.append(expanded)
        # An exact pattern may name a symlink itself: resolve only the folder it is in.
        folder = _literal_folder(expanded) if globs.has_wildcard(expanded) else expanded.rpartition("/")[0]
        if expanded.startswith("/") and folder and (resolved := real(folder)) != folder:
            variants.append(resolved + expanded[len(folder) :])
    return list(dict.fromkeys(variants))


@dataclass(slots=True)
class CompiledRule:
    index: int
    id: str
    effect: str
    description: str | None
    specificity: int
    cache_side_effects: frozenset[str] | None
    static_checks: tuple[StaticCheck, ...]  # depend only on the candidate-cache key
    resource_match: ResourceCheck | None  # the conditions on the request's paths and URI, if any
    matched: MatchedRule
    # The literal folders of its path_pattern: the rule can only match a path in one of them.
    # None when a pattern could match anywhere (it starts with a wildcard), or there is none.
    path_folders: tuple[str, ...] | None = None
    needs_path: bool = False  # it has a path_pattern: a request without a path never matches it
    approvers: tuple[str, ...] = ()  # hitl: who may decide besides (or instead of) the requester
    self_approval: bool = True
    # session_labels: every one must have been touched before; per request, not cached.
    session_labels: frozenset[str] | None = None


def _name_check(patterns: list[str], attribute: Callable[[DecisionContext], str | None], flags: int) -> StaticCheck:
    regex = globs.compile_any(patterns, globs.name_regex, flags)
    return lambda ctx: (value := attribute(ctx)) is not None and regex.fullmatch(value) is not None


def _path_check(patterns: list[str], attribute: Callable[[Resource], str | None]) -> ResourceCheck:
    # Both sides in one Unicode form (and case, where the filesystem ignores it): an NFD spelling
    # of a denied folder is that folder.
    regex = globs.compile_any([match_key(p) for p in patterns], globs.path_regex)
    return lambda resource: (
        (value := attribute(resource)) is not None
        and regex.fullmatch(match_key(globs.strip_slashes(value))) is not None
    )


def _set_check(
    values: list[str], attribute: Callable[[_Subject], str | None], fold: bool
) -> Callable[[_Subject], bool]:
    allowed = frozenset(v.lower() for v in values) if fold else frozenset(values)
    if fold:
        return lambda obj: (value := attribute(obj)) is not None and value.lower() in allowed
    return lambda obj: attribute(obj) in allowed


def compile_rule(index: int, rule: Rule, labels: ToolLabels | None = None) -> CompiledRule:
    """`labels`: the policy's tool labels, for a tool_labels condition (presets only when None)."""
    static: list[StaticCheck] = []
    session_labels: frozenset[str] | None = None
    per_request: list[ResourceCheck] = []
    path_folders: tuple[str, ...] | None = None
    needs_path = False
    score = 0
    for name, value in rule.conditions.given().items():
        patterns = _as_list(value) if name != "resource_type" else [value]
        literal = not any(globs.has_wildcard(p) for p in patterns)
        if not patterns:  # an empty list never matches
            static.append(_never)
            score += 100
            continue
        if name == "tool_name":
            static.append(_name_check(patterns, lambda c: c.resource.tool_name, re.IGNORECASE))
            score += 100 + 10 * literal
        elif name == "backend_id":
            static.append(_name_check(patterns, lambda c: c.resource.server_id, re.IGNORECASE))
            score += 100 + 10 * literal
        elif name == "mcp_method":
            static.append(_name_check(patterns, lambda c: c.action.mcp_method, 0))
            score += 100 + 10 * literal
        elif name in ("path_pattern", "source_path", "dest_path"):
            field = "path" if name == "path_pattern" else name
            variants = _pattern_variants(patterns)
            per_request.append(_path_check(variants, lambda r, f=field: _text(r, f)))
            score += 100 + 10 * literal + max(globs.literal_depth(p) for p in patterns)
            if name == "path_pattern":
                needs_path = True
                folders = [_literal_folder(p) for p in variants]
                path_folders = tuple(dict.fromkeys(folders)) if all(folders) else None
        elif name == "operations":
            static.append(_set_check(patterns, lambda c: c.resource.operation, fold=False))
            score += 100
        elif name == "side_effects":
            wanted = frozenset(patterns)
            static.append(_side_effects_check(wanted))
            score += 100
        elif name == "tool_labels":
            static.append(_labels_check(frozenset(patterns), labels or ToolLabels({})))
            score += 100
        elif name == "session_labels":
            session_labels = frozenset(patterns)
            score += 100
        elif name == "subject_id":
            static.append(_set_check(patterns, lambda c: c.subject.id, fold=False))
            score += 110
        elif name == "resource_type":
            static.append(_set_check(patterns, lambda c: c.resource.type, fold=True))
            score += 110
        elif name in ("extension", "scheme"):
            per_request.append(_set_check(patterns, lambda r, f=name: _text(r, f), fold=True))
            score += 100
        else:  # the model forbids unknown conditions; refuse rather than ignore one
            raise ValueError(f"unknown condition {name!r}")
    cache = frozenset(rule.cache_side_effects) if rule.cache_side_effects is not None else None
    rule_id = rule.id or rule.generated_id()
    return CompiledRule(
        index,
        rule_id,
        rule.effect,
        rule.description,
        score,
        cache,
        tuple(static),
        _all_of(per_request),
        MatchedRule(rule_id, rule.effect, rule.description),
        path_folders,
        needs_path,
        tuple(rule.approvers or ()),
        rule.self_approval,
        session_labels,
    )


def _text(resource: Resource, name: str) -> str | None:
    value: str | None = getattr(resource, name)
    return value


def _side_effects_check(wanted: frozenset[str]) -> StaticCheck:
    return lambda c: c.resource.side_effects is not None and not wanted.isdisjoint(c.resource.side_effects)


def _labels_check(wanted: frozenset[str], labels: ToolLabels) -> StaticCheck:
    return lambda c: not wanted.isdisjoint(labels.of(c.resource.tool_name))


def _all_of(checks: list[ResourceCheck]) -> ResourceCheck | None:
    if len(checks) <= 1:
        return checks[0] if checks else None
    return lambda obj: all(check(obj) for check in checks)


class Candidates:
    """The rules left for one (method, tool, subject, backend), with those that need a path in
    a given folder indexed by that folder: a request only looks at rules for its own folders."""

    __slots__ = ("anywhere", "by_folder", "pathless", "rules")

    def __init__(self, rules: tuple[CompiledRule, ...]) -> None:
        self.rules = rules
        self.anywhere = tuple(r for r in rules if r.path_folders is None)
        # A request without a path (most tool calls) skips every path rule up front.
        self.pathless = tuple(r for r in self.anywhere if not r.needs_path)
        self.by_folder: dict[str, list[CompiledRule]] = {}
        for rule in rules:
            for folder in rule.path_folders or ():
                self.by_folder.setdefault(match_key(folder), []).append(rule)

    def for_path(self, path: str | None) -> tuple[CompiledRule, ...] | list[CompiledRule]:
        if path is None:
            return self.pathless
        if not self.by_folder or not path:
            return self.anywhere
        found: dict[int, CompiledRule] = {}
        folder = match_key(globs.strip_slashes(path))
        while folder:
            for rule in self.by_folder.get(folder, ()):
                found[rule.index] = rule
            folder = folder.rpartition("/")[0]
        if not found:
            return self.anywhere
        found.update((r.index, r) for r in self.anywhere)
        return [found[i] for i in sorted(found)]  # file order: ties go to the first rule


class PolicyEngine:
    """Immutable once built: a policy reload builds a new engine and swaps it in whole."""

    def __init__(self, policy: Policy, protected: ProtectedPaths) -> None:
        self.policy = policy
        self.protected = protected
        given = policy.labels
        self.labels = ToolLabels(given.globs() if given else {}, given.presets if given else True)
        self.rules = tuple(compile_rule(i, rule, self.labels) for i, rule in enumerate(policy.rules))
        self._candidates: dict[tuple[str, str | None, str, str], Candidates] = {}

    def candidates(self, ctx: DecisionContext) -> Candidates:
        """Rules whose request-independent conditions hold for this method, tool, subject and backend."""
        key = (ctx.action.mcp_method, ctx.resource.tool_name, ctx.subject.id, ctx.resource.server_id)
        found = self._candidates.get(key)
        if found is None:
            found = Candidates(tuple(r for r in self.rules if all(check(ctx) for check in r.static_checks)))
            if len(self._candidates) >= CANDIDATE_CACHE_SIZE:
                self._candidates.clear()
            self._candidates[key] = found
        return found

    def evaluate(self, ctx: DecisionContext) -> Decision:
        judged = ctx.judged
        for item in judged:
            if item.problem:
                return Decision(DENY, UNJUDGEABLE_RULE, reason=item.problem)
        if violation := self.protected.violation(judged, _modifies(ctx.resource)):
            return Decision(
                DENY, PROTECTED_RULE, reason=f"'{violation}' reaches mcp-acp's own configuration or log folders"
            )
        if bypass := BYPASS_RULES.get(ctx.action.category):  # discovery, a task's follow-up (policy/methods.py)
            return Decision(ALLOW, bypass)
        candidates = self.candidates(ctx)
        if not judged:
            return _combine(candidates.for_path(None), ctx.resource, ctx.session_labels)
        return self._strictest(ctx, candidates)

    @staticmethod
    def _strictest(ctx: DecisionContext, candidates: Candidates) -> Decision:
        """Each path in each of its readings is judged, each source as the source and each
        destination as the destination, with the first of the other role in the same reading: an
        allow needs them all allowed; any denial denies; else any approval asks."""
        judged, worst = ctx.judged, None
        seen: set[tuple[str, str | None, str | None]] = set()
        for reading in range(max(len(item.readings) for item in judged)):
            first_source, first_dest = first_in_role(judged, SOURCE, reading), first_in_role(judged, DEST, reading)
            for item in judged:
                path = item.readings[min(reading, len(item.readings) - 1)]
                key = (path, path if item.role == SOURCE else first_source, path if item.role == DEST else first_dest)
                if key in seen:
                    continue
                seen.add(key)
                resource = resource_for(ctx.resource, *key)
                decision = _combine(candidates.for_path(path), resource, ctx.session_labels)
                if worst is None or _STRICTNESS[decision.effect] > _STRICTNESS[worst.effect]:
                    worst = decision
                    if worst.effect == DENY:
                        return worst
        assert worst is not None
        return worst

    def may_allow(self, ctx: DecisionContext) -> bool:
        """Could any request like this one (any path) be allowed, or asked about? False when the
        policy denies it outright: used to hide such tools from the model (discovery "filter")."""
        candidates = self.candidates(ctx).rules
        if any(r.effect == HITL for r in candidates):
            return True
        if any(r.effect == DENY and r.resource_match is None and r.session_labels is None for r in candidates):
            return False
        return any(r.effect == ALLOW for r in candidates)


def _combine(candidates: Iterable[CompiledRule], resource: Resource, touched: frozenset[str] = frozenset()) -> Decision:
    """HITL > DENY > ALLOW; within the winner, the most specific rule, the first on a tie.
    `touched`: the labels the session touched before, for session_labels rules."""
    matched = [
        r
        for r in candidates
        if (r.session_labels is None or r.session_labels <= touched)
        and (r.resource_match is None or r.resource_match(resource))
    ]
    if not matched:
        return Decision(DENY, "default")
    final = matched[0]
    for rule in matched[1:]:
        rank, best = _RANK[rule.effect], _RANK[final.effect]
        if rank > best or (rank == best and rule.specificity > final.specificity):
            final = rule
    return Decision(final.effect, final.id, tuple(r.matched for r in matched), rule=final)


def _modifies(resource: Resource) -> bool:
    """Whether a request may change what its paths name (unknown tools are assumed to)."""
    if resource.type != "tool":
        return False
    if resource.operation in ("write", "delete"):
        return True
    if resource.side_effects is not None:
        return "fs_write" in resource.side_effects or "code_exec" in resource.side_effects
    return resource.operation != "read"
