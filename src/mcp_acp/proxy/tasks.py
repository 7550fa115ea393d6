"""Tasks (the tasks extension of MCP 2026-07-28, and the experimental tasks of 2025-11-25) bound to
the session and principal whose allowed call created them (docs/policies.md#tasks).

A server may answer an allowed `tools/call` with a task handle instead of its result; the result
then arrives through `tasks/get` (or the 2025 `tasks/result`). A task id is a bearer handle on the
backend, which may be shared with other sessions (an HTTP backend): so the proxy remembers which
task ids its own allowed calls created, with the call's audit record, and
- a `tasks/*` request (the extension reserves the prefix) is decided here, not by the policy's rules: allowed
  for a task created in this session by this principal (the call that created it was decided
  already), refused for any other id (another session's, an expired one, a made-up one). A
  refused request never reaches the backend;
- `tasks/list` (2025 only) is forwarded and its answer keeps only this session's tasks;
- the first terminal answer for a task (a `tasks/get` with its result or error, a `tasks/result`)
  is recorded as the answer of the call that created it (proxy/operations.py).

Bindings live in the proxy's memory, like the session: a new proxy process (a new session)
owns no task, so a task cannot be followed across a restart of the proxy.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Protocol

from mcp_acp.policy.engine import ALLOW, DENY, Decision

# Methods that name a task (params.taskId). tasks/result is the 2025-11-25 experimental one.
# Any other tasks/* method is decided the same way (is_task_method).
TASK_METHODS = frozenset({"tasks/get", "tasks/update", "tasks/cancel", "tasks/result"})
TASK_NOTIFICATION = "notifications/tasks"  # the extension's task state, pushed on a listen stream
TASK_LIST = "tasks/list"  # 2025-11-25 only: answered with this session's tasks only
TERMINAL = frozenset({"completed", "failed", "cancelled"})
BOUND_RULE = "task_bound"
NOT_BOUND_RULE = "task_not_bound"
LISTED_RULE = "task_list_own"
MAX_TASKS = 10_000  # per session; past it the oldest binding is forgotten (its id is then refused)
TASK_ID_MAX = 512


@dataclass(slots=True)
class TaskBinding:
    task_id: str
    session_id: str
    principal: str  # the subject whose allowed call created the task
    record: dict | None  # the creating request's audit fields (operations.jsonl)
    started: float  # perf_counter when the creating request arrived
    final_recorded: bool = False


class TaskRecorder(Protocol):
    """What the final-result entry needs of the operations log (proxy/operations.py)."""

    def record_task_result(self, binding: TaskBinding, via: str, answer: dict, duration_ms: float) -> dict | None: ...


def is_task_method(method: str | None) -> bool:
    """The tasks/ prefix is the extension's: any method under it but tasks/list must name a task
    of this session, so no tasks/* request the proxy does not know reaches the backend either."""
    return isinstance(method, str) and method.startswith("tasks/")


def requested_task_id(params: Any) -> str | None:
    """The task a tasks/* request names; None when it names none (or not as a string)."""
    task_id = params.get("taskId") if isinstance(params, dict) else None
    return task_id if isinstance(task_id, str) else None


def created_task_id(result: Any) -> str | None:
    """The id of the task an answer to tools/call created, if it is a task handle: 2026-07-28
    `{resultType: "task", taskId}`, or 2025-11-25 `{task: {taskId}}`."""
    if not isinstance(result, dict):
        return None
    if result.get("resultType") == "task":
        task_id = result.get("taskId")
    elif isinstance(task := result.get("task"), dict) and "content" not in result:
        task_id = task.get("taskId")
    else:
        return None
    return task_id if isinstance(task_id, str) and 0 < len(task_id) <= TASK_ID_MAX else None


class TaskBindings:
    """The tasks this session's allowed calls created."""

    def __init__(self, session_id: str, principal: str, limit: int = MAX_TASKS) -> None:
        self.session_id = session_id
        self.principal = principal  # the session's user (identity/provider.py binds the session to it)
        self.limit = limit
        self._tasks: OrderedDict[str, TaskBinding] = OrderedDict()

    def __len__(self) -> int:
        return len(self._tasks)

    def bind(self, task_id: str, record: dict | None, started: float) -> TaskBinding:
        binding = TaskBinding(task_id, self.session_id, self.principal, record, started)
        self._tasks[task_id] = binding
        self._tasks.move_to_end(task_id)
        while len(self._tasks) > self.limit:
            self._tasks.popitem(last=False)
        return binding

    def owned(self, task_id: str | None, subject_id: str) -> TaskBinding | None:
        """The binding when `task_id` was created in this session by `subject_id`."""
        binding = self._tasks.get(task_id) if task_id is not None else None
        if binding is None or binding.session_id != self.session_id or binding.principal != subject_id:
            return None
        return binding

    # --- the decision (proxy/enforcement.py calls it for every tasks/* request) -----------

    def decide(self, message: dict, subject_id: str) -> Decision:
        method = message.get("method")
        if method == TASK_LIST:
            return Decision(ALLOW, LISTED_RULE, reason="the answer lists this session's tasks only")
        task_id = requested_task_id(message.get("params"))
        if task_id is None:
            return Decision(DENY, NOT_BOUND_RULE, reason="it names no task (params.taskId must be a string)")
        if self.owned(task_id, subject_id) is None:
            return Decision(
                DENY,
                NOT_BOUND_RULE,
                reason=f"task '{_shown(task_id)}' was not created in this session by {subject_id}",
            )
        return Decision(ALLOW, BOUND_RULE)

    def decide_listen(self, task_ids: Any, subject_id: str) -> Decision | None:
        """A subscriptions/listen that follows tasks: refused unless `task_ids` is a list and this
        session's principal created every one of them (their notifications carry the final
        result); None when it may go on to be decided on what else it watches."""
        if not isinstance(task_ids, list):
            return Decision(DENY, NOT_BOUND_RULE, reason="its taskIds is not a list of task ids")
        for task_id in task_ids:
            if not isinstance(task_id, str) or self.owned(task_id, subject_id) is None:
                shown = _shown(task_id) if isinstance(task_id, str) else repr(task_id)[:80]
                return Decision(
                    DENY,
                    NOT_BOUND_RULE,
                    reason=f"it follows task '{shown}', not created in this session by {subject_id}",
                )
        return None

    # --- the backend's answers (proxy/relay.py calls it before the client sees one) --------

    def notified(self, message: dict, recorder: TaskRecorder | None) -> str | None:
        """A `notifications/tasks` from the backend (a task's state, on a listen stream): why it
        must be dropped, or None to pass it on. Another session's task never reaches this client,
        and the first terminal state of one of ours is recorded as its call's answer (fail closed:
        if that cannot be written, the notification is dropped)."""
        params = message.get("params")
        task_id = params.get("taskId") if isinstance(params, dict) else None
        binding = self._tasks.get(task_id) if isinstance(task_id, str) else None
        if binding is None or binding.session_id != self.session_id:
            return "a task notification for a task this session did not create"
        assert isinstance(params, dict)  # binding found by its taskId
        if recorder is not None and not binding.final_recorded and params.get("status") in TERMINAL:
            binding.final_recorded = True
            duration_ms = (time.perf_counter() - binding.started) * 1000
            answer = {"jsonrpc": "2.0", "id": None, "result": params}
            if recorder.record_task_result(binding, TASK_NOTIFICATION, answer, duration_ms) is not None:
                return "the task's final result could not be recorded"
        return None

    def answered(
        self, method: str | None, record: dict | None, started: float, answer: dict, recorder: TaskRecorder | None
    ) -> dict:
        """The answer the client gets: `answer` itself, a filtered tasks/list, or the error that
        replaces it when the final result's entry could not be written (fail closed)."""
        result = answer.get("result")
        if method == "tools/call":
            if (task_id := created_task_id(result)) is not None:
                self.bind(task_id, record, started)
        elif method == TASK_LIST and isinstance(result, dict) and isinstance(result.get("tasks"), list):
            own = [t for t in result["tasks"] if isinstance(t, dict) and t.get("taskId") in self._tasks]
            if len(own) != len(result["tasks"]):
                return {**answer, "result": {**result, "tasks": own}}
        elif method in ("tasks/get", "tasks/result") and recorder is not None and record is not None:
            binding = self._tasks.get(record.get("task_id") or "")
            if binding is not None and not binding.final_recorded and _final(method, answer):
                binding.final_recorded = True
                duration_ms = (time.perf_counter() - binding.started) * 1000
                if (refusal := recorder.record_task_result(binding, method, answer, duration_ms)) is not None:
                    return refusal
        return answer


def _final(method: str, answer: dict) -> bool:
    """Whether this answer carries the task's outcome: a terminal tasks/get, or a tasks/result."""
    if method == "tasks/result":
        return True
    result = answer.get("result")
    if not isinstance(result, dict) or result.get("status") not in TERMINAL:
        return False
    # A 2025-11-25 tasks/get reports the status only; its outcome comes with tasks/result.
    return "result" in result or "error" in result or result.get("status") == "cancelled"


def _shown(task_id: str) -> str:
    return task_id if len(task_id) <= 80 else f"{task_id[:80]}…"


def final_outcome(via: str, answer: dict) -> tuple[dict | None, dict | None, str | None]:
    """(the call's result, its JSON-RPC error, the task's status) from a final answer."""
    if isinstance(answer.get("error"), dict):
        return None, answer["error"], None
    result = r if isinstance(r := answer.get("result"), dict) else {}
    if via == "tasks/result":
        return result, None, "completed"
    status = result.get("status") if isinstance(result.get("status"), str) else None
    inner = result.get("result") if isinstance(result.get("result"), dict) else None
    error = result.get("error") if isinstance(result.get("error"), dict) else None
    return inner, error, status
