"""Audit integrity of one proxy from the UI (docs/audit.md#mcp-acp-audit-repair, docs/audit.md#mcp-acp-audit-verify, docs/manager.md#editing-a-proxy-from-the-api): verify its hash chains and
integrity state, and repair the state. The work is audit/verify.py's and audit/repair.py's;
this module only shapes it for the API."""

from __future__ import annotations

import asyncio
from pathlib import Path

from fastapi import APIRouter

from mcp_acp.audit.files import PROTECTED
from mcp_acp.audit.keys import AuditKey, load_audit_key
from mcp_acp.audit.repair import (
    ProxyRunning,
    apply_repair,
    exclusive,
    is_running,
    plan_repair,
)
from mcp_acp.audit.state import STATE_FILE
from mcp_acp.audit.verify import ProxyReport, verify_settled
from mcp_acp.config import paths
from mcp_acp.localhttp.errors import api_error
from mcp_acp.manager.routes_proxies import find_proxy
from mcp_acp.manager.state import ManagerState

DESCRIPTIONS = {
    "operations": "Every MCP request and its outcome",
    "decisions": "Policy decisions (allow, deny, human approval)",
    "auth": "Sessions and authentication events",
    "system": "Warnings, errors and security events",
    "config-history": "Versions of the proxy's config",
    "policy-history": "Versions of the proxy's policy",
    "repairs": "Every audit repair: what it changed and which entries were lost",
}
NAME_OF = {rel: name for name, rel in PROTECTED.items()}


def _key(name: str) -> AuditKey | None:
    try:
        return load_audit_key(name)
    except Exception as exc:
        raise api_error(500, "INTERNAL_ERROR", f"cannot read the audit key of proxy {name}: {exc}") from None


def _verify_response(name: str, proxy_id: str, log_dir: Path, report: ProxyReport) -> dict:
    files = [
        {
            "name": f.name,
            "description": DESCRIPTIONS[f.name],
            "status": f.status,
            "entry_count": f.entries,
            "last_sequence": f.check.last_sequence if f.check else None,
            "errors": f.errors,
            "warnings": f.warnings,
            "backups": f.backups,
        }
        for f in report.files
    ]
    totals = {"files": len(files), "entries": sum(f.entries for f in report.files)}
    for f in report.files:
        totals[f.status] = totals.get(f.status, 0) + 1
    return {
        "proxy_name": name,
        "proxy_id": proxy_id,
        "state_file_present": (log_dir / STATE_FILE).exists(),
        "state_error": report.state_error,
        "trail_errors": report.trail_errors,
        "repairs": report.repairs,
        "files": files,
        "totals": totals,
        "overall_status": report.overall,
    }


def _repair(name: str, log_dir: Path) -> dict:
    with exclusive(log_dir, name):  # ProxyRunning if the proxy holds its log folder
        plan = plan_repair(log_dir, _key(name), proxy=name)
        apply_repair(plan)  # the UI's dialog was the confirmation for any backups
    results = [
        {
            "name": NAME_OF.get(a.file, a.file),
            "description": DESCRIPTIONS.get(NAME_OF.get(a.file, ""), a.file),
            "action": a.action,
            "message": a.detail,
        }
        for a in plan.actions
    ]
    failed = [a for a in plan.actions if a.action == "failed"]
    if failed:
        message = f"{len(failed)} log(s) could not be repaired."
    elif plan.changes:
        message = "Repaired. Verify again to check."
    else:
        message = "Nothing to repair."
    if plan.state_problem:
        message = f"The integrity state was unreadable ({plan.state_problem}) and was rebuilt. {message}"
    return {"results": results, "success": not failed, "message": message}


def router(state: ManagerState) -> APIRouter:
    api = APIRouter()

    async def proxy_of(proxy_id: str) -> tuple[str, Path]:
        found = await asyncio.to_thread(find_proxy, proxy_id)
        if found is None:
            raise api_error(404, "PROXY_NOT_FOUND", f"no configured proxy has the id {proxy_id!r}")
        return found[0], paths.proxy_log_dir(state.config.log_path, found[0])

    @api.get("/api/manager/proxies/{proxy_id}/audit/verify")
    async def verify(proxy_id: str) -> dict:
        name, log_dir = await proxy_of(proxy_id)

        def run() -> dict:
            return _verify_response(name, proxy_id, log_dir, verify_settled(log_dir, _key(name), name))

        return await asyncio.to_thread(run)

    @api.post("/api/manager/proxies/{proxy_id}/audit/repair")
    async def repair(proxy_id: str) -> dict:
        name, log_dir = await proxy_of(proxy_id)
        running = f"proxy {name} is running; stop it (close its MCP client) before repairing its audit logs"
        if state.registry.get(name) is not None or await asyncio.to_thread(is_running, log_dir):
            raise api_error(409, "PROXY_RUNNING", running)
        try:
            return await asyncio.to_thread(_repair, name, log_dir)
        except ProxyRunning:  # it started between the check and the repair
            raise api_error(409, "PROXY_RUNNING", running) from None
        except OSError as exc:
            raise api_error(
                500, "INTERNAL_ERROR", f"could not save the integrity state in {log_dir}: {exc.strerror or exc}"
            ) from None

    return api
