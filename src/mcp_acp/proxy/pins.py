"""Rug-pull detection in the running proxy (docs/tool-pinning.md): every `tools/list` answer is
compared with the pinned definitions (admin/tool_pins.py), and calls to a tool whose definition
changed are decided as the policy's `tool_changes` says: `block` (hidden from lists, calls
denied), `ask` (calls need a person's approval until the change is accepted), `record` (only
audited).

Hashing happens only on lists. A call does one dict lookup (is this tool flagged?); only a
flagged tool's call looks at the pin file again (one stat), so that `mcp-acp tools accept`
takes effect without a restart.

Every pin, change, renamed copy, revert and accept is an entry in system.jsonl.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from mcp_acp.admin.tool_pins import CHANGED, RENAMED, PinState, PinStore, observe
from mcp_acp.audit.writer import AuditLog
from mcp_acp.policy.engine import DENY, HITL, Decision

log = logging.getLogger(__name__)

TOOL_CHANGED_RULE = "tool-definition-changed"
BLOCK, ASK, RECORD = "block", "ask", "record"


class ToolPins:
    def __init__(self, store: PinStore, audit: AuditLog | None, session_id: str, mode: Callable[[], str]) -> None:
        self.store = store
        self.audit = audit
        self.session_id = session_id
        self.mode = mode  # the policy's `tool_changes`, read when it matters (the policy reloads)
        self.state = PinState()
        self.version: object = object()  # never a store's version: the first use loads
        self.flagged: dict[str, dict[str, Any]] = {}  # tool name -> its recorded change
        self._refresh()

    # --- the call path: a dict lookup -------------------------------------------------------

    def judge(self, tool: str | None, decision: Decision) -> Decision:
        """The decision for a call of `tool`, given the policy's."""
        if tool is None or tool not in self.flagged:
            return decision
        self._refresh()  # an accept may have been written meanwhile
        change = self.flagged.get(tool)
        if change is None:
            return decision
        mode = self.mode()
        if mode == RECORD:
            return decision
        reason = _describe(tool, change)
        if mode == BLOCK:
            return Decision(DENY, TOOL_CHANGED_RULE, reason=f"{reason}; it is blocked until the change is accepted")
        if decision.effect == DENY:  # ask never loosens a denial
            return decision
        return Decision(HITL, TOOL_CHANGED_RULE, reason=f"{reason}; each call needs approval until it is accepted")

    # --- the list path --------------------------------------------------------------------

    def on_list(self, tools: list[Any]) -> list[Any]:
        """Compare a listed page with the pins; the tools the client may see."""
        self._refresh()
        definitions = [tool for tool in tools if isinstance(tool, dict)]
        seen = observe(self.state, definitions)
        self.flagged = dict(self.state.changes)  # before anything that may fail: calls are judged by it
        if any(item.what not in ("same", "known") for item in seen):
            self.store.save(self.state)
            self.version = self.store.version()
            for item in seen:
                self._audit_observation(item)
        if self.mode() != BLOCK:
            return tools
        return [tool for tool in tools if not (isinstance(tool, dict) and tool.get("name") in self.flagged)]

    # --- the store ------------------------------------------------------------------------

    def _refresh(self) -> None:
        version = self.store.version()
        if version == self.version:
            return
        try:
            state = self.store.load()
        except Exception:
            log.exception("the pinned tool definitions could not be read; keeping those in memory")
            self.version = version
            return
        self.state, self.version = state, version
        if state.accepted:
            for accepted in state.accepted:
                self._write(
                    "tool_definition_accepted",
                    f"the new definition of tool {accepted.get('tool')!r} was accepted by {accepted.get('by')}",
                    tool=accepted.get("tool"),
                    hash=accepted.get("hash"),
                    accepted_at=accepted.get("at"),
                    accepted_by=accepted.get("by"),
                )
            state.accepted = []
            self.store.save(state)
            self.version = self.store.version()
        self.flagged = dict(state.changes)

    def _audit_observation(self, item: Any) -> None:
        if item.what == "pinned":
            self._write("tool_pinned", f"tool {item.tool!r} pinned on first sight", tool=item.tool, hash=item.hash)
        elif item.what == CHANGED:
            self._write(
                "tool_definition_changed",
                f"the definition of tool {item.tool!r} changed since it was pinned",
                level="WARNING",
                tool=item.tool,
                hash=item.hash,
                pinned_hash=item.previous_hash,
                tool_changes=self.mode(),
            )
        elif item.what == RENAMED:
            self._write(
                "tool_renamed_copy",
                f"tool {item.tool!r} has the pinned definition of {item.renamed_from!r} (renamed from {item.renamed_from!r})",
                level="WARNING",
                tool=item.tool,
                hash=item.hash,
                renamed_from=item.renamed_from,
                tool_changes=self.mode(),
            )
        elif item.what == "reverted":
            self._write(
                "tool_definition_reverted",
                f"tool {item.tool!r} is back to its pinned definition",
                tool=item.tool,
                hash=item.hash,
            )

    def _write(self, event: str, message: str, level: str = "INFO", **fields: Any) -> None:
        if level == "WARNING":
            log.info("%s", message)  # the entry below is the record; this is for the console
        if self.audit is None:
            return
        self.audit.write(
            "system",
            {
                "level": level,
                "event": event,
                "message": message,
                "component": __name__,
                "session_id": self.session_id,
                **fields,
            },
        )


def _describe(tool: str, change: dict[str, Any]) -> str:
    if change.get("kind") == RENAMED:
        return (
            f"tool {tool!r} has the pinned definition of another tool (renamed from {change.get('renamed_from')!r}); "
            "review it with `mcp-acp tools diff`"
        )
    return f"the definition of tool {tool!r} changed since it was pinned; review it with `mcp-acp tools diff`"
