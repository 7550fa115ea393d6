"""OTLP logs over HTTP with JSON (`POST …/v1/logs`): no extra dependency, and the collector's
2xx answer is the acknowledgement, so an entry is never counted as sent before it was taken."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from mcp_acp.audit.export.reader import Record
from mcp_acp.audit.export.syslog import SendError, severity
from mcp_acp.config.export import OtlpSettings

# syslog severity -> OTLP SeverityNumber (the first of each range of the data model)
_OTLP_SEVERITY = {
    7: (5, "DEBUG"),
    6: (9, "INFO"),
    5: (10, "INFO2"),
    4: (13, "WARN"),
    3: (17, "ERROR"),
    2: (21, "FATAL"),
}


def _nanos(value: object) -> str:
    if isinstance(value, str):
        try:
            return str(int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1_000_000) * 1000)
        except ValueError:
            pass
    return "0"


def _text(key: str, value: object) -> dict[str, Any]:
    return {"key": key, "value": {"stringValue": str(value)}}


def log_record(record: Record) -> dict[str, Any]:
    number, text = _OTLP_SEVERITY.get(severity(record.entry), (9, "INFO"))
    return {
        "timeUnixNano": _nanos(record.entry.get("time")),
        "severityNumber": number,
        "severityText": text,
        "body": {"stringValue": record.line.decode("utf-8", errors="replace")},
        "attributes": [
            _text("mcp_acp.proxy", record.proxy),
            _text("mcp_acp.file", record.rel),
            {"key": "mcp_acp.sequence", "value": {"intValue": str(record.sequence)}},
            _text("mcp_acp.entry_hash", record.entry.get("entry_hash", "")),
        ],
    }


def payload(batch: list[Record], replica: str) -> dict[str, Any]:
    return {
        "resourceLogs": [
            {
                "resource": {"attributes": [_text("service.name", "mcp-acp"), _text("service.instance.id", replica)]},
                "scopeLogs": [{"scope": {"name": "mcp_acp.audit"}, "logRecords": [log_record(r) for r in batch]}],
            }
        ]
    }


class OtlpSender:
    resend_on_reconnect = 0  # the 2xx answer is an acknowledgement: nothing to send again

    def __init__(self, settings: OtlpSettings, replica: str) -> None:
        self.settings = settings
        self.replica = replica
        self.name = "otlp-" + "".join(c if c.isalnum() else "_" for c in settings.endpoint.split("://", 1)[-1])
        self._client = httpx.Client(timeout=settings.timeout_seconds, headers=settings.headers)

    def describe(self) -> str:
        return f"OTLP endpoint {self.settings.endpoint}"

    def send(self, batch: list[Record]) -> None:
        try:
            response = self._client.post(self.settings.endpoint, json=payload(batch, self.replica))
        except httpx.HTTPError as exc:
            raise SendError(
                f"cannot reach it: {exc}; check that the collector runs there, and 'export.otlp.endpoint'"
            ) from None
        if not response.is_success:
            hint = " (check 'export.otlp.headers': credentials)" if response.status_code in (401, 403) else ""
            raise SendError(
                f"the collector refused the batch: HTTP {response.status_code} {response.text[:200]!r}{hint}"
            )

    def close(self) -> None:
        self._client.close()
