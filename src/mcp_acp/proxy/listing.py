"""What the model gets to see about a server: sanitized descriptions and instructions, and with
`discovery: "filter"` only what the policy could ever allow for this user.

Everything a server says about itself is text the model reads as instructions, so it is cleaned
(SPEC §11, proxy/sanitizer.py) and suspicious text is reported: the `instructions` of
`initialize` and `server/discover`, and every title and description (schemas included, at any
depth) in `tools/list`, `resources/list`, `resources/templates/list`, `prompts/list`, and in any
such list a `server/discover` result carries. Listing stays a discovery operation: filtering
hides what would be refused anyway; every call is still decided on its own.

A result hook never raises (the relay would lose the answer). When sanitizing fails:

- `tools/list`, `resources/list`, `resources/templates/list`, `prompts/list` fail open: the list
  passes as the backend sent it, with the failure logged (SPEC §11). Hiding the list would break
  the session, and every call, read or prompt is still decided by the policy on its own.
- `initialize` and `server/discover` fail closed on `instructions` only: the field is dropped
  (it is optional), since it goes straight into the model's system prompt and nothing checks it
  later; the handshake itself still succeeds, and the rest passes on unchanged.
The sanitizer walks with an explicit stack, so deep or odd input is not a failure: these are
the last resort for a bug.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from mcp_acp.identity.local import Identity
from mcp_acp.policy.context import build_context
from mcp_acp.policy.engine import DENY
from mcp_acp.proxy.policy_reload import PolicyReloader
from mcp_acp.proxy.sanitizer import LIST_KINDS, sanitize_list_result, sanitize_server_result

log = logging.getLogger(__name__)

LIST_CHANGED = {"tools/list": "notifications/tools/list_changed",
                "resources/list": "notifications/resources/list_changed",
                "prompts/list": "notifications/prompts/list_changed"}

# Suspicious-text warnings logged per answer; a hostile list could otherwise flood the log.
MAX_WARNINGS_PER_ANSWER = 20


class Listing:
    def __init__(self, reloader: PolicyReloader, identity: Identity, backend_id: str, filtering: bool) -> None:
        self.reloader = reloader
        self.identity = identity
        self.backend_id = backend_id
        self.filtering = filtering

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
        answer = self._sanitized(answer, "tools")
        if self.filtering:
            return self._filter(answer, "tools", lambda t: self._allowed("tools/call", {"name": t.get("name")}))
        return answer

    def resources(self, answer: dict) -> dict:
        answer = self._sanitized(answer, "resources")
        if self.filtering:
            return self._filter(answer, "resources",
                                lambda r: self._allowed("resources/read", {"uri": r.get("uri")}))
        return answer

    def resource_templates(self, answer: dict) -> dict:
        return self._sanitized(answer, "resourceTemplates")

    def prompts(self, answer: dict) -> dict:
        answer = self._sanitized(answer, "prompts")
        if self.filtering:
            return self._filter(answer, "prompts", lambda p: self._allowed("prompts/get", {"name": p.get("name")}))
        return answer

    # --- helpers ------------------------------------------------------------------------

    @staticmethod
    def _sanitized(answer: dict, key: str) -> dict:
        """`answer` with the list under `key` sanitized; the very same answer when nothing
        changes, so the relay passes the backend's own bytes on."""
        result = answer.get("result")
        if not isinstance(result, dict) or not isinstance(result.get(key), list):
            return answer
        try:
            clean, findings = sanitize_list_result(result, key)
        except Exception:  # SPEC §11: fails open (each call is still decided by the policy)
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
        log.warning("%s %r: suspicious text in %s (%s)", kind, finding.get(kind), finding.get("field"),
                    ", ".join(finding["patterns"]))
    if len(suspicious) > MAX_WARNINGS_PER_ANSWER:
        log.warning("%d more fields with suspicious text in the same answer", len(suspicious) - MAX_WARNINGS_PER_ANSWER)


def _never_raising(hook: Callable[[dict], dict], method: str) -> Callable[[dict], dict]:
    """`hook`, except that a failure passes the answer on as it came (and is logged): a result
    hook that raised would lose the answer, and the request would hang."""
    def guarded(answer: dict) -> dict:
        try:
            return hook(answer)
        except Exception:
            log.exception("the %s result hook failed; the answer is passed on unchanged", method)
            return answer
    return guarded
