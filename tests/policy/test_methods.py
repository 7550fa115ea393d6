"""policy/methods.py: every method of every published MCP version has a class."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from mcp_acp.policy import methods
from mcp_acp.policy.methods import ACTION, DISCOVERY, FOLLOW_UP, UNKNOWN, request_class

SPEC = Path("/work/.mirror/modelcontextprotocol+modelcontextprotocol/repo")
VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28")


def _spec_methods(version: str) -> set[str]:
    """The methods a published schema names, read from the spec's own schema.ts."""
    try:
        text = subprocess.run(
            ["git", "-C", str(SPEC), "show", f"HEAD:schema/{version}/schema.ts"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("the MCP specification mirror is not on this machine")

    return set(re.findall(r'method: "([^"]+)"', text))


@pytest.mark.parametrize("version", VERSIONS)
def test_every_method_of_every_version_is_classified(version):
    known = (
        set(methods.CLIENT_REQUESTS)
        | methods.SERVER_REQUESTS
        | methods.CLIENT_NOTIFICATIONS
        | methods.SERVER_NOTIFICATIONS
    )
    assert _spec_methods(version) - known == set()


@pytest.mark.parametrize(
    "method,expected",
    [
        ("initialize", DISCOVERY),
        ("server/discover", DISCOVERY),
        ("ping", DISCOVERY),
        ("tools/list", DISCOVERY),
        ("notifications/initialized", DISCOVERY),
        ("notifications/cancelled", DISCOVERY),
        ("tools/call", ACTION),
        ("resources/read", ACTION),
        ("prompts/get", ACTION),
        ("completion/complete", ACTION),
        ("resources/subscribe", ACTION),
        ("tasks/get", FOLLOW_UP),
        ("tasks/update", FOLLOW_UP),
        ("tasks/cancel", FOLLOW_UP),
        # the server's requests, sent the wrong way, and names of no version
        ("sampling/createMessage", UNKNOWN),
        ("elicitation/create", UNKNOWN),
        ("roots/list", UNKNOWN),
        ("notifications/tools/list_changed", UNKNOWN),
        ("Tools/call", UNKNOWN),
        ("vendor/anything", UNKNOWN),
        ("", UNKNOWN),
    ],
)
def test_classes(method, expected):
    assert request_class(method, {}) == expected


@pytest.mark.parametrize(
    "params,expected",
    [
        ({"notifications": {"toolsListChanged": True}}, DISCOVERY),
        ({}, DISCOVERY),
        ({"notifications": {"resourceSubscriptions": []}}, DISCOVERY),
        ({"notifications": {"resourceSubscriptions": ["file:///a"]}}, ACTION),
        ({"notifications": {"resourceSubscriptions": "file:///a"}}, ACTION),  # unreadable: decided
        ({"notifications": "all"}, ACTION),
    ],
)
def test_listen_is_discovery_only_while_it_watches_lists(params, expected):
    assert request_class("subscriptions/listen", params) == expected


def test_listened_resources():
    params = {"notifications": {"resourceSubscriptions": ["file:///a", 3, "demo://b"]}}
    assert methods.listened_resources(params) == ["file:///a", "demo://b"]
    assert methods.listened_resources({"notifications": []}) == []


def test_every_modern_client_notification_may_be_sent():
    assert {"notifications/cancelled"} <= methods.CLIENT_NOTIFICATIONS
    assert not methods.CLIENT_NOTIFICATIONS & {"notifications/tools/list_changed", "notifications/message"}
