"""Reading a proxy's policy.json: parsed and validated by the policy model, every problem named
with its rule, as one ConfigError a person can act on."""

from __future__ import annotations

from pathlib import Path

from mcp_acp.config import paths
from mcp_acp.config.store import ConfigError, read_json
from mcp_acp.policy.model import Policy, PolicyInvalid, parse_policy


def read_policy(path: Path) -> tuple[Policy, str]:
    """The policy in `path` and its text; ConfigError lists every problem, each with its rule."""
    data, text = read_json(path, f"Write {{}} to {path} for a deny-all policy to start again from.")
    try:
        return parse_policy(data), text
    except PolicyInvalid as exc:
        count = f"{len(exc.problems)} problems" if len(exc.problems) > 1 else "1 problem"
        listing = "".join(f"\n  • {problem}" for problem in exc.problems)
        raise ConfigError(
            f"{path} has {count}:{listing}\nFix the rules named (see docs/policies.md), then "
            "run 'mcp-acp policy validate'.",
            exc.problems,
        ) from None


def load_policy(name: str) -> Policy:
    return read_policy(paths.proxy_policy_path(name))[0]
