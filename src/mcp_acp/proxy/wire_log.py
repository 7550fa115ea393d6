"""Debug wire logs (docs/audit.md#where-the-logs-are): every message on both legs, written only when the proxy's
`log_level` is DEBUG. They are diagnostics, not evidence: unchained, and payloads are included
only when `include_payloads` is true, with every secret redacted (proxy/output_inspection.py)."""

from __future__ import annotations

import os
from pathlib import Path

import orjson

from mcp_acp.audit.chain import utc_now
from mcp_acp.config.store import ensure_private_dir
from mcp_acp.proxy.listing import encode_deep
from mcp_acp.proxy.output_inspection import scrub

EVENTS = {
    ("client", "ingress"): "client_request",
    ("proxy", "egress"): "proxy_response",
    ("proxy", "backend"): "proxy_request",
    ("backend", "ingress"): "backend_response",
}


class WireLog:
    def __init__(self, log_dir: Path, include_payloads: bool) -> None:
        folder = ensure_private_dir(log_dir / "debug")
        self._include_payloads = include_payloads
        self._fds = {
            leg: os.open(folder / f"{leg}_wire.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            for leg in ("client", "backend")
        }

    def tap(self, source: str, direction: str, message: dict) -> None:
        """source: client | proxy | backend; direction: ingress | egress | backend (proxy to backend)."""
        entry = {
            "time": utc_now(),
            "event": EVENTS.get((source, direction)),
            "source": source,
            "direction": "egress" if direction == "backend" else direction,
            "method": message.get("method"),
            "request_id": message.get("id"),
        }
        if self._include_payloads:  # never a secret, whatever the policy says (docs/output-inspection.md)
            entry["payload"] = scrub(message)
        leg = "client" if source == "client" or direction == "egress" else "backend"
        entry = {k: v for k, v in entry.items() if v is not None}
        try:
            line = orjson.dumps(entry)
        except orjson.JSONEncodeError:  # a payload deeper than orjson goes: walked with a stack
            line = orjson.dumps({**entry, "payload": orjson.Fragment(encode_deep(entry.get("payload")))})
        os.write(self._fds[leg], line + b"\n")

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
