"""The gateway's HTTP hygiene: Host and Origin allow-lists, the MCP routing headers against the
body (streamable-http.mdx "Server Validation"), and the per-principal token bucket."""

from __future__ import annotations

import base64
from collections.abc import Mapping

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from mcp_acp.gateway.http_checks import (
    HEADER_MISMATCH,
    KNOWN_VERSIONS,
    UNSUPPORTED_PROTOCOL_VERSION,
    HttpRefusal,
    check_host,
    check_origin,
    check_protocol_headers,
    rate_limited,
)

MODERN = "2026-07-28"
META = "io.modelcontextprotocol/protocolVersion"


def encode(value: str) -> str:
    """The client side of streamable-http.mdx "Value Encoding", written from the spec for this test:
    plain printable ASCII without edge whitespace and not sentinel-shaped goes as is; else base64."""
    plain = all(" " <= char <= "~" for char in value) and value == value.strip(" \t")
    sentinel_shaped = value.startswith("=?base64?") and value.endswith("?=")
    if plain and not sentinel_shaped:
        return value
    return "=?base64?" + base64.b64encode(value.encode("utf-8")).decode("ascii") + "?="


def modern(method: str, request_id: int | None = 1, version: str = MODERN, **params) -> dict:
    message = {"jsonrpc": "2.0", "method": method, "params": {**params, "_meta": {META: version}}}
    if request_id is not None:
        message["id"] = request_id
    return message


def legacy(method: str, **params) -> dict:
    return {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}


def refusal(call, *args) -> HttpRefusal:
    with pytest.raises(HttpRefusal) as caught:
        call(*args)
    return caught.value


# --- Host ------------------------------------------------------------------------------------

ALLOWED_HOSTS = {"127.0.0.1", "localhost", "::1", "MCP.Example.com"}


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "127.0.0.1:8770",
        "localhost",
        "LOCALHOST:1",
        "[::1]",
        "[::1]:8770",
        "mcp.example.com",
        " mcp.example.com:443 ",
    ],
)
def test_allowed_hosts_pass(host):
    check_host(host, ALLOWED_HOSTS)


@pytest.mark.parametrize(
    "host",
    [None, "", "evil.example.com", "evil.example.com:8770", "127.0.0.2", "::1", "[::1", "[::2]:80", "localhost:http",
     "localhost:123456", "localhost.", "local host", "mcp.example.com.evil.example", "user@localhost", "localhost\r\nX: y"],
)  # fmt: skip
def test_other_hosts_are_refused_403(host):
    refused = refusal(check_host, host, ALLOWED_HOSTS)
    assert refused.status == 403
    assert "\r" not in refused.message and "\n" not in refused.message
    assert refused.body()["error"]["code"] == -32000 and refused.body()["id"] is None


# --- Origin ----------------------------------------------------------------------------------

ALLOWED_ORIGINS = {"https://app.example.com", "http://localhost:3000", "https://[::1]:8443"}


@pytest.mark.parametrize(
    "origin",
    [None, "https://app.example.com", "https://APP.example.com", "https://app.example.com:443", "HTTPS://app.example.com/",
     "http://localhost:3000", "https://[::1]:8443"],
)  # fmt: skip
def test_allowed_or_absent_origins_pass(origin):
    check_origin(origin, ALLOWED_ORIGINS)


@pytest.mark.parametrize(
    "origin",
    ["null", "", "https://evil.example.com", "http://app.example.com", "https://app.example.com:8443", "http://localhost",
     "http://localhost:3001", "https://app.example.com/path", "https://user@app.example.com", "https://app.example.com?x",
     "file://", "javascript:alert(1)", "https://app.example.com.evil.example", "https://[::1]"],
)  # fmt: skip
def test_other_origins_are_refused_403(origin):
    assert refusal(check_origin, origin, ALLOWED_ORIGINS).status == 403


def test_no_allowed_origins_refuses_every_browser():
    check_origin(None, set())
    assert refusal(check_origin, "http://localhost:8770", set()).status == 403


# --- MCP headers against the body: modern requests -------------------------------------------


def headers_for(message: dict, **extra: str) -> dict[str, str]:
    headers = {"MCP-Protocol-Version": message["params"]["_meta"][META], "Mcp-Method": message["method"]}
    for method, key in (("tools/call", "name"), ("prompts/get", "name"), ("resources/read", "uri")):
        if message["method"] == method:
            headers["Mcp-Name"] = encode(message["params"][key])
    return {**headers, **extra}


