"""Write the proxies into an MCP client's config file from the UI (docs/ui.md#connecting-a-client):
the code `mcp-acp install mcp-json --write` runs (admin/client_snippets.py, admin/client_file.py).

An entry of the same name that mcp-acp did not write is never replaced unless `force`; the answer
shows what would change (a unified diff) before anything is written (`write: false`); nothing is
written, nor backed up, when nothing changes. It is a POST: the manager's guard asks for its own
Origin or the API token, as for every state-changing route.
"""

from __future__ import annotations

import asyncio
import difflib
import json
from pathlib import Path
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from mcp_acp.admin.client_file import ClientFileError, MergePlan, apply, plan_merge
from mcp_acp.admin.client_snippets import config_file, servers_key, snippet
from mcp_acp.config.store import list_proxy_names
from mcp_acp.localhttp.errors import api_error
from mcp_acp.manager.state import ManagerState

PROJECT_CLIENTS = ("claude-code", "vscode")  # their file lives in a project folder


class WriteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    client: Literal["claude-desktop", "claude-code", "cursor", "vscode"]
    proxy: str | None = None  # None: every configured proxy ("Export all")
    project_dir: str | None = None  # the project whose file Claude Code or VS Code reads
    force: bool = False  # replace entries of the same name that mcp-acp did not write
    write: bool = False  # False: only say what would change


def _target(body: WriteRequest) -> Path:
    if body.client not in PROJECT_CLIENTS:
        return config_file(body.client)
    if not body.project_dir:
        raise api_error(
            400, "PROJECT_DIR_REQUIRED", f"{body.client} reads its servers from a project folder: give project_dir"
        )
    project = Path(body.project_dir).expanduser()
    if not project.is_absolute() or not project.is_dir():
        raise api_error(
            400, "PROJECT_DIR_INVALID", f"project_dir {body.project_dir!r} is not an existing absolute folder"
        )
    return project / config_file(body.client).relative_to(Path.cwd())  # .mcp.json or .vscode/mcp.json


def _diff(old: str, new: str, old_name: str, new_name: str) -> str:
    lines = difflib.unified_diff(old.splitlines(), new.splitlines(), old_name, new_name, lineterm="")
    return "\n".join(lines)


def _answer(plan: MergePlan, written: bool, backup: Path | None, force: bool) -> dict:
    return {
        "path": str(plan.path),
        "added": plan.added,
        "replaced": plan.replaced,
        "unchanged": plan.unchanged,
        "conflicts": [
            {
                "name": c.name,
                "diff": _diff(
                    json.dumps(c.current, indent=2),
                    json.dumps(c.wanted, indent=2),
                    "what is there",
                    "what mcp-acp would write",
                ),
            }
            for c in plan.conflicts
        ],
        "needs_force": bool(plan.conflicts) and not force,
        "diff": _diff(plan.old_text or "", plan.new_text, str(plan.path), str(plan.path)) if plan.new_text else "",
        "changes": plan.new_text is not None,
        "written": written,
        "backup": str(backup) if backup else None,
    }


def _run(body: WriteRequest) -> dict:
    names = list_proxy_names()
    if body.proxy is not None:
        if body.proxy not in names:  # compared with the listing: the name never becomes a path
            raise api_error(404, "PROXY_NOT_FOUND", f"no proxy named {body.proxy!r}")
        names = [body.proxy]
    if not names:
        raise api_error(400, "NO_PROXIES", "no proxies configured yet; add one first")
    target = _target(body)
    key = servers_key(body.client)
    try:
        plan = plan_merge(target, body.client, key, snippet(body.client, names)[key], force=body.force)
    except (ClientFileError, OSError) as exc:
        raise api_error(409, "CLIENT_FILE_UNUSABLE", str(exc)) from None
    if not body.write or plan.new_text is None or (plan.conflicts and not body.force):
        return _answer(plan, written=False, backup=None, force=body.force)
    try:
        backup = apply(plan)
    except OSError as exc:
        raise api_error(500, "CLIENT_FILE_NOT_WRITTEN", f"could not write {target}: {exc}") from None
    return _answer(plan, written=True, backup=backup, force=body.force)


def router(state: ManagerState) -> APIRouter:  # every router takes the state
    api = APIRouter()

    @api.post("/api/manager/client-config")
    async def write_client_config(body: WriteRequest) -> dict:
        return await asyncio.to_thread(_run, body)

    return api
