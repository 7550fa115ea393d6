"""Pending approvals (proxy/pending.py), in-process on a real asyncio loop.

`PendingApprovals` is the set of requests waiting for a human: what is shown, deciding once,
timing out, withdrawing, and two decisions at once over the API. It runs with a real
`ProxyEvents` whose sink records every event, so each test sees exactly what the manager and
the browsers would be told. The routing of a request to a human is in test_hitl.py (which
shares the helpers here); the dialog programs in test_dialogs.py.

No timed assertions: waits are bounded only to fail fast if something hangs."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from mcp_acp.identity.local import Identity
from mcp_acp.policy.context import build_context
from mcp_acp.proxy.api import build_app
from mcp_acp.proxy.approvals import (
    TIMEOUT,
    USER_ALLOWED,
    USER_ALLOWED_ONCE,
    USER_DENIED,
    WITHDRAWN,
    ApprovalOutcome,
    ApprovalRequest,
)
from mcp_acp.proxy.events import ProxyEvents
from mcp_acp.proxy.pending import (
    ApprovalUnauthorized,
    PendingApprovals,
    PendingNotFound,
    arguments_hash,
)
from tests.support.proxy_session import build_session

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
    approvers: tuple[str, ...] = (),
    self_approval: bool = True,
) -> ApprovalRequest:
    arguments = {"path": "/p/a.txt", "content": "hi"} if arguments is None else arguments
    message = {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": tool, "arguments": arguments},
    }
    ctx = build_context(message, Identity(subject, "local"), "fixture", session_id="s1", proxy_name="px")
    return ApprovalRequest(ctx, "writes", cacheable, timeout, arguments, policy_version, approvers, self_approval)


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


async def test_a_decision_is_applied_only_by_someone_the_policy_lets_decide():
    pending, _ = make_pending()
    mine = await pending.open(request(subject="alice"))
    with pytest.raises(ApprovalUnauthorized, match="only the user who made the request"):
        pending.decide(mine.id, "approve", approver_id="mallory")
    guarded = await pending.open(
        request(subject="sam", approvers=("group:security",), self_approval=False, request_id=8)
    )
    with pytest.raises(ApprovalUnauthorized, match="their own request"):
        pending.decide(guarded.id, "approve", approver_id="sam", approver_claims={"sub": "sam", "groups": ["security"]})
    with pytest.raises(ApprovalUnauthorized, match="group:security"):
        pending.decide(guarded.id, "approve", approver_id="bob", approver_claims={"sub": "bob", "groups": ["dev"]})
    assert not guarded.future.done() and not mine.future.done()  # a refused decision changes nothing
    pending.decide(guarded.id, "deny", approver_id="kim", approver_claims={"sub": "kim", "groups": ["security"]})
    assert guarded.future.result().approver_id == "kim"
    pending.decide(mine.id, "approve", approver_id="alice")
    assert mine.future.result().allowed
