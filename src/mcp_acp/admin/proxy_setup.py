"""Creating a proxy (`proxy add` in docs/cli.md#mcp-acp-proxy-add-name, `POST /api/manager/proxies`
in docs/manager.md#the-managers-routes): validate the
settings, check the backend, write config.json, a deny-all policy.json and the API key.

Shared by the CLI and the manager API, so it never prompts or prints: problems are exceptions,
and what the user should still hear about comes back as `notes`. Messages name the CLI flags
(`--url`); the API spells them as its body fields.
"""

from __future__ import annotations

import asyncio
import shutil
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import ValidationError

from mcp_acp.admin.api_key import ApiKeyError, store_api_key
from mcp_acp.backends import BackendError
from mcp_acp.backends.credentials import api_key_problem, credential_key
from mcp_acp.config import paths
from mcp_acp.config.models import (
    Attestation,
    BackendConfig,
    HttpBackend,
    MTLSConfig,
    ProxyConfig,
    StdioBackend,
    new_proxy_id,
    proxy_name_problem,
)
from mcp_acp.config.store import (
    ConfigError,
    ensure_private_dir,
    list_proxy_names,
    load_proxy_config,
    save_model,
    validation_problems,
)
from mcp_acp.policy.model import Policy

# What the user may say (the CLI says `http`) -> the config's transport.
TRANSPORTS = {"stdio": "stdio", "http": "streamablehttp", "auto": "auto"}


class ProxySetupError(Exception):
    """The proxy was not created; the message says why and what to do."""


class InvalidSettings(ProxySetupError):
    pass


class ProxyExists(ProxySetupError):
    pass


class BackendUnreachable(ProxySetupError):
    """The HTTP backend failed the handshake; creating it anyway is the caller's choice."""


class BackendCommandMissing(BackendUnreachable):
    """The STDIO backend's command is not there (yet): `start` would fail the same way."""


class BackendDuplicate(ProxySetupError):
    def __init__(self, message: str, existing: str) -> None:
        super().__init__(message)
        self.existing = existing


class CreationFailed(ProxySetupError):
    """Valid settings, but writing the files or the API key failed."""


@dataclass
class CreatedProxy:
    name: str
    config: ProxyConfig
    notes: list[tuple[str, str]] = field(default_factory=list)  # ("ok" | "warning", text)

    @property
    def config_path(self) -> Path:
        return paths.proxy_config_path(self.name)

    @property
    def policy_path(self) -> Path:
        return paths.proxy_policy_path(self.name)


def check_new_name(name: str) -> None:
    if problem := proxy_name_problem(name):
        raise InvalidSettings(problem)
    if paths.proxy_config_dir(name).exists():
        raise ProxyExists(
            f"a proxy named {name!r} already exists; choose another name (see 'mcp-acp proxy show {name}')."
        )


def create_proxy(
    name: str,
    server_name: str,
    command: str | None = None,
    args: tuple[str, ...] | list[str] = (),
    url: str | None = None,
    transport: str | None = None,
    timeout: int = 30,
    api_key: str | None = None,
    mtls_cert: str | None = None,
    mtls_key: str | None = None,
    mtls_ca: str | None = None,
    attestation_sha256: str | None = None,
    attestation_slsa_owner: str | None = None,
    attestation_require_signature: bool = False,
    skip_health_check: bool = False,
    check_duplicate_backend: bool = False,
    roots: tuple[str, ...] | list[str] = (),
    env: dict[str, str] | None = None,
    secret_env: dict[str, str] | None = None,
) -> CreatedProxy:
    """Create the proxy, or raise a ProxySetupError subclass having written nothing.

    Blocking (file I/O, a hash, an HTTP handshake): async callers run it in a thread."""
    check_new_name(name)
    if not command and not url:
        raise InvalidSettings("say how to reach the backend: pass --command (STDIO) or --url (HTTP).")
    if command and "/" in command:
        # MCP clients neither expand ~ nor launch us from this folder: store an absolute path.
        command = str(Path(command).expanduser().absolute())
    if url and (problem := _url_problem(url)):
        raise InvalidSettings(problem)
    if api_key is not None:
        if not url:
            raise InvalidSettings("an API key is for HTTP backends: pass --url too.")
        if problem := api_key_problem(api_key):
            raise InvalidSettings(f"{problem}.")
    env, secret_env = dict(env or {}), dict(secret_env or {})
    _check_environment(env, secret_env, command)
    notes: list[tuple[str, str]] = []
    mtls = _mtls_settings(mtls_cert, mtls_key, mtls_ca, url, notes)
    attestation = _attestation_settings(
        attestation_sha256, attestation_slsa_owner, attestation_require_signature, command, notes
    )
    try:
        backend = BackendConfig(
            server_name=server_name,
            transport=TRANSPORTS.get(transport, transport)  # pyright: ignore[reportArgumentType]  pydantic checks the user's word
            if transport
            else ("auto" if command and url else "stdio" if command else "streamablehttp"),
            stdio=StdioBackend(
                command=command, args=list(args), attestation=attestation, env=env, secret_env=list(secret_env)
            )
            if command
            else None,
            http=HttpBackend(url=url, timeout=timeout, credential_key=credential_key(name) if api_key else None)
            if url
            else None,
        )
        config = ProxyConfig(proxy_id=new_proxy_id(server_name), backend=backend, mtls=mtls, roots=list(roots))
    except ValidationError as exc:
        raise InvalidSettings(f"invalid proxy settings: {'; '.join(validation_problems(exc))}") from None
    except ValueError as exc:
        raise InvalidSettings(f"invalid proxy settings: {exc}") from None
    if check_duplicate_backend:
        _refuse_duplicate(backend)
    if command and not skip_health_check:
        _check_command(command)
    if url and not skip_health_check:
        _check_http(url, timeout, mtls, api_key, name)
        notes.append(("ok", f"{url} answered the MCP handshake"))
    _save(name, config, api_key, secret_env)
    return CreatedProxy(name, config, notes)


