"""The policy document (docs/policies.md#rules): rules, conditions and their validation.

Every problem is reported, not only the first, each naming the rule (index and id), the
field and what is allowed, so `mcp-acp policy validate` can list them all in one go.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any, Literal, cast

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from mcp_acp.policy.approvers import PATTERN as APPROVER_PATTERN
from mcp_acp.policy.labels import Label
from mcp_acp.policy.side_effects import Operation, SideEffect

Effect = Literal["allow", "deny", "hitl"]
ResourceType = Literal["tool", "resource", "prompt", "server"]


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty or whitespace")
    return value


def _text_or_list(value: object) -> object:
    """Checked before pydantic's union, so a bad value gets one clear message, not one per branch."""
    items = _items(value)
    texts = [item for item in items if isinstance(item, str)]
    if len(texts) != len(items):
        raise ValueError("must be a string or a list of strings")
    for item in texts:
        _not_blank(item)
    return value


def _items(value: object) -> list[object]:
    return cast("list[object]", value) if isinstance(value, list) else [value]


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


Text = Annotated[str, AfterValidator(_not_blank)]
TextOrList = Annotated[str | list[str], BeforeValidator(_text_or_list)]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Conditions(_Frozen):
    """All given conditions must hold (AND); a list matches if any element does (OR)."""

    tool_name: TextOrList | None = Field(None, description="Tool name glob (* ?), case-insensitive")
    path_pattern: TextOrList | None = Field(None, description="Path glob: * and ? within a folder, ** across")
    source_path: TextOrList | None = Field(None, description="Path glob for the source of a copy/move")
    dest_path: TextOrList | None = Field(None, description="Path glob for the destination of a copy/move")
    operations: list[Operation] | None = Field(None, description="Operations inferred from the tool name")
    extension: TextOrList | None = Field(None, description="File extension such as .py, case-insensitive")
    scheme: TextOrList | None = Field(None, description="URI scheme such as file, case-insensitive")
    backend_id: TextOrList | None = Field(None, description="Backend server name glob, case-insensitive")
    resource_type: Annotated[ResourceType, BeforeValidator(_lower)] | None = Field(
        None, description="What the request acts on"
    )
    mcp_method: TextOrList | None = Field(None, description="MCP method glob, case-sensitive")
    subject_id: TextOrList | None = Field(None, description="Exact user id (OIDC sub), case-sensitive")
    side_effects: list[SideEffect] | None = Field(None, description="Matches if the tool has any of these")
    tool_labels: list[Label] | None = Field(
        None, description="Matches if the tool carries any of these information-flow labels"
    )
    session_labels: list[Label] | None = Field(
        None, description="Matches if this session touched ALL of these labels before this request"
    )

    @model_validator(mode="after")
    def _at_least_one(self) -> Conditions:
        if not self.given():
            raise ValueError('a rule needs at least one condition; to match everything use {"tool_name": "*"}')
        return self

    def given(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class Rule(_Frozen):
    id: Text | None = Field(None, description="Unique id; generated from the rule when omitted")
    description: str | None = None
    effect: Effect
    conditions: Conditions
    cache_side_effects: list[SideEffect] | None = Field(
        None, description="hitl only: side effects whose approvals may be cached"
    )
    approvers: list[Annotated[str, Field(pattern=APPROVER_PATTERN)]] | None = Field(
        None, description="hitl only: who may decide (user:<sub>, group:<name>, role:<name>, scope:<name>)"
    )
    self_approval: bool = Field(
        True,
        description="hitl only: false keeps a requester from approving their own request",
        exclude_if=lambda value: value,  # the default is not written back into a policy file
    )

    @model_validator(mode="after")
    def _cache_only_for_hitl(self) -> Rule:
        for name, given in (
            ("cache_side_effects", self.cache_side_effects is not None),
            ("approvers", self.approvers is not None),
            ("self_approval", not self.self_approval),
        ):
            if given and self.effect != "hitl":
                raise ValueError(
                    f"'{name}' is only allowed when effect is 'hitl' (this rule is '{self.effect}'); remove it"
                )
        return self

    def generated_id(self) -> str:
        body = json.dumps({"effect": self.effect, "conditions": self.conditions.given()}, sort_keys=True)
        return "rule_" + hashlib.sha256(body.encode()).hexdigest()[:8]


# --- output inspection (docs/output-inspection.md) ---------------------------------------

OutputAction = Literal["redact", "deny", "record"]
KIND_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"


def _re2_pattern(value: str) -> str:
    import re2  # google-re2: linear time on whatever a server sends

    try:
        re2.compile(value)
    except Exception as exc:  # re2.error, which the stubs do not name
        raise ValueError(f"not a valid re2 regular expression: {exc}") from None
    return value


class OutputPattern(_Frozen):
    """A secret format of your own, found in results like the built-in ones."""

    kind: Annotated[str, Field(pattern=KIND_PATTERN)] = Field(description="Its name in markers, errors and the audit")
    regex: Annotated[str, AfterValidator(_not_blank), AfterValidator(_re2_pattern)] = Field(
        description="re2 syntax; a group named `secret` redacts only that group"
    )
    action: OutputAction | None = Field(None, description="Overrides `secrets` for this kind")


class OutputInspection(_Frozen):
    """Results are inspected for secrets and injected instructions when this section is present."""

    secrets: OutputAction = Field("redact", description="What happens when a secret is found")
    instructions: OutputAction = Field("record", description="What happens when injected instructions are found")
    kinds: dict[Annotated[str, Field(pattern=KIND_PATTERN)], OutputAction] = Field(
        default_factory=dict, description="Per kind (aws_access_key, role_assumption, ...): overrides the above"
    )
    patterns: list[OutputPattern] = Field(default_factory=list[OutputPattern])


class Labels(_Frozen):
    """Tool-name globs (case-insensitive) that carry each information-flow label, added to the presets."""

    private_data: TextOrList | None = Field(None, description="Tools that read what the user would not publish")
    untrusted_content: TextOrList | None = Field(None, description="Tools that bring in text from outside")
    egress: TextOrList | None = Field(None, description="Tools that can send data out")
    presets: bool = Field(True, description="Also label well-known tools by name (policy/labels.py)")

    def globs(self) -> dict[str, list[str]]:
        found = self.model_dump(exclude_none=True, exclude={"presets"})
        return {label: value if isinstance(value, list) else [value] for label, value in found.items()}


class Policy(_Frozen):
    version: Text = "1"
    default_action: Literal["deny"] = Field(default="deny", description="Always deny: zero trust")
    rules: list[Rule] = Field(default_factory=list[Rule])
    output: OutputInspection | None = Field(default=None, description="Output inspection; off when absent")
    labels: Labels | None = Field(default=None, description="Information-flow labels of tools (docs/policies.md)")
    # Issue 22: what a changed tool definition (a "rug pull") does (docs/tool-pinning.md);
    # unset means "ask", and stays out of saved files.
    tool_changes: Literal["block", "ask", "record"] | None = Field(
        default=None,
        description="When a tool's definition changes after it was pinned: block it, ask before each call "
        "until the change is accepted (the default), or only record it",
    )

    @model_validator(mode="after")
    def _assign_unique_ids(self) -> Policy:
        rules: list[Rule] = [
            rule if rule.id else rule.model_copy(update={"id": rule.generated_id()}) for rule in self.rules
        ]
        if problems := _id_clashes([rule.id for rule in rules]):
            raise ValueError("; ".join(problems))
        object.__setattr__(self, "rules", rules)
        return self


def _id_clashes(ids: list[str | None]) -> list[str]:
    return [message for _, message in _id_clash_pairs(ids)]


def _id_clash_pairs(ids: list[str | None]) -> list[tuple[int, str]]:
    seen: dict[str, int] = {}
    problems: list[tuple[int, str]] = []
    for index, rule_id in enumerate(ids):
        if rule_id is None:
            continue
        if rule_id in seen:
            problems.append(
                (
                    index,
                    f"rule {index}: id '{rule_id}' is already used by rule {seen[rule_id]}; "
                    "ids must be unique (rename one, or remove the duplicate rule)",
                )
            )
        seen[rule_id] = index
    return problems


class PolicyInvalid(ValueError):
    """The policy cannot be used. `problems` lists every reason, each one actionable."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def _where(loc: tuple[int | str, ...], data: Any) -> str:
    if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
        index = loc[1]
        rule: object = cast("dict[str, Any]", data).get("rules", [])[index] if isinstance(data, dict) else None
        rule_id: object = cast("dict[str, Any]", rule).get("id") if isinstance(rule, dict) else None
        name = f"rule {index}" + (f" (id '{rule_id}')" if isinstance(rule_id, str) else "")
        field = ".".join(str(part) for part in loc[2:] if not str(part).startswith(("function-", "str", "list[")))
        return f"{name}: {field}" if field else name
    return ".".join(str(part) for part in loc)


def parse_policy(data: Any) -> Policy:
    """Validate a decoded policy.json, raising PolicyInvalid with every problem found."""
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        raise PolicyInvalid([message for _, message in located_problems(exc, data)]) from None


def located_problems(exc: ValidationError, data: Any) -> list[tuple[tuple[int | str, ...], str]]:
    """Every problem of a policy that failed validation, with where in the data it is (pydantic's
    location; the web UI's raw editor turns it into a line of the file)."""
    problems: dict[str, tuple[int | str, ...]] = {}
    for item in exc.errors():
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown field (check the spelling against docs/policies.md)"
        elif item["type"] == "literal_error":
            message = f"not allowed: {item['input']!r}; {message[0].lower()}{message[1:]}"
        where = _where(item["loc"], data)
        problems.setdefault(f"{where}: {message}" if where else message, tuple(item["loc"]))
    # The id check runs only once every rule is valid; report clashing explicit ids now too.
    rules: object = cast("dict[str, Any]", data).get("rules") if isinstance(data, dict) else None
    if isinstance(rules, list):
        for index, message in _id_clash_pairs([_explicit_id(r) for r in cast("list[object]", rules)]):
            problems.setdefault(message, ("rules", index, "id"))
    return [(loc, message) for message, loc in problems.items()]


def _explicit_id(rule: object) -> str | None:
    rule_id = cast("dict[str, object]", rule).get("id") if isinstance(rule, dict) else None
    return rule_id if isinstance(rule_id, str) else None


def policy_json_schema() -> dict[str, Any]:
    schema = Policy.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "mcp-acp policy.json"
    return schema
