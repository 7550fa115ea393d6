"""gateway.json: safe defaults, and no configuration that would expose tokens or anonymous access."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from mcp_acp.config.gateway import GatewayConfig

ISSUER = {"issuer": "https://idp.example.com"}


def test_the_default_is_a_loopback_gateway_for_the_local_user() -> None:
    config = GatewayConfig()
    assert (config.host, config.port, config.auth) == ("127.0.0.1", 8770, None)
    assert config.resource_url("files") == "http://127.0.0.1:8770/mcp/files"
    assert {"127.0.0.1", "localhost", "::1"} <= config.host_names()


def test_beyond_loopback_there_is_no_anonymous_access_and_no_clear_text_tokens() -> None:
    with pytest.raises(ValidationError, match="no 'auth' is configured"):
        GatewayConfig.model_validate({"host": "0.0.0.0", "public_url": "https://mcp.example.com"})
    with pytest.raises(ValidationError, match="configure 'tls'"):
        GatewayConfig.model_validate({"host": "0.0.0.0", "auth": ISSUER})
    behind_tls_proxy = GatewayConfig.model_validate(
        {"host": "0.0.0.0", "auth": ISSUER, "public_url": "https://mcp.example.com/"}
    )
    assert behind_tls_proxy.resource_url("files") == "https://mcp.example.com/mcp/files"
    assert "mcp.example.com" in behind_tls_proxy.host_names()


def test_the_issuer_and_public_url_must_be_https_off_this_machine() -> None:
    with pytest.raises(ValidationError, match="https"):
        GatewayConfig.model_validate({"auth": {"issuer": "http://idp.example.com"}})
    with pytest.raises(ValidationError, match="https"):
        GatewayConfig.model_validate({"public_url": "http://mcp.example.com"})
    assert GatewayConfig.model_validate({"auth": {"issuer": "http://127.0.0.1:9000/"}}).auth.issuer.endswith(":9000")  # type: ignore[union-attr]


def test_typos_are_errors() -> None:
    with pytest.raises(ValidationError, match="extra"):
        GatewayConfig.model_validate({"prot": 1})


def test_the_state_url_must_name_redis() -> None:
    with pytest.raises(ValidationError, match="redis://"):
        GatewayConfig.model_validate({"state": {"url": "http://cache:6379"}})
    assert (
        GatewayConfig.model_validate({"state": {"url": "rediss://cache:6380/0"}}).state.url == "rediss://cache:6380/0"
    )


def test_a_replica_names_itself_or_takes_the_host_name() -> None:
    assert GatewayConfig.model_validate({"replica_id": "gw-1"}).replica == "gw-1"
    assert GatewayConfig().replica
    with pytest.raises(ValidationError):
        GatewayConfig.model_validate({"replica_id": "../etc"})
