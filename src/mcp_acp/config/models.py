"""Pydantic models of manager.json and a proxy's config.json (docs/configuration.md). policy.json's model is the
policy engine's own (policy/model.py)."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from mcp_acp.config import paths

RESERVED_PROXY_NAMES = {"manager", "all", "default"}
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
_PROXY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


def proxy_name_problem(name: str) -> str | None:
    """Why `name` cannot be a proxy name, or None when it can."""
    if not _PROXY_NAME.fullmatch(name):
        return f"invalid proxy name {name!r}: use 1-64 letters, digits, '-' or '_', starting with a letter or digit"
    if name.lower() in RESERVED_PROXY_NAMES:
        return f"proxy name {name!r} is reserved; choose another"
    return None


def valid_proxy_name(name: str) -> str:
    """`name` when it can be a proxy name; else a ValueError saying why (for pydantic models)."""
    if problem := proxy_name_problem(name):
        raise ValueError(problem)
    return name


ProxyName = Annotated[str, AfterValidator(valid_proxy_name)]


def sanitize_server_name(server_name: str) -> str:
    slug = re.sub(r"[^a-z0-9-]", "", server_name.lower().replace(" ", "-"))
    return re.sub(r"-+", "-", slug).strip("-") or "backend"


def new_proxy_id(server_name: str) -> str:
    return f"px_{secrets.token_hex(4)}:{sanitize_server_name(server_name)}"


class _Strict(BaseModel):
    # Unknown keys are typos in a hand-edited file: reject them rather than ignore.
    model_config = ConfigDict(extra="forbid")


# --- manager.json -------------------------------------------------------------------


class OIDCConfig(_Strict):
    issuer: str
    client_id: str = Field(min_length=1)
    audience: str = Field(min_length=1)
    scopes: list[str] = Field(default_factory=lambda: ["openid", "profile", "email", "offline_access"])

    @field_validator("issuer")
    @classmethod
    def _https_issuer(cls, value: str) -> str:
        # Plain http only where nobody can listen in: a provider on this machine (development).
        host = urlsplit(value).hostname or ""
        if not (value.startswith("https://") or (value.startswith("http://") and host in LOOPBACK_HOSTS)):
            raise ValueError("the issuer must be an https:// URL (http:// only for a provider on localhost)")
        return value.rstrip("/")


class AuthConfig(_Strict):
    mode: Literal["local", "oidc"] = "local"
    oidc: OIDCConfig | None = None

    @model_validator(mode="after")
    def _oidc_needs_settings(self) -> AuthConfig:
        if self.mode == "oidc" and self.oidc is None:
            raise ValueError("mode 'oidc' needs an 'oidc' block with issuer, client_id and audience")
        return self

    @property
    def oidc_settings(self) -> OIDCConfig:
        """The `oidc` block, for code that runs in OIDC mode only (the validator above guarantees it)."""
        assert self.oidc is not None, "mode 'oidc' without an 'oidc' block"
        return self.oidc


class ManagerConfig(_Strict):
    ui_port: int = Field(default=8765, ge=1024, le=65535)
    log_dir: str = Field(default_factory=lambda: str(paths.default_log_dir()), min_length=1)
    auth: AuthConfig = Field(default_factory=AuthConfig)

    @property
    def log_path(self) -> Path:
        return Path(self.log_dir).expanduser()


# --- proxies/<name>/config.json --------------------------------------------------------


class Attestation(_Strict):
    """Checks a STDIO backend's binary must pass before it is spawned (docs/auth.md#binary-attestation-for-stdio-backends)."""

    expected_sha256: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{64}$")
    require_signature: bool = False  # macOS codesign; reported as skipped elsewhere
    # A GitHub user or organization (`gh attestation verify --owner`); never an option-like value.
    slsa_owner: str | None = Field(default=None, pattern=r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$")

    @field_validator("expected_sha256")
    @classmethod
    def _lowercase(cls, value: str | None) -> str | None:
        return value.lower() if value else value


EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=200)]


class StdioBackend(_Strict):
    command: str = Field(min_length=1)
    args: list[str] = Field(default_factory=list)
    attestation: Attestation | None = None
    # The backend's own environment, on top of a minimal base (backends/child_env.py): it does
    # not inherit the client's. Secret values live in the secret store; only their names are here.
    env: dict[EnvName, str] = Field(default_factory=dict, exclude_if=lambda value: not value)
    secret_env: list[EnvName] = Field(default_factory=list, exclude_if=lambda value: not value)

    @model_validator(mode="after")
    def _names_once(self) -> StdioBackend:
        both = set(self.env) & set(self.secret_env)
        if both:
            raise ValueError(f"{', '.join(sorted(both))} is in both 'env' and 'secret_env': keep one")
        return self


