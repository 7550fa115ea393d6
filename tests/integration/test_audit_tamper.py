"""Tampering with a real proxy's audit trail: every edit must be caught by `audit verify` and by the
next `mcp-acp start` (exit 10, with a repair hint), and tampering while the proxy runs must make it
fail closed (deny the request, record it in the fallback, exit 10). docs/audit.md.

Proxy `fx` stands in front of tests/fixtures/quick_backend.py, a stdlib MCP server with the
fixture backend's echo and add: the backend plays no part in the trail, and this one starts at
once where the FastMCP backend costs ~1.5 s of CPU per session."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import time
from pathlib import Path

import pytest

from mcp_acp.audit.chain import GENESIS, check_chain, entry_hash
from mcp_acp.audit.keys import load_audit_key
from mcp_acp.audit.verify import ProxyReport, verify_proxy
from tests.support.config import allow_everything, home
from tests.support.processes import ROOT
from tests.support.proxies import RawProxy

OPS = "audit/operations.jsonl"
STATE = ".integrity_state"
AUDIT_FAILURE = 10
QUICK_BACKEND = str(ROOT / "tests" / "fixtures" / "quick_backend.py")


@pytest.fixture
def fx(cli, acp_env):
    cli.env = acp_env
    backend = ["--command", sys.executable, "--arg", QUICK_BACKEND]
    cli("proxy", "add", "fx", "--server-name", "fixture", *backend, check=True)
    allow_everything(acp_env, "fx")
    return "fx"


def log_dir(env: dict) -> Path:
    return Path(env["MCP_ACP_HOME"]) / "logs" / "mcp-acp" / "proxies" / "fx"


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


async def traffic(env: dict, calls: int = 6) -> list[dict]:
    """One client session: initialize, `calls` tool calls, disconnect; the proxy must exit 0."""
    proxy = await RawProxy.start(env, "fx")
    try:
        await proxy.initialize()
        answers = []
        for i in range(calls):
            if i % 2:
                answers.append(await proxy.call_tool("add", {"a": i, "b": 1}))
            else:
                answers.append(await proxy.call_tool("echo", {"text": f"hello {i}"}))
        assert all("result" in a for a in answers), answers
        code, stderr = await proxy.finish()
        assert code == 0, stderr
        return answers
    finally:
        await proxy.close()


def words(text: str) -> str:
    return " ".join(text.split())


def assert_refuses_to_start(cli) -> str:
    result = cli("start", "--proxy", "fx", "--headless")
    output = words(result.stdout + result.stderr)
    assert result.returncode == AUDIT_FAILURE, (result.returncode, output)
    assert "audit repair" in output, output
    assert "Traceback" not in output, output
    return output


def verify_in_process(env: dict) -> ProxyReport:
    with home(env):
        return verify_proxy(log_dir(env), load_audit_key("fx"))


def _report(report: ProxyReport) -> str:
    return f"{report.state_error} " + "; ".join(f"{f.name}={f.status} {f.errors}" for f in report.files)


def assert_verify_fails(cli) -> str:
    report = verify_in_process(cli.env)
    assert report.overall == "failed", _report(report)
    result = cli("audit", "verify", "--proxy", "fx")
    output = result.stdout + result.stderr
    assert result.returncode == 1, (result.returncode, output)
    assert "Traceback" not in output, output
    return output


def assert_verify_passes(cli) -> None:
    report = verify_in_process(cli.env)
    assert report.overall == "passed", _report(report)
    assert not any(f.status in ("broken", "missing", "error") for f in report.files), _report(report)
    result = cli("audit", "verify", "--proxy", "fx")
    assert result.returncode == 0, result.stdout + result.stderr


def create_key(cli) -> None:
    created = cli("audit", "key", "create", "--proxy", "fx")
    assert created.returncode == 0, created.stdout + created.stderr
    with home(cli.env):
        assert load_audit_key("fx") is not None


# --------------------------------------------------------------------------- tamperings


def _rewrite_in_place(path: Path, data: bytes) -> None:
    with open(path, "r+b") as handle:  # keeps the inode: only the chain/state can tell
        handle.truncate(0)
        handle.write(data)


def edit_field(path: Path) -> None:
    lines = lines_of(path)
    for index, raw in enumerate(lines):
        entry = json.loads(raw)
        if entry.get("method") == "tools/call" and entry.get("status") == "Success":
            entry["status"] = "Failure"
            entry["method"] = "tools/list"
            lines[index] = json.dumps(entry, separators=(",", ":")).encode() + b"\n"
            break
    else:
        raise AssertionError("no successful tools/call entry to edit")
    _rewrite_in_place(path, b"".join(lines))


def delete_middle_line(path: Path) -> None:
    lines = lines_of(path)
    del lines[len(lines) // 2]
    _rewrite_in_place(path, b"".join(lines))


def insert_copy(path: Path) -> None:
    lines = lines_of(path)
    middle = len(lines) // 2
    lines.insert(middle + 1, lines[middle - 1])
    _rewrite_in_place(path, b"".join(lines))


def swap_lines(path: Path) -> None:
    lines = lines_of(path)
    middle = len(lines) // 2
    lines[middle], lines[middle + 1] = lines[middle + 1], lines[middle]
    _rewrite_in_place(path, b"".join(lines))


def truncate_last_line(path: Path) -> None:
    lines = lines_of(path)
    _rewrite_in_place(path, b"".join(lines[:-1]))


def replace_file(path: Path) -> None:
    copy = path.with_name("operations.copy")
    shutil.copyfile(path, copy)
    os.chmod(copy, 0o600)
    os.replace(copy, path)


def delete_file(path: Path) -> None:
    path.unlink()


def rehash_without_key(path: Path) -> None:
    """Edit an entry, then re-chain the whole file with plain sha256 (no key) and point the
    integrity state at the forged chain (same inode, new hash/sequence/size)."""
    entries = [json.loads(raw) for raw in lines_of(path)]
    target = next(e for e in entries if e.get("method") == "tools/call")
    target["status"] = "Failure"
    prev = GENESIS
    for entry in entries:
        entry["prev_hash"] = prev
        entry.pop("entry_hash")
        entry["entry_hash"] = entry_hash(entry)  # plain sha256
        prev = entry["entry_hash"]
    data = b"".join(json.dumps(e, separators=(",", ":")).encode() + b"\n" for e in entries)
    _rewrite_in_place(path, data)
    assert check_chain(data).ok  # a perfectly consistent plain chain
    state_path = path.parent.parent / STATE
    state = json.loads(state_path.read_bytes())
    stat = path.stat()
    state["files"][OPS].update(
        last_hash=entries[-1]["entry_hash"],
        last_sequence=entries[-1]["sequence"],
        last_inode=stat.st_ino,
        last_dev=stat.st_dev,
        last_size=stat.st_size,
    )
    _rewrite_in_place(state_path, json.dumps(state).encode())  # the old "mac" (if any) stays: no key


TAMPERINGS = {
    "edited_field": edit_field,
    "deleted_line": delete_middle_line,
    "inserted_copy": insert_copy,
    "swapped_lines": swap_lines,
    "truncated_last_line": truncate_last_line,
    "replaced_file_new_inode": replace_file,
    "deleted_file": delete_file,
    "rehashed_without_key": rehash_without_key,
}


@pytest.mark.parametrize("tampering", list(TAMPERINGS))
async def test_tampered_operations_log_is_detected(cli, acp_env, fx, tampering):
    if tampering == "rehashed_without_key":
        create_key(cli)
    await traffic(acp_env)
    ops = log_dir(acp_env) / OPS
    assert len(lines_of(ops)) >= 8  # initialize, notifications/initialized, 6 calls
    assert_verify_passes(cli)
    await traffic(acp_env, calls=2)  # a clean log lets the proxy start again
    assert_verify_passes(cli)

    TAMPERINGS[tampering](ops)

    assert_verify_fails(cli)
    assert_refuses_to_start(cli)
    assert_refuses_to_start(cli)  # and keeps refusing: a failed start never "heals" the trail
    assert_verify_fails(cli)


def garbage_state(path: Path) -> None:
    path.write_bytes(b"\x00garbage{{{" * 50)


def truncated_state(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:40])


STATE_TAMPERINGS = {
    "deleted_state": Path.unlink,
    "garbage_state": garbage_state,
    "truncated_state": truncated_state,
}


@pytest.mark.parametrize("tampering", list(STATE_TAMPERINGS))
async def test_tampered_integrity_state_refuses_start(cli, acp_env, fx, tampering):
    await traffic(acp_env, calls=2)
    state = log_dir(acp_env) / STATE
    assert state.exists()
    STATE_TAMPERINGS[tampering](state)
    assert_refuses_to_start(cli)
    assert_verify_fails(cli)


# --------------------------------------------------------------------------- fail-closed at runtime


def fallback_records(env: dict, request_id: str) -> list[dict]:
    """Where the denied request was kept: audit_fallback in system.jsonl or emergency_audit.jsonl."""
    found = []
    system = log_dir(env) / "system" / "system.jsonl"
    if system.exists():
        for raw in lines_of(system):
            entry = json.loads(raw)
            if entry.get("event") == "audit_fallback" and request_id in json.dumps(entry.get("details")):
                found.append(entry)
    emergency = Path(env["MCP_ACP_HOME"]) / "config" / "emergency_audit.jsonl"
    if emergency.exists():
        for raw in lines_of(emergency):
            entry = json.loads(raw)
            if entry.get("event") == "emergency_audit" and request_id in json.dumps(entry.get("operation")):
                found.append(entry)
    return found


async def _wait_exit(proxy: RawProxy, timeout: float) -> tuple[int, str]:
    code = await asyncio.wait_for(proxy.process.wait(), timeout)
    stderr = await asyncio.wait_for(proxy.process.stderr.read(), 5)
    return code, stderr.decode()


def assert_security_shutdown(env: dict) -> None:
    folder = log_dir(env)
    crash = folder / ".last_crash"
    assert crash.exists(), sorted(p.name for p in folder.iterdir())
    assert "exit_code: 10" in crash.read_text()
    shutdowns = [json.loads(raw) for raw in lines_of(folder / "shutdowns.jsonl")]
    assert shutdowns and shutdowns[-1]["event"] == "security_shutdown" and shutdowns[-1]["exit_code"] == 10


@pytest.mark.parametrize("tampering", ["deleted_file", "replaced_file_new_inode"])
async def test_tampering_while_running_fails_closed(cli, acp_env, fx, tampering):
    proxy = await RawProxy.start(acp_env, "fx")
    try:
        await proxy.initialize()
        first = await proxy.call_tool("echo", {"text": "before"})
        assert "result" in first
        TAMPERINGS[tampering](log_dir(acp_env) / OPS)
        answer = await proxy.call_tool("echo", {"text": "after"})
        request_id = str(answer["id"])
        assert "result" not in answer, answer  # the tool result must not reach the client
        assert "error" in answer and "audit" in answer["error"]["message"].lower(), answer
        code, stderr = await _wait_exit(proxy, 10)
        assert code == AUDIT_FAILURE, stderr
        assert "Traceback" not in stderr
    finally:
        await proxy.close()
    assert_security_shutdown(acp_env)
    assert fallback_records(acp_env, request_id), "the denied call is in no fallback log"
    # The proxy's own .last_crash note proves nothing: the next start refuses until a person
    # repairs, and the repair stays on record for every later verify.
    assert (log_dir(acp_env) / ".last_crash").exists()
    assert_refuses_to_start(cli)
    assert cli("audit", "repair", "--proxy", "fx", "--yes").returncode == 0
    await traffic(acp_env, calls=1)
    report = json.loads(cli("audit", "verify", "--proxy", "fx", "--json").stdout)["proxies"]["fx"]
    assert report["overall_status"] == "passed", report
    assert any(r["file"] == OPS and r["action"] in ("cleared", "repaired") for r in report["repairs"]), report


async def test_health_monitor_catches_deletion_while_idle(cli, acp_env, fx):
    env = {**acp_env, "MCP_ACP_AUDIT_CHECK_SECONDS": "1"}
    proxy = await RawProxy.start(env, "fx")
    try:
        await proxy.initialize()
        assert "result" in await proxy.call_tool("echo", {"text": "x"})
        await asyncio.sleep(1.5)  # a few health checks pass on an intact trail
        assert proxy.process.returncode is None
        (log_dir(env) / "system" / "system.jsonl").unlink()
        started = time.monotonic()
        code, stderr = await _wait_exit(proxy, 8)  # no request is sent
        assert code == AUDIT_FAILURE, stderr
        assert time.monotonic() - started < 8
        assert "Traceback" not in stderr
    finally:
        await proxy.close()
    assert_security_shutdown(acp_env)


async def test_health_monitor_catches_in_place_edit_while_idle(cli, acp_env, fx):
    """Same inode, same size, valid JSON: only the tail re-verification can see it."""
    env = {**acp_env, "MCP_ACP_AUDIT_CHECK_SECONDS": "1"}
    proxy = await RawProxy.start(env, "fx")
    try:
        await proxy.initialize()
        assert "result" in await proxy.call_tool("echo", {"text": "x"})
        await asyncio.sleep(1.5)
        assert proxy.process.returncode is None
        ops = log_dir(env) / OPS
        data = ops.read_bytes()
        assert data.count(b'"status":"Success"') >= 1
        index = data.rindex(b'"status":"Success"')
        _rewrite_in_place(ops, data[:index] + b'"status":"Failure"' + data[index + len(b'"status":"Success"') :])
        code, stderr = await _wait_exit(proxy, 8)
        assert code == AUDIT_FAILURE, stderr
    finally:
        await proxy.close()
    assert_security_shutdown(acp_env)
    assert_refuses_to_start(cli)  # a recorded crash never excuses an edited entry


# decisions.jsonl and system.jsonl stay empty on plain pass-through traffic (see the keyed test below)
OTHER_FILES = ["audit/auth.jsonl", "system/config_history.jsonl", "system/policy_history.jsonl"]


@pytest.mark.parametrize("rel", OTHER_FILES)
async def test_every_protected_file_is_checked(cli, acp_env, fx, rel):
    """Editing the first entry of any other protected file is caught as well."""
    await traffic(acp_env, calls=2)
    await traffic(acp_env, calls=1)
    path = log_dir(acp_env) / rel
    lines = lines_of(path) if path.exists() else []
    chained = [i for i, raw in enumerate(lines) if "entry_hash" in json.loads(raw)]
    assert chained, f"{rel} has no chained entries"
    entry = json.loads(lines[chained[0]])
    victim = next(k for k in entry if k not in ("sequence", "prev_hash", "entry_hash", "time"))
    entry[victim] = "tampered"
    lines[chained[0]] = json.dumps(entry, separators=(",", ":")).encode() + b"\n"
    _rewrite_in_place(path, b"".join(lines))
    assert_verify_fails(cli)
    assert_refuses_to_start(cli)


async def test_forged_chain_is_not_adopted_after_a_recorded_crash_when_keyed(cli, acp_env, fx):
    """docs/audit.md#what-the-hash-chain-proves re-baselines a swapped file after a recorded security shutdown, but only if the
    swapped file's own chain holds: with an audit key, a chain forged without the key does not."""
    create_key(cli)
    await traffic(acp_env, calls=3)
    ops = log_dir(acp_env) / OPS
    # a security shutdown: the file goes away while the proxy runs
    proxy = await RawProxy.start(acp_env, "fx")
    try:
        await proxy.initialize()
        saved = ops.read_bytes()
        ops.unlink()
        answer = await proxy.call_tool("echo", {"text": "after"})
        assert "error" in answer
        code, stderr = await _wait_exit(proxy, 10)
        assert code == AUDIT_FAILURE, stderr
    finally:
        await proxy.close()
    assert (log_dir(acp_env) / ".last_crash").exists()
    # the attacker puts back an edited copy re-chained with plain sha256 (a new inode)
    entries = [json.loads(raw) for raw in saved.splitlines()]
    next(e for e in entries if e.get("method") == "tools/call")["status"] = "Failure"
    prev = GENESIS
    for entry in entries:
        entry["prev_hash"] = prev
        entry.pop("entry_hash")
        entry["entry_hash"] = prev = entry_hash(entry)
    ops.write_bytes(b"".join(json.dumps(e, separators=(",", ":")).encode() + b"\n" for e in entries))
    assert_refuses_to_start(cli)
    assert_verify_fails(cli)


