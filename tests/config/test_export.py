"""`export` settings: where audit entries are shipped (docs/audit.md)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from mcp_acp.config.export import ExportSettings
from mcp_acp.config.gateway import GatewayConfig


def test_syslog_and_otlp() -> None:
    settings = ExportSettings.model_validate(
        {
            "syslog": {"host": "siem", "port": 6514, "tls": {"ca_file": "/ca.pem"}},
            "otlp": {"endpoint": "https://otel:4318/", "headers": {"Authorization": "Bearer x"}},
        }
    )
    assert settings.syslog is not None and settings.syslog.facility == 22
    assert settings.otlp is not None and settings.otlp.endpoint == "https://otel:4318/v1/logs"
    assert GatewayConfig.model_validate({"export": {"otlp": {"endpoint": "http://c/v1/logs"}}}).export is not None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({}, "configure 'syslog' and/or 'otlp'"),
        ({"otlp": {"endpoint": "otel:4318"}}, "http:// or https://"),
        ({"syslog": {"host": "s", "tls": {"ca_file": "c", "cert_file": "x"}}}, "both cert_file and key_file"),
        ({"syslog": {"host": "s", "port": 0}}, "greater than or equal to 1"),
        ({"syslog": {"host": "s"}, "batch": 5}, "Extra inputs"),
    ],
)
def test_refused(value: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ExportSettings.model_validate(value)
