"""The OTLP/HTTP JSON payload of a batch."""

from __future__ import annotations

import orjson

from mcp_acp.audit.export.otlp import payload
from mcp_acp.audit.export.reader import Record


def test_payload_shape() -> None:
    entry = {"time": "2025-01-31T14:03:07.123Z", "sequence": 3, "entry_hash": "h", "decision": "deny"}
    body = payload([Record("files", "audit/decisions.jsonl", 3, orjson.dumps(entry), entry)], "replica-1")
    resource = body["resourceLogs"][0]
    assert {"key": "service.instance.id", "value": {"stringValue": "replica-1"}} in resource["resource"]["attributes"]
    (log,) = resource["scopeLogs"][0]["logRecords"]
    assert log["timeUnixNano"] == "1738332187123000000"
    assert (log["severityNumber"], log["severityText"]) == (10, "INFO2")
    assert orjson.loads(log["body"]["stringValue"]) == entry
    assert {"key": "mcp_acp.sequence", "value": {"intValue": "3"}} in log["attributes"]