def forged_entry(prev_entry: dict | None, fields: dict) -> bytes:
    """The next entry an attacker without the key would append: plain sha256, correctly linked."""
    entry = {
        "time": "2030-01-01T00:00:00.000Z",
        "sequence": prev_entry["sequence"] + 1 if prev_entry else 1,
        "prev_hash": prev_entry["entry_hash"] if prev_entry else GENESIS,
        **fields,
    }
    entry["entry_hash"] = entry_hash(entry)
    return json.dumps(entry, separators=(",", ":")).encode() + b"\n"


@pytest.mark.parametrize("rel", ["audit/operations.jsonl", "audit/decisions.jsonl"])
async def test_forged_appended_entry_is_detected_when_keyed(cli, acp_env, fx, rel):
    """One appended entry looks exactly like the crash window (line written, state not yet saved),
    which start-up accepts. With an audit key the forged entry's hash gives it away.
    (Without a key this is the documented self-attesting limitation, docs/audit.md#what-the-hash-chain-proves.)"""
    create_key(cli)
    await traffic(acp_env, calls=2)
    path = log_dir(acp_env) / rel
    lines = lines_of(path)
    last = json.loads(lines[-1]) if lines else None
    with path.open("ab") as handle:
        handle.write(
            forged_entry(
                last, {"method": "tools/call", "tool_name": "echo", "request_id": "forged", "status": "Success"}
            )
        )
    assert_verify_fails(cli)
    assert_refuses_to_start(cli)
