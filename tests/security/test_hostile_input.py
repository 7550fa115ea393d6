"""Class 6, input meant to kill or stall the proxy, from the client and from the backend.

Each malformed client message gets a JSON-RPC error, reaches no backend, and the proxy keeps
answering (a ping after each). A hostile backend (tests/fixtures/hostile_server.py) answers with
array and object ids, garbage lines, and a 1,000-level `tools/list`: the waiting request gets an
answer or an error, and later requests still work.

The last test injects a fault the outside cannot cause: a `sitecustomize` on the proxy's
PYTHONPATH makes the relay's handling of one backend message raise, as a bug would. The
session must then end loudly: every waiting request gets an error, the system log says why, and
the proxy exits with its documented code.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.security.conftest import (
    ALLOW_ALL,
    INVALID_REQUEST,
    MAX_SAFE_INTEGER,
    PARSE_ERROR,
    Home,
    Proxy,
    is_answer,
    received_text,
    text_of,
    wait_until,
)

NAME = "hostile-input"


@pytest.fixture(scope="module")
def record(module_home: Home) -> Path:
    return module_home.add_hostile(NAME, ALLOW_ALL)


@pytest.fixture
def hostile(module_home: Home, record: Path) -> tuple[Proxy, Path]:
    return module_home.live(NAME), record


def call_line(request_id: str, marker: str, **changes: object) -> bytes:
    message = {
        "jsonrpc": "2.0",
        "id": None,
        "method": "tools/call",
        "params": {"name": "echo", "arguments": {"text": marker}},
    }
    message.update(changes)
    text = json.dumps(message)
    return text.replace('"id": null', f'"id": {request_id}', 1).encode()


def deep_arguments(levels: int, marker: str) -> bytes:
    nested = "[" * levels + json.dumps(marker) + "]" * levels
    return (
        '{"jsonrpc":"2.0","id":"deep-%d","method":"tools/call","params":{"name":"echo","arguments":'  # noqa: UP031  a JSON template: %s keeps its braces readable
        '{"text":"x","deep":%s}}}' % (levels, nested)
    ).encode()


# (label, raw line, expected error code, the id the answer carries: a value, or None)
MALFORMED = [
    ("object id", call_line('{"a": 1}', "mal-object-id"), INVALID_REQUEST, None),
    ("array id", call_line("[1]", "mal-array-id"), INVALID_REQUEST, None),
    ("boolean id", call_line("true", "mal-bool-id"), INVALID_REQUEST, None),
    ("float id", call_line("1.5", "mal-float-id"), INVALID_REQUEST, None),
    ("id beyond 2^53", call_line(str(MAX_SAFE_INTEGER + 2), "mal-big-id"), INVALID_REQUEST, None),
    ("id below -2^53", call_line(str(-MAX_SAFE_INTEGER - 2), "mal-small-id"), INVALID_REQUEST, None),
    ("non-string method", call_line("801", "mal-method", method=42), INVALID_REQUEST, 801),
    ("array params", call_line("802", "mal-params", params=["tools/call", "mal-params-array"]), INVALID_REQUEST, 802),
    ("string params", call_line("803", "mal-params", params="mal-params-string"), INVALID_REQUEST, 803),
    (
        "invalid JSON",
        b'{"jsonrpc": "2.0", "id": 804, "method": "tools/call", "params": {"name": "mal-json"',
        PARSE_ERROR,
        None,
    ),
    (
        "batch",
        b'[{"jsonrpc": "2.0", "id": 805, "method": "tools/call", "params": {"name": "echo", '
        b'"arguments": {"text": "mal-batch"}}}]',
        INVALID_REQUEST,
        None,
    ),
]
IDS_THAT_MAY_ALSO_BE_ECHOED = {"object id", "array id", "boolean id", "float id"}


@pytest.mark.parametrize(("label", "raw", "code", "answer_id"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_client_messages_get_an_error_and_the_proxy_lives(
    hostile, label: str, raw: bytes, code: int, answer_id: object
) -> None:
    proxy: Proxy
    proxy, record = hostile
    start = proxy.mark()
    proxy.send(raw)
    answer = proxy.wait_for(is_answer, f"an answer to the {label}", start=start)
    assert "result" not in answer, answer
    assert answer["error"]["code"] == code, answer
    if label not in IDS_THAT_MAY_ALSO_BE_ECHOED:
        assert answer["id"] == answer_id and type(answer["id"]) is type(answer_id), answer
    proxy.ping()
    assert proxy.alive()
    marker = raw.decode(errors="replace")
    assert "mal-" in marker
    for token in (
        "mal-object-id",
        "mal-array-id",
        "mal-bool-id",
        "mal-float-id",
        "mal-big-id",
        "mal-small-id",
        "mal-method",
        "mal-params",
        "mal-json",
        "mal-batch",
    ):
        assert token not in received_text(record), token


def test_arguments_nested_255_levels_are_refused_before_forwarding(hostile, module_home: Home) -> None:
    proxy, record = hostile
    for levels in (300, 5000):
        start = proxy.mark()
        proxy.send(deep_arguments(levels, f"deep-marker-{levels}"))
        answer = proxy.wait_for(is_answer, f"the answer to {levels} levels", start=start)
        assert "result" not in answer, str(answer)[:500]
        assert answer["error"]["code"] in ((INVALID_REQUEST,) if levels == 300 else (INVALID_REQUEST, PARSE_ERROR))
        proxy.ping()
        assert f"deep-marker-{levels}" not in received_text(record)
    assert any(e.get("request_id") == "deep-300" for e in module_home.operations(NAME)), "no operations entry"


def test_backend_answers_with_array_and_object_ids(hostile) -> None:
    proxy, _ = hostile
    assert "EXECUTED bad_ids" in text_of(proxy.call("bad_ids", {}))
    proxy.ping()
    seen = json.dumps(proxy.messages)
    assert "ARRAY-ID" not in seen and "OBJ-ID" not in seen


def test_backend_garbage_lines(hostile) -> None:
    proxy, _ = hostile
    assert "EXECUTED garbage" in text_of(proxy.call("garbage", {}))
    proxy.ping()
    assert "EXECUTED echo" in text_of(proxy.call("echo", {"text": "after garbage"}))


def test_an_answer_the_proxy_cannot_read_is_an_error_not_a_hang(hostile) -> None:
    """A backend answer nested 20,000 levels deep cannot be parsed: the request it answers gets
    an error at once (its id is read from the raw line), and the session goes on."""
    proxy, _ = hostile
    answer = proxy.call("unreadable", {})
    assert answer["error"]["code"] == -32603 and "could not be read" in answer["error"]["message"], answer
    proxy.ping()
    assert "EXECUTED echo" in text_of(proxy.call("echo", {"text": "after unreadable"}))


def test_a_1000_level_tools_list(hostile) -> None:
    proxy, _ = hostile
    answer = proxy.request("tools/list", {"cursor": "deep"})
    assert "error" in answer or "echo" in {tool["name"] for tool in answer["result"]["tools"]}, str(answer)[:500]
    proxy.ping()
    assert "EXECUTED echo" in text_of(proxy.call("echo", {"text": "after deep"}))
    assert proxy.alive()


# --------------------------------------------------------------------------- a failing backend reader


INJECTOR = r'''
import importlib.abc, importlib.machinery, sys

MARKER = "INJECT-READER-FAULT"


class _Inject(importlib.abc.MetaPathFinder):
    """Wraps the relay's handling of backend messages so that one message makes it raise."""

    def find_spec(self, name, path, target=None):
        if name != "mcp_acp.proxy.relay":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        original_exec = spec.loader.exec_module

        def exec_module(module):
            original_exec(module)
            relay = module.Relay
            attribute = "_from_backend" if hasattr(relay, "_from_backend") else "from_backend"
            original = getattr(relay, attribute)

            async def faulty(self, message, *args, **kwargs):
                if MARKER in repr(message):
                    raise RuntimeError("injected fault in the backend reader")
                return await original(self, message, *args, **kwargs)

            setattr(relay, attribute, faulty)

        spec.loader.exec_module = exec_module
        return spec


