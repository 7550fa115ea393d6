"""`state` in gateway.json: where replicas keep what they must agree on (docs/scale.md)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, field_validator


class StateSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # None: in this process (one gateway). redis:// or rediss:// (TLS): Redis or Valkey, shared by replicas.
    url: str | None = None

    @field_validator("url")
    @classmethod
    def _scheme(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("redis://", "rediss://")):
            raise ValueError("state.url must start with redis:// or rediss:// (Redis or Valkey)")
        return value
