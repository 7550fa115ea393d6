"""Every filesystem location the product uses, derived in one place.

`MCP_ACP_HOME`, when set, puts all of it (config, logs, sockets, pid files,
archive, file secret store) under that one folder; tests and the demo rely on it.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import platformdirs

from mcp_acp.config.private_dir import UnsafeFolder, checked_dir, private_dir, usable_base

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
    """Sockets, the PID file and the lock (see `private_runtime_dir` for the checked folder)."""
    home = _home_override()
    return home / "run" if home else _user_runtime_dir()


def _user_runtime_dir() -> Path:
    """The user's own runtime folder: never a shared guessable path in /tmp (where another user
    could make it first), so `$XDG_RUNTIME_DIR` or `/run/user/<uid>` when they are ours, else a
    folder in the home."""
    if sys.platform == "darwin":
        return Path(platformdirs.user_runtime_dir(APP_NAME, appauthor=False))  # under ~/Library
    bases = _runtime_bases()
    return bases[0] / APP_NAME if bases else Path.home() / STAND_IN_FOLDER


def _home() -> Path | None:
    try:
        return Path.home()
    except RuntimeError:  # no HOME and no password entry
        return None


def _runtime_bases() -> list[Path]:
    """$XDG_RUNTIME_DIR, then /run/user/<uid>, each only when it is ours and nobody else can write it."""
    candidates = [Path(os.environ["XDG_RUNTIME_DIR"])] if os.environ.get("XDG_RUNTIME_DIR") else []
    if sys.platform.startswith("linux"):
        candidates.append(Path(f"/run/user/{os.getuid()}"))
    return [base for base in candidates if usable_base(base)]


def private_runtime_dir() -> Path:
    """`runtime_dir()`, created 0700 if missing, and checked (ours, 0700, not a symlink): for
    whatever writes there (the lock, the PID file, a socket being bound)."""
    return private_dir(runtime_dir(), "runtime folder")


def manager_config_path() -> Path:
    return config_dir() / "manager.json"


def gateway_config_path() -> Path:
    return config_dir() / "gateway.json"


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
    """The encrypted secret store, used where no OS keychain exists (docs/auth.md#where-secrets-are-kept; once
    called tokens.enc, it holds every secret, not only tokens)."""
    return config_dir() / "secrets.enc"


def product_log_root(log_dir: Path) -> Path:
    return Path(log_dir).expanduser() / APP_NAME


def proxy_log_dir(log_dir: Path, name: str) -> Path:
    """The proxy's own log folder, holding `audit/` and `system/`."""
    return product_log_root(log_dir) / "proxies" / name


# A Unix socket path must fit in sun_path (108 bytes on Linux, 104 on macOS).
MAX_SOCKET_PATH = 100
STAND_IN_FOLDER = ".mcp-acp-run"


# Every socket path comes from here, and its folder is checked on the way (bind_private_socket
# checks again, and makes a missing one): whoever binds or connects (manager, proxy, CLI) cannot
# use a socket in a folder someone else controls.


MAX_SESSIONS = 64  # processes of one proxy at once: one per MCP client (audit/sharing.py)


def proxy_socket_path(name: str, slot: int = 0) -> Path:
    """The API socket of one process of a proxy. The first running process has slot 0, the
    plain name every tool tries first; each further client's process takes the next free slot."""
    return _socket(f"proxy_{name}.sock" if slot == 0 else f"proxy_{name}.{slot}.sock")


def gateway_socket_path() -> Path:
    """The running gateway's status socket (`mcp-acp serve`): `status` and the manager read it."""
    return _socket("gateway.sock")


def manager_socket_path() -> Path:
    """Where proxies register (NDJSON, docs/manager.md#the-proxy-connection)."""
    return _socket("manager.sock")


def manager_api_socket_path() -> Path:
    """The manager's HTTP API for the CLI: a 0600 socket instead of TCP plus a token (docs/manager.md#the-local-api-and-its-protection)."""
    return _socket("manager_api.sock")


def manager_token_path() -> Path:
    """The manager's API token (0600): browsers get it through a one-time sign-in link, local
    tools (a Prometheus scraper) read it here."""
    return config_dir() / "manager_token"


def manager_pid_path() -> Path:
    return checked_dir(runtime_dir(), "runtime folder") / "manager.pid"  # `manager stop` signals the PID it names


def manager_lock_path() -> Path:
    return private_runtime_dir() / "manager.lock"


def manager_log_path(log_dir: Path) -> Path:
    return product_log_root(log_dir) / "manager" / "system.jsonl"


def _fits(path: Path) -> bool:
    return len(os.fsencode(path)) <= MAX_SOCKET_PATH


def _socket(filename: str) -> Path:
    path = runtime_dir() / filename
    if _fits(path):
        return checked_dir(runtime_dir(), "runtime folder") / filename
    return _stand_in(path)


def _stand_in(path: Path) -> Path:
    """When a deep home makes `path` too long for a socket: a short name derived from it, in the
    first private folder where it fits. First the nearest folder above the runtime folder that is
    ours and that nobody else can write to: it depends on MCP_ACP_HOME alone, so every process (a
    proxy an MCP client started with another HOME or no $XDG_RUNTIME_DIR) finds the same socket.
    Then the user's runtime folder ($XDG_RUNTIME_DIR, /run/user/<uid>), then the home."""
    name = hashlib.sha256(os.fsencode(path)).hexdigest()[:16] + ".sock"
    folders = [base / STAND_IN_FOLDER for base in path.parent.parents if usable_base(base)]
    folders += [base / APP_NAME for base in _runtime_bases()]
    folders += [home / STAND_IN_FOLDER for home in [_home()] if home and usable_base(home)]
    for folder in folders:
        if _fits(folder / name):
            return checked_dir(folder) / name  # one that exists and fails the check is refused, not skipped
    raise UnsafeFolder(
        f"no private folder is short enough for the socket {path} (a socket path has at most "
        f"{MAX_SOCKET_PATH} bytes). Set MCP_ACP_HOME to a shorter folder, or XDG_RUNTIME_DIR to a "
        "short folder only you can use (mode 0700)."
    )