sys.meta_path.insert(0, _Inject())
'''


def documented_backend_failure_exit(env: dict) -> int:
    code = "from mcp_acp.proxy.relay import BACKEND_FAILURE_EXIT as c; print(c)"
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    return int(result.stdout) if result.returncode == 0 else 12


def test_a_failing_backend_reader_ends_the_session_loudly(home: Home, tmp_path: Path) -> None:
    injector = tmp_path / "inject"
    injector.mkdir()
    (injector / "sitecustomize.py").write_text(INJECTOR)
    home.add_hostile("reader-fault", ALLOW_ALL)
    expected_exit = documented_backend_failure_exit(home.env)
    home.env = {**home.env, "PYTHONPATH": os.pathsep.join(filter(None, [str(injector), home.env.get("PYTHONPATH")]))}
    proxy = home.start("reader-fault")
    assert "EXECUTED echo" in text_of(proxy.call("echo", {"text": "before the fault"}))
    held = proxy.next_id()
    proxy.send({"jsonrpc": "2.0", "id": held, "method": "tools/call", "params": {"name": "hold", "arguments": {}}})
    faulty = proxy.next_id()
    proxy.send(
        {
            "jsonrpc": "2.0",
            "id": faulty,
            "method": "tools/call",
            "params": {"name": "echo", "arguments": {"text": "INJECT-READER-FAULT"}},
        }
    )
    for request_id in (held, faulty):
        answer = proxy.response(request_id)
        assert "error" in answer, answer
    code = proxy.process.wait(60)
    assert code == expected_exit and code not in (0, 1), (code, proxy.stderr()[-3000:])
    wait_until(
        lambda: any(e.get("level") in ("ERROR", "CRITICAL") for e in home.system_log("reader-fault")),
        "a system-log entry about the failure",
        timeout=10,
    )