def _check_environment(env: dict[str, str], secret_env: dict[str, str], command: str | None) -> None:
    from mcp_acp.admin.backend_env import env_name_problem, env_value_problem

    if (env or secret_env) and not command:
        raise InvalidSettings(
            "--env and --secret-env set a STDIO backend's environment: pass --command too (an HTTP "
            "backend's API key goes in with --api-key-stdin)."
        )
    for variable, value in [*env.items(), *secret_env.items()]:
        if problem := env_name_problem(variable) or env_value_problem(variable, value):
            raise InvalidSettings(f"{problem}.")
    for variable, value in secret_env.items():
        if not value:
            raise InvalidSettings(f"the secret value of {variable} is empty: give it a value, or leave it out.")
    if both := sorted(set(env) & set(secret_env)):
        raise InvalidSettings(f"{', '.join(both)} is given with both --env and --secret-env: keep one.")


def _url_problem(url: str) -> str | None:
    """Why `url` cannot be a backend URL, in words that say what to pass instead (None: it can)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  raises on a port that is not a number
    except ValueError:
        parts = None
    if parts and parts.scheme.lower() in ("http", "https") and parts.hostname and not any(c.isspace() for c in url):
        return None
    return f"--url {url!r} is not a backend URL: pass an http:// or https:// URL such as https://host/mcp."


def _check_command(command: str) -> None:
    """The lookup `start` makes (backends.stdio.resolve_command), made now so a typo shows at once."""
    from mcp_acp.backends.stdio import resolve_command

    try:
        resolve_command(command)
    except BackendError:
        where = "" if "/" in command else " on PATH"
        raise BackendCommandMissing(
            f"backend command {command!r} was not found{where} or is not executable, so 'mcp-acp start' "
            "would fail: install it first (npx and node come with Node.js, uvx with uv), or pass its "
            "full path with --command."
        ) from None


def _mtls_settings(
    cert: str | None, key: str | None, ca: str | None, url: str | None, notes: list
) -> MTLSConfig | None:
    """All three files or none; paths stored absolute; checked now as they will be at start."""
    from mcp_acp.backends.tls import MTLSError, check_mtls, expand

    given = [value for value in (cert, key, ca) if value]
    if not given:
        return None
    if not (cert and key and ca):
        raise InvalidSettings("--mtls-cert, --mtls-key and --mtls-ca go together: pass all three or none.")
    if not url:
        raise InvalidSettings("mTLS is for HTTP backends: pass --url https://… with --mtls-cert/--mtls-key/--mtls-ca.")
    if not url.lower().startswith("https://"):
        raise InvalidSettings(
            f"mTLS only applies to https:// URLs, and {url} is not one: use https:// or drop the --mtls-* flags."
        )
    mtls = MTLSConfig(client_cert_path=expand(cert), client_key_path=expand(key), ca_bundle_path=expand(ca))
    try:
        status = check_mtls(mtls)
    except MTLSError as exc:
        raise InvalidSettings(str(exc)) from None
    if status.level in ("warning", "critical"):
        notes.append(("warning", status.message))
    else:
        notes.append(
            (
                "ok",
                (
                    f"client certificate {status.subject}, valid until {status.not_after:%Y-%m-%d} "
                    f"({status.days_left} days)"
                ),
            )
        )
    return mtls


def _attestation_settings(
    sha256: str | None, slsa_owner: str | None, require_signature: bool, command: str | None, notes: list
) -> Attestation | None:
    from mcp_acp.backends.attestation import (
        AttestationError,
        resolve_binary,
        sha256_file,
    )

    if not (sha256 or slsa_owner or require_signature):
        return None
    if not command:
        raise InvalidSettings(
            "attestation checks a STDIO backend's binary: pass --command with the --attestation-* flags."
        )
    try:
        attestation = Attestation(expected_sha256=sha256, slsa_owner=slsa_owner, require_signature=require_signature)
    except ValueError as exc:
        raise InvalidSettings(f"invalid attestation settings: {exc}") from None
    if attestation.expected_sha256:
        try:
            path = resolve_binary(command)
            actual = sha256_file(path)
        except AttestationError:
            notes.append(
                (
                    "warning",
                    (
                        f"{command!r} is not installed yet, so its hash was not checked; the "
                        "proxy checks it at every start."
                    ),
                )
            )
        else:
            if actual != attestation.expected_sha256:
                raise InvalidSettings(
                    f"{path} does not match --attestation-sha256: expected "
                    f"{attestation.expected_sha256}, actual {actual}."
                )
            notes.append(("ok", f"{path} matches the expected SHA-256"))
    if attestation.slsa_owner and shutil.which("gh") is None:
        notes.append(
            (
                "warning",
                (
                    "--attestation-slsa-owner needs the GitHub CLI 'gh', which is not installed: "
                    "the proxy will refuse to start until it is."
                ),
            )
        )
    return attestation


def _check_http(url: str, timeout: int, mtls: MTLSConfig | None, api_key: str | None, name: str) -> None:
    """An MCP handshake with the settings the proxy will use (client certificate, API key)."""
    from mcp_acp.backends.http_probe import probe  # only HTTP needs it
    from mcp_acp.backends.tls import client_ssl_context

    headers = {"Authorization": f"Bearer {api_key}"} if api_key else None
    try:
        verify = client_ssl_context(mtls=mtls) if mtls else None
        asyncio.run(
            probe(
                url,
                min(timeout, 10),
                verify=verify,
                headers=headers,
                client_cert=mtls.client_cert_path if mtls else None,
                proxy_name=name,
            )
        )
    except BackendError as exc:
        raise BackendUnreachable(f"{url} did not answer the MCP handshake: {exc}") from None


def _backend_key(backend: BackendConfig) -> set[tuple]:
    keys = set()
    if backend.stdio:
        keys.add(("command", backend.stdio.command, tuple(backend.stdio.args)))
    if backend.http:
        keys.add(("url", backend.http.url.rstrip("/")))
    return keys


def _refuse_duplicate(backend: BackendConfig) -> None:
    wanted = _backend_key(backend)
    for other in list_proxy_names():
        try:
            existing = load_proxy_config(other).backend
        except ConfigError:
            continue  # a broken config is reported elsewhere; it backs nothing
        if wanted & _backend_key(existing):
            raise BackendDuplicate(
                f"proxy {other!r} already uses this backend; to add a second proxy for it "
                "anyway, set skip_duplicate_check.",
                other,
            )


def _save(name: str, config: ProxyConfig, api_key: str | None, secret_env: dict[str, str]) -> None:
    folder = paths.proxy_config_dir(name)
    ensure_private_dir(folder.parent)
    try:
        folder.mkdir(mode=0o700)  # claims the name: two concurrent creations cannot both win
    except FileExistsError:
        raise ProxyExists(f"a proxy named {name!r} already exists; choose another name.") from None
    try:
        if api_key:
            try:
                store_api_key(name, api_key)
            except ApiKeyError as exc:
                raise CreationFailed(f"{exc}.") from None
        _store_secret_env(name, secret_env)
        save_model(paths.proxy_config_path(name), config)
        save_model(paths.proxy_policy_path(name), Policy())
    except BaseException as exc:
        shutil.rmtree(folder, ignore_errors=True)  # a half-made proxy would block its own name
        _forget_secret_env(name, secret_env)
        if isinstance(exc, OSError):
            raise CreationFailed(
                f"cannot write the files of proxy {name!r} in {folder}: {exc.strerror or exc}"
            ) from None
        raise


def _store_secret_env(name: str, secret_env: dict[str, str]) -> None:
    from mcp_acp import secret_store
    from mcp_acp.backends.child_env import secret_env_key

    for variable, value in secret_env.items():
        try:
            secret_store.put(secret_env_key(name, variable), value)
        except Exception as exc:  # keyring and file-store failures vary by platform
            raise CreationFailed(
                f"cannot store the secret value of {variable} in the secret store ({type(exc).__name__}: {exc})."
            ) from None


def _forget_secret_env(name: str, secret_env: dict[str, str]) -> None:
    from mcp_acp import secret_store
    from mcp_acp.backends.child_env import secret_env_key

    for variable in secret_env:
        with suppress(Exception):  # best effort: the creation's own error is what the user sees
            secret_store.delete(secret_env_key(name, variable))
