"""Who is asked (issue 7, docs/approvals.md#who-is-asked): the web UI when someone watches it, else a native dialog
on this desktop, else nobody, which denies and says how to approve next time.

The pending approval exists from the start whatever the route, so the CLI can always decide
it too (`mcp-acp approvals decide`). If the browser goes away while a request waits, the next
route takes over.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from mcp_acp.proxy.approvals import NO_APPROVER, USER_DENIED, ApprovalOutcome, ApprovalRequest
from mcp_acp.proxy.pending import Pending, PendingApprovals

log = logging.getLogger(__name__)

UI_CHECK_SECONDS = 0.25
NOBODY_HINT = (
    "nobody could be asked: open the manager UI ('mcp-acp manager start', then 'mcp-acp manager "
    "open'), or run 'mcp-acp approvals watch' in a terminal, and try again"
)
DIALOG_ANSWERS = {"allow": "approve", "allow_once": "allow-once", "deny": "deny"}


def _default_dialog():
    from mcp_acp.proxy.dialogs import find_dialog

    return find_dialog()


class RoutingApprover:
    def __init__(
        self,
        pending: PendingApprovals,
        ui_present: Callable[[], bool],
        find_dialog: Callable[[], object | None] = _default_dialog,
    ) -> None:
        self.pending = pending
        self.ui_present = ui_present
        self.find_dialog = find_dialog

    async def ask(self, request: ApprovalRequest) -> ApprovalOutcome:
        pending = await self.pending.open(request)
        try:
            return await self._route(pending)
        finally:  # the request itself went away (the client disconnected): nothing stays open
            if not pending.future.done():
                self.pending.withdraw(pending, "abandoned", ApprovalOutcome(USER_DENIED, message="abandoned"))

    async def _route(self, pending: Pending) -> ApprovalOutcome:
        while True:
            remaining = pending.deadline - time.monotonic()
            if pending.future.done():
                return pending.future.result()
            if remaining <= 0:
                return self.pending.time_out(pending)
            if self.ui_present():
                await asyncio.wait({pending.future}, timeout=min(UI_CHECK_SECONDS, remaining))
                continue  # decided, timed out, or the browser left: the loop sees which
            # A dialog on this desktop is the requester's own: not where a rule without self-approval is decided.
            dialog = self.find_dialog() if pending.request.self_approval else None
            if dialog is not None:
                return await self._ask_dialog(pending, dialog, remaining)
            return self.pending.withdraw(pending, "no_approver", ApprovalOutcome(NO_APPROVER, message=NOBODY_HINT))

    async def _ask_dialog(self, pending: Pending, dialog, remaining: float) -> ApprovalOutcome:
        view = self.pending.view(pending)
        shown = asyncio.ensure_future(dialog.ask(view, remaining, queue_position=len(self.pending.list())))
        await asyncio.wait({shown, pending.future}, return_when=asyncio.FIRST_COMPLETED)
        if pending.future.done():  # decided elsewhere (CLI, UI) while the dialog was up
            shown.cancel()
            await asyncio.gather(shown, return_exceptions=True)
            return pending.future.result()
        answer = shown.result() if not shown.exception() else "deny"
        if answer == "timeout" or answer not in DIALOG_ANSWERS:
            return self.pending.time_out(pending) if answer == "timeout" else self._deny(pending, view)
        # The dialog runs on this user's desktop, for this user's session.
        self.pending.decide(pending.id, DIALOG_ANSWERS[answer], approver_id=view["subject_id"])
        return pending.future.result()

    def _deny(self, pending: Pending, view: dict) -> ApprovalOutcome:
        self.pending.decide(pending.id, "deny", approver_id=view["subject_id"])
        return pending.future.result()
