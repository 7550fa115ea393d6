"""What the running proxy writes into its logs, checked against real traffic."""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
from pathlib import Path

import orjson
import pytest

from tests.support.audit import chain_ok
from tests.support.config import allow_everything
from tests.support.processes import BACKEND
from tests.support.proxies import RawProxy

SECRET = "correct-horse-battery-staple"


@pytest.fixture
def proxy_name(cli, acp_env):
    cli("proxy", "add", "fx", "--server-name", "fixture", "--command", sys.executable, "--arg", BACKEND, check=True)
    allow_everything(acp_env, "fx")
    return "fx"


def log_dir(env: dict) -> Path:
    return Path(env["MCP_ACP_HOME"]) / "logs" / "mcp-acp" / "proxies" / "fx"


def entries(env: dict, rel: str) -> list[dict]:
    path = log_dir(env) / rel
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def edit_config(env: dict, name: str, **changes) -> None:
    path = Path(env["MCP_ACP_HOME"]) / "config" / "proxies" / "fx" / name
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data, indent=2))


async def session(env: dict, calls: list[tuple[str, dict]]) -> list[dict]:
    proxy = await RawProxy.start(env, "fx")
    try:
        await proxy.initialize()
        await proxy.send(b"{broken\n")
        await proxy.receive()
        answers = [await proxy.call_tool(name, args) for name, args in calls]
        code, stderr = await proxy.finish()
        assert code == 0, stderr
        return answers
    finally:
        await proxy.close()


async def test_operations_one_entry_per_message_and_no_arguments(acp_env, proxy_name):
    arguments = {"text": SECRET, "path": "/tmp/../tmp/notes.txt"}
    await session(acp_env, [("echo", {"text": SECRET}), ("echo", arguments)])
    raw = (log_dir(acp_env) / "audit/operations.jsonl").read_bytes()
    assert SECRET.encode() not in raw  # arguments are never logged, only hashed
    assert chain_ok(acp_env, "fx", "audit/operations.jsonl", raw).ok
    ops = entries(acp_env, "audit/operations.jsonl")
    methods = [e.get("method") for e in ops]
    assert methods.count("tools/call") == 2 and methods.count("initialize") == 1
    assert methods.count("notifications/initialized") == 1
    parse_error = next(e for e in ops if e.get("error_code") == -32700)  # a denial/failure gets its entry too
    assert parse_error["status"] == "Failure" and parse_error["request_id"] == "unknown"
    call = [e for e in ops if e.get("method") == "tools/call"][1]
    body = orjson.dumps(arguments, option=orjson.OPT_SORT_KEYS)
    assert call["arguments_summary"] == {
        "redacted": True,
        "body_hash": hashlib.sha256(body).hexdigest(),
        "payload_length": len(body),
    }
    assert call["file_path"] == "/tmp/notes.txt" and call["file_extension"] == ".txt"
    assert call["tool_name"] == "echo" and call["status"] == "Success" and call["client_id"] == "raw-test-client"
    assert call["subject"]["subject_id"] and call["subject"]["subject_claims"] == {"provenance": "local"}
    assert call["duration"]["duration_ms"] >= 0 and call["response_summary"]["size_bytes"] > 0
    assert [e["sequence"] for e in ops] == list(range(1, len(ops) + 1))


async def test_auth_and_system_logs(acp_env, proxy_name):
    await session(acp_env, [])
    auth = entries(acp_env, "audit/auth.jsonl")
    assert [e["event_type"] for e in auth] == ["session_started", "session_ended"]
    assert auth[1]["end_reason"] == "normal" and auth[0]["bound_session_id"] == auth[1]["bound_session_id"]
    system = entries(acp_env, "system/system.jsonl")
    assert any("not JSON" in e["message"] and e["level"] == "WARNING" for e in system)
    assert chain_ok(acp_env, "fx", "system/system.jsonl", (log_dir(acp_env) / "system/system.jsonl").read_bytes()).ok


