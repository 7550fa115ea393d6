"""`mcp-acp wrap` (docs/quickstart.md#govern-the-servers-you-already-have): put every MCP server a
client already has behind its own proxy, in one go.

`plan_wrap` reads the client's file and says what would happen to each entry, changing nothing
(it is all `--dry-run` does). `apply_wrap` then creates the proxies (env carried over, secret-looking
values moved into the secret store, a starter policy each), records what it did with an exact copy
of the file (admin/wrap_records.py, for `unwrap`), and rewrites the entries through
admin/client_file.py, the module `install mcp-json --write` uses. Never prompts or prints."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from mcp_acp.admin import backend_env, wrap_records
from mcp_acp.admin.backend_tools import BackendToolsError, list_backend_tools
from mcp_acp.admin.client_file import ClientFileError, apply, is_mcp_acp_entry, plan_merge, read_servers
from mcp_acp.admin.client_snippets import config_file, server_entry, servers_key
from mcp_acp.admin.proxy_setup import ProxySetupError, create_proxy
from mcp_acp.admin.starter_policy import StarterPolicy, from_preset, from_tools, recognize
from mcp_acp.backends import BackendError
from mcp_acp.backends.child_env import secret_env_key
from mcp_acp.config import paths
from mcp_acp.config.models import RESERVED_PROXY_NAMES, proxy_name_problem
from mcp_acp.config.store import ConfigError, list_proxy_names, load_proxy_config, save_model

STDIO_KEYS = {"type", "command", "args", "env"}
HTTP_KEYS = {"type", "url"}
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SECRET_NAME = re.compile(r"TOKEN|KEY|SECRET|PASSWORD|PASSWD|PASSPHRASE|CREDENTIAL|AUTH|COOKIE|PRIVATE|\bPAT\b", re.I)
_SECRET_VALUE = re.compile(
    r"^(gh[pousr]_|github_pat_|glpat-|sk-|sk_live_|rk_live_|xox[abposr]-|AKIA|ASIA|AIza|hf_|npm_|pypi-)"
    r"|^eyJ[\w-]+\.[\w-]+\.[\w-]+$"  # a JWT
    r"|^[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@"  # a URL with a password (postgres://user:pw@host)
)


class WrapError(Exception):
    """Nothing can be wrapped in this file; the message says why. Nothing was changed."""


@dataclass
class WrapItem:
    """One server entry of the client's file, and what wrapping does with it."""

    entry: str  # the entry's name in the client's file
    original: object  # the entry as it is
    skip: str | None = None  # why it is left as it is
    proxy: str | None = None
    command: str | None = None
    args: list[str] = field(default_factory=list)
    url: str | None = None
    env: dict[str, str] = field(default_factory=dict)  # carried over in config.json
    secrets: dict[str, str] = field(default_factory=dict)  # moved into the secret store
    preset: str | None = None  # the starter preset recognized (None: learned from the tools)
    starter: StarterPolicy | None = None  # set by apply_wrap
    error: str | None = None  # set by apply_wrap when its proxy could not be made


@dataclass
class WrapPlan:
    client: str
    path: Path
    key: str
    original: bytes
    items: list[WrapItem]
    notes: list[str] = field(default_factory=list)  # what the user should know that is in no row

    @property
    def to_wrap(self) -> list[WrapItem]:
        return [item for item in self.items if item.skip is None]


@dataclass
class WrapResult:
    plan: WrapPlan
    wrapped: list[WrapItem]
    failed: list[WrapItem]
    backup: Path | None


def default_file(client: str) -> Path:
    """Claude Code keeps the servers added with `claude mcp add` (user scope) in ~/.claude.json;
    a project's .mcp.json is wrapped with --file."""
    if client == "claude-code":
        return Path.home() / ".claude.json"
    return config_file(client)


def is_secret(name: str, value: str) -> bool:
    """A value that must not sit in config.json: by its variable's name, or by its own look."""
    if _SECRET_NAME.search(name):
        return True
    if _SECRET_VALUE.search(value):
        return True
    # a long run of letters and digits with no spaces or path: most likely a token
    return (
        len(value) >= 24
        and re.fullmatch(r"[A-Za-z0-9_\-.=+]+", value) is not None
        and any(c.isdigit() for c in value)
        and any(c.isalpha() for c in value)
    )


def plan_wrap(client: str, path: Path | None = None) -> WrapPlan:
    """What wrapping the client's file would do; reads it, writes nothing anywhere."""
    path = path or default_file(client)
    key = servers_key(client)
    try:
        original = path.read_bytes()
        servers = read_servers(path, client, key)
    except FileNotFoundError:
        raise WrapError(f"{path} does not exist: {client} has no MCP servers to wrap there.") from None
    except (ClientFileError, OSError, UnicodeDecodeError) as exc:
        raise WrapError(str(exc)) from None
    if not servers:
        raise WrapError(f"{path} has no servers under '{key}': nothing to wrap.")
    folder = paths.proxies_config_dir()
    existing = [entry.name for entry in folder.iterdir()] if folder.is_dir() else []
    taken = {name.lower() for name in [*list_proxy_names(), *existing]}  # one name per folder, whatever the case
    items = [_plan_item(name, entry, taken) for name, entry in servers.items()]
    return WrapPlan(client, path, key, original, items, _project_scoped(client, original))


