"""Output inspection (docs/output-inspection.md): the backend's answers are searched for secrets
and injected instructions before the client, or any log, sees them.

On when the policy has an `output` section. What is inspected: the results of `tools/call`,
`resources/read`, `prompts/get` and `tasks/result`, and the params of the server's own requests
(`sampling/createMessage`, `elicitation/create`). Per finding the policy says `redact` (the match
becomes `[redacted: KIND]` and the result says what was redacted), `deny` (the client gets an
error naming the kinds, never the text), or `record`. The operations log records what kind was
found and where (`output_inspection` in the request's entry), never the text; the proxy's system
log warns the same way.

Off the event loop for large answers (asyncio.to_thread), so one big result does not stall the
other traffic of the session. A failure of the inspection itself withholds the answer (fail
closed): its content could not be checked.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import orjson

from mcp_acp import jsonrpc
from mcp_acp.policy.model import OutputInspection
from mcp_acp.proxy.listing import ENCODER_DEPTH, _deeper_than, encode_deep
from mcp_acp.proxy.output_scan import DENY, REDACT, Detector, Outcome, Settings, scan

log = logging.getLogger(__name__)

RESULT_METHODS = frozenset({"tools/call", "resources/read", "prompts/get", "tasks/result"})
SERVER_REQUESTS = frozenset({"sampling/createMessage", "elicitation/create"})
THREAD_ABOVE_BYTES = 64 * 1024  # smaller answers are inspected in place: a thread hop costs more
MAX_RECORDED_FINDINGS = 50  # per answer in the audit entry; the rest are counted
MAX_WARNINGS = 5  # per answer in the system log
META_KEY = "io.github.mcp-acp/redactions"

_default_settings: Settings | None = None
# The compiled settings of the policy sections seen, by id (the section is kept alive with them,
# so an id is never reused while cached). A policy reload brings a new section.
_compiled: dict[int, tuple[OutputInspection, Settings]] = {}


def settings_for(output: OutputInspection) -> Settings:
    """The compiled settings of a policy's `output` section, built once per section."""
    cached = _compiled.get(id(output))
    if cached is None:
        custom = tuple((p.kind, p.regex) for p in output.patterns)
        kinds = tuple(output.kinds.items()) + tuple((p.kind, p.action) for p in output.patterns if p.action)
        settings = Settings(output.secrets, output.instructions, kinds, Detector(custom) if custom else _detector())
        if len(_compiled) >= 8:
            _compiled.clear()
        cached = _compiled[id(output)] = (output, settings)
    return cached[1]


def _detector() -> Detector:
    """The built-in patterns, compiled once per process."""
    global _default_settings
    if _default_settings is None:
        _default_settings = Settings()
    return _default_settings.detector


def scrub(value: Any) -> Any:
    """`value` with every secret redacted whatever the policy says: for diagnostics (the debug
    wire log's payloads), which must never hold a secret."""
    return scan(value, Settings(REDACT, "record", (), _detector())).value


