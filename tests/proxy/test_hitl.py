"""Routing an approval to a human (proxy/hitl.py's RoutingApprover), on a real asyncio loop: nobody
watching and no dialog denies at once; the UI watching waits; the UI going away falls back to
the dialog or to nobody; the dialog's answer decides; a request that goes away withdraws its
approval. Waits are bounded only to fail fast if something hangs."""

from __future__ import annotations

import asyncio

import pytest

from mcp_acp.proxy.approvals import (
    NO_APPROVER,
    TIMEOUT,
    USER_ALLOWED,
    USER_ALLOWED_ONCE,
    USER_DENIED,
    WITHDRAWN,
    ApprovalOutcome,
)
from mcp_acp.proxy.hitl import NOBODY_HINT, RoutingApprover
from mcp_acp.proxy.pending import (
    PendingApprovals,
    PendingNotFound,
)
from tests.proxy.test_pending import WAIT, make_pending, request, until


class StandInDialog:
    """What `find_dialog()` returns on a desktop: an object with an async `ask`. This one answers
    `answer` (or raises it, if it is an exception), or waits forever when `answer` is None, and
    remembers what it was shown and whether it was cancelled."""

    def __init__(self, answer: object = None) -> None:
        self.answer = answer
        self.shown: list[tuple[dict, float, int]] = []
        self.started = asyncio.Event()
        self.cancelled = False

    async def ask(self, approval: dict, timeout: float, queue_position: int = 1) -> str:
        self.shown.append((approval, timeout, queue_position))
        self.started.set()
        if isinstance(self.answer, BaseException):
            raise self.answer
        if self.answer is None:
            try:
                await asyncio.Event().wait()  # a human who never clicks
            except asyncio.CancelledError:
                self.cancelled = True
                raise
        return self.answer


def router(pending: PendingApprovals, *, ui: list[bool] | None = None, dialog: object | None = None) -> RoutingApprover:
    ui = ui if ui is not None else [False]
    return RoutingApprover(pending, ui_present=lambda: ui[0], find_dialog=lambda: dialog)


# --------------------------------------------------------------------------- routing


async def test_nobody_watching_and_no_dialog_denies_at_once_with_the_hint():
    pending, recorder = make_pending()
    outcome = await asyncio.wait_for(router(pending).ask(request()), WAIT)
    assert outcome.outcome == NO_APPROVER and not outcome.allowed
    assert outcome.message == NOBODY_HINT and "mcp-acp manager start" in NOBODY_HINT
    assert recorder.types() == ["pending_created", "pending_cancelled"]
    assert recorder.of("pending_cancelled")[0]["reason"] == "no_approver"
    assert pending.list() == []


async def test_while_the_ui_watches_the_request_waits_for_a_decision():
    pending, recorder = make_pending()
    ui = [True]
    asking = asyncio.ensure_future(router(pending, ui=ui).ask(request()))
    [waiting] = await until(pending.list, "the pending approval")
    await asyncio.sleep(0.6)  # several UI checks pass: it keeps waiting (not a timing assertion)
    assert not asking.done() and pending.list() == [pending.view(pending.get(waiting["id"]))]
    pending.decide(waiting["id"], "allow-once", approver_id="alice")
    outcome = await asyncio.wait_for(asking, WAIT)
    assert outcome == ApprovalOutcome(USER_ALLOWED_ONCE, approver_id="alice")
    assert recorder.types() == ["pending_created", "pending_resolved"]


async def test_while_the_ui_watches_nobody_answering_times_out():
    pending, recorder = make_pending()
    outcome = await asyncio.wait_for(router(pending, ui=[True]).ask(request(timeout=0.5)), WAIT)
    assert outcome == ApprovalOutcome(TIMEOUT)
    assert recorder.types() == ["pending_created", "pending_timeout"]
    assert pending.list() == []


async def test_the_ui_going_away_mid_wait_falls_back_to_no_approver():
    pending, recorder = make_pending()
    ui = [True]
    asking = asyncio.ensure_future(router(pending, ui=ui).ask(request()))
    await until(pending.list, "the pending approval")
    assert not asking.done()
    ui[0] = False  # the last browser tab closed; no dialog on this host
    outcome = await asyncio.wait_for(asking, WAIT)
    assert outcome.outcome == NO_APPROVER and outcome.message == NOBODY_HINT
    assert recorder.types() == ["pending_created", "pending_cancelled"]
    assert recorder.of("pending_cancelled")[0]["reason"] == "no_approver"
    assert pending.list() == []


async def test_the_ui_going_away_mid_wait_falls_back_to_the_dialog():
    pending, recorder = make_pending()
    ui = [True]
    dialog = StandInDialog("allow_once")
    asking = asyncio.ensure_future(router(pending, ui=ui, dialog=dialog).ask(request()))
    await until(pending.list, "the pending approval")
    assert not dialog.shown  # the UI is asked first
    ui[0] = False
    outcome = await asyncio.wait_for(asking, WAIT)
    assert outcome == ApprovalOutcome(USER_ALLOWED_ONCE, approver_id="alice")
    assert len(dialog.shown) == 1
    assert recorder.types() == ["pending_created", "pending_resolved"]  # the same approval, now in the dialog


