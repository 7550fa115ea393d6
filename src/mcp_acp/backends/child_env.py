"""The environment a STDIO backend is started with: a minimal base taken from the proxy's own
environment, plus what the proxy's config gives it (`backend.stdio.env`) and its secrets
(`backend.stdio.secret_env`, values in the secret store). Nothing else of the client's
environment (tokens, cloud credentials, other servers' settings) reaches the server."""

from __future__ import annotations

import os

from mcp_acp.config.models import StdioBackend
from mcp_acp.config.store import ConfigError

# What a program needs to run and find its tools, and nothing that identifies a service.
BASE_VARIABLES = ("PATH", "HOME", "USER", "LOGNAME", "SHELL", "TMPDIR", "TZ", "LANG", "LANGUAGE", "TERM")
BASE_PREFIXES = ("LC_",)


def secret_env_key(proxy_name: str, variable: str) -> str:
    """The secret-store entry holding one secret environment value of a proxy's backend."""
    return f"proxy:{proxy_name}:env:{variable}"


def base_environment(source: dict[str, str] | None = None) -> dict[str, str]:
    source = dict(os.environ) if source is None else source
    return {name: value for name, value in source.items() if name in BASE_VARIABLES or name.startswith(BASE_PREFIXES)}


def child_environment(proxy_name: str, stdio: StdioBackend) -> dict[str, str]:
    """Base + configured values + secrets. A secret that is missing from the store stops the
    start with a message saying how to set it (a server started without it would fail later,
    less clearly)."""
    environment = base_environment() | dict(stdio.env)
    if stdio.secret_env:
        from mcp_acp import secret_store  # imported late: the keyring backends are slow to load

        for variable in stdio.secret_env:
            value = secret_store.get(secret_env_key(proxy_name, variable))
            if value is None:
                raise ConfigError(
                    f"the secret environment value {variable} of proxy {proxy_name!r} is not in the "
                    f"secret store. Set it with 'mcp-acp proxy env {proxy_name} --secret-env {variable}'."
                )
            environment[variable] = value
    return environment
