"""Log rotation in a real proxy (issue 16): `mcp-acp start` as a subprocess under a small
`log_rotation`, real tool calls through it, then the real `mcp-acp audit verify` and the next
starts. The in-process cases (crash windows, every kind of tampering) are in
tests/audit/test_writer.py; this suite shows the proxy wires rotation end to end."""

from __future__ import annotations

import asyncio
import gzip
import json
import sys
import time
from pathlib import Path

import pytest

from mcp_acp.audit import segments
from tests.support.audit import audit_key_of, chain_ok
from tests.support.config import allow_everything, proxy_config_dir, proxy_log_dir
from tests.support.processes import BACKEND
from tests.support.proxies import RawProxy

OPS = "audit/operations.jsonl"
AUDIT_FAILURE = 10
MAX_BYTES = 65536  # the smallest rotation the config allows
CALLS = 400  # an entry of ~800 bytes per call: operations.jsonl passes MAX_BYTES four times or more


@pytest.fixture
def fx(cli, acp_env):
    cli.env = acp_env
    cli("proxy", "add", "fx", "--server-name", "fixture", "--command", sys.executable, "--arg", BACKEND, check=True)
    allow_everything(acp_env, "fx")
    path = proxy_config_dir(acp_env, "fx") / "config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    config["log_rotation"] = {"max_bytes": MAX_BYTES, "compress": True}
    path.write_text(json.dumps(config), encoding="utf-8")
    return "fx"


def active(env: dict) -> Path:
    return proxy_log_dir(env, "fx") / OPS


def sealed(env: dict) -> list[segments.Segment]:
    return segments.list_segments(active(env))


def whole_trail(env: dict) -> bytes:
    """Every segment, oldest first, then the active file: one chain from GENESIS."""
    return b"".join(s.read() for s in sealed(env)) + active(env).read_bytes()


async def session(env: dict, calls: int, until=None) -> None:
    """One client session of `calls` echo calls; `until` (a condition on the files) is awaited
    while the proxy still runs. The proxy must exit 0 when the client disconnects."""
    proxy = await RawProxy.start(env, "fx")
    try:
        await proxy.initialize()
        for i in range(calls):
            answer = await proxy.call_tool("echo", {"text": f"call {i} " + "lorem ipsum " * 80})
            assert "result" in answer, answer
        if until is not None:
            deadline = time.monotonic() + 30
            while not until():
                assert time.monotonic() < deadline, [s.path.name for s in sealed(env)]
                await asyncio.sleep(0.1)
        code, stderr = await proxy.finish()
        assert code == 0, stderr
    finally:
        await proxy.close()


def verify_json(cli) -> tuple[int, dict]:
    result = cli("audit", "verify", "--proxy", "fx", "--json")
    assert "Traceback" not in result.stderr, result.stderr
    return result.returncode, json.loads(result.stdout)["proxies"]["fx"]


def ops_report(report: dict) -> dict:
    return next(f for f in report["files"] if f["name"] == "operations")


def assert_verify_passes(cli, entries: int) -> None:
    code, report = verify_json(cli)
    assert code == 0 and report["overall_status"] == "passed", report
    assert report["keyed"] is True
    assert ops_report(report)["entries"] == entries, ops_report(report)


def all_compressed(env: dict) -> bool:
    names = [s.path.name for s in sealed(env)]
    return bool(names) and all(name.endswith(".jsonl.gz") for name in names)


async def test_a_rotated_trail_verifies_restarts_and_catches_a_deleted_segment(cli, acp_env, fx):
    await session(acp_env, CALLS)

    found = sealed(acp_env)
    assert len(found) >= 3, [s.path.name for s in found]
    expected = 1
    for segment in found:  # contiguous names, each at most MAX_BYTES of entries
        assert segment.first == expected and len(segment.read()) <= MAX_BYTES, segment.path.name
        expected = segment.last + 1
    # One chain across every segment and the active file, under the proxy's own key.
    check = chain_ok(acp_env, "fx", OPS, whole_trail(acp_env))
    assert check.ok and not check.torn_tail, check.errors[:5]
    assert audit_key_of(acp_env, "fx") is not None
    assert (
        check.first_sequence == 1 and check.entries == check.last_sequence > found[-1].last and check.entries >= CALLS
    )
    assert_verify_passes(cli, check.entries)

    # The next start reads only the active file, continues the chain, and compresses whatever
    # segment the last run left plain (its compression thread dies with the process).
    await session(acp_env, 20, until=lambda: all_compressed(acp_env))
    assert all_compressed(acp_env)
    assert all(gzip.decompress(s.path.read_bytes()) for s in sealed(acp_env))
    after = chain_ok(acp_env, "fx", OPS, whole_trail(acp_env))
    assert after.ok and after.entries > check.entries, after.errors[:5]
    assert_verify_passes(cli, after.entries)

    # A deleted segment: the next start refuses (exit 10) from the names alone, verify fails.
    victim = sealed(acp_env)[len(sealed(acp_env)) // 2]
    victim.path.unlink()
    result = cli("start", "--proxy", "fx", "--headless")
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode == AUDIT_FAILURE, (result.returncode, output)
    assert f"should start at entry {victim.first}" in output and "deleted" in output, output
    assert "audit repair" in output and "Traceback" not in output, output
    code, report = verify_json(cli)
    assert code == 1 and report["overall_status"] == "failed", report
    assert any("deleted" in error for error in ops_report(report)["errors"]), ops_report(report)