async def test_history_versions_and_manual_edit_detection(acp_env, proxy_name):
    await session(acp_env, [])
    first = entries(acp_env, "system/policy_history.jsonl")
    assert [e["event"] for e in first] == ["policy_loaded"]
    assert first[0]["policy_version"] == "v1" and first[0]["change_type"] == "initial_load"
    assert json.loads(first[0]["snapshot"])["rules"][0]["id"] == "test-allow-all"
    await session(acp_env, [])
    again = entries(acp_env, "system/policy_history.jsonl")[1:]
    assert [(e["event"], e["policy_version"]) for e in again] == [("policy_loaded", "v1")]
    assert "snapshot" not in again[0]
    edit_config(acp_env, "policy.json", rules=[])  # a hand edit: same meaning, different text
    await session(acp_env, [])
    edited = entries(acp_env, "system/policy_history.jsonl")[2:]
    assert [(e["event"], e["policy_version"]) for e in edited] == [
        ("manual_change_detected", "v2"),
        ("policy_loaded", "v2"),
    ]
    assert edited[0]["previous_version"] == "v1" and edited[0]["change_type"] == "manual_edit"
    ops = entries(acp_env, "audit/operations.jsonl")
    assert {e["config_version"] for e in ops} == {"v1"}


async def test_several_clients_share_one_proxy_and_its_chains(acp_env, proxy_name, cli):
    """Each client's `mcp-acp start` is its own process; their entries interleave in one chain
    per file, and the trail verifies."""
    proxies = [await RawProxy.start(acp_env, "fx") for _ in range(3)]
    try:
        for proxy in proxies:
            try:
                await proxy.initialize()
            except (EOFError, ConnectionError):
                code, stderr = await proxy.finish()
                raise AssertionError(f"a client's proxy stopped ({code}): {stderr}") from None
        for round_ in range(5):
            answers = await asyncio.gather(
                *(proxy.call_tool("echo", {"text": f"client {n} round {round_}"}) for n, proxy in enumerate(proxies))
            )
            assert [a["result"]["content"][0]["text"] for a in answers] == [
                f"client {n} round {round_}" for n in range(3)
            ]
        for proxy in proxies:
            code, stderr = await proxy.finish()
            assert code == 0 and "Traceback" not in stderr, stderr
    finally:
        for proxy in proxies:
            await proxy.close()
    ops = entries(acp_env, "audit/operations.jsonl")
    calls = [e for e in ops if e.get("method") == "tools/call"]
    assert len(calls) == 15 and len({e["session_id"] for e in calls}) == 3
    assert [e["sequence"] for e in ops] == list(range(1, len(ops) + 1))
    done = cli("audit", "verify", "--proxy", "fx")
    assert done.returncode == 0, done.stdout + done.stderr


async def test_debug_wire_logs_only_at_debug_level(acp_env, proxy_name):
    await session(acp_env, [("echo", {"text": "quiet"})])
    assert not (log_dir(acp_env) / "debug").exists()
    edit_config(acp_env, "config.json", log_level="DEBUG", include_payloads=False)
    await session(acp_env, [("echo", {"text": "loud"})])
    client = entries(acp_env, "debug/client_wire.jsonl")
    backend = entries(acp_env, "debug/backend_wire.jsonl")
    assert {"client_request", "proxy_response"} <= {e["event"] for e in client}
    assert {"proxy_request", "backend_response"} <= {e["event"] for e in backend}
    assert not any("payload" in e for e in client + backend)  # include_payloads=false


async def test_durable_mode_writes_and_verifies(acp_env, proxy_name):
    edit_config(acp_env, "config.json", audit_durable=True)
    answers = await session(acp_env, [("add", {"a": 1, "b": 2}), ("echo", {"text": "x"})])
    assert answers[0]["result"]["structuredContent"] == {"result": 3}
    raw = (log_dir(acp_env) / "audit/operations.jsonl").read_bytes()
    check = chain_ok(acp_env, "fx", "audit/operations.jsonl", raw)
    assert check.ok and check.entries == 5


async def test_audit_failure_at_shutdown_keeps_the_entry_and_exits_10(acp_env, proxy_name):
    """session_ended cannot be written to a deleted auth.jsonl: it goes to the fallback, exit 10."""
    proxy = await RawProxy.start(acp_env, "fx")
    try:
        await proxy.initialize()
        (log_dir(acp_env) / "audit/auth.jsonl").unlink()
        code, stderr = await proxy.finish()
        assert code == 10, stderr
        assert "audit log failure at shutdown" in stderr and "Traceback" not in stderr
        fallback = [e for e in entries(acp_env, "system/system.jsonl") if e.get("event") == "audit_fallback"]
        assert fallback and fallback[0]["details"]["entry"]["event_type"] == "session_ended"
    finally:
        await proxy.close()
