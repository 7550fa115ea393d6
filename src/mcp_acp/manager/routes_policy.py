"""A proxy's policy on disk, edited from the UI (docs/manager.md#editing-a-proxy-from-the-api): read it, replace it, edit
one rule, and the values the rule editor offers.

Every change is validated by the policy model before it is written: an invalid policy never
reaches the file, so the last good one stays. The previous file is kept as `policy.json.bak`.
A running proxy is then told to reload over its socket, and the answer says what it did.
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Body, Response

from mcp_acp.audit.log_query import LOG_FILES, query_log
from mcp_acp.config import paths
from mcp_acp.config.store import ConfigError, read_json, write_private_text
from mcp_acp.localhttp.errors import api_error
from mcp_acp.manager.routes_proxies import find_proxy
from mcp_acp.manager.state import ManagerState, ProxyUnavailable
from mcp_acp.policy.editor_schema import rule_editor_schema
from mcp_acp.policy.model import Policy, PolicyInvalid, Rule, parse_policy
from mcp_acp.policy.text_check import text_problems

RELOAD_TIMEOUT = 30.0
FIX = "Fix the problems listed in validation_errors (see docs/policies.md) and send the policy again."


def save_policy(path: Path, policy: Policy) -> None:
    """Write a validated policy, keeping the previous file as `<name>.bak` (as `mcp-acp policy edit`)."""
    if path.exists():
        shutil.copy2(path, path.with_name(path.name + ".bak"))
    write_private_text(path, policy.model_dump_json(indent=2, exclude_none=True) + "\n")


def _invalid(problems: list[str], what: str = "the policy was not saved") -> Exception:
    count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
    return api_error(
        400, "POLICY_INVALID", f"{what}: {count}: {'; '.join(problems)}. {FIX}", validation_errors=problems
    )


def _rules(policy: Policy) -> list[dict]:
    return policy.model_dump(exclude_none=True)["rules"]


def _version_on_disk(log_dir: Path, text: str) -> str | None:
    """The version the policy history gave this exact text, when its last entry is of it."""
    history = query_log(log_dir / LOG_FILES["policy_history"], time_range="all", limit=1)["entries"]
    checksum = "sha256:" + hashlib.sha256(text.encode()).hexdigest()
    return history[0].get("policy_version") if history and history[0].get("checksum") == checksum else None


class ProxyPolicy:
    """One proxy's policy file and what is known of its version (blocking: run in a thread)."""

    def __init__(self, state: ManagerState, proxy_id: str) -> None:
        found = find_proxy(proxy_id)
        if found is None:
            raise api_error(404, "PROXY_NOT_FOUND", f"no configured proxy has the id {proxy_id!r}")
        self.name = found[0]
        self.path = paths.proxy_policy_path(self.name)
        self.log_dir = paths.proxy_log_dir(state.config.log_path, self.name)

    def read(self) -> tuple[Policy, str]:
        if not self.path.exists():
            raise api_error(
                404,
                "POLICY_NOT_FOUND",
                f"proxy {self.name} has no policy file at {self.path}; create one with PUT (send {{}} for deny-all)",
            )
        try:
            data, text = read_json(self.path, f"Replace it with PUT, or write {{}} to {self.path}.")
            return parse_policy(data), text
        except ConfigError as exc:
            raise _invalid(exc.problems, f"the policy file {self.path} cannot be used") from None
        except PolicyInvalid as exc:
            raise _invalid(exc.problems, f"the policy file {self.path} is invalid; replace it with PUT") from None

    def raw_text(self) -> str:
        """The file as it is, valid or not (the raw editor opens on it when it is broken)."""
        try:
            return self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise api_error(
                404, "POLICY_NOT_FOUND", f"proxy {self.name} has no policy file at {self.path}; create one with PUT"
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise api_error(500, "POLICY_UNREADABLE", f"cannot read {self.path}: {exc}; fix it by hand") from None

    def view(self, policy: Policy, text: str, running: bool, version: str | None = None) -> dict:
        return {
            "version": policy.version,
            "default_action": policy.default_action,
            "rules_count": len(policy.rules),
            "rules": _rules(policy),
            "policy_path": str(self.path),
            "policy_version": version or _version_on_disk(self.log_dir, text),
            "running": running,
        }


def router(state: ManagerState) -> APIRouter:
    api = APIRouter()
    locks: dict[str, asyncio.Lock] = {}  # one edit at a time per proxy: read-modify-write

    async def open_policy(proxy_id: str) -> ProxyPolicy:
        return await asyncio.to_thread(ProxyPolicy, state, proxy_id)

    async def running_version(name: str) -> str | None:
        try:
            answer = await state.ask_proxy(name, "GET", "/api/control/status")
        except ProxyUnavailable:
            return None
        return answer.json().get("policy_version") if answer.status_code == 200 else None

    async def reload(name: str) -> dict | None:
        """Ask a running proxy to load the saved file now; None when it is not running."""
        if state.registry.get(name) is None:
            return None
        try:
            answer = await state.ask_proxy(name, "POST", "/api/control/reload-policy", timeout=RELOAD_TIMEOUT)
        except ProxyUnavailable:
            return None
        result = answer.json() if answer.headers.get("content-type", "").startswith("application/json") else {}
        if answer.status_code != 200 or result.get("status") != "success":
            problems = result.get("problems") or [result.get("error") or f"HTTP {answer.status_code}"]
            raise api_error(
                500,
                "POLICY_RELOAD_FAILED",
                f"the policy was saved but proxy {name} could not load it; its previous policy "
                f"{result.get('policy_version')} stays active: {'; '.join(map(str, problems))}",
                details=result,
            )
        return result

    async def edit(proxy_id: str, change) -> tuple[ProxyPolicy, Policy, dict | None]:
        """Read, apply `change(policy) -> new policy data`, validate, save, reload."""
        target = await open_policy(proxy_id)
        async with locks.setdefault(target.name, asyncio.Lock()):
            current, _ = await asyncio.to_thread(target.read)
            data = change(current)
            try:
                updated = parse_policy(data)
            except PolicyInvalid as exc:
                raise _invalid(exc.problems) from None
            await asyncio.to_thread(save_policy, target.path, updated)
            return target, updated, await reload(target.name)

    def rule_answer(policy: Policy, rule_id: str, reloaded: dict | None) -> dict:
        rule = next(r for r in _rules(policy) if r["id"] == rule_id)
        return {
            "rule": rule,
            "policy_version": reloaded["policy_version"] if reloaded else None,
            "rules_count": len(policy.rules),
            "reload": reloaded,
        }

    @api.get("/api/manager/proxies/{proxy_id}/policy")
    async def get_policy(proxy_id: str) -> dict:
        target = await open_policy(proxy_id)
        policy, text = await asyncio.to_thread(target.read)
        running = state.registry.get(target.name) is not None
        version = await running_version(target.name) if running else None
        return await asyncio.to_thread(target.view, policy, text, running, version)

    @api.get("/api/manager/proxies/{proxy_id}/policy/raw")
    async def get_raw(proxy_id: str) -> dict:
        """The file's text and its problems at their lines, and the version the running proxy keeps."""
        target = await open_policy(proxy_id)
        text = await asyncio.to_thread(target.raw_text)
        running = state.registry.get(target.name) is not None
        return {
            "text": text,
            "problems": await asyncio.to_thread(text_problems, text),
            "policy_path": str(target.path),
            "running": running,
            "running_policy_version": await running_version(target.name) if running else None,
        }

    @api.post("/api/manager/proxies/{proxy_id}/policy/check")
    async def check_text(proxy_id: str, body: dict = Body(...)) -> dict:
        """Check a policy text as the raw editor holds it, without saving: its problems at their lines."""
        await open_policy(proxy_id)
        text = body.get("text")
        if not isinstance(text, str):
            raise api_error(400, "INVALID_REQUEST", 'send {"text": "<the policy.json text>"}')
        return {"problems": await asyncio.to_thread(text_problems, text)}

    @api.put("/api/manager/proxies/{proxy_id}/policy")
    async def put_policy(proxy_id: str, body: Any = Body(...)) -> dict:
        target = await open_policy(proxy_id)
        try:
            updated = parse_policy(body)
        except PolicyInvalid as exc:
            raise _invalid(exc.problems) from None
        async with locks.setdefault(target.name, asyncio.Lock()):
            await asyncio.to_thread(save_policy, target.path, updated)
            reloaded = await reload(target.name)
        text = updated.model_dump_json(indent=2, exclude_none=True) + "\n"
        view = await asyncio.to_thread(
            target.view, updated, text, reloaded is not None, reloaded["policy_version"] if reloaded else None
        )
        return {"policy": view, "reload": reloaded}

    @api.get("/api/manager/proxies/{proxy_id}/policy/schema")
    async def schema(proxy_id: str) -> dict:
        await open_policy(proxy_id)  # 404 for an unknown proxy, as every route here
        return rule_editor_schema()

    @api.get("/api/manager/proxies/{proxy_id}/policy/rules")
    async def list_rules(proxy_id: str) -> list[dict]:
        target = await open_policy(proxy_id)
        return _rules((await asyncio.to_thread(target.read))[0])

    @api.post("/api/manager/proxies/{proxy_id}/policy/rules", status_code=201)
    async def add_rule(proxy_id: str, rule: dict = Body(...)) -> dict:
        new_id: list[str | None] = []  # None: not valid on its own, and the edit will say why

        def change(current: Policy) -> dict:
            ids = {r.id for r in current.rules}
            wanted = given if isinstance(given := rule.get("id"), str) else _generated_id(rule)
            if wanted in ids:
                raise api_error(
                    409,
                    "POLICY_RULE_DUPLICATE",
                    f"a rule with id {wanted!r} already exists"
                    + ("" if "id" in rule else " (an identical rule: same effect and conditions)")
                    + "; choose another id, or edit that rule with PUT .../policy/rules/{id}",
                )
            new_id.append(wanted)
            return {**current.model_dump(exclude_none=True), "rules": [*_rules(current), rule]}

        _, updated, reloaded = await edit(proxy_id, change)
        return rule_answer(updated, new_id[0] or updated.rules[-1].id or "", reloaded)  # every rule has an id

    @api.put("/api/manager/proxies/{proxy_id}/policy/rules/{rule_id}")
    async def replace_rule(proxy_id: str, rule_id: str, rule: dict = Body(...)) -> dict:
        rule = {**rule, "id": rule.get("id") or rule_id}

        def change(current: Policy) -> dict:
            rules = _rules(current)
            index = _index_of(rules, rule_id)
            if rule["id"] != rule_id and any(r["id"] == rule["id"] for r in rules):
                raise api_error(
                    409,
                    "POLICY_RULE_DUPLICATE",
                    f"cannot rename rule {rule_id!r} to {rule['id']!r}: that id is taken; choose another id",
                )
            rules[index] = rule
            return {**current.model_dump(exclude_none=True), "rules": rules}

        _, updated, reloaded = await edit(proxy_id, change)
        return rule_answer(updated, rule["id"], reloaded)

    @api.delete("/api/manager/proxies/{proxy_id}/policy/rules/{rule_id}", status_code=204)
    async def delete_rule(proxy_id: str, rule_id: str) -> Response:
        def change(current: Policy) -> dict:
            rules = _rules(current)
            del rules[_index_of(rules, rule_id)]
            return {**current.model_dump(exclude_none=True), "rules": rules}

        await edit(proxy_id, change)
        return Response(status_code=204)

    return api


def _index_of(rules: list[dict], rule_id: str) -> int:
    for index, rule in enumerate(rules):
        if rule["id"] == rule_id:
            return index
    known = ", ".join(r["id"] for r in rules) or "none"
    raise api_error(404, "POLICY_RULE_NOT_FOUND", f"no rule with id {rule_id!r} (rules: {known})")


def _generated_id(rule: dict) -> str | None:
    """The id the policy would give this rule, when it is valid on its own (else parse_policy says why)."""
    try:
        return Rule.model_validate(rule).generated_id()
    except ValueError:
        return None
