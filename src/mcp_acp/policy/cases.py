"""Policy test files (docs/policies.md#testing-a-policy-and-previewing-a-change): requests and the decision each must get.

A test file is JSON (comments not allowed): defaults for every case (`backend_id`, `subject`,
`roots`) and a list of `cases`, each a request (method, tool, arguments or raw params, uri,
subject) with the expected decision and, optionally, the rule that must decide it. Each case is
decided by policy/decide.py, the enforcer's own path, so a test passes only when the proxy
would decide the same. Every problem in a file is reported with where it is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from mcp_acp.identity.local import Identity
from mcp_acp.policy.decide import NotDecidedByPolicy, decide_request
from mcp_acp.policy.engine import PolicyEngine

NAMED_METHODS = ("tools/call", "prompts/get")  # the request names a tool or prompt
Text = Annotated[str, Field(min_length=1)]


class Subject(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Text
    provenance: Literal["local", "token"] = "local"
    claims: dict[str, Any] = Field(default_factory=dict[str, Any], description="Token claims (iss, aud, scope…)")

    def identity(self) -> Identity:
        return Identity(self.id, self.provenance, {**self.claims, "sub": self.id})


class Case(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Text
    method: Text = "tools/call"
    tool: Text | None = Field(None, description="The tool (tools/call) or prompt (prompts/get)")
    arguments: dict[str, Any] = Field(default_factory=dict[str, Any])
    uri: Text | None = Field(None, description="The resource URI (resources/read, resources/subscribe)")
    params: dict[str, Any] | None = Field(
        None, description="The request's params as sent, instead of tool/arguments/uri"
    )
    subject: Text | Subject | None = None
    backend_id: Text | None = None
    expect: Literal["allow", "deny", "hitl"]
    rule: Text | None = Field(None, description="The rule that must decide (final_rule)")

    @model_validator(mode="after")
    def _request_named(self) -> Case:
        if self.params is not None and (self.tool or self.arguments or self.uri):
            raise ValueError("give either params, or tool/arguments/uri, not both")
        if self.params is None and self.method in NAMED_METHODS and self.tool is None:
            raise ValueError(f"tool is required when method is {self.method!r}")
        return self

    def message(self) -> dict[str, Any]:
        """The JSON-RPC request a client would send."""
        if self.params is not None:
            params = self.params
        elif self.method in NAMED_METHODS:
            params = {"name": self.tool, "arguments": self.arguments}
        else:
            params = {**self.arguments, **({"uri": self.uri} if self.uri else {})}
        return {"jsonrpc": "2.0", "id": f"test:{self.name}", "method": self.method, "params": params}


class TestFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    __test__ = False  # not a pytest class

    policy: Text | None = Field(None, description="The policy file, relative to this file")
    backend_id: Text | None = Field(None, description="The server's name; default: the proxy's, or 'backend'")
    subject: Text | Subject = "tester"
    roots: list[Text] | None = Field(None, description="The server's roots (absolute folders); default: the proxy's")
    cases: list[Case] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> TestFile:
        seen: set[str] = set()
        for index, case in enumerate(self.cases):
            if case.name in seen:
                raise ValueError(f"cases.{index}: the name {case.name!r} is used twice; names must be unique")
            seen.add(case.name)
        return self


class BadTestFile(ValueError):
    """The test file cannot be run; `problems` says what is wrong and where."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def parse_test_file(text: str) -> TestFile:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadTestFile([f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"]) from None
    try:
        return TestFile.model_validate(data)
    except ValidationError as exc:
        problems: list[str] = []
        for item in exc.errors():
            where = ".".join(str(part) for part in item["loc"] if not str(part).startswith(("function-", "str")))
            where = _with_case_name(where, data)
            message = item["msg"].removeprefix("Value error, ")
            if item["type"] == "extra_forbidden":
                message = "unknown field (see docs/policies.md#testing-a-policy-and-previewing-a-change)"
            problems.append(f"{where}: {message}" if where else message)
        raise BadTestFile(list(dict.fromkeys(problems))) from None


def _with_case_name(where: str, data: object) -> str:
    """`cases.3.expect` as `cases.3 ('reads a secret').expect`: the case named as written."""
    parts = where.split(".")
    if len(parts) < 2 or parts[0] != "cases" or not parts[1].isdigit() or not isinstance(data, dict):
        return where
    found = cast("dict[str, object]", data).get("cases")
    cases = cast("list[object]", found) if isinstance(found, list) else []
    index = int(parts[1])
    case = cases[index] if index < len(cases) else None
    name = cast("dict[str, object]", case).get("name") if isinstance(case, dict) else None
    if not isinstance(name, str):
        return where
    return f"cases.{index} ({name!r})" + ("." + ".".join(parts[2:]) if parts[2:] else "")


@dataclass(frozen=True, slots=True)
class CaseResult:
    name: str
    passed: bool
    expected: str
    expected_rule: str | None
    decision: str
    rule: str
    reason: str | None
    matched_rules: tuple[str, ...]
    paths: tuple[str, ...]

    def failure(self) -> str | None:
        """Why it failed, in one sentence: expected X by rule A, got Y by rule B, and why."""
        if self.passed:
            return None
        want = self.expected + (f" by rule {self.expected_rule!r}" if self.expected_rule else "")
        why = self.reason or (
            f"rules matched: {', '.join(self.matched_rules)}" if self.matched_rules else "no rule matched"
        )
        return f"expected {want}, got {self.decision} by rule {self.rule!r} ({why})"

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "passed": self.passed,
            "expected": self.expected,
            "expected_rule": self.expected_rule,
            "decision": self.decision,
            "rule": self.rule,
            "reason": self.reason,
            "matched_rules": list(self.matched_rules),
            "paths": list(self.paths),
            "failure": self.failure(),
        }


@dataclass(frozen=True, slots=True)
class Server:
    """What the proxy knows of its server when a file does not say: its name and roots."""

    backend_id: str = "backend"
    roots: tuple[str, ...] = ()


def run_case(engine: PolicyEngine, tests: TestFile, case: Case, server: Server = Server()) -> CaseResult:
    subject = case.subject or tests.subject
    identity = (subject if isinstance(subject, Subject) else Subject(id=subject)).identity()
    backend_id = case.backend_id or tests.backend_id or server.backend_id
    roots = tuple(tests.roots) if tests.roots is not None else server.roots
    try:
        ctx, decision = decide_request(engine, case.message(), identity, backend_id, roots)
    except NotDecidedByPolicy as exc:
        raise BadTestFile([f"case {case.name!r}: {exc}"]) from None
    passed = decision.effect == case.expect and (case.rule is None or case.rule == decision.final_rule)
    return CaseResult(
        case.name,
        passed,
        case.expect,
        case.rule,
        decision.effect,
        decision.final_rule,
        decision.reason,
        tuple(rule.id for rule in decision.matched_rules),
        ctx.paths,
    )


def run_cases(engine: PolicyEngine, tests: TestFile, server: Server = Server()) -> list[CaseResult]:
    return [run_case(engine, tests, case, server) for case in tests.cases]
