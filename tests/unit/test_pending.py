"""Pending approvals and their routing (issue 7, SPEC §2.6), in-process on a real asyncio loop.

`PendingApprovals` is the set of requests waiting for a human; `RoutingApprover` decides who is
asked (someone watching the UI, else a native dialog, else nobody). Both run here as the proxy
runs them, with a real `ProxyEvents` whose sink records every event, so each test sees exactly
what the manager and the browsers would be told. The dialog is a tiny stand-in object with the
same async `ask` as `proxy/dialogs.py`'s `NativeDialog` (no desktop here); the real dialog
program is tested elsewhere (tests/unit/test_dialogs.py).

No timed assertions: waits are bounded only to fail fast if something hangs.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from mcp_acp.identity.local import Identity
from mcp_acp.policy.context import build_context
from mcp_acp.proxy.api import build_app
from mcp_acp.proxy.approvals import (
    NO_APPROVER,
    TIMEOUT,
    USER_ALLOWED,
    USER_ALLOWED_ONCE,
    USER_DENIED,
    WITHDRAWN,
    ApprovalCache,
    ApprovalOutcome,
    ApprovalRequest,
)
from mcp_acp.proxy.argument_display import redacted
from mcp_acp.proxy.events import ProxyEvents
from mcp_acp.proxy.hitl import NOBODY_HINT, RoutingApprover
from mcp_acp.proxy.pending import (
    PendingApprovals,
    PendingNotFound,
    arguments_hash,
)
from tests.proxy_session import build_session

WAIT = 20.0  # seconds: only an upper bound so that a hang fails instead of blocking the suite
HEX16 = re.compile(r"[0-9a-f]{16}")


# --------------------------------------------------------------------------- helpers


class Recorder:
    """A ProxyEvents sink that keeps every (type, payload) it is given."""

    def __init__(self, events: ProxyEvents) -> None:
        self.seen: list[tuple[str, dict]] = []
        events.sinks.append(lambda event_type, data: self.seen.append((event_type, data)))

    def of(self, event_type: str) -> list[dict]:
        return [data for kind, data in self.seen if kind == event_type]

    def types(self) -> list[str]:
        return [kind for kind, _ in self.seen]


def make_pending(ttl: int = 600) -> tuple[PendingApprovals, Recorder]:
    events = ProxyEvents()
    recorder = Recorder(events)
    return PendingApprovals(events, "px", "px_1234abcd", ttl), recorder


def request(
    tool: str = "write_file",
    arguments: dict | None = None,
    *,
    request_id: int | str = 7,
    subject: str = "alice",
    cacheable: bool = True,
    timeout: float = 30.0,
    policy_version: str = "v3",
) -> ApprovalRequest:
    arguments = {"path": "/p/a.txt", "content": "hi"} if arguments is None else arguments
    message = {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": tool, "arguments": arguments},
    }
    ctx = build_context(message, Identity(subject, "local"), "fixture", session_id="s1", proxy_name="px")
    return ApprovalRequest(ctx, "writes", cacheable, timeout, arguments, policy_version)


async def until(condition, what: str):
    """Yield to the loop until `condition()` is truthy (bounded by WAIT)."""

    async def poll():
        while not (value := condition()):
            await asyncio.sleep(0.01)
        return value

    try:
        return await asyncio.wait_for(poll(), WAIT)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


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


# --------------------------------------------------------------------------- what is shown


def test_shown_arguments_redact_secret_looking_keys_and_keep_everything_else_whole():
    long_text = "x" * 5000 + " | sh"
    many = [f"/p/{n}" for n in range(25)]
    shown = redacted(
        {
            "path": "/p/a.txt",
            "password": "hunter2",
            "API_KEY": "sk-live-1",
            "api-key": "k",
            "auth_token": "t",
            "client_secret": "s",
            "Cookie": "c=1",
            "private_key": "-----BEGIN",
            "credentials": ["a", "bb"],
            "passphrase": "open sesame",
            "content": long_text,
            "count": 3,
            "flags": {"a": [1, 2]},
            "paths": many,
            "use_auth": True,
            "pin_auth": 1234,
        }
    )
    for key, length in (
        ("password", 7),
        ("API_KEY", 9),
        ("api-key", 1),
        ("auth_token", 1),
        ("client_secret", 1),
        ("Cookie", 3),
        ("private_key", 10),
        ("passphrase", 11),
        ("pin_auth", 4),
    ):
        assert shown[key] == f"[redacted: {length} character{'s' if length != 1 else ''}]", key
    assert shown["credentials"] == ["[redacted: 1 character]", "[redacted: 2 characters]"]  # structure kept
    assert shown["use_auth"] is True  # a boolean is no secret
    assert shown["path"] == "/p/a.txt"  # paths are what the human must see
    assert shown["content"] == long_text  # every character, however long
    assert shown["paths"] == many  # every item, however many
    assert shown["count"] == 3 and shown["flags"] == {"a": [1, 2]}  # JSON values, not strings of JSON
    assert list(shown) == [
        "path",
        "password",
        "API_KEY",
        "api-key",
        "auth_token",
        "client_secret",
        "Cookie",
        "private_key",
        "credentials",
        "passphrase",
        "content",
        "count",
        "flags",
        "paths",
        "use_auth",
        "pin_auth",
    ]  # every key, in the client's order
    text = json.dumps(shown)
    for secret in ("hunter2", "sk-live-1", "open sesame", "-----BEGIN", "c=1", "1234"):
        assert secret not in text
    assert redacted({}) == {}


def test_shown_arguments_redact_secret_looking_keys_nested_in_values():
    shown = redacted(
        {
            "url": "https://api.example.com",
            "headers": {"Authorization": "Bearer sk-nested-secret"},
            "options": [{"password": "nested-hunter2"}],
        }
    )
    text = json.dumps(shown)
    assert "sk-nested-secret" not in text and "nested-hunter2" not in text, shown
    assert shown["url"] == "https://api.example.com"
    assert shown["headers"] == {"Authorization": "[redacted: 23 characters]"}


async def test_open_shows_the_request_and_its_binding():
    pending, recorder = make_pending(ttl=600)
    arguments = {"path": "/p/a.txt", "content": "hello", "token": "tok-s3cr3t-value"}
    opened = await pending.open(request(arguments=arguments, request_id=42))
    view = pending.view(opened)
    assert HEX16.fullmatch(view["id"]) and view["id"] == opened.id
    assert view["proxy_name"] == "px" and view["proxy_id"] == "px_1234abcd"
    assert view["tool_name"] == "write_file" and view["path"] == "/p/a.txt"
    assert view["side_effects"] == ["fs_write"] and view["backend_id"] == "fixture"
    assert view["arguments"] == {"path": "/p/a.txt", "content": "hello", "token": "[redacted: 16 characters]"}
    assert view["arguments_size"] == len(json.dumps(arguments, separators=(",", ":")).encode())
    assert view["remember"] == {
        "available": True,
        "ttl_seconds": 600,
        "scope": "this tool on this exact path",
        "label": "Allow and remember for 10 min (this tool on this exact path)",
    }
    expected = hashlib.sha256(json.dumps(arguments, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    assert view["args_hash"] == expected == arguments_hash(dict(reversed(arguments.items())))  # key order is irrelevant
    assert view["policy_version"] == "v3" and view["subject_id"] == "alice" and view["rule_id"] == "writes"
    assert view["request_id"] == "42" and view["timeout_seconds"] == 30.0
    assert 0 < view["expires_in_seconds"] <= 30
    assert view["can_cache"] is True and view["cache_ttl_seconds"] == 600
    assert pending.list() == [view]
    [created] = recorder.of("pending_created")
    assert (
        created["approval"]["id"] == opened.id
        and created["approval"]["arguments"]["token"] == "[redacted: 16 characters]"
    )
    assert "tok-s3cr3t-value" not in json.dumps(created)
    assert "write_file" in created["message"]

    not_cacheable = pending.view(await pending.open(request(cacheable=False, request_id=43)))
    assert not_cacheable["can_cache"] is False and not_cacheable["cache_ttl_seconds"] is None
    assert not_cacheable["remember"]["available"] is False
    assert not_cacheable["remember"]["label"].startswith("Not offered: ")
    # Other arguments, another hash.
    other = pending.view(await pending.open(request(arguments={"path": "/p/a.txt", "content": "bye"}, request_id=44)))
    assert other["args_hash"] != view["args_hash"]


async def test_ids_are_unique_16_hex():
    pending, _ = make_pending()
    ids = [(await pending.open(request(request_id=n))).id for n in range(500)]
    assert len(set(ids)) == 500 and all(HEX16.fullmatch(i) for i in ids)
    assert {v["id"] for v in pending.list()} == set(ids)


# --------------------------------------------------------------------------- deciding, once


@pytest.mark.parametrize(
    ("decision", "outcome", "event_decision", "severity"),
    [
        ("approve", USER_ALLOWED, "approve", "success"),
        ("allow-once", USER_ALLOWED_ONCE, "allow_once", "success"),
        ("deny", USER_DENIED, "deny", "info"),
    ],
)
async def test_decide_answers_once_and_a_second_decision_finds_nothing(decision, outcome, event_decision, severity):
    pending, recorder = make_pending()
    opened = await pending.open(request())
    decided = pending.decide(opened.id, decision, approver_id="alice")
    assert decided is opened and opened.future.done()
    assert opened.future.result() == ApprovalOutcome(outcome, approver_id="alice")
    [resolved] = recorder.of("pending_resolved")
    assert resolved["approval_id"] == opened.id and resolved["decision"] == event_decision
    assert resolved["approver_id"] == "alice" and resolved["severity"] == severity
    assert pending.list() == []
    # Not replayable: the same id again, with any decision, is gone.
    for again in ("approve", "allow-once", "deny"):
        with pytest.raises(PendingNotFound):
            pending.decide(opened.id, again, approver_id="alice")
    with pytest.raises(PendingNotFound):
        pending.get(opened.id)
    with pytest.raises(PendingNotFound):
        pending.decide("0123456789abcdef", "approve", approver_id="alice")
    assert len(recorder.of("pending_resolved")) == 1


async def test_time_out_settles_once_and_says_so():
    pending, recorder = make_pending()
    opened = await pending.open(request())
    assert pending.time_out(opened) == ApprovalOutcome(TIMEOUT)
    [timed_out] = recorder.of("pending_timeout")
    assert timed_out["approval_id"] == opened.id and timed_out["severity"] == "warning"
    assert pending.list() == []
    # Later attempts change nothing: a late click, a second timeout.
    with pytest.raises(PendingNotFound):
        pending.decide(opened.id, "approve", approver_id="alice")
    assert pending.time_out(opened) == ApprovalOutcome(TIMEOUT)
    assert len(recorder.of("pending_timeout")) == 1 and not recorder.of("pending_resolved")


async def test_withdraw_request_withdraws_only_that_request():
    pending, recorder = make_pending()
    first = await pending.open(request(request_id=1))
    second = await pending.open(request(request_id=2))
    third = await pending.open(request(request_id="abc"))
    assert pending.withdraw_request("1", "cancelled by the client") == 1
    assert first.future.result().outcome == WITHDRAWN  # logged as withdrawn: nobody denied it
    assert first.future.result().message == "cancelled by the client"
    assert [v["id"] for v in pending.list()] == [second.id, third.id]
    [cancelled] = recorder.of("pending_cancelled")
    assert cancelled["approval_id"] == first.id and cancelled["reason"] == "cancelled by the client"
    assert pending.withdraw_request("1", "cancelled by the client") == 0  # already gone
    assert pending.withdraw_request("999", "cancelled by the client") == 0  # never existed
    assert pending.withdraw_request("abc", "cancelled by the client") == 1
    assert [v["id"] for v in pending.list()] == [second.id]
    with pytest.raises(PendingNotFound):
        pending.decide(first.id, "approve", approver_id="alice")


async def test_withdraw_all_empties_the_list():
    pending, recorder = make_pending()
    opened = [await pending.open(request(request_id=n)) for n in range(3)]
    pending.decide(opened[0].id, "deny", approver_id="alice")
    assert pending.withdraw_all("policy_changed") == 2
    assert pending.list() == []
    for item in opened[1:]:
        assert item.future.result() == ApprovalOutcome(WITHDRAWN, message="policy_changed")
    assert {e["approval_id"] for e in recorder.of("pending_cancelled")} == {opened[1].id, opened[2].id}
    assert {e["reason"] for e in recorder.of("pending_cancelled")} == {"policy_changed"}
    assert pending.withdraw_all("policy_changed") == 0


async def test_a_broken_event_sink_never_disturbs_a_decision():
    pending, recorder = make_pending()

    def broken(event_type: str, data: dict) -> None:
        raise RuntimeError("the manager went away")

    pending.events.sinks.insert(0, broken)
    opened = await pending.open(request())
    pending.decide(opened.id, "approve", approver_id="alice")
    assert opened.future.result().allowed
    assert recorder.types() == ["pending_created", "pending_resolved"]


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
    pending.decide(waiting["id"], "approve", approver_id="alice-from-the-cli")  # the CLI or the web UI
    outcome = await asyncio.wait_for(asking, WAIT)
    assert outcome == ApprovalOutcome(USER_ALLOWED, approver_id="alice-from-the-cli")
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


# --------------------------------------------------------------------------- the approval cache


def _ctx(path: str, subject: str = "alice", tool: str = "write_file", request_id: int = 1):
    message = {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": tool, "arguments": {"path": path}},
    }
    return build_context(message, Identity(subject, "local"), "fixture")


def test_cached_approvals_expire_at_their_ttl(tmp_path):
    now = [1000.0]
    cache = ApprovalCache(300, clock=lambda: now[0])
    target = tmp_path / "a.txt"
    target.write_text("a")
    cache.remember(_ctx(str(target), request_id=9))
    [entry] = cache.snapshot()["approvals"]
    assert entry == {
        "subject_id": "alice",
        "tool_name": "write_file",
        "path": os.path.realpath(target),
        "request_id": "9",
        "paths": [os.path.realpath(target)],
        "exact_arguments": False,
        "age_seconds": 0.0,
        "ttl_seconds": 300,
        "expires_in_seconds": 300.0,
    }
    now[0] += 299.5
    assert cache.holds(_ctx(str(target)))
    assert cache.snapshot()["approvals"][0]["expires_in_seconds"] == 0.5
    now[0] += 0.5  # exactly at the TTL: gone
    assert not cache.holds(_ctx(str(target)))
    assert cache.snapshot() == {"count": 0, "ttl_seconds": 300, "approvals": []}
    assert len(cache) == 0


def test_a_cached_approval_is_keyed_on_the_real_path(tmp_path):
    cache = ApprovalCache(300)
    approved, other = tmp_path / "approved.txt", tmp_path / "other.txt"
    approved.write_text("a")
    other.write_text("b")
    name = tmp_path / "name.txt"
    name.symlink_to(approved)
    cache.remember(_ctx(str(name)))  # approved as "name.txt", which leads to approved.txt
    assert cache.snapshot()["approvals"][0]["path"] == os.path.realpath(approved)
    assert cache.holds(_ctx(str(name)))
    assert not cache.holds(_ctx(str(other)))
    assert not cache.holds(_ctx(str(name), subject="mallory"))
    assert not cache.holds(_ctx(str(name), tool="delete_file"))
    name.unlink()
    name.symlink_to(other)  # the same path name, now leading to another file
    assert not cache.holds(_ctx(str(name)))
    name.unlink()
    name.symlink_to(approved)
    assert cache.forget("alice", "write_file", os.path.realpath(approved)) and not cache.holds(_ctx(str(name)))


# --------------------------------------------------------------------------- two decisions at once, over the API


class CountingExecutor(ThreadPoolExecutor):
    """The loop's default executor (what `asyncio.to_thread` uses), counting what it is given."""

    def __init__(self) -> None:
        super().__init__(max_workers=1)
        self.submitted = 0

    def submit(self, fn, /, *args, **kwargs):
        self.submitted += 1
        return super().submit(fn, *args, **kwargs)


