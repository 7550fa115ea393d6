"""`export` in gateway.json (or a file given to `mcp-acp audit export --config`): where audit
entries are shipped, a SIEM over syslog (RFC 5424 over TCP, optionally TLS) and/or OTLP logs
over HTTP (docs/audit.md, "Shipping the audit trail to a SIEM")."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SyslogTls(_Strict):
    """RFC 5425: the receiver's certificate is checked against `ca_file` and the host name;
    `cert_file`/`key_file` present a client certificate when the receiver asks for one."""

    ca_file: str = Field(min_length=1)
    cert_file: str | None = None
    key_file: str | None = None

    @model_validator(mode="after")
    def _pair(self) -> SyslogTls:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("syslog tls: give both cert_file and key_file, or neither")
        return self


class SyslogSettings(_Strict):
    host: str = Field(min_length=1)
    port: int = Field(default=514, ge=1, le=65535)
    tls: SyslogTls | None = None
    facility: int = Field(default=22, ge=0, le=23)  # local6, as in the imfile example of docs/audit.md
    # Plain TCP syslog has no acknowledgement: after a broken connection the last entries of each
    # log are sent again (at-least-once; `sequence` is the dedupe key).
    resend_on_reconnect: int = Field(default=10_000, ge=0)


class OtlpSettings(_Strict):
    # The collector's base URL (…:4318) or its full logs URL (…/v1/logs); OTLP/HTTP with JSON.
    endpoint: str = Field(min_length=1)
    headers: dict[str, str] = Field(default_factory=dict)
    timeout_seconds: float = Field(default=10.0, gt=0, le=300)

    @field_validator("endpoint")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("otlp endpoint must be an http:// or https:// URL")
        value = value.rstrip("/")
        return value if value.endswith("/v1/logs") else value + "/v1/logs"


class ExportSettings(_Strict):
    syslog: SyslogSettings | None = None
    otlp: OtlpSettings | None = None
    batch_size: int = Field(default=500, ge=1, le=10_000)
    poll_seconds: float = Field(default=0.2, gt=0, le=60)
    max_backoff_seconds: float = Field(default=30.0, gt=0, le=3600)
    # Where the cursors (how far each destination got in each log) are kept.
    # Default: <log_dir>/mcp-acp/export/.
    state_dir: str | None = None

    @model_validator(mode="after")
    def _somewhere(self) -> ExportSettings:
        if self.syslog is None and self.otlp is None:
            raise ValueError("export: configure 'syslog' and/or 'otlp'")
        return self
