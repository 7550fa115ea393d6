"""Every filesystem location the product uses, derived in one place.

`MCP_ACP_HOME`, when set, puts all of it (config, logs, sockets, pid files,
archive, file secret store) under that one folder; tests and the demo rely on it.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from pathlib import Path

import platformdirs

APP_NAME = "mcp-acp"
HOME_ENV = "MCP_ACP_HOME"


def _home_override() -> Path | None:
    value = os.environ.get(HOME_ENV)
    return Path(value).expanduser().absolute() if value else None


def config_dir() -> Path:
    home = _home_override()
    return home / "config" if home else Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def default_log_dir() -> Path:
    """The `log_dir` a new manager.json gets; logs live under `<log_dir>/mcp-acp/`."""
    home = _home_override()
    if home:
        return home / "logs"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Logs"
    return Path(platformdirs.user_state_dir())  # $XDG_STATE_HOME or ~/.local/state


def runtime_dir() -> Path:
    home = _home_override()
    return home / "run" if home else Path(platformdirs.user_runtime_dir(APP_NAME, appauthor=False))


def manager_config_path() -> Path:
    return config_dir() / "manager.json"


def proxies_config_dir() -> Path:
    return config_dir() / "proxies"


def proxy_config_dir(name: str) -> Path:
    return proxies_config_dir() / name


def proxy_config_path(name: str) -> Path:
    return proxy_config_dir(name) / "config.json"


def proxy_policy_path(name: str) -> Path:
    return proxy_config_dir(name) / "policy.json"


def bootstrap_log_path(name: str) -> Path:
    return proxy_config_dir(name) / "bootstrap.jsonl"


def archive_dir() -> Path:
    return config_dir() / "archive"


def emergency_audit_path() -> Path:
    return config_dir() / "emergency_audit.jsonl"


def secret_store_path() -> Path:
    """The encrypted secret store, used where no OS keychain exists (SPEC §9 calls it tokens.enc;
    it holds every secret, not only tokens)."""
    return config_dir() / "secrets.enc"


def product_log_root(log_dir: Path) -> Path:
    return Path(log_dir).expanduser() / APP_NAME


def proxy_log_dir(log_dir: Path, name: str) -> Path:
    """The proxy's own log folder, holding `audit/` and `system/`."""
    return product_log_root(log_dir) / "proxies" / name


# A Unix socket path must fit in sun_path (108 bytes on Linux, 104 on macOS).
MAX_SOCKET_PATH = 100


def proxy_socket_path(name: str) -> Path:
    return _short_enough(runtime_dir() / f"proxy_{name}.sock")


def manager_socket_path() -> Path:
    """Where proxies register (NDJSON, SPEC §7.2)."""
    return _short_enough(runtime_dir() / "manager.sock")


def manager_api_socket_path() -> Path:
    """The manager's HTTP API for the CLI: a 0600 socket instead of TCP plus a token (SPEC §15)."""
    return _short_enough(runtime_dir() / "manager_api.sock")


def manager_token_path() -> Path:
    """The manager's API token (0600): browsers get it through a one-time sign-in link, local
    tools (a Prometheus scraper) read it here."""
    return config_dir() / "manager_token"


def manager_pid_path() -> Path:
    return runtime_dir() / "manager.pid"


def manager_lock_path() -> Path:
    return runtime_dir() / "manager.lock"


def manager_log_path(log_dir: Path) -> Path:
    return product_log_root(log_dir) / "manager" / "system.jsonl"


def _short_enough(path: Path) -> Path:
    """`path`, or when a deep MCP_ACP_HOME makes it too long for a socket, a short stand-in
    derived from it (so every process computes the same one) in a per-user temp folder."""
    if len(os.fsencode(path)) <= MAX_SOCKET_PATH:
        return path
    digest = hashlib.sha256(os.fsencode(path)).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"{APP_NAME}-{os.getuid()}" / f"{digest}.sock"
