"""How the probe reads a server/discover answer: modern, retry with a named version, or legacy."""

from __future__ import annotations

import pytest

from mcp_acp.backends.http_probe import discover_verdict
from mcp_acp.backends.http_wire import LEGACY, MODERN


def error(code: int, data: object = None) -> dict:
    return {"jsonrpc": "2.0", "id": 1, "error": {"code": code, "message": "no", "data": data}}


@pytest.mark.parametrize(
    ("answer", "status", "verdict"),
    [
        ({"result": {"supportedVersions": ["2026-07-28"], "capabilities": {}}}, 200, (MODERN, None)),
        ({"result": {"supportedVersions": ["2025-11-25"]}}, 200, (LEGACY, None)),
        ({"result": {}}, 200, (LEGACY, None)),  # a legacy server's generic answer to an unknown method
        (error(-32022, {"supported": ["2026-07-28"], "requested": "x"}), 400, ("retry", "2026-07-28")),
        (error(-32022, {"supported": ["2099-01-01"]}), 400, (LEGACY, None)),
        (error(-32022, "not an object"), 400, (LEGACY, None)),
        (error(-32020), 400, (MODERN, None)),  # header mismatch: only a modern server says so
        (error(-32021), 400, (MODERN, None)),
        (error(-32601), 404, (MODERN, None)),  # a modern 404 carries a JSON-RPC error
        (error(-32601), 200, (LEGACY, None)),
        (error(-32000), 400, (LEGACY, None)),  # "missing session id"
        (error(-32603, None), None, (LEGACY, None)),  # a 400 with no JSON body
    ],
)
def test_discover_verdict(answer: dict, status: int | None, verdict: tuple) -> None:
    assert discover_verdict(answer, status) == verdict
