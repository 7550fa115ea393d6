"""The server side of `Mcp-Param-*` (MCP 2026-07-28 streamable HTTP, `x-mcp-header`): on a
tools/call, each argument the tool's schema mirrors into a header must come with that header,
equal to the body (400, -32020), as a server validates it.

The gateway is the HTTP front of a backend that never sees these headers, so it checks them
itself, against the schemas it relayed in the caller's own tools/list answers. A tool it has not
listed to that caller is not checked (nothing says which headers it mirrors); the headers never
decide anything: the policy and the backend judge the body.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping

from mcp_acp.backends.http_params import (
    HeaderParam,
    HeaderValueRefused,
    InvalidToolHeaders,
    header_params,
    param_headers,
)
from mcp_acp.gateway.http_checks import decode_header_value, header_mismatch, shown

MAX_PRINCIPALS = 1024  # the least recently listed principal's schemas go first
MAX_TOOLS = 4096  # per principal


class ToolHeaders:
    """The mirrored parameters of each tool, per principal, as its tools/list answers said."""

    def __init__(self) -> None:
        self._tools: OrderedDict[str, dict[str, tuple[HeaderParam, ...]]] = OrderedDict()

    def learn(self, principal: str, answer: dict) -> None:
        """Keep the annotated parameters of the tools in one tools/list answer (a page)."""
        result = answer.get("result")
        tools = result.get("tools") if isinstance(result, dict) else None
        if not isinstance(tools, list):
            return
        known = self._tools.pop(principal, {})
        self._tools[principal] = known
        for tool in tools:
            if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
                continue
            try:
                params = header_params(tool.get("inputSchema"))
            except InvalidToolHeaders:
                params = ()  # the backend's problem, judged by its clients: nothing to compare here
            if params:
                known[tool["name"]] = params
            else:
                known.pop(tool["name"], None)
        while len(known) > MAX_TOOLS:
            known.pop(next(iter(known)))
        while len(self._tools) > MAX_PRINCIPALS:
            self._tools.popitem(last=False)

    def check(self, principal: str, headers: Mapping[str, str], message: dict) -> None:
        """HttpRefusal (400, -32020) when a mirrored argument's header is missing or differs."""
        params = message.get("params")
        if message.get("method") != "tools/call" or not isinstance(params, dict):
            return
        name = params.get("name")
        mirrored = self._tools.get(principal, {}).get(name) if isinstance(name, str) else None
        if not mirrored:
            return
        arguments = params.get("arguments")
        try:
            expected = param_headers(mirrored, arguments if isinstance(arguments, dict) else {})
        except HeaderValueRefused as exc:
            raise header_mismatch(str(exc)) from None
        sent = {key.lower(): value for key, value in headers.items()}
        for header, value in expected.items():
            raw = sent.get(header.lower())
            if raw is None:
                raise header_mismatch(f"the {header} header is missing but the body has that argument")
            want = decode_header_value(header, value)
            if decode_header_value(header, raw) != want:
                raise header_mismatch(f"{header} header value {shown(raw)} does not match body value {shown(want)}")
