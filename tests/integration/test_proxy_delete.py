"""`mcp-acp proxy delete|purge`, `proxy list [--deleted]` and `status`, against proxies that really ran.

Each proxy is started with `mcp-acp start --headless` (the fixture backend over STDIO, or over HTTP
with an API key), so the logs, integrity state, incidents, debug logs and socket are the real ones.
"""

from __future__ import annotations

import asyncio
import json
import stat
import sys
import time
from pathlib import Path

import pytest

from mcp_acp import secret_store
from mcp_acp.admin.archives import tree_size, verify_archive
from mcp_acp.audit.keys import load_audit_key
from mcp_acp.backends.credentials import credential_key
from mcp_acp.config import paths
from mcp_acp.localhttp.server import socket_accepts
from tests.support.audit import read_jsonl
from tests.support.config import allow_everything, proxy_config_dir, proxy_log_dir
from tests.support.processes import BACKEND
from tests.support.proxies import RawProxy

AUDIT_FAILURE = 10


@pytest.fixture
def home(acp_env, monkeypatch) -> Path:
    """In-process calls (paths, secret store, verification) see the CLI's MCP_ACP_HOME."""
    monkeypatch.setenv("MCP_ACP_HOME", acp_env["MCP_ACP_HOME"])
    monkeypatch.setenv("MCP_ACP_SECRET_BACKEND", "file")
    return Path(acp_env["MCP_ACP_HOME"])


def add_stdio_proxy(cli, env: dict, name: str = "fx", debug: bool = True) -> None:
    cli("proxy", "add", name, "--server-name", "fixture", "--command", sys.executable, "--arg", BACKEND, check=True)
    allow_everything(env, name)
    if debug:  # debug/ wire logs exist only at DEBUG
        path = proxy_config_dir(env, name) / "config.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), "log_level": "DEBUG"}))


def archives(home: Path) -> list[str]:
    folder = home / "config" / "archive"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def words(text: str) -> str:
    return " ".join(text.split())


