"""Files under a test MCP_ACP_HOME: where a proxy's config and logs live, the policies and limits tests run under, and the environment for in-process calls."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

# Tests of the relay and the audit trail are about transport, not policy: they run their proxy
# under a policy that allows every method, with limits high enough for load tests.
ALLOW_ALL_POLICY = {"rules": [{"id": "test-allow-all", "effect": "allow", "conditions": {"mcp_method": "*"}}]}
HIGH_LIMITS = {"requests_per_second": 100000, "burst": 1000000, "tool_calls_per_window": 1000000}


def allow_everything(env: dict, name: str, limits: bool = True) -> None:
    folder = Path(env["MCP_ACP_HOME"]) / "config" / "proxies" / name
    (folder / "policy.json").write_text(json.dumps(ALLOW_ALL_POLICY), encoding="utf-8")
    if limits:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        config["limits"] = HIGH_LIMITS
        (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")


# An ordinary policy: every tool, nothing else. Discovery in either era passes on its own.
TOOLS_ONLY_POLICY = {"rules": [{"id": "test-tools", "effect": "allow", "conditions": {"tool_name": "*"}}]}


def use_policy(env: dict, name: str, policy: dict) -> None:
    (proxy_config_dir(env, name) / "policy.json").write_text(json.dumps(policy), encoding="utf-8")


def proxy_config_dir(env: dict, name: str) -> Path:
    return Path(env["MCP_ACP_HOME"]) / "config" / "proxies" / name


def proxy_log_dir(env: dict, name: str) -> Path:
    return Path(env["MCP_ACP_HOME"]) / "logs" / "mcp-acp" / "proxies" / name


# `echo` allowed, `add` denied: requests through the proxy get both decisions.
ECHO_ONLY_POLICY = {
    "rules": [
        {"id": "echo-ok", "effect": "allow", "conditions": {"tool_name": "echo"}},
        {"id": "no-add", "effect": "deny", "conditions": {"tool_name": "add"}},
    ]
}


@contextlib.contextmanager
def home(env: dict):
    """MCP_ACP_HOME and the secret backend for in-process calls (read at call time), as the
    proxy subprocesses see them."""
    names = ("MCP_ACP_HOME", "MCP_ACP_SECRET_BACKEND")
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update({name: env[name] for name in names})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
