"""The proxy-to-manager registration protocol (localhttp/protocol.py): one compact JSON line per
message, decoding that never raises, and registrations accepted or refused with their reason."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mcp_acp.localhttp import protocol

# --------------------------------------------------------------------------- the registration protocol


def registration(**changes) -> dict:
    message = {
        "type": "register",
        "proxy_name": "p1",
        "proxy_id": "px_0123abcd:fixture",
        "instance_id": "a1b2c3",
        "config_summary": {"backend_id": "fixture", "transport": "stdio", "api_port": None},
        "socket_path": "/run/mcp-acp/proxy_p1.sock",
    }
    message.update(changes)
    return {key: value for key, value in message.items() if value is not None}


def test_encode_is_one_compact_line_and_decodes_back():
    message = {"type": "event", "event_type": "stats_updated", "data": {"a": [1, 2], "b": "é"}}
    line = protocol.encode(message)
    assert line.endswith(b"\n") and line.count(b"\n") == 1 and b": " not in line
    assert protocol.decode(line) == message


@pytest.mark.parametrize(
    "line",
    [
        b"",
        b"\n",
        b"not json\n",
        b"[1, 2]\n",
        b'"register"\n',
        b"{}\n",
        b'{"type": 1}\n',
        b'{"type": null}\n',
        b"\xff\xfe\n",
        b'{"type": "x"',
    ],
)
def test_decode_refuses_what_is_not_a_typed_json_object(line):
    assert protocol.decode(line) is None


@given(st.binary(max_size=256))
def test_decode_never_raises(line):
    result = protocol.decode(line)
    assert result is None or isinstance(result["type"], str)


def test_a_valid_registration_is_accepted():
    parsed, problem = protocol.parse_register(registration(extra_field="ignored"))
    assert problem is None
    assert (parsed.proxy_name, parsed.proxy_id, parsed.instance_id) == ("p1", "px_0123abcd:fixture", "a1b2c3")
    assert parsed.socket_path == "/run/mcp-acp/proxy_p1.sock"
    assert parsed.config_summary["backend_id"] == "fixture"


@pytest.mark.parametrize(
    ("message", "mentions"),
    [
        (None, "invalid JSON"),
        (registration(type="event"), "register"),
        (registration(proxy_id=None), "proxy_id"),
        (registration(instance_id=None), "instance_id"),
        (registration(proxy_name=None), "proxy_name"),
        (registration(socket_path=None), "socket_path"),
        (registration(socket_path=""), "socket_path"),
        (registration(instance_id=""), "instance_id"),
        (registration(instance_id="x" * 65), "instance_id"),
        (registration(proxy_id="px_0123abcd"), "proxy_id"),
        (registration(proxy_id="px_XYZ:fixture"), "proxy_id"),
        (registration(proxy_id="px_0123abcd:../etc"), "proxy_id"),
        (registration(proxy_name="../etc"), "proxy_name"),
        (registration(proxy_name="a/b"), "proxy_name"),
        (registration(proxy_name=""), "proxy_name"),
        (registration(proxy_name="x" * 65), "proxy_name"),
        (registration(proxy_name="manager"), "reserved"),
        (registration(proxy_name=["p1"]), "proxy_name"),
        (registration(config_summary="nope"), "config_summary"),
    ],
)
def test_a_bad_registration_is_refused_with_its_reason(message, mentions):
    parsed, problem = protocol.parse_register(message)
    assert parsed is None
    assert mentions in problem, problem


@given(
    st.dictionaries(
        st.sampled_from(["type", "proxy_name", "proxy_id", "instance_id", "socket_path", "config_summary", "other"]),
        st.one_of(
            st.none(),
            st.booleans(),
            st.integers(),
            st.text(max_size=80),
            st.lists(st.text(max_size=5), max_size=3),
            st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
        ),
    )
)
@settings(suppress_health_check=[HealthCheck.too_slow])  # a busy machine makes generation slow, not the code
def test_parse_register_never_raises(message):
    parsed, problem = protocol.parse_register(message)
    assert (parsed is None) != (problem is None)