async def wait_for_socket(name: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not socket_accepts(paths.proxy_socket_path(name)):
        assert time.monotonic() < deadline, "the proxy's control socket never answered"
        await asyncio.sleep(0.05)


async def session(env: dict, name: str = "fx", calls: int = 2) -> None:
    proxy = await RawProxy.start(env, name)
    try:
        await proxy.initialize()
        for i in range(calls):
            assert "result" in await proxy.call_tool("echo", {"text": f"call {i}"})
        code, stderr = await proxy.finish()
        assert code == 0, stderr
    finally:
        await proxy.close()


async def security_shutdown(env: dict, name: str = "fx") -> None:
    """Delete a log under a running proxy: it shuts down (exit 10), leaving .last_crash and shutdowns.jsonl."""
    proxy = await RawProxy.start(env, name)
    try:
        await proxy.initialize()
        assert "result" in await proxy.call_tool("echo", {"text": "before"})
        (proxy_log_dir(env, name) / "audit" / "operations.jsonl").unlink()
        await proxy.call_tool("echo", {"text": "after"})
        assert await asyncio.wait_for(proxy.process.wait(), 15) == AUDIT_FAILURE
    finally:
        await proxy.close()


# ------------------------------------------------------------------------------- delete


async def test_delete_archives_config_logs_and_incidents(cli, acp_env, home):
    add_stdio_proxy(cli, acp_env)
    cli("audit", "key", "create", "--proxy", "fx", check=True)
    await security_shutdown(acp_env)
    # A recorded crash excuses nothing: the deleted log is repaired by hand (and the repair is on record).
    assert cli("audit", "repair", "--proxy", "fx", "--yes").returncode == 0
    await session(acp_env)
    logs = proxy_log_dir(acp_env, "fx")
    assert cli("audit", "verify", "--proxy", "fx").returncode == 0
    debug_size = tree_size(logs / "debug")
    assert debug_size > 0 and (logs / "shutdowns.jsonl").is_file()
    crashed = (logs / ".last_crash").is_file()
    proxy_id = json.loads((proxy_config_dir(acp_env, "fx") / "config.json").read_text())["proxy_id"]

    result = cli("proxy", "delete", "--proxy", "fx", "--yes")
    assert result.returncode == 0, result.stderr
    out = words(result.stdout)
    assert "Archived proxy fx" in out and "Deleted" in out and "debug logs" in out
    assert "remove 'fx' from your MCP client's configuration" in out

    [name] = archives(home)
    target = home / "config" / "archive" / name
    assert name.startswith("fx_") and name in out
    metadata = json.loads((target / "metadata.json").read_text())
    assert metadata == {
        "version": 1,
        "original_name": "fx",
        "deleted_at": metadata["deleted_at"],
        "deleted_by": "cli",
        "original_config_path": str(proxy_config_dir(acp_env, "fx")),
        "original_log_path": str(logs),
        "archived": {
            "config": True,
            "audit_logs": True,
            "system_logs": True,
            "integrity_state": True,
            "crash_breadcrumb": crashed,
            "incident_shutdowns": True,
            "incident_bootstrap": False,
        },
        "deleted": {
            "debug_logs": True,
            "debug_logs_size_bytes": debug_size,
            "socket_file": False,
            "backend_credential": False,
        },
    }
    assert metadata["deleted_at"].endswith("Z")
    for rel in (
        "config/config.json",
        "config/policy.json",
        "logs/audit/operations.jsonl",
        "logs/audit/decisions.jsonl",
        "logs/audit/auth.jsonl",
        "logs/system/system.jsonl",
        "logs/system/config_history.jsonl",
        "logs/.integrity_state",
        "logs/shutdowns.jsonl",
    ):
        assert (target / rel).is_file(), rel
    assert read_jsonl(target / "logs" / "shutdowns.jsonl")[-1]["event"] == "security_shutdown"
    assert json.loads((target / "config" / "config.json").read_text())["proxy_id"] == proxy_id
    assert not (target / "logs" / "debug").exists()
    readme = (target / "README.txt").read_text()
    assert ("logs/.last_crash" in readme) is crashed
    for text in (
        "'fx'",
        "logs/audit/",
        "logs/shutdowns.jsonl",
        "debug wire logs",
        f"audit-hmac:archive:{name}",
        f"mcp-acp proxy purge {name}",
    ):
        assert text in readme, text
    assert stat.S_IMODE(target.stat().st_mode) == 0o700
    assert stat.S_IMODE((target / "metadata.json").stat().st_mode) == 0o600

    # The originals are gone, and so is the proxy.
    assert not proxy_config_dir(acp_env, "fx").exists() and not logs.exists()
    assert "No proxies yet" in cli("proxy", "list", check=True).stdout
    # The archived trail still verifies, keyed, with the key that moved with it.
    assert load_audit_key("fx") is None
    report = verify_archive(name)
    assert report.overall == "passed", [(f.name, f.status, f.errors) for f in report.files]
    assert {f.name: f.status for f in report.files}["operations"] == "protected"


async def test_delete_removes_the_backend_credential(cli, acp_env, home, http_backend):
    cli(
        "proxy",
        "add",
        "web",
        "--server-name",
        "fixture",
        "--url",
        http_backend.url,
        "--api-key-stdin",
        input="k-secret-1\n",
        check=True,
    )
    allow_everything(acp_env, "web")
    await session(acp_env, "web", calls=1)
    assert secret_store.get(credential_key("web")) == "k-secret-1"
    result = cli("proxy", "delete", "-p", "web", "-y")
    assert result.returncode == 0, result.stderr
    assert "backend credential" in result.stdout
    assert secret_store.get(credential_key("web")) is None
    [name] = archives(home)
    metadata = json.loads((home / "config" / "archive" / name / "metadata.json").read_text())
    assert metadata["deleted"]["backend_credential"] is True
    assert metadata["deleted"]["debug_logs"] is False and metadata["archived"]["audit_logs"] is True


async def test_delete_is_refused_while_the_proxy_runs_and_status_shows_it(cli, acp_env, home):
    add_stdio_proxy(cli, acp_env, debug=False)
    config_dir, logs = proxy_config_dir(acp_env, "fx"), proxy_log_dir(acp_env, "fx")
    proxy = await RawProxy.start(acp_env, "fx")
    try:
        await proxy.initialize()
        await wait_for_socket("fx")
        before = sorted(p.relative_to(home) for p in home.rglob("*") if p.is_file())

        for flags in ((), ("--purge",)):
            refused = cli("proxy", "delete", "-p", "fx", "--yes", *flags)
            assert refused.returncode == 1, refused.stdout
            assert "running" in refused.stderr and "stop it first" in words(refused.stderr)
            assert "Traceback" not in refused.stderr
        assert sorted(p.relative_to(home) for p in home.rglob("*") if p.is_file()) == before
        assert config_dir.is_dir() and (logs / "audit" / "operations.jsonl").is_file() and archives(home) == []

        listing = cli("proxy", "list", check=True).stdout
        assert "running" in listing and "yes" in listing
        overview = json.loads(cli("status", "--json", check=True).stdout)
        assert overview["manager"] == {"running": False}
        assert [(p["name"], p["running"]) for p in overview["proxies"]] == [("fx", True)]
        assert "manager: not running" in cli("status", check=True).stdout

        detail = json.loads(cli("status", "--proxy", "fx", "--json", check=True).stdout)
        assert detail["running"] is True and detail["name"] == "fx" and detail["sessions"] == 1
        assert detail["policy_version"] and detail["policy_rules_count"] == 1
        assert detail["reload_count"] == 0 and detail["uptime_seconds"] >= 0
        human = words(cli("status", "-p", "fx", check=True).stdout)
        assert "uptime" in human and "policy version" in human and "sessions 1" in human

        code, stderr = await proxy.finish()
        assert code == 0, stderr
    finally:
        await proxy.close()

    stopped = json.loads(cli("status", "--proxy", "fx", "--json", check=True).stdout)
    assert stopped == {"name": "fx", "proxy_id": stopped["proxy_id"], "running": False}
    assert "is not running" in words(cli("status", "-p", "fx", check=True).stdout)
    assert json.loads(cli("status", "--json", check=True).stdout)["proxies"][0]["running"] is False
    assert cli("proxy", "delete", "-p", "fx", "--yes").returncode == 0


async def test_delete_purge_leaves_nothing(cli, acp_env, home):
    add_stdio_proxy(cli, acp_env)
    await session(acp_env, calls=1)
    result = cli("proxy", "delete", "-p", "fx", "--purge", "--yes")
    assert result.returncode == 0, result.stderr
    assert "Deleted" in result.stdout and "Archived" not in result.stdout
    assert not proxy_config_dir(acp_env, "fx").exists() and not proxy_log_dir(acp_env, "fx").exists()
    assert archives(home) == []


def test_delete_without_a_terminal_needs_yes(cli, acp_env, home):
    add_stdio_proxy(cli, acp_env, debug=False)
    result = cli("proxy", "delete", "-p", "fx")
    assert result.returncode == 1 and "pass --yes" in result.stderr and "Traceback" not in result.stderr
    assert proxy_config_dir(acp_env, "fx").is_dir() and archives(home) == []


@pytest.mark.parametrize("name", ["nope", "../fx", "manager"])
def test_delete_unknown_or_invalid_name(cli, acp_env, home, name):
    add_stdio_proxy(cli, acp_env, debug=False)
    result = cli("proxy", "delete", "-p", name, "--yes")
    assert result.returncode == 1 and result.stderr.startswith("Error:") and "Traceback" not in result.stderr
    assert proxy_config_dir(acp_env, "fx").is_dir() and archives(home) == []


# ------------------------------------------------------------------------ list / purge


def test_list_deleted_and_purge(cli, acp_env, home):
    assert "No deleted proxies" in cli("proxy", "list", "--deleted", check=True).stdout
    for _ in range(2):  # the same name deleted twice: two archives
        add_stdio_proxy(cli, acp_env, debug=False)
        cli("proxy", "delete", "-p", "fx", "-y", check=True)  # within one second: the second gets a suffix
    add_stdio_proxy(cli, acp_env, name="other", debug=False)
    cli("proxy", "delete", "-p", "other", "-y", check=True)
    first, second, other = (archives(home)[0], archives(home)[1], archives(home)[2])
    assert first.startswith("fx_") and second.startswith("fx_") and other.startswith("other_")

    listing = cli("proxy", "list", "--deleted", check=True).stdout
    for text in (first, second, other, "cli", "deleted at"):
        assert text in listing, text

    ambiguous = cli("proxy", "purge", "fx", "--yes")
    assert ambiguous.returncode == 1 and first in ambiguous.stderr and second in ambiguous.stderr
    assert "full archive name" in ambiguous.stderr and len(archives(home)) == 3

    outside = home / "config" / "proxies"
    for hostile in ("../x", "..", "/etc", f"../archive/{first}", "fx_*"):
        refused = cli("proxy", "purge", hostile, "--yes")
        assert refused.returncode == 1, hostile
        assert "no archive" in refused.stderr and "Traceback" not in refused.stderr
    assert len(archives(home)) == 3 and outside.is_dir() and (home / "config" / "manager.json").is_file()

    needs_yes = cli("proxy", "purge", other)
    assert needs_yes.returncode == 1 and "pass --yes" in needs_yes.stderr and other in archives(home)

    assert cli("proxy", "purge", second, "--yes").returncode == 0  # by archive name
    assert archives(home) == [first, other]
    purged = cli("proxy", "purge", "fx", "-y")  # by proxy name, now unambiguous
    assert purged.returncode == 0 and first in purged.stdout
    assert cli("proxy", "purge", "other", "-y").returncode == 0
    assert archives(home) == []
    assert "No deleted proxies" in cli("proxy", "list", "--deleted", check=True).stdout
