"""What the model gets to see in list results: sanitized tool descriptions, and with
`discovery: "filter"` only what the policy could ever allow for this user.

Tool descriptions are text the model reads as instructions, so they are cleaned (SPEC §11)
and suspicious ones are reported. Listing stays a discovery operation: filtering hides what
would be refused anyway; every call is still decided on its own.
"""

from __future__ import annotations

import logging
from typing import Any

from mcp_acp.identity.local import Identity
from mcp_acp.policy.context import build_context
from mcp_acp.policy.engine import DENY
from mcp_acp.proxy.policy_reload import PolicyReloader
from mcp_acp.proxy.sanitizer import sanitize_tools_result

log = logging.getLogger(__name__)

LIST_CHANGED = {"tools/list": "notifications/tools/list_changed",
                "resources/list": "notifications/resources/list_changed",
                "prompts/list": "notifications/prompts/list_changed"}


class Listing:
    def __init__(self, reloader: PolicyReloader, identity: Identity, backend_id: str, filtering: bool) -> None:
        self.reloader = reloader
        self.identity = identity
        self.backend_id = backend_id
        self.filtering = filtering

    def hooks(self) -> dict[str, Any]:
        """Result hooks by request method, for the gate."""
        hooks = {"tools/list": self.tools}
        if self.filtering:
            hooks |= {"resources/list": self.resources, "prompts/list": self.prompts}
        return hooks

    def _allowed(self, method: str, params: dict) -> bool:
        ctx = build_context({"method": method, "params": params}, self.identity, self.backend_id)
        engine = self.reloader.engine
        if method == "resources/read":
            return engine.evaluate(ctx).effect != DENY
        return engine.may_allow(ctx)

    def tools(self, answer: dict) -> dict:
        result = answer.get("result")
        if not isinstance(result, dict) or not isinstance(result.get("tools"), list):
            return answer
        try:
            result, findings = sanitize_tools_result(result)
        except Exception:  # SPEC §11: sanitizing fails open (the tools still need a policy decision per call)
            log.exception("tool description sanitizer failed; descriptions passed on unchanged")
            findings = []
        for finding in findings:
            if finding.get("patterns"):
                log.warning("tool %r: suspicious text in %s (%s)", finding.get("tool"), finding.get("field"),
                            ", ".join(finding["patterns"]))
        if not self.filtering and not any(finding["modified"] for finding in findings):
            return answer  # nothing to change: the same object, so the relay passes the backend's bytes on
        answer = {**answer, "result": result}
        if self.filtering:
            return self._filter(answer, "tools", lambda t: self._allowed("tools/call", {"name": t.get("name")}))
        return answer

    def resources(self, answer: dict) -> dict:
        return self._filter(answer, "resources", lambda r: self._allowed("resources/read", {"uri": r.get("uri")}))

    def prompts(self, answer: dict) -> dict:
        return self._filter(answer, "prompts", lambda p: self._allowed("prompts/get", {"name": p.get("name")}))

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
