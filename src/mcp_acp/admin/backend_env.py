"""A STDIO backend's own environment (docs/configuration.md#a-backends-environment): plain values in
config.json's `backend.stdio.env`, secret values in the secret store under
`proxy:<name>:env:<VAR>` (backends/child_env.py) with only their names in `backend.stdio.secret_env`.

Shared by `mcp-acp proxy add/env`, the manager's API and `wrap`. config.json is rewritten with
the rest of the file left as it is. A running proxy keeps the environment it started its backend
with: changes apply at its next start.
"""

from __future__ import annotations

import json
import re
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, cast

from pydantic import ValidationError

from mcp_acp.backends.child_env import secret_env_key
from mcp_acp.config import paths
from mcp_acp.config.models import ProxyConfig
from mcp_acp.config.store import load_proxy_config, read_json, validation_problems, write_private_text

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MAX_NAME = 200  # as config/models.py's EnvName


class BackendEnvError(Exception):
    """Nothing was changed; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class EnvListing:
    env: dict[str, str]  # plain values, shown as they are
    secret_env: dict[str, bool]  # secret names -> whether the store holds a value (values never leave it)


def _store():
    from mcp_acp import secret_store  # imported late: the keyring backends are slow to load

    return secret_store


def env_name_problem(variable: str) -> str | None:
    """Why `variable` cannot be an environment variable name (None: it can)."""
    if not _NAME.fullmatch(variable) or len(variable) > MAX_NAME:
        return (
            f"{variable!r} is not a valid environment variable name: use letters, digits and '_', "
            "not starting with a digit (e.g. GITHUB_TOKEN)"
        )
    return None


def env_value_problem(variable: str, value: str) -> str | None:
    if "\0" in value:
        return f"the value of {variable} contains a NUL character, which no environment value can hold"
    return None


def parse_assignment(text: str) -> tuple[str, str]:
    """'KEY=VALUE' -> (KEY, VALUE); the value may be empty and may contain '='."""
    variable, sep, value = text.partition("=")
    if not sep:
        raise BackendEnvError(
            f"--env {text!r} is not KEY=VALUE: write it as --env {text or 'KEY'}=VALUE "
            "(for a secret, use --secret-env KEY and you are asked for the value)"
        )
    _check(variable, value)
    return variable, value


def _check(variable: str, value: str | None = None) -> None:
    if problem := env_name_problem(variable):
        raise BackendEnvError(problem)
    if value is not None and (problem := env_value_problem(variable, value)):
        raise BackendEnvError(problem)


def _no_stdio(name: str) -> BackendEnvError:
    return BackendEnvError(
        f"proxy {name!r} has no STDIO backend (it reaches its server over HTTP): environment values "
        "are given only to a backend process the proxy starts (backend.stdio.command). An HTTP "
        f"backend's API key is set with 'mcp-acp proxy auth {name}'."
    )


def _update(name: str, change) -> None:
    """Read config.json, apply `change(stdio_block)`, validate the whole file, write it back."""
    load_proxy_config(name)  # the friendly "no proxy named …" and a valid file to start from
    path = paths.proxy_config_path(name)
    data, _ = read_json(path, f"Re-create it with 'mcp-acp proxy add {name}'.")
    backend = cast("dict[str, Any]", data).get("backend") or {}
    stdio = backend.get("stdio")
    if not isinstance(stdio, dict):
        raise _no_stdio(name)
    change(stdio)
    for key in ("env", "secret_env"):
        if not stdio.get(key):
            stdio.pop(key, None)  # an empty block is not written
    try:
        ProxyConfig.model_validate(data)
    except ValidationError as exc:
        raise BackendEnvError(f"{path} was not changed: {'; '.join(validation_problems(exc))}") from None
    try:
        write_private_text(path, json.dumps(data, indent=2) + "\n")
    except OSError as exc:
        raise BackendEnvError(f"cannot write {path}: {exc.strerror or exc}") from None


def set_env(proxy_name: str, variable: str, value: str) -> None:
    """A plain value, kept in config.json. A variable that is a secret stays one: unset it first."""
    _check(variable, value)

    def change(stdio: dict) -> None:
        if variable in (stdio.get("secret_env") or []):
            raise BackendEnvError(
                f"{variable} is a secret environment value of proxy {proxy_name!r}; a plain value would "
                f"put it in config.json. To store it in plain anyway, first run "
                f"'mcp-acp proxy env {proxy_name} --unset {variable}'."
            )
        stdio.setdefault("env", {})[variable] = value

    _update(proxy_name, change)


def set_secret_env(proxy_name: str, variable: str, value: str) -> None:
    """Store `value` in the secret store and name `variable` in backend.stdio.secret_env (a plain
    value of the same name leaves config.json). The value itself is never written to a file."""
    _check(variable, value)
    if not value:
        raise BackendEnvError(f"the secret value of {variable} is empty; nothing was stored")
    stdio = load_proxy_config(proxy_name).backend.stdio
    if stdio is None:
        raise _no_stdio(proxy_name)
    already = variable in stdio.secret_env
    try:
        _store().put(secret_env_key(proxy_name, variable), value)
    except Exception as exc:  # keyring and file-store failures vary by platform
        raise BackendEnvError(
            f"cannot store {variable} in the secret store ({type(exc).__name__}: {exc}); nothing was changed"
        ) from None

    def change(stdio: dict) -> None:
        env = stdio.get("env") or {}
        env.pop(variable, None)
        stdio["env"] = env
        names = list(stdio.get("secret_env") or [])
        if variable not in names:
            names.append(variable)
        stdio["secret_env"] = names

    try:
        _update(proxy_name, change)
    except BaseException:
        if not already:  # an entry config.json does not name would only be a stray secret
            _forget(proxy_name, variable)
        raise


def unset_env(proxy_name: str, variable: str) -> str:
    """Remove `variable` (plain or secret; a secret's value leaves the store). Returns "env" or
    "secret_env", whichever it was."""
    _check(variable)
    config = load_proxy_config(proxy_name)
    stdio = config.backend.stdio
    if stdio is None or (variable not in stdio.env and variable not in stdio.secret_env):
        configured = ", ".join([*(stdio.env if stdio else {}), *(stdio.secret_env if stdio else [])]) or "none"
        raise BackendEnvError(
            f"proxy {proxy_name!r} sets no environment variable {variable} (it sets: {configured}); "
            f"see 'mcp-acp proxy env {proxy_name} --list'"
        )
    kind = "secret_env" if variable in stdio.secret_env else "env"

    def change(block: dict) -> None:
        (block.get("env") or {}).pop(variable, None)
        block["secret_env"] = [name for name in block.get("secret_env") or [] if name != variable]

    _update(proxy_name, change)
    if kind == "secret_env":
        try:
            _store().delete(secret_env_key(proxy_name, variable))
        except Exception as exc:
            raise BackendEnvError(
                f"{variable} was removed from config.json, but its value could not be deleted from the "
                f"secret store ({type(exc).__name__}: {exc}); delete the entry "
                f"{secret_env_key(proxy_name, variable)!r} by hand"
            ) from None
    return kind


def list_env(proxy_name: str) -> EnvListing:
    """The plain values and the secret names (with whether each is stored), never a secret value."""
    stdio = load_proxy_config(proxy_name).backend.stdio
    if stdio is None:
        return EnvListing({}, {})
    stored = {}
    for variable in stdio.secret_env:
        try:
            stored[variable] = _store().get(secret_env_key(proxy_name, variable)) is not None
        except Exception as exc:
            raise BackendEnvError(f"cannot read the secret store ({type(exc).__name__}: {exc})") from None
    return EnvListing(dict(stdio.env), stored)


def _forget(proxy_name: str, variable: str) -> None:
    with suppress(Exception):  # best effort: the caller reports its own failure
        _store().delete(secret_env_key(proxy_name, variable))


def delete_secret_values(proxy_name: str, variables: list[str]) -> list[str]:
    """Delete the stored values of `variables` (a proxy being deleted); the names that were there.
    Raises on a store failure (the caller turns it into a warning)."""
    deleted = []
    for variable in variables:
        if env_name_problem(variable):
            continue  # from a hand-edited config: never used to build a key
        key = secret_env_key(proxy_name, variable)
        if _store().get(key) is not None:
            _store().delete(key)
            deleted.append(variable)
    return deleted
