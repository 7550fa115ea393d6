"""`export` in gateway.json: where audit entries are shipped (a SIEM over syslog or OTLP; docs/audit.md)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ExportSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
