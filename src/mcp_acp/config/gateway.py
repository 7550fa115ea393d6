"""gateway.json: how `mcp-acp serve` exposes the configured proxies to remote MCP clients
(docs/gateway.md). Absent, the gateway serves every proxy on 127.0.0.1 to the local user
only, like a STDIO proxy in local mode; anything beyond loopback needs an issuer (OAuth 2.1):
there is no unauthenticated remote access."""

from __future__ import annotations

import socket
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mcp_acp.config.checkpoints import CheckpointSettings
from mcp_acp.config.export import ExportSettings
from mcp_acp.config.models import LOOPBACK_HOSTS
from mcp_acp.config.shared_state import StateSettings


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _secure_url(value: str, what: str) -> str:
    host = urlsplit(value).hostname or ""
    if not (value.startswith("https://") or (value.startswith("http://") and host in LOOPBACK_HOSTS)):
        raise ValueError(f"{what} must be an https:// URL (http:// only on localhost)")
    return value.rstrip("/")


class GatewayAuth(_Strict):
    """The OAuth 2.1 authorization server whose access tokens the gateway accepts (RFC 9728)."""

    issuer: str
    # Where the issuer publishes its keys; read from its discovery document when absent.
    jwks_uri: str | None = None
    # Scopes every token must carry (403 insufficient_scope otherwise); also advertised.
    scopes_required: list[str] = Field(default_factory=list)
    # The audience tokens must name. Default: the endpoint's own resource URL (RFC 8707).
    audience: str | None = None

    @field_validator("issuer")
    @classmethod
    def _issuer(cls, value: str) -> str:
        return _secure_url(value, "the issuer")


class GatewayTls(_Strict):
    cert_file: str = Field(min_length=1)
    key_file: str = Field(min_length=1)
    # With a CA, every client must present a certificate it signed (mTLS).
    client_ca_file: str | None = None


class GatewayLimits(_Strict):
    max_body_bytes: int = Field(default=4 * 1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    requests_per_minute: int = Field(default=600, ge=1)  # per principal, per endpoint
    burst: int = Field(default=60, ge=1)
    # A client must send its headers and body within these (slowloris).
    header_timeout_seconds: float = Field(default=10, gt=0, le=300)
    body_timeout_seconds: float = Field(default=30, gt=0, le=600)
    max_connections: int = Field(default=1000, ge=1)


class GatewayProxy(_Strict):
    """Per proxy: one backend for everyone, or one per principal (for servers that hold a
    user's state or credentials)."""

    backend: Literal["shared", "per_principal"] = "shared"
    idle_seconds: float = Field(default=600, gt=0)  # an unused backend process is stopped after this


class GatewayConfig(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=8770, ge=1, le=65535)
    # The URL clients use (behind a reverse proxy, its public address). Default: http(s)://host:port.
    public_url: str | None = None
    auth: GatewayAuth | None = None
    tls: GatewayTls | None = None
    # Browser origins allowed to call the endpoints; requests without Origin (non-browser clients) pass.
    allowed_origins: list[str] = Field(default_factory=list)
    # Host header values accepted (DNS rebinding). Default: the host of public_url, and loopback names.
    allowed_hosts: list[str] = Field(default_factory=list)
    limits: GatewayLimits = Field(default_factory=GatewayLimits)
    # Which proxies to serve, with their settings; empty: every configured proxy, shared backends.
    proxies: dict[str, GatewayProxy] = Field(default_factory=dict)
    # Several replicas: each names itself (default: the host name) and shares `state`.
    replica_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
    state: StateSettings = Field(default_factory=StateSettings)
    checkpoints: CheckpointSettings = Field(default_factory=CheckpointSettings)
    export: ExportSettings | None = None

    @field_validator("public_url")
    @classmethod
    def _public(cls, value: str | None) -> str | None:
        return None if value is None else _secure_url(value, "public_url")

    @model_validator(mode="after")
    def _tls_off_loopback(self) -> GatewayConfig:
        # Bearer tokens in clear text over a network are stolen tokens.
        if self.host not in LOOPBACK_HOSTS and self.tls is None and not (self.public_url or "").startswith("https://"):
            raise ValueError(
                f"host {self.host!r} is not loopback: configure 'tls' (cert_file, key_file), or a public_url "
                "starting with https:// when a reverse proxy terminates TLS in front of the gateway"
            )
        if self.auth is None and self.host not in LOOPBACK_HOSTS:
            raise ValueError(
                f"host {self.host!r} is not loopback and no 'auth' is configured: remote clients must "
                "authenticate; add an 'auth' block with your identity provider's issuer"
            )
        return self

    @property
    def replica(self) -> str:
        return self.replica_id or socket.gethostname()

    @property
    def base_url(self) -> str:
        if self.public_url:
            return self.public_url
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    def resource_url(self, proxy: str) -> str:
        """The endpoint of one proxy: also the audience its tokens must name (RFC 8707)."""
        return f"{self.base_url}/mcp/{proxy}"

    def own_origins(self) -> set[str]:
        """The gateway's own origins (a same-origin browser request, which sends Origin too): its
        public URL's, and on a loopback bind each loopback name at its port. It serves no pages,
        so nothing a third party wrote runs under these origins."""
        public = urlsplit(self.base_url)
        origins = {f"{public.scheme}://{public.netloc}"}
        scheme = "https" if self.tls else "http"
        if self.host in LOOPBACK_HOSTS:
            origins.update(f"{scheme}://{'[::1]' if name == '::1' else name}:{self.port}" for name in LOOPBACK_HOSTS)
        return origins

    def host_names(self) -> set[str]:
        names = {*self.allowed_hosts, *LOOPBACK_HOSTS}
        if self.public_url:
            names.add(urlsplit(self.public_url).hostname or "")
        names.add(self.host)
        return names
