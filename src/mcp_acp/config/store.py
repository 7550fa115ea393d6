"""Load and save the JSON config files: atomic writes, 0600 files, 0700 folders, clear errors."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from mcp_acp.config import paths
from mcp_acp.config.errors import ConfigError  # re-exported: callers import it from here
from mcp_acp.config.models import ManagerConfig, ProxyConfig, proxy_name_problem

M = TypeVar("M", bound=BaseModel)


def ensure_private_dir(path: Path) -> Path:
    """`path` as a folder only its owner can enter (0700). Every folder this creates on the way
    is 0700 too (`mkdir(parents=True)` would leave those at the umask's 0755); folders that
    existed before, such as the user's home, are left alone."""
    missing = []
    folder = path
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for folder in reversed(missing):
        folder.mkdir(mode=0o700, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def write_private_text(path: Path, text: str, own_folder: bool = True) -> None:
    """Write atomically (temp file + fsync + rename) with mode 0600: never a half-written file.

    `own_folder=False` is for files in folders that belong to someone else (a client's config
    folder, a project): the folder is created if needed but its permissions are left alone.
    """
    if own_folder:
        ensure_private_dir(path.parent)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_model(path: Path, model: BaseModel) -> None:
    write_private_text(path, model.model_dump_json(indent=2, exclude_none=True) + "\n")


def validation_problems(error: ValidationError, unknown: str = "unknown field (check the spelling)") -> list[str]:
    """One line per problem, naming the field: `field 'hitl.timeout_seconds': ...`."""
    problems = []
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"]) or "(top level)"
        message = unknown if item["type"] == "extra_forbidden" else item["msg"].removeprefix("Value error, ")
        problems.append(f"field '{field}': {message}")
    return problems


def _describe(error: ValidationError) -> str:
    return "; ".join(validation_problems(error))


def read_json(path: Path, fix: str) -> tuple[object, str]:
    """The decoded JSON in `path` and its text, or ConfigError naming the file and `fix`."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path} does not exist. {fix}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text. Fix the file by hand, or {fix[0].lower()}{fix[1:]}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}. Check its permissions.") from None
    try:
        return json.loads(text), text
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}). "
            f"Fix the file by hand, or {fix[0].lower()}{fix[1:]}"
        ) from None


def load_model(path: Path, model: type[M], fix: str) -> M:
    """Parse `path` into `model`, or raise ConfigError naming the file, the field and `fix`."""
    data, _ = read_json(path, fix)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_describe(exc)}. Edit the file to fix it.") from None


def load_manager_config() -> ManagerConfig:
    return load_model(paths.manager_config_path(), ManagerConfig, "Run 'mcp-acp init' to create it.")


def load_gateway_config():
    """gateway.json, or the defaults when there is none (docs/gateway.md)."""
    from mcp_acp.config.gateway import GatewayConfig

    path = paths.gateway_config_path()
    if not path.exists():
        return GatewayConfig()
    return load_model(path, GatewayConfig, "See docs/gateway.md for its fields.")


def require_proxy_name(name: str) -> None:
    if problem := proxy_name_problem(name):
        raise ConfigError(problem)


def load_proxy_config(name: str) -> ProxyConfig:
    require_proxy_name(name)
    path = paths.proxy_config_path(name)
    if not path.parent.is_dir():
        known = ", ".join(list_proxy_names()) or "none yet"
        raise ConfigError(f"no proxy named {name!r} (configured: {known}). Add it with 'mcp-acp proxy add {name}'.")
    return load_model(path, ProxyConfig, f"Re-create it with 'mcp-acp proxy add {name}'.")


def list_proxy_names() -> list[str]:
    root = paths.proxies_config_dir()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "config.json").is_file())