@pytest.mark.parametrize(
    "message",
    [
        modern("tools/call", name="get_weather", arguments={"city": "Oslo"}),
        modern("prompts/get", name="Grüße"),
        modern("resources/read", uri="file:///projects/app/config.json"),
        modern("tools/list"),
        modern("server/discover"),
    ],
)
def test_a_modern_request_with_matching_headers_passes(message):
    check_protocol_headers(headers_for(message), message)
    # Header names are case-insensitive.
    check_protocol_headers({key.lower(): value for key, value in headers_for(message).items()}, message)


def mismatch(headers: Mapping[str, str], message: dict) -> HttpRefusal:
    refused = refusal(check_protocol_headers, headers, message)
    assert (refused.status, refused.code) == (400, HEADER_MISMATCH), refused.message
    assert refused.body(7) == {
        "jsonrpc": "2.0",
        "id": 7,
        "error": {"code": HEADER_MISMATCH, "message": refused.message},
    }
    return refused


@pytest.mark.parametrize("missing", ["MCP-Protocol-Version", "Mcp-Method", "Mcp-Name"])
def test_a_modern_request_missing_a_required_header_is_refused(missing):
    message = modern("tools/call", name="get_weather")
    headers = headers_for(message)
    del headers[missing]
    assert missing in mismatch(headers, message).message


def test_a_modern_request_whose_headers_disagree_is_refused_naming_both_values():
    message = modern("tools/call", name="get_weather")
    refused = mismatch(headers_for(message, **{"Mcp-Name": "delete_everything"}), message)
    assert (
        "Mcp-Name" in refused.message
        and "'delete_everything'" in refused.message
        and "'get_weather'" in refused.message
    )
    assert "Mcp-Method" in mismatch(headers_for(message, **{"Mcp-Method": "tools/list"}), message).message
    assert (
        "MCP-Protocol-Version"
        in mismatch(headers_for(message, **{"MCP-Protocol-Version": "2025-11-25"}), message).message
    )
    resource = modern("resources/read", uri="file:///a")
    assert "Mcp-Name" in mismatch(headers_for(resource, **{"Mcp-Name": "file:///b"}), resource).message


def test_an_unsupported_modern_version_gets_the_schema_error_shape():
    message = modern("server/discover", version="2099-01-01")
    refused = refusal(check_protocol_headers, headers_for(message), message)
    assert (refused.status, refused.code) == (400, UNSUPPORTED_PROTOCOL_VERSION)
    data = refused.body(1)["error"]["data"]
    # A modern request is told the modern versions only: the ones server/discover lists.
    assert data == {"supported": [MODERN], "requested": "2099-01-01"}
    assert set(data["supported"]) < set(KNOWN_VERSIONS)


@pytest.mark.parametrize(
    "value",
    ["get\x00weather", "get_weather\r\nX-Evil: 1", "gét_weather", "=?base64?not base64?=", "=?base64?Z2V0X3dlYXRoZXI?=",
     "=?base64?Z2V0X3dlYXRoZXJ=?=", "=?base64?/w==?=", "=?BASE64?Z2V0X3dlYXRoZXI=?="],
)  # fmt: skip
def test_bad_characters_or_encodings_in_mcp_name_are_refused(value):
    # Unpadded, non-canonical, non-UTF-8 (0xff) and upper-case sentinels are all refused.
    message = modern("tools/call", name="get_weather")
    refused = mismatch(headers_for(message, **{"Mcp-Name": value}), message)
    assert "\r" not in refused.message and "\n" not in refused.message and "\x00" not in refused.message


def test_the_sentinel_is_decoded_and_a_sentinel_shaped_name_must_be_encoded():
    message = modern("tools/call", name="=?base64?literal?=")
    check_protocol_headers(headers_for(message), message)  # encode() base64-encodes it
    mismatch(headers_for(message, **{"Mcp-Name": "=?base64?literal?="}), message)  # sent plain: it decodes to junk
    spaced = modern("prompts/get", name=" padded ")
    check_protocol_headers(headers_for(spaced), spaced)
    mismatch(headers_for(spaced, **{"Mcp-Name": " padded "}), spaced)  # HTTP strips the spaces: not the body's value


def test_only_mcp_name_may_use_the_sentinel():
    message = modern("tools/list")
    encoded = "=?base64?" + base64.b64encode(b"tools/list").decode() + "?="
    mismatch(headers_for(message, **{"Mcp-Method": encoded}), message)


def test_mcp_param_headers_are_checked_for_characters_and_encoding_only():
    message = modern("tools/call", name="execute_sql", arguments={"region": "us-west1"})
    check_protocol_headers(headers_for(message, **{"Mcp-Param-Region": "us-west1"}), message)
    # The tool's schema is not known here: a different value is the body's business, not a refusal.
    check_protocol_headers(headers_for(message, **{"Mcp-Param-Region": encode("Grüße")}), message)
    mismatch(headers_for(message, **{"Mcp-Param-Region": "us\x7fwest"}), message)
    mismatch(headers_for(message, **{"Mcp-Param-Region": "=?base64?!!?="}), message)


