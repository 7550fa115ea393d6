"""proxy/tasks.py: which task ids a session owns, the decision on tasks/*, and what the backend's
answers do to the bindings and the operations log (a real session over real audit files)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import orjson
import pytest

from mcp_acp.policy.engine import ALLOW, DENY
from mcp_acp.proxy.gate import LogWhileForwarded
from mcp_acp.proxy.operations import describe_request, result_summary
from mcp_acp.proxy.tasks import (
    BOUND_RULE,
    NOT_BOUND_RULE,
    TaskBindings,
    created_task_id,
    final_outcome,
)
from tests.support.proxy_session import build_session

CALL_RECORD = {"method": "tools/call", "request_id": "7", "tool_name": "slow_sum", "arguments_summary": {"x": 1}}


def get(task_id: object, method: str = "tasks/get", request_id: int = 9) -> dict:
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": {"taskId": task_id}}


def handle(task_id: str = "t-1") -> dict:
    return {"jsonrpc": "2.0", "id": 7, "result": {"resultType": "task", "taskId": task_id, "status": "working"}}


def completed(task_id: str = "t-1", request_id: int = 9) -> dict:
    final = {"content": [{"type": "text", "text": "42"}], "structuredContent": {"sum": 42}, "isError": False}
    return {"jsonrpc": "2.0", "id": request_id, "result": {"taskId": task_id, "status": "completed", "result": final}}


# --- what an answer creates ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("result", "task_id"),
    [
        ({"resultType": "task", "taskId": "a"}, "a"),  # 2026-07-28
        ({"task": {"taskId": "b", "status": "working"}}, "b"),  # 2025-11-25
        ({"resultType": "complete", "taskId": "c"}, None),  # a result, not a handle
        ({"content": [], "task": {"taskId": "d"}}, None),  # a tool result with a field named task
        ({"resultType": "task", "taskId": 5}, None),
        ({"resultType": "task", "taskId": ""}, None),
        ({"resultType": "task", "taskId": "x" * 513}, None),
        ("task", None),
    ],
)
def test_created_task_id(result, task_id):
    assert created_task_id(result) == task_id


# --- the decision -------------------------------------------------------------------------


def test_a_task_created_here_is_allowed_to_its_creator_only():
    tasks = TaskBindings("s1", "alice")
    tasks.answered("tools/call", CALL_RECORD, time.perf_counter(), handle("t-1"), None)
    assert tasks.decide(get("t-1"), "alice").effect == ALLOW
    assert tasks.decide(get("t-1"), "alice").final_rule == BOUND_RULE
    for method in ("tasks/update", "tasks/cancel", "tasks/result"):
        assert tasks.decide(get("t-1", method), "alice").effect == ALLOW
    other = tasks.decide(get("t-1"), "mallory")
    assert (other.effect, other.final_rule) == (DENY, NOT_BOUND_RULE)
    assert other.reason is not None and "not created in this session by mallory" in other.reason


@pytest.mark.parametrize("task_id", ["t-2", "T-1", "t-1 ", 1, None, ["t-1"], {"taskId": "t-1"}])
def test_any_other_task_id_is_refused(task_id):
    tasks = TaskBindings("s1", "alice")
    tasks.answered("tools/call", CALL_RECORD, time.perf_counter(), handle("t-1"), None)
    assert tasks.decide(get(task_id), "alice").effect == DENY


def test_an_error_or_a_plain_result_binds_nothing():
    tasks = TaskBindings("s1", "alice")
    tasks.answered("tools/call", None, 0.0, {"jsonrpc": "2.0", "id": 1, "error": {"code": -1, "message": "x"}}, None)
    tasks.answered("tools/call", None, 0.0, {"jsonrpc": "2.0", "id": 2, "result": {"content": []}}, None)
    tasks.answered("prompts/get", None, 0.0, handle("t-9"), None)  # only tools/call may create a task
    assert len(tasks) == 0


def test_another_sessions_binding_is_not_owned():
    tasks = TaskBindings("s1", "alice")
    tasks.bind("t-1", None, 0.0).session_id = "s2"  # as if a shared store held another session's task
    assert tasks.decide(get("t-1"), "alice").effect == DENY


def test_bindings_are_bounded_oldest_first():
    tasks = TaskBindings("s1", "alice", limit=2)
    for n in range(3):
        tasks.bind(f"t-{n}", None, 0.0)
    assert len(tasks) == 2
    assert tasks.decide(get("t-0"), "alice").effect == DENY
    assert tasks.decide(get("t-2"), "alice").effect == ALLOW


def test_tasks_list_keeps_this_sessions_tasks_only():
    tasks = TaskBindings("s1", "alice")
    tasks.bind("mine", None, 0.0)
    listed = {"jsonrpc": "2.0", "id": 3, "result": {"tasks": [{"taskId": "mine"}, {"taskId": "theirs"}, "junk"]}}
    answer = tasks.answered("tasks/list", None, 0.0, listed, None)
    assert answer["result"]["tasks"] == [{"taskId": "mine"}]
    assert tasks.decide({"method": "tasks/list", "params": {}}, "alice").effect == ALLOW
    only_mine = {"jsonrpc": "2.0", "id": 4, "result": {"tasks": [{"taskId": "mine"}]}}
    assert tasks.answered("tasks/list", None, 0.0, only_mine, None) is only_mine


# --- the final result ---------------------------------------------------------------------


def test_final_outcome_of_each_form():
    assert final_outcome("tasks/get", completed())[2] == "completed"
    failed = {"id": 1, "result": {"status": "failed", "error": {"code": -32603, "message": "boom"}}}
    assert final_outcome("tasks/get", failed) == (None, {"code": -32603, "message": "boom"}, "failed")
    assert final_outcome("tasks/result", {"id": 1, "result": {"content": []}}) == ({"content": []}, None, "completed")
    assert final_outcome("tasks/result", {"id": 1, "error": {"code": 1}}) == (None, {"code": 1}, None)


@pytest.fixture
def session(tmp_path: Path):
    return build_session(tmp_path, [{"id": "all", "effect": "allow", "conditions": {"tool_name": "*"}}])


def operations(tmp_path: Path) -> list[dict]:
    path = tmp_path / "logs" / "audit" / "operations.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_the_final_result_is_recorded_once_as_the_creating_calls_answer(session, tmp_path):
    recorder, tasks = session.recorder("stdio"), session.tasks
    creating = describe_request({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "slow_sum"}})
    tasks.answered("tools/call", creating, time.perf_counter(), handle("t-1"), recorder)
    poll = describe_request(get("t-1"))
    assert poll["task_id"] == "t-1"
    working = {"jsonrpc": "2.0", "id": 9, "result": {"taskId": "t-1", "status": "working"}}
    assert tasks.answered("tasks/get", poll, 0.0, working, recorder) is working
    assert operations(tmp_path) == []
    done = completed()
    assert tasks.answered("tasks/get", poll, 0.0, done, recorder) is done
    assert tasks.answered("tasks/get", poll, 0.0, completed(request_id=10), recorder) is not None
    [entry] = operations(tmp_path)
    assert entry["kind"] == "task_result" and entry["method"] == "tools/call" and entry["tool_name"] == "slow_sum"
    assert entry["request_id"] == "7" and entry["via_request_id"] == "9" and entry["task_status"] == "completed"
    assert entry["status"] == "Success" and entry["session_id"] == "s1"
    summary = entry["response_summary"]
    assert summary["structured_content"]["fields"] == ["sum"] and summary["content"]["types"] == ["text"]
    assert "42" not in json.dumps(summary)  # neither the text nor the structured value is kept


def test_a_2025_status_without_its_result_waits_for_tasks_result(session, tmp_path):
    recorder, tasks = session.recorder("stdio"), session.tasks
    tasks.answered("tools/call", dict(CALL_RECORD), 0.0, handle("t-1"), recorder)
    status_only = {"jsonrpc": "2.0", "id": 9, "result": {"taskId": "t-1", "status": "completed"}}
    tasks.answered("tasks/get", describe_request(get("t-1")), 0.0, status_only, recorder)
    assert operations(tmp_path) == []
    outcome = {"jsonrpc": "2.0", "id": 10, "result": {"content": [], "isError": True}}
    tasks.answered("tasks/result", describe_request(get("t-1", "tasks/result", 10)), 0.0, outcome, recorder)
    [entry] = operations(tmp_path)
    assert entry["via"] == "tasks/result" and entry["response_summary"]["is_error"] is True


def test_a_failed_task_is_a_failure_of_the_call(session, tmp_path):
    recorder, tasks = session.recorder("stdio"), session.tasks
    tasks.answered("tools/call", dict(CALL_RECORD), 0.0, handle("t-1"), recorder)
    failed = {"jsonrpc": "2.0", "id": 9, "result": {"status": "failed", "error": {"code": -32603, "message": "boom"}}}
    tasks.answered("tasks/get", describe_request(get("t-1")), 0.0, failed, recorder)
    [entry] = operations(tmp_path)
    assert (entry["status"], entry["error_code"], entry["message"]) == ("Failure", -32603, "boom")


def test_the_result_is_withheld_when_its_entry_cannot_be_written(session, tmp_path, monkeypatch):
    recorder, tasks = session.recorder("stdio"), session.tasks
    tasks.answered("tools/call", dict(CALL_RECORD), 0.0, handle("t-1"), recorder)
    shutdowns: list[str] = []
    # The security shutdown ends the process; here it is only noted (tests/integration prove the exit).
    monkeypatch.setattr(session.inputs.shutdown, "initiate", lambda kind, *_a, **_k: shutdowns.append(kind))

    def broken(*_):
        raise OSError("disk full")

    monkeypatch.setattr(session.inputs.audit, "write", broken)
    answer = tasks.answered("tasks/get", describe_request(get("t-1")), 0.0, completed(), recorder)
    assert answer["error"]["code"] == -32603 and "could not be recorded" in answer["error"]["message"]
    assert "42" not in json.dumps(answer)
    assert shutdowns == ["audit_failure"]


# --- the enforcer decides tasks/* by the binding, not by the rules -------------------------


def test_the_enforcer_decides_tasks_by_who_created_them(tmp_path):
    # A policy that allows every method would let a made-up task id through; the binding does not.
    session = build_session(tmp_path, [{"id": "all", "effect": "allow", "conditions": {"mcp_method": "*"}}])
    session.tasks.bind("t-1", None, 0.0)
    assert session.enforcer.check(get("t-1")) is None
    refusal = session.enforcer.check(get("t-2"))
    assert isinstance(refusal, dict) and refusal["code"] == -32001
    assert "was not created in this session" in refusal["message"]
    decisions = [
        json.loads(line) for line in (tmp_path / "logs" / "audit" / "decisions.jsonl").read_text().splitlines()
    ]
    assert [(d["mcp_method"], d["decision"], d["final_rule"]) for d in decisions] == [
        ("tasks/get", "allow", BOUND_RULE),
        ("tasks/get", "deny", NOT_BOUND_RULE),
    ]


def test_a_tool_only_policy_does_not_deny_a_bound_task(tmp_path):
    session = build_session(tmp_path, [{"id": "one", "effect": "allow", "conditions": {"tool_name": "slow_sum"}}])
    session.tasks.bind("t-1", None, 0.0)
    verdict = session.enforcer.check(get("t-1"))
    assert verdict is None and not isinstance(verdict, LogWhileForwarded)


def listen(task_ids: object, **more: object) -> dict:
    notifications = {"taskIds": task_ids, **more}
    return {"jsonrpc": "2.0", "id": 11, "method": "subscriptions/listen", "params": {"notifications": notifications}}


@pytest.mark.parametrize(
    "task_ids",
    [["t-2"], ["t-1", "t-2"], [5], "t-1", [["t-1"]], [None]],
    ids=["other", "one-of-two-other", "int", "bare-string", "nested", "null"],
)
def test_listening_to_a_task_not_created_here_is_refused(tmp_path, task_ids):
    # A task's notifications carry its final result: following another's is reading it.
    session = build_session(tmp_path, [{"id": "all", "effect": "allow", "conditions": {"mcp_method": "*"}}])
    session.tasks.bind("t-1", None, 0.0)
    refusal = session.enforcer.check(listen(task_ids))
    assert isinstance(refusal, dict) and refusal["code"] == -32001 and refusal["data"]["final_rule"] == NOT_BOUND_RULE


def test_listening_to_own_tasks_passes_and_resources_are_still_decided(tmp_path):
    session = build_session(tmp_path, [{"id": "one", "effect": "allow", "conditions": {"tool_name": "slow_sum"}}])
    session.tasks.bind("t-1", None, 0.0)
    assert session.enforcer.check(listen(["t-1"], toolsListChanged=True)) is None
    watched = session.enforcer.check(listen(["t-1"], resourceSubscriptions=["file:///etc/passwd"]))
    assert isinstance(watched, dict) and watched["data"]["final_rule"] == "default"
    unknown = session.enforcer.check(listen([], somethingNew=True))  # a filter field of no revision: decided
    assert isinstance(unknown, dict) and unknown["code"] == -32001


def notification(task_id: object, status: str = "completed") -> dict:
    params = {"taskId": task_id, "status": status, "result": {"content": [], "structuredContent": {"sum": 42}}}
    return {"jsonrpc": "2.0", "method": "notifications/tasks", "params": params}


def test_a_task_notification_is_passed_for_own_tasks_only_and_records_the_final_result(session, tmp_path):
    recorder, tasks = session.recorder("stdio"), session.tasks
    tasks.answered("tools/call", dict(CALL_RECORD), 0.0, handle("t-1"), recorder)
    assert tasks.notified(notification("t-2"), recorder) is not None  # another session's task: dropped
    assert tasks.notified(notification(None), recorder) is not None
    assert tasks.notified(notification("t-1", "working"), recorder) is None
    assert operations(tmp_path) == []
    assert tasks.notified(notification("t-1"), recorder) is None
    assert tasks.notified(notification("t-1"), recorder) is None  # recorded once
    [entry] = operations(tmp_path)
    assert (entry["kind"], entry["via"], entry["tool_name"]) == ("task_result", "notifications/tasks", "slow_sum")
    assert entry["response_summary"]["structured_content"]["fields"] == ["sum"]


# --- structuredContent is summarised like content -------------------------------------------


def test_structured_content_and_content_get_the_same_summary():
    result = {
        "content": [{"type": "text", "text": "secret"}, {"type": "resource_link", "uri": "file:///etc/x", "name": "x"}],
        "structuredContent": {"token": "secret", "n": 1},
        "isError": False,
    }
    summary = result_summary(result)
    for key, value in (("content", result["content"]), ("structured_content", result["structuredContent"])):
        body = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
        assert summary[key]["redacted"] is True and summary[key]["payload_length"] == len(body)
        assert len(summary[key]["body_hash"]) == 64
    assert summary["content"]["types"] == ["text", "resource_link"]
    assert summary["structured_content"]["fields"] == ["n", "token"]
    assert summary["resource_links"] == ["file:///etc/x"]
    assert "secret" not in json.dumps(summary)
    assert result_summary({"structuredContent": [1, 2]})["structured_content"]["fields"] is None
    assert result_summary("nothing") == {}