def _project_scoped(client: str, original: bytes) -> list[str]:
    """Claude Code keeps the servers of one project ('local' scope) under `projects` in
    ~/.claude.json: they are not wrapped, and the user should hear so."""
    if client != "claude-code":
        return []
    try:
        projects = json.loads(original).get("projects")
    except (ValueError, AttributeError):
        return []
    found = [
        f"{folder} ({', '.join(servers)})"
        for folder, project in (projects.items() if isinstance(projects, dict) else [])
        if isinstance(project, dict) and isinstance(servers := project.get("mcpServers"), dict) and servers
    ]
    if not found:
        return []
    return [
        "servers added to a single project (local scope) are not wrapped: "
        + "; ".join(found)
        + ". Move them to user scope ('claude mcp add --scope user') or a project's .mcp.json, and wrap that."
    ]


def _plan_item(name: str, entry: object, taken: set[str]) -> WrapItem:
    item = WrapItem(entry=name, original=entry)
    item.skip = _skip_reason(entry)
    if item.skip:
        return item
    assert isinstance(entry, dict)
    if "url" in entry:
        item.url = entry["url"]
    else:
        command: str = entry["command"]
        item.command, item.args = command, list(entry.get("args") or [])
        for variable, value in (entry.get("env") or {}).items():
            (item.secrets if is_secret(variable, value) else item.env)[variable] = value
        preset = recognize(command, item.args)
        item.preset = preset.key if preset else None
    item.proxy = _proxy_name(name, taken)
    taken.add(item.proxy.lower())
    return item


def _skip_reason(entry: object) -> str | None:
    """Why an entry is left as it is, or None when it can be wrapped."""
    if not isinstance(entry, dict):
        return "not a server entry (not a JSON object)"
    args = entry.get("args")
    if _runs_mcp_acp(entry):
        return "already goes through mcp-acp"
    if entry.get("disabled") is True:
        return "disabled in the client"
    if "url" in entry:
        return _http_skip_reason(entry)
    command = entry.get("command")
    if not isinstance(command, str) or not command.strip():
        return "no command and no url"
    if not (args is None or (isinstance(args, list) and all(isinstance(a, str) for a in args))):
        return "'args' is not a list of strings"
    env = entry.get("env") or {}
    if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
        return "'env' is not an object of strings"
    if bad := [name for name in env if not _ENV_NAME.match(name)]:
        return f"env name {bad[0]!r} cannot be carried over"
    if extra := sorted(set(entry) - STDIO_KEYS):
        return f"uses {', '.join(repr(k) for k in extra)}, which a proxy does not carry over; wrap it by hand"
    if entry.get("type", "stdio") != "stdio":
        return f"type {entry.get('type')!r} with a command"
    words = [command, *(args or []), *env.values()]
    if any("${" in word for word in words):
        return "uses ${…} variables the client fills in; a proxy would pass them literally"
    if _command_missing(command):
        return f"command {command!r} not found (the client could not start it either)"
    return None


def _runs_mcp_acp(entry: dict) -> bool:
    """An entry that starts mcp-acp in any way (`mcp-acp start …`, `python -m mcp_acp …`, `uvx
    mcp-acp …`): wrapping it would put a proxy in front of a proxy."""
    args = entry.get("args")
    if isinstance(args, list) and args and isinstance(args[-1], str) and is_mcp_acp_entry(entry, args[-1]):
        return True
    words = [entry.get("command"), *(args if isinstance(args, list) else [])]
    words = [word for word in words if isinstance(word, str)]
    if any(Path(word).name in ("mcp-acp", "mcp-acp.exe") for word in words):
        return True
    return any(a == "-m" and b in ("mcp_acp", "mcp_acp.__main__") for a, b in itertools.pairwise(words))


def _http_skip_reason(entry: dict) -> str | None:
    url = entry.get("url")
    if not isinstance(url, str) or not re.match(r"^https?://", url):
        return "its url is not http(s)"
    kind = entry.get("type", "http")
    if kind in ("sse",):
        return "an SSE server: mcp-acp proxies streamable HTTP; add it by hand if it speaks that too"
    if kind not in ("http", "streamable-http", "streamableHttp"):
        return f"type {kind!r} with a url"
    if extra := sorted(set(entry) - HTTP_KEYS):
        return (
            f"uses {', '.join(repr(k) for k in extra)} (for example an Authorization header); "
            "add it with 'mcp-acp proxy add NAME --url URL --api-key-stdin'"
        )
    return None


