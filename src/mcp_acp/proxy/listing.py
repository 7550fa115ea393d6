"""What the model gets to see about a server: sanitized descriptions and instructions, and with
`discovery: "filter"` only what the policy could ever allow for this user.

Everything a server says about itself is text the model reads as instructions, so it is cleaned
(docs/sanitizer.md, proxy/sanitizer.py) and suspicious text is reported: the `instructions` of
`initialize` and `server/discover`, and every title and description (schemas included, at any
depth) in `tools/list`, `resources/list`, `resources/templates/list`, `prompts/list`, and in any
such list a `server/discover` result carries. Listing stays a discovery operation: filtering
hides what would be refused anyway; every call is still decided on its own.

A result hook never raises (the relay would lose the answer). When sanitizing fails:

- `tools/list`, `resources/list`, `resources/templates/list`, `prompts/list` fail open: the list
  passes as the backend sent it, with the failure logged (docs/sanitizer.md). Hiding the list would break
  the session, and every call, read or prompt is still decided by the policy on its own.
- `initialize` and `server/discover` fail closed on `instructions` only: the field is dropped
  (it is optional), since it goes straight into the model's system prompt and nothing checks it
  later; the handshake itself still succeeds, and the rest passes on unchanged.
The sanitizer walks with an explicit stack, so deep or odd input is not a failure: these are
the last resort for a bug.

A changed answer is encoded again by the relay (orjson), which refuses more than 254 nested
containers: a hostile server's 300-level schema with a description to clean would end the
session there. So an answer deeper than ENCODER_DEPTH is handed over with its result already
encoded (`orjson.Fragment`) by `encode_deep`, which walks with a stack like the sanitizer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, cast

import orjson

from mcp_acp.identity.local import Identity
from mcp_acp.policy.context import build_context
from mcp_acp.policy.engine import DENY
from mcp_acp.proxy.pins import ToolPins
from mcp_acp.proxy.policy_reload import PolicyReloader
from mcp_acp.proxy.sanitizer import LIST_KINDS, sanitize_list_result, sanitize_server_result

log = logging.getLogger(__name__)

LIST_CHANGED = {
    "tools/list": "notifications/tools/list_changed",
    "resources/list": "notifications/resources/list_changed",
    "prompts/list": "notifications/prompts/list_changed",
}

# Suspicious-text warnings logged per answer; a hostile list could otherwise flood the log.
MAX_WARNINGS_PER_ANSWER = 20
# Nesting the relay's encoder (orjson: 254 containers) takes with room to spare; deeper changed
# answers are encoded here.
ENCODER_DEPTH = 200


class Listing:
    def __init__(self, reloader: PolicyReloader, identity: Identity, backend_id: str, filtering: bool) -> None:
        self.reloader = reloader
        self.identity = identity
        self.backend_id = backend_id
        self.filtering = filtering
        self.pins: ToolPins | None = None  # rug-pull detection (proxy/pins.py), wired by the session

    def hooks(self) -> dict[str, Any]:
        """Result hooks by request method, for the gate."""
        return {
            "initialize": _never_raising(self.server, "initialize"),
            "server/discover": _never_raising(self.server, "server/discover"),
            "tools/list": _never_raising(self.tools, "tools/list"),
            "resources/list": _never_raising(self.resources, "resources/list"),
            "resources/templates/list": _never_raising(self.resource_templates, "resources/templates/list"),
            "prompts/list": _never_raising(self.prompts, "prompts/list"),
        }

    def _allowed(self, method: str, params: dict) -> bool:
        ctx = build_context({"method": method, "params": params}, self.identity, self.backend_id)
        engine = self.reloader.engine
        if method == "resources/read":
            return engine.evaluate(ctx).effect != DENY
        return engine.may_allow(ctx)

    # --- the hooks ----------------------------------------------------------------------

    def server(self, answer: dict) -> dict:
        """`initialize` and `server/discover`: instructions and any descriptors, sanitized."""
        answer = self._pinned(answer)  # a `server/discover` result may carry the tool list
        result = answer.get("result")
        if not isinstance(result, dict):
            return answer
        try:
            clean, findings = sanitize_server_result(result)
        except Exception:  # fail closed on instructions only: see the module docstring
            log.exception("sanitizing the server's instructions failed; they are withheld from the client")
            if "instructions" not in result:
                return answer
            return {**answer, "result": {k: v for k, v in result.items() if k != "instructions"}}
        _report(findings)
        return answer if clean is result else {**answer, "result": clean}

    def tools(self, answer: dict) -> dict:
        answer = self._pinned(answer)  # before sanitizing: the pin is what the backend sent
        answer = self._sanitized(answer, "tools")
        if self.filtering:
            return self._filter(answer, "tools", lambda t: self._allowed("tools/call", {"name": t.get("name")}))
        return answer

    def resources(self, answer: dict) -> dict:
        answer = self._sanitized(answer, "resources")
        if self.filtering:
            return self._filter(answer, "resources", lambda r: self._allowed("resources/read", {"uri": r.get("uri")}))
        return answer

    def resource_templates(self, answer: dict) -> dict:
        return self._sanitized(answer, "resourceTemplates")

    def prompts(self, answer: dict) -> dict:
        answer = self._sanitized(answer, "prompts")
        if self.filtering:
            return self._filter(answer, "prompts", lambda p: self._allowed("prompts/get", {"name": p.get("name")}))
        return answer

    # --- helpers ------------------------------------------------------------------------

    def _pinned(self, answer: dict) -> dict:
        """The tools compared with their pins (proxy/pins.py); with `tool_changes: block` the
        changed ones are hidden."""
        result = answer.get("result")
        if self.pins is None or not isinstance(result, dict) or not isinstance(result.get("tools"), list):
            return answer
        try:
            shown = self.pins.on_list(result["tools"])
        except Exception:  # never at the cost of the sanitizer that runs next; calls keep the last verdicts
            log.exception("comparing the tools with their pins failed; this list was not compared")
            return answer
        return answer if len(shown) == len(result["tools"]) else {**answer, "result": {**result, "tools": shown}}

    @staticmethod
    def _sanitized(answer: dict, key: str) -> dict:
        """`answer` with the list under `key` sanitized; the very same answer when nothing
        changes, so the relay passes the backend's own bytes on."""
        result = answer.get("result")
        if not isinstance(result, dict) or not isinstance(result.get(key), list):
            return answer
        try:
            clean, findings = sanitize_list_result(result, key)
        except Exception:  # docs/sanitizer.md: fails open (each call is still decided by the policy)
            log.exception("sanitizing the %s list failed; descriptions passed on unchanged", key)
            return answer
        _report(findings)
        return answer if clean is result else {**answer, "result": clean}

    @staticmethod
    def _filter(answer: dict, key: str, keep) -> dict:
        result = answer.get("result")
        if not isinstance(result, dict) or not isinstance(result.get(key), list):
            return answer
        try:
            kept = [item for item in result[key] if not isinstance(item, dict) or keep(item)]
        except Exception:  # hide nothing rather than everything: each request is still decided on its own
            log.exception("filtering %s by policy failed; the list is passed on unfiltered", key)
            return answer
        return {**answer, "result": {**result, key: kept}}