class HttpBackend(_Strict):
    url: str = Field(pattern=r"^https?://")
    timeout: int = Field(default=30, ge=1, le=300)
    # The secret-store entry of the API key (`proxy:<name>:backend`), never the key itself.
    credential_key: str | None = Field(default=None, min_length=1, max_length=200, pattern=r"^\S+$")


class BackendConfig(_Strict):
    server_name: str = Field(min_length=1)
    transport: Literal["stdio", "streamablehttp", "auto"] = "auto"
    stdio: StdioBackend | None = None
    http: HttpBackend | None = None

    @model_validator(mode="after")
    def _has_a_transport(self) -> BackendConfig:
        if self.stdio is None and self.http is None:
            raise ValueError("configure 'stdio' (command) or 'http' (url)")
        if self.transport == "stdio" and self.stdio is None:
            raise ValueError("transport 'stdio' needs a 'stdio' block with a command")
        if self.transport == "streamablehttp" and self.http is None:
            raise ValueError("transport 'streamablehttp' needs an 'http' block with a url")
        return self


class MTLSConfig(_Strict):
    """Client certificate for https:// backends: all three PEM files or no `mtls` block at all.
    The files stay on disk; `~` is expanded."""

    client_cert_path: str = Field(min_length=1)
    client_key_path: str = Field(min_length=1)
    ca_bundle_path: str = Field(min_length=1)

    @field_validator("client_cert_path", "client_key_path", "ca_bundle_path")
    @classmethod
    def _expand_home(cls, value: str) -> str:
        return str(Path(value).expanduser())


class HITLConfig(_Strict):
    timeout_seconds: int = Field(default=60, ge=5, le=300)
    default_on_timeout: Literal["deny"] = "deny"
    approval_ttl_seconds: int = Field(default=600, ge=300, le=900)


class LogRotationConfig(_Strict):
    """When a chained log's active file is sealed into a segment. The bound on its size is also
    the bound on a start's verification work (start-up re-reads only the active file)."""

    max_bytes: int = Field(default=8 * 1024 * 1024, ge=64 * 1024, le=1024 * 1024 * 1024)
    max_age_hours: float = Field(default=24.0, gt=0, le=24 * 366)
    compress: bool = True  # segments are gzip-compressed in the background


CallLimit = Annotated[int, Field(ge=1, le=1_000_000)]
ToolName = Annotated[str, Field(min_length=1)]


class LimitsConfig(BaseModel):
    """The `limits` block of a proxy's config.json (enforced by proxy/limits.py)."""

    # Unknown keys are typos in a hand-edited file: reject them rather than ignore.
    model_config = ConfigDict(extra="forbid")

    requests_per_second: float = Field(default=10.0, gt=0, le=100_000, allow_inf_nan=False)
    burst: int = Field(default=50, ge=1, le=1_000_000)
    # 120 a minute per tool: room for an agent reading a whole project, still a stop for a loop
    # that hammers one tool (docs/policies.md#limits).
    tool_calls_per_window: CallLimit = 120
    window_seconds: float = Field(default=60.0, ge=1, le=3600, allow_inf_nan=False)
    per_tool: dict[ToolName, CallLimit] = Field(default_factory=dict)


class ProxyConfig(_Strict):
    proxy_id: str = Field(pattern=r"^px_[0-9a-f]{8}:[a-z0-9-]+$")
    created_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat())
    backend: BackendConfig
    mtls: MTLSConfig | None = None
    hitl: HITLConfig = Field(default_factory=HITLConfig)
    log_level: Literal["DEBUG", "INFO"] = "INFO"
    # fsync every audit write (group-committed across concurrent requests) so entries survive
    # power loss, not only a process crash; see docs/audit.md for its cost.
    audit_durable: bool = False
    # Create an HMAC audit key at the first start when none exists (docs/audit.md, "The audit key").
    audit_key: bool = True
    log_rotation: LogRotationConfig = Field(default_factory=LogRotationConfig)
    include_payloads: bool = True
    # "filter": tools/resources/prompts the policy denies outright are left out of the lists the
    # model sees. "all" (the default): lists pass unchanged; every call is still decided.
    discovery: Literal["all", "filter"] = "all"
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    # The folders the server resolves relative paths against (absolute; `~` is expanded). The
    # official filesystem server's folders are learned from its command line without this.
    roots: list[str] = Field(default_factory=list)

    @field_validator("roots")
    @classmethod
    def _absolute_roots(cls, value: list[str]) -> list[str]:
        roots = [str(Path(root).expanduser()) for root in value]
        for root in roots:
            if not Path(root).is_absolute():
                raise ValueError(f"root {root!r} must be an absolute folder, such as /home/me/project")
        return roots
