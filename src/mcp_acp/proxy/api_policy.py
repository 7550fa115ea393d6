"""The decision explorer (docs/ui.md#why-was-this-denied, docs/policies.md#the-decision-context): what would this proxy decide for a request, and why.

`POST /api/policy/evaluate` builds the decision context with the very function the enforcement
path uses (policy/context.py build_context) and asks the proxy's current engine. Nothing else
happens: the request is not forwarded, no human is asked, the approval cache, the counters and
the audit logs are left alone. Also `GET /api/policy/schema`, the values the rule editor offers.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mcp_acp.policy.context import DecisionContext, build_context
from mcp_acp.policy.editor_schema import rule_editor_schema
from mcp_acp.policy.engine import PROTECTED_RULE, Decision
from mcp_acp.proxy.control import ControlState

NAMED_METHODS = ("tools/call", "prompts/get")  # the request names a tool or prompt


class EvaluateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: str = Field("tools/call", min_length=1, description="The MCP method, e.g. tools/call, resources/read")
    tool_name: str | None = Field(None, description="The tool (tools/call) or prompt (prompts/get) name")
    arguments: dict[str, Any] = Field(default_factory=dict, description="The request's arguments")
    uri: str | None = Field(None, description="The resource URI (resources/read)")
    subject_id: str | None = Field(None, description="Ask as this user; default: the proxy's current user")

    @field_validator("tool_name", "subject_id", "uri")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be empty; leave it out instead")
        return value

    @model_validator(mode="after")
    def _named(self) -> EvaluateRequest:
        if self.method in NAMED_METHODS and self.tool_name is None:
            raise ValueError(f"tool_name is required when method is {self.method!r}")
        return self

    def message(self) -> dict:
        """The JSON-RPC request the client would have sent."""
        if self.method in NAMED_METHODS:
            params: dict[str, Any] = {"name": self.tool_name, "arguments": self.arguments}
        else:
            params = {**self.arguments, **({"uri": self.uri} if self.uri else {})}
        return {"jsonrpc": "2.0", "id": "dry-run", "method": self.method, "params": params}


def _plain(value: Any) -> Any:
    """A context attribute as plain JSON."""
    if dataclasses.is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, frozenset | set):
        return sorted(value)
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def context_view(ctx: DecisionContext) -> dict:
    return {
        "subject": _plain(ctx.subject),
        "action": _plain(ctx.action),
        "resource": _plain(ctx.resource),
        "environment": _plain(ctx.environment),
        "paths": [_plain(item) for item in ctx.judged],
    }


def decision_view(decision: Decision, ctx: DecisionContext, rules: dict[str, dict], version: str) -> dict:
    matched = [
        {
            "id": m.id,
            "effect": m.effect,
            **({"description": m.description} if m.description else {}),
            "conditions": rules.get(m.id, {}).get("conditions", {}),
        }
        for m in decision.matched_rules
    ]
    return {
        "decision": decision.effect,
        "final_rule": decision.final_rule,
        "reason": decision.reason,
        "matched_rules": matched,
        "context": context_view(ctx),
        "policy_version": version,
        "protected_path": decision.final_rule == PROTECTED_RULE,
    }


def add_policy_routes(app: FastAPI, control: ControlState) -> None:
    reloader = control.reloader

    @app.get("/api/policy/schema")
    def schema() -> dict:
        return rule_editor_schema()

    @app.post("/api/policy/evaluate")
    async def evaluate(body: EvaluateRequest) -> dict:
        identity = control.identity
        if body.subject_id is not None and body.subject_id != identity.subject_id:
            identity = dataclasses.replace(
                identity, subject_id=body.subject_id, claims={**identity.claims, "sub": body.subject_id}
            )
        client = control.client_name()
        ctx = build_context(
            body.message(),
            identity,
            control.info.get("backend_id") or "",
            session_id=control.session_id,
            proxy_name=control.info.get("proxy_name"),
            client_info={"name": client} if client else None,
            roots=control.roots.snapshot(),
        )
        engine = reloader.engine  # one engine for the whole answer, even if a reload swaps it meanwhile
        version = reloader.version
        decision = engine.evaluate(ctx)
        rules = {rule["id"]: rule for rule in engine.policy.model_dump(exclude_none=True)["rules"]}
        return decision_view(decision, ctx, rules, version)
