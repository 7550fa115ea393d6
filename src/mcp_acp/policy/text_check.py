"""A policy.json text checked as the proxy would load it, each problem with its line: what the web
UI's raw editor shows next to the text (docs/ui.md#a-broken-policy)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from mcp_acp.config.json_lines import line_of, offsets
from mcp_acp.policy.model import Policy, located_problems


def text_problems(text: str) -> list[dict[str, Any]]:
    """Every problem of `text` as {line, message}, in the order found; [] when the policy is valid."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return [{"line": exc.lineno, "column": exc.colno, "message": f"not valid JSON: {exc.msg}"}]
    try:
        Policy.model_validate(data)
    except ValidationError as exc:
        known = offsets(text)
        return [
            {"line": line_of(text, location, known), "message": message}
            for location, message in located_problems(exc, data)
        ]
    return []