@pytest.mark.parametrize(
    ("answer", "outcome", "event"),
    [
        ("allow", USER_ALLOWED, "pending_resolved"),
        ("allow_once", USER_ALLOWED_ONCE, "pending_resolved"),
        ("deny", USER_DENIED, "pending_resolved"),
        ("timeout", TIMEOUT, "pending_timeout"),
        ("yes please", USER_DENIED, "pending_resolved"),  # anything unrecognised denies
        ("", USER_DENIED, "pending_resolved"),
        (42, USER_DENIED, "pending_resolved"),  # not even a string
        (RuntimeError("osascript crashed"), USER_DENIED, "pending_resolved"),  # a broken dialog denies
    ],
)
async def test_the_dialog_answer_decides(answer, outcome, event):
    pending, recorder = make_pending()
    dialog = StandInDialog(answer)
    result = await asyncio.wait_for(router(pending, dialog=dialog).ask(request(subject="alice")), WAIT)
    assert result.outcome == outcome and result.allowed == (outcome in (USER_ALLOWED, USER_ALLOWED_ONCE))
    if outcome != TIMEOUT:
        assert result.approver_id == "alice"  # the dialog is on the requester's own desktop
    assert recorder.types() == ["pending_created", event]
    [(shown, remaining, position)] = dialog.shown
    assert shown["tool_name"] == "write_file" and shown["path"] == "/p/a.txt" and shown["proxy_name"] == "px"
    assert 0 < remaining <= 30 and position == 1
    assert pending.list() == []


async def test_the_dialog_is_told_its_queue_position():
    pending, _ = make_pending()
    waiting = await pending.open(request(request_id=1))  # already waiting (e.g. for the CLI)
    dialog = StandInDialog("deny")
    await asyncio.wait_for(router(pending, dialog=dialog).ask(request(request_id=2)), WAIT)
    assert dialog.shown[0][2] == 2
    assert [v["id"] for v in pending.list()] == [waiting.id]


async def test_a_decision_elsewhere_while_the_dialog_is_up_wins_and_closes_the_dialog():
    pending, recorder = make_pending()
    dialog = StandInDialog(None)  # shown, never answered
    asking = asyncio.ensure_future(router(pending, dialog=dialog).ask(request()))
    await asyncio.wait_for(dialog.started.wait(), WAIT)
    [waiting] = pending.list()
    pending.decide(waiting["id"], "approve", approver_id="alice")  # the CLI or the web UI, for the requester
    outcome = await asyncio.wait_for(asking, WAIT)
    assert outcome == ApprovalOutcome(USER_ALLOWED, approver_id="alice")
    assert dialog.cancelled  # the dialog program is taken down, its answer is never used
    assert recorder.types() == ["pending_created", "pending_resolved"]
    assert pending.list() == []


async def test_a_request_that_goes_away_withdraws_its_approval():
    """The client disconnected: the task asking is cancelled; nothing may stay pending."""
    pending, recorder = make_pending()
    asking = asyncio.ensure_future(router(pending, ui=[True]).ask(request()))
    [waiting] = await until(pending.list, "the pending approval")
    asking.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asking
    assert pending.list() == []
    assert recorder.of("pending_cancelled")[0]["approval_id"] == waiting["id"]
    assert recorder.of("pending_cancelled")[0]["reason"] == "abandoned"
    with pytest.raises(PendingNotFound):
        pending.decide(waiting["id"], "approve", approver_id="alice")


async def test_withdraw_all_while_waiting_answers_the_waiting_request():
    pending, _ = make_pending()
    asking = asyncio.ensure_future(router(pending, ui=[True]).ask(request()))
    await until(pending.list, "the pending approval")
    assert pending.withdraw_all("policy_changed") == 1
    outcome = await asyncio.wait_for(asking, WAIT)
    assert outcome == ApprovalOutcome(WITHDRAWN, message="policy_changed")


async def test_concurrent_requests_are_decided_independently():
    pending, _ = make_pending()
    approver = router(pending, ui=[True])
    tasks = [
        asyncio.ensure_future(approver.ask(request(arguments={"path": f"/p/{n}.txt"}, request_id=n))) for n in range(20)
    ]
    views = await until(lambda: len(found := pending.list()) == 20 and found, "20 pending approvals")
    by_request = {v["request_id"]: v["id"] for v in views}
    for n in range(20):
        pending.decide(by_request[str(n)], "approve" if n % 2 else "deny", approver_id="alice")
    outcomes = await asyncio.wait_for(asyncio.gather(*tasks), WAIT)
    assert [o.allowed for o in outcomes] == [bool(n % 2) for n in range(20)]