@pytest.fixture
def control_api(tmp_path):
    """The proxy's real control app (proxy/api.py) in process, with real pending approvals."""
    rules = [{"id": "writes", "effect": "hitl", "conditions": {"tool_name": "write_file"}}]
    session = build_session(tmp_path, rules, name="px", proxy_id="px_1234abcd:px")
    pending, recorder, control = session.pending, Recorder(session.events), session.control
    transport = httpx.ASGITransport(app=build_app(control), raise_app_exceptions=False)
    return pending, recorder, httpx.AsyncClient(transport=transport, base_url="http://proxy")


async def test_two_decisions_at_once_one_wins_the_other_finds_nothing(control_api):
    pending, recorder, client = control_api
    opened = await pending.open(request(cacheable=False))
    executor = CountingExecutor()
    asyncio.get_running_loop().set_default_executor(executor)
    gate = threading.Event()
    executor.submit(gate.wait, WAIT)  # hold the one worker: both requests queue their identity check
    try:
        posts = [
            asyncio.ensure_future(client.post(f"/api/approvals/pending/{opened.id}/{decision}"))
            for decision in ("approve", "deny")
        ]
        await until(lambda: executor.submitted == 3, "both decisions to reach the identity check")
    finally:
        gate.set()
    first, second = await asyncio.wait_for(asyncio.gather(*posts), WAIT)
    # Safe either way: the request is answered once, by the first decision.
    assert opened.future.result() == ApprovalOutcome(USER_ALLOWED, approver_id="alice")
    assert len(recorder.of("pending_resolved")) == 1
    assert first.status_code == 200 and first.json()["status"] == "approved"
    assert second.status_code == 404 and second.json()["detail"]["code"] == "APPROVAL_NOT_FOUND", second.text
