"""`checkpoints` in gateway.json: how often a replica signs its chain heads (docs/audit.md)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class CheckpointSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    every_entries: int = Field(default=1000, ge=1)
    every_seconds: float = Field(default=60, gt=0)