def _command_missing(command: str) -> bool:
    from mcp_acp.backends.stdio import resolve_command

    try:
        resolve_command(str(Path(command).expanduser()) if "/" in command else command)
    except BackendError:
        return True
    return False


def _proxy_name(entry: str, taken: set[str]) -> str:
    """A valid proxy name from the entry's name, unique among the proxies and this wrap's others."""
    base = re.sub(r"[^A-Za-z0-9_-]+", "-", entry).strip("-_")[:56] or "server"
    if base.lower() in RESERVED_PROXY_NAMES:
        base = f"{base}-server"
    name, n = base, 2
    while name.lower() in taken or proxy_name_problem(name):
        name, n = f"{base}-{n}", n + 1
    return name


def apply_wrap(plan: WrapPlan, list_tools: bool = True) -> WrapResult:
    """Create the proxies, record the wrap, rewrite the client's entries. An item whose proxy
    cannot be made keeps its entry as it is (`failed`); the rest go ahead."""
    if not plan.to_wrap:
        raise WrapError("no server in the file can be wrapped; nothing was changed.")
    wrapped: list[WrapItem] = []
    failed: list[WrapItem] = []
    for item in plan.to_wrap:
        try:
            _make_proxy(item, list_tools)
            wrapped.append(item)
        except (ProxySetupError, backend_env.BackendEnvError, ConfigError, OSError, ValueError) as exc:
            item.error = str(exc)
            failed.append(item)
    if not wrapped:
        return WrapResult(plan, wrapped, failed, None)
    entries = {item.entry: server_entry(plan.client, item.proxy or "") for item in wrapped}
    try:
        merge = plan_merge(plan.path, plan.client, plan.key, entries, force=True)
        if plan.path.read_bytes() != plan.original or merge.new_text is None:
            raise ClientFileError(f"{plan.path} changed while wrapping; run wrap again. Nothing was changed in it.")
        record = wrap_records.add(plan.client, plan.path, plan.original, merge.new_text.encode("utf-8"), wrapped)
        try:
            backup = apply(merge)
        except BaseException:
            wrap_records.drop(record)
            raise
        wrap_records.confirm_written(record, plan.path.read_bytes())
    except (ClientFileError, OSError) as exc:
        _undo(wrapped)
        raise WrapError(f"{exc} The proxies made for it were removed.") from None
    return WrapResult(plan, wrapped, failed, backup)


def _make_proxy(item: WrapItem, list_tools: bool) -> None:
    assert item.proxy is not None
    create_proxy(
        item.proxy,
        server_name=item.entry,
        command=item.command,
        args=item.args,
        url=item.url,
        transport="http" if item.url else "stdio",
        skip_health_check=True,  # the command was found when planning; an HTTP server may be down now
    )
    try:
        if item.env or item.secrets:
            _set_backend_env(item.proxy, item.env, item.secrets)
        item.starter = _starter(item, list_tools)
        save_model(paths.proxy_policy_path(item.proxy), item.starter.policy)
    except BaseException:
        _undo([item])
        raise


def _set_backend_env(proxy: str, env: dict[str, str], secrets: dict[str, str]) -> None:
    """The backend's environment: plain values in config.json, secret ones in the secret store
    (config.json names them only), through the same code as `mcp-acp proxy env`."""
    for variable, value in env.items():
        backend_env.set_env(proxy, variable, value)
    for variable, value in secrets.items():
        backend_env.set_secret_env(proxy, variable, value)


def _starter(item: WrapItem, list_tools: bool) -> StarterPolicy:
    assert item.proxy is not None
    if item.command and (preset := recognize(item.command, item.args)):
        return from_preset(preset, item.command, item.args)
    if not list_tools:
        return from_tools(None, "not asked")
    try:
        with _sdk_quiet():
            tools = asyncio.run(list_backend_tools(load_proxy_config(item.proxy), item.proxy))
    except (BackendToolsError, BackendError, OSError) as exc:
        return from_tools(None, str(exc))
    return from_tools(tools)


@contextmanager
def _sdk_quiet() -> Iterator[None]:
    """The SDK logs a server's stray output as tracebacks; the reason is in the error already."""
    logger = logging.getLogger("mcp")
    level = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        logger.setLevel(level)


def remove_secrets(proxy: str, variables: list[str]) -> None:
    from mcp_acp import secret_store

    for variable in variables:
        secret_store.delete(secret_env_key(proxy, variable))


def _undo(items: list[WrapItem]) -> None:
    """Remove proxies this wrap made (they were never used: nothing to archive)."""
    import shutil

    for item in items:
        if item.proxy:
            shutil.rmtree(paths.proxy_config_dir(item.proxy), ignore_errors=True)
            with suppress(ConfigError):  # a store that failed to take them holds none of them
                remove_secrets(item.proxy, list(item.secrets))
