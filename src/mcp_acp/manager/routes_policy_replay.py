"""The preview of a policy change (docs/policies.md#testing-a-policy-and-previewing-a-change): `POST /api/manager/proxies/<id>/policy/replay`.

The body is a candidate policy, as for `PUT …/policy`; nothing is saved. Every request the proxy
recorded is decided again under it (audit/policy_replay.py), and the answer is the report
`mcp-acp policy replay --json` prints: the UI shows it before the policy is saved.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Body, Query

from mcp_acp.audit.policy_replay import replay, since_time
from mcp_acp.config import paths
from mcp_acp.localhttp.errors import api_error
from mcp_acp.manager.routes_policy import ProxyPolicy
from mcp_acp.manager.state import ManagerState
from mcp_acp.policy.engine import PolicyEngine
from mcp_acp.policy.model import PolicyInvalid, parse_policy
from mcp_acp.policy.protected import ProtectedPaths


def router(state: ManagerState) -> APIRouter:
    api = APIRouter()

    @api.post("/api/manager/proxies/{proxy_id}/policy/replay")
    async def preview(
        proxy_id: str,
        body: Any = Body(...),
        since: str | None = Query(None, description="An ISO time or an age such as 30m, 12h, 7d"),
        limit: int = Query(10, ge=0, le=10_000, description="Examples per change"),
    ) -> dict:
        target = await asyncio.to_thread(ProxyPolicy, state, proxy_id)
        try:
            candidate = parse_policy(body)
        except PolicyInvalid as exc:
            raise api_error(
                400,
                "POLICY_INVALID",
                f"the candidate policy cannot be replayed: {'; '.join(exc.problems)}",
                validation_errors=exc.problems,
            ) from None
        try:
            moment = since_time(since) if since else None
        except ValueError as exc:
            raise api_error(400, "INVALID_REQUEST", str(exc)) from None
        log_root = paths.product_log_root(state.config.log_path)
        engine = PolicyEngine(candidate, ProtectedPaths([paths.config_dir(), log_root, paths.runtime_dir()]))
        report = await asyncio.to_thread(replay, target.log_dir, engine, since=moment, limit=limit)
        return {"proxy": target.name, "candidate": None, **report}

    return api
