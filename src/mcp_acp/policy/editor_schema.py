"""What the web UI's rule editor may offer, read from the policy model itself, so the editor never
offers a value the model would refuse. Served by a proxy's and by the manager's API."""

from __future__ import annotations

from typing import Any, get_args

from mcp_acp.policy.context import DISCOVERY_METHODS
from mcp_acp.policy.labels import LABELS
from mcp_acp.policy.model import Conditions, Effect, Policy, ResourceType, Rule
from mcp_acp.policy.side_effects import Operation, SideEffect


def rule_editor_schema() -> dict[str, Any]:
    """The values the rule editor may offer, read from the policy model itself."""
    enums = {
        "operations": list(get_args(Operation)),
        "side_effects": list(get_args(SideEffect)),
        "resource_type": list(get_args(ResourceType)),
        "tool_labels": list(LABELS),
        "session_labels": list(LABELS),
    }
    conditions = [
        {
            "name": name,
            "description": field.description,
            "multiple": name != "resource_type",
            **({"values": enums[name]} if name in enums else {}),
        }
        for name, field in Conditions.model_fields.items()
    ]
    return {
        "effects": list(get_args(Effect)),
        "default_actions": list(get_args(Policy.model_fields["default_action"].annotation)),
        "conditions": conditions,
        "condition_keys": [c["name"] for c in conditions],
        "operations": enums["operations"],
        "side_effects": enums["side_effects"],
        "resource_types": enums["resource_type"],
        "discovery_methods": sorted(
            DISCOVERY_METHODS
        ),  # these bypass the rules (docs/policies.md#how-a-request-is-decided)
        "rule_fields": list(Rule.model_fields),
        "cache_side_effects_effects": ["hitl"],
    }