def test_a_header_sent_twice_is_refused():
    message = modern("tools/list")
    mismatch({**headers_for(message), "mcp-method": "tools/list"}, message)


def test_a_modern_notification_needs_no_method_header_but_one_sent_must_agree():
    note = modern("notifications/cancelled", request_id=None, requestId=1)
    check_protocol_headers({"MCP-Protocol-Version": MODERN}, note)
    check_protocol_headers({"MCP-Protocol-Version": MODERN, "Mcp-Method": "notifications/cancelled"}, note)
    mismatch({"MCP-Protocol-Version": MODERN, "Mcp-Method": "tools/call"}, note)


# --- 2025-era requests ------------------------------------------------------------------------


@pytest.mark.parametrize("version", [None, "2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"])
def test_a_legacy_request_passes_with_or_without_a_known_version(version):
    headers = {} if version is None else {"MCP-Protocol-Version": version}
    check_protocol_headers(headers, legacy("initialize", protocolVersion="2025-11-25"))
    check_protocol_headers(
        {**headers, "Mcp-Method": "tools/call", "Mcp-Name": "echo"}, legacy("tools/call", name="echo")
    )


def test_a_legacy_request_with_an_unknown_version_is_refused():
    refused = refusal(check_protocol_headers, {"MCP-Protocol-Version": "2023-01-01"}, legacy("tools/list"))
    assert (refused.status, refused.code) == (400, UNSUPPORTED_PROTOCOL_VERSION)
    assert refused.data["requested"] == "2023-01-01"


def test_a_legacy_request_whose_headers_disagree_is_still_refused():
    mismatch({"Mcp-Method": "tools/list"}, legacy("tools/call", name="echo"))
    mismatch({"Mcp-Name": "other"}, legacy("tools/call", name="echo"))
    # A modern version header on a request whose body carries no envelope: the request is
    # incomplete for that revision (invalid params, as its servers answer it), still a 400.
    refused = refusal(check_protocol_headers, {"MCP-Protocol-Version": MODERN}, legacy("tools/list"))
    assert (refused.status, refused.code) == (400, -32602)


def test_a_response_posted_by_a_legacy_client_passes_unless_it_claims_a_method():
    response = {"jsonrpc": "2.0", "id": 3, "result": {}}
    check_protocol_headers({"MCP-Protocol-Version": "2025-11-25"}, response)
    mismatch({"Mcp-Method": "tools/call"}, response)


# --- the property: a correct encoding always passes, any other body value always fails ------


@given(name=st.text(), other=st.text())
def test_any_name_correctly_encoded_passes_and_a_different_body_fails(name, other):
    for method in ("tools/call", "prompts/get"):
        message = modern(method, name=name)
        headers = headers_for(message)
        check_protocol_headers(headers, message)
        assume(other != name)
        with pytest.raises(HttpRefusal) as caught:
            check_protocol_headers(headers, modern(method, name=other))
        assert caught.value.code == HEADER_MISMATCH


@given(uri=st.text(min_size=1))
def test_any_uri_correctly_encoded_passes_in_the_legacy_era_too(uri):
    check_protocol_headers({"Mcp-Name": encode(uri)}, legacy("resources/read", uri=uri))


@given(value=st.text())
def test_no_refusal_message_carries_a_control_character(value):
    message = modern("tools/call", name="x")
    try:
        check_protocol_headers(headers_for(message, **{"Mcp-Name": value}), message)
    except HttpRefusal as refused:
        assert all(" " <= char <= "~" for char in refused.message)


# --- rate limit -------------------------------------------------------------------------------


def test_rate_limited_is_a_429_with_retry_after():
    refused = rate_limited(0.2)
    assert refused.status == 429 and refused.headers == {"Retry-After": "1"}
    assert rate_limited(4.5).headers == {"Retry-After": "5"}


def test_starlette_headers_as_the_front_passes_them():
    # The front hands over Starlette's Headers: repeated fields and raw non-ASCII bytes (latin-1).
    from starlette.datastructures import Headers

    message = modern("tools/call", name="get_weather")
    base = [(b"mcp-protocol-version", MODERN.encode()), (b"mcp-method", b"tools/call")]
    check_protocol_headers(Headers(raw=[*base, (b"mcp-name", b"get_weather")]), message)
    mismatch(Headers(raw=[*base, (b"mcp-name", b"get_weather"), (b"mcp-name", b"delete_all")]), message)
    mismatch(Headers(raw=[*base, (b"mcp-name", "get_weather\u00e9".encode("latin-1"))]), message)
