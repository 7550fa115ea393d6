"""What a human is shown of a request's arguments (proxy/argument_display.py): secret-looking keys
redacted at any depth, everything else kept whole."""

from __future__ import annotations

import json

from mcp_acp.proxy.argument_display import redacted

# --------------------------------------------------------------------------- what is shown


def test_shown_arguments_redact_secret_looking_keys_and_keep_everything_else_whole():
    long_text = "x" * 5000 + " | sh"
    many = [f"/p/{n}" for n in range(25)]
    shown = redacted(
        {
            "path": "/p/a.txt",
            "password": "hunter2",
            "API_KEY": "sk-live-1",
            "api-key": "k",
            "auth_token": "t",
            "client_secret": "s",
            "Cookie": "c=1",
            "private_key": "-----BEGIN",
            "credentials": ["a", "bb"],
            "passphrase": "open sesame",
            "content": long_text,
            "count": 3,
            "flags": {"a": [1, 2]},
            "paths": many,
            "use_auth": True,
            "pin_auth": 1234,
        }
    )
    for key, length in (
        ("password", 7),
        ("API_KEY", 9),
        ("api-key", 1),
        ("auth_token", 1),
        ("client_secret", 1),
        ("Cookie", 3),
        ("private_key", 10),
        ("passphrase", 11),
        ("pin_auth", 4),
    ):
        assert shown[key] == f"[redacted: {length} character{'s' if length != 1 else ''}]", key
    assert shown["credentials"] == ["[redacted: 1 character]", "[redacted: 2 characters]"]  # structure kept
    assert shown["use_auth"] is True  # a boolean is no secret
    assert shown["path"] == "/p/a.txt"  # paths are what the human must see
    assert shown["content"] == long_text  # every character, however long
    assert shown["paths"] == many  # every item, however many
    assert shown["count"] == 3 and shown["flags"] == {"a": [1, 2]}  # JSON values, not strings of JSON
    assert list(shown) == [
        "path",
        "password",
        "API_KEY",
        "api-key",
        "auth_token",
        "client_secret",
        "Cookie",
        "private_key",
        "credentials",
        "passphrase",
        "content",
        "count",
        "flags",
        "paths",
        "use_auth",
        "pin_auth",
    ]  # every key, in the client's order
    text = json.dumps(shown)
    for secret in ("hunter2", "sk-live-1", "open sesame", "-----BEGIN", "c=1", "1234"):
        assert secret not in text
    assert redacted({}) == {}


def test_shown_arguments_redact_secret_looking_keys_nested_in_values():
    shown = redacted(
        {
            "url": "https://api.example.com",
            "headers": {"Authorization": "Bearer sk-nested-secret"},
            "options": [{"password": "nested-hunter2"}],
        }
    )
    text = json.dumps(shown)
    assert "sk-nested-secret" not in text and "nested-hunter2" not in text, shown
    assert shown["url"] == "https://api.example.com"
    assert shown["headers"] == {"Authorization": "[redacted: 23 characters]"}