class OutputInspector:
    """The relay's `inspect` hook (proxy/gate.py): `policy()` gives the current `output` section."""

    def __init__(self, policy: Callable[[], OutputInspection | None]) -> None:
        self.policy = policy

    async def result(self, method: str | None, answer: dict, size: int) -> tuple[dict, dict | None]:
        """The answer the client may see, and what the audit entry records of the inspection
        (None: nothing found, or inspection off for this answer)."""
        output = self.policy()
        part = "result" if "result" in answer else "error"  # an error's message and data too
        if output is None or method not in RESULT_METHODS or not isinstance(answer.get(part), dict):
            return answer, None
        try:
            settings = settings_for(output)
            if size > THREAD_ABOVE_BYTES:
                outcome = await asyncio.to_thread(scan, answer[part], settings)
            else:
                outcome = scan(answer[part], settings)
        except Exception:
            log.exception("inspecting the answer to %s failed; it is withheld", method)
            return jsonrpc.error_response(
                answer.get("id"),
                jsonrpc.INTERNAL_ERROR,
                f"Internal error: the proxy could not inspect the server's answer to {method}, so it was withheld",
            ), {"error": "inspection failed"}
        if not outcome.findings:
            return answer, None
        _warn(method, outcome)
        audit = _audit(outcome)
        if outcome.denied:
            return _denial(answer.get("id"), method, outcome), audit
        if outcome.value is answer[part]:
            return answer, audit
        return _encodable({**answer, part: _noted(method, outcome) if part == "result" else outcome.value}, part), audit

    async def server_request(self, method: str, message: dict) -> tuple[dict, dict | None, bool]:
        """A request of the server's to the client (sampling, elicitation): its params inspected.
        Returns the message to pass on, the audit fields, and whether it is refused (deny)."""
        output = self.policy()
        if output is None or method not in SERVER_REQUESTS or not isinstance(message.get("params"), dict):
            return message, None, False
        outcome = await asyncio.to_thread(scan, message["params"], settings_for(output))
        if not outcome.findings:
            return message, None, False
        _warn(method, outcome)
        if outcome.denied:
            return message, _audit(outcome), True
        changed = outcome.value is not message["params"]
        return ({**message, "params": outcome.value} if changed else message), _audit(outcome), False


def _encodable(answer: dict, part: str) -> dict:
    """A changed answer deeper than the relay's encoder takes, with its part encoded already
    (as proxy/listing.py does for lists): a deep hostile result must not end the session."""
    if _deeper_than(answer, ENCODER_DEPTH):
        return {**answer, part: orjson.Fragment(encode_deep(answer[part]))}
    return answer


def _kinds(findings: list[dict[str, str]]) -> list[str]:
    return sorted({f["kind"] for f in findings})


def _audit(outcome: Outcome) -> dict[str, Any]:
    findings = outcome.findings
    fields: dict[str, Any] = {
        "action": DENY if outcome.denied else (REDACT if any(f["action"] == REDACT for f in findings) else "record"),
        "kinds": _kinds(findings),
        "findings": findings[:MAX_RECORDED_FINDINGS],
    }
    if len(findings) > MAX_RECORDED_FINDINGS:
        fields["findings_count"] = len(findings)
    return fields


def _warn(method: str, outcome: Outcome) -> None:
    for finding in outcome.findings[:MAX_WARNINGS]:
        log.warning(
            "output inspection: %s %s in the answer to %s at %s (%s)",
            finding["category"],
            finding["kind"],
            method,
            finding["where"],
            finding["action"],
        )
    if len(outcome.findings) > MAX_WARNINGS:
        log.warning("output inspection: %d more findings in the same answer", len(outcome.findings) - MAX_WARNINGS)


def _denial(request_id: Any, method: str, outcome: Outcome) -> dict:
    denied = outcome.denied
    return jsonrpc.error_response(
        request_id,
        jsonrpc.POLICY_DENIED,
        f"Denied by output inspection: the server's answer to {method} contained "
        f"{', '.join(_kinds(denied))}, so it was withheld",
        {"kinds": _kinds(denied), "where": sorted({f["where"] for f in denied})[:MAX_RECORDED_FINDINGS]},
    )


def _noted(method: str, outcome: Outcome) -> dict:
    """The redacted result with a note saying what went: in `_meta` always, and as a last text
    item of a tool's `content`, which is what the model reads."""
    result = dict(outcome.value)
    redacted = [f for f in outcome.findings if f["action"] == REDACT]
    note = [{"kind": f["kind"], "where": f["where"]} for f in redacted[:MAX_RECORDED_FINDINGS]]
    meta: dict[str, Any] = m if isinstance(m := result.get("_meta"), dict) else {}
    result["_meta"] = {**meta, META_KEY: note}
    if method in ("tools/call", "tasks/result") and isinstance(result.get("content"), list):
        places = ", ".join(f"{f['kind']} at {f['where']}" for f in redacted[:10])
        more = f" and {len(redacted) - 10} more" if len(redacted) > 10 else ""
        text = f"[mcp-acp redacted {len(redacted)} item(s) from this result: {places}{more}]"
        result["content"] = [*result["content"], {"type": "text", "text": text}]
    return result