_SUBJECTS = (*LIST_KINDS.values(), "server")


def _report(findings: list[dict[str, Any]]) -> None:
    suspicious = [finding for finding in findings if finding.get("patterns")]
    for finding in suspicious[:MAX_WARNINGS_PER_ANSWER]:
        kind = next((subject for subject in _SUBJECTS if subject in finding), "item")
        log.warning(
            "%s %r: suspicious text in %s (%s)",
            kind,
            finding.get(kind),
            finding.get("field"),
            ", ".join(finding["patterns"]),
        )
    if len(suspicious) > MAX_WARNINGS_PER_ANSWER:
        log.warning("%d more fields with suspicious text in the same answer", len(suspicious) - MAX_WARNINGS_PER_ANSWER)


def _never_raising(hook: Callable[[dict], dict], method: str) -> Callable[[dict], dict]:
    """`hook`, except that a failure passes the answer on as it came (and is logged): a result
    hook that raised would lose the answer (the relay would answer with an error). A changed
    answer too deep for the relay's encoder comes back with its result encoded already."""

    def guarded(answer: dict) -> dict:
        try:
            rewritten = hook(answer)
            if rewritten is not answer and "result" in rewritten and _deeper_than(rewritten, ENCODER_DEPTH):
                return {**rewritten, "result": orjson.Fragment(encode_deep(rewritten["result"]))}
            return rewritten
        except Exception:
            log.exception("the %s result hook failed; the answer is passed on unchanged", method)
            return answer

    return guarded


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether `value` nests more than `limit` containers (stops looking once it does)."""
    stack = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth >= limit:
                return True
            stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))
    return False


def encode_deep(value: Any) -> bytes:
    """`value` as compact JSON, like `orjson.dumps`, at any depth: containers are walked with an
    explicit stack, scalars and keys are encoded by orjson."""
    out: list[bytes] = []
    # Each entry is a container's iterator with its closing bracket, or bytes to emit.
    stack: list[Any] = [iter([value])]
    closers: list[bytes] = [b""]
    first: list[bool] = [True]
    while stack:
        entries = stack[-1]
        item = next(entries, _END)
        if item is _END:
            stack.pop()
            out.append(closers.pop())
            first.pop()
            continue
        if not first[-1]:
            out.append(b",")
        first[-1] = False
        if isinstance(entries, _DictItems):
            key, item = cast("tuple[object, object]", item)
            out.append(orjson.dumps(key if isinstance(key, str) else str(key)) + b":")
        if isinstance(item, dict):
            out.append(b"{")
            stack.append(_DictItems(item))
            closers.append(b"}")
            first.append(True)
        elif isinstance(item, list):
            out.append(b"[")
            stack.append(iter(item))
            closers.append(b"]")
            first.append(True)
        else:
            out.append(orjson.dumps(item))
    return b"".join(out)


_END = object()


class _DictItems:
    """An iterator over a dict's items that `encode_deep` can tell from a list's."""

    __slots__ = ("_items",)

    def __init__(self, mapping: dict) -> None:
        self._items = iter(mapping.items())

    def __iter__(self) -> _DictItems:
        return self

    def __next__(self) -> tuple[Any, Any]:
        return next(self._items)
