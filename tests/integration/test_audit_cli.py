"""`mcp-acp audit …` and `mcp-acp logs …` against logs built in the test, without running a proxy.

The logs are written the way the proxy's writer writes them (seal a line, append it, then save the
integrity state), so every scenario here is exactly what the CLI meets on a real machine.
"""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest
from filelock import FileLock

from mcp_acp.audit.chain import GENESIS, KeyRule, entry_hash, seal
from mcp_acp.audit.keys import load_audit_key
from mcp_acp.audit.state import FileState, IntegrityState
from tests.support.processes import MCP_ACP

OPS = "audit/operations.jsonl"
DEC = "audit/decisions.jsonl"
STATE = ".integrity_state"


# --------------------------------------------------------------------------- helpers


def words(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture
def home(acp_env, monkeypatch) -> Path:
    """In-process calls (secret store, paths) see the same MCP_ACP_HOME as the CLI."""
    monkeypatch.setenv("MCP_ACP_HOME", acp_env["MCP_ACP_HOME"])
    return Path(acp_env["MCP_ACP_HOME"])


@pytest.fixture
def fx(cli, home) -> Path:
    """A configured proxy `fx`; returns its log folder."""
    cli("proxy", "add", "fx", "--server-name", "fixture", "--command", "/bin/cat", check=True)
    return home / "logs" / "mcp-acp" / "proxies" / "fx"


def write_entries(log_dir: Path, rel: str, count: int, fields=None, key: bytes | None = None, since: int = 1) -> None:
    """Append `count` chained entries to `rel` and save the state, as the proxy's writer does."""
    state = IntegrityState.load(log_dir, key)
    state.key = key
    path = log_dir / rel
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    known = state.files.get(rel)
    sequence, prev = (known.last_sequence, known.last_hash) if known else (0, GENESIS)
    rule = KeyRule(key, since)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        for _i in range(count):
            sequence += 1
            base = (
                fields(sequence)
                if fields
                else {"method": "tools/call", "status": "Success", "tool_name": "echo", "request_id": str(sequence)}
            )
            entry, line = seal(base, sequence, prev, rule.key_for(sequence))
            os.write(fd, line)
            prev = entry["entry_hash"]
            st = os.fstat(fd)
            state.files[rel] = FileState(prev, sequence, st.st_ino, st.st_dev, st.st_size)
            state.save()
    finally:
        os.close(fd)
        state.close()


def standard_logs(log_dir: Path) -> None:
    write_entries(log_dir, OPS, 6)
    write_entries(
        log_dir,
        DEC,
        4,
        lambda n: {
            "event": "policy_decision",
            "decision": "allow",
            "final_rule": "default",
            "tool_name": "echo",
            "mcp_method": "tools/call",
            "request_id": str(n),
        },
    )
    write_entries(
        log_dir,
        "system/system.jsonl",
        2,
        lambda n: {"level": "WARNING", "event": "something_odd", "message": f"odd thing {n}"},
    )


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def rewrite_in_place(path: Path, data: bytes) -> None:
    with open(path, "r+b") as handle:  # same inode: only the chain and the state can tell
        handle.truncate(0)
        handle.write(data)


def rechain(entries: list[dict]) -> bytes:
    """What an attacker without the key writes: a consistent chain with plain sha256."""
    prev = GENESIS
    for number, entry in enumerate(entries, start=1):
        entry["sequence"], entry["prev_hash"] = number, prev
        entry.pop("entry_hash", None)
        entry["entry_hash"] = prev = entry_hash(entry)
    return b"".join(json.dumps(e, separators=(",", ":")).encode() + b"\n" for e in entries)


def forge_state(log_dir: Path, rel: str) -> None:
    """Point the state at the file's current last entry, as an attacker with write access would."""
    state = json.loads((log_dir / STATE).read_bytes())
    last = json.loads(lines_of(log_dir / rel)[-1])
    st = (log_dir / rel).stat()
    state["files"][rel] = {
        "last_hash": last["entry_hash"],
        "last_sequence": last["sequence"],
        "last_inode": st.st_ino,
        "last_dev": st.st_dev,
        "last_size": st.st_size,
    }
    state.pop("mac", None)  # they cannot sign it without the key
    (log_dir / STATE).write_text(json.dumps(state))


def verify(cli, *args: str) -> subprocess.CompletedProcess:
    result = cli("audit", "verify", *args)
    assert "Traceback" not in result.stdout + result.stderr, result.stdout + result.stderr
    return result


# --------------------------------------------------------------------------- verify


def test_verify_with_no_proxies_cannot_verify(cli):
    result = verify(cli)
    assert result.returncode == 2
    assert "no proxies" in words(result.stderr)


def test_verify_clean_logs_passes(cli, fx):
    standard_logs(fx)
    result = verify(cli, "--proxy", "fx")
    assert result.returncode == 0, result.stdout + result.stderr
    out = words(result.stdout)
    assert "protected" in out and "passed" in out.lower()
    assert verify(cli).returncode == 0  # all proxies
    assert verify(cli, "-p", "fx", "-f", "operations").returncode == 0


def test_verify_before_any_log_passes_with_nothing_to_verify(cli, fx):
    result = verify(cli, "--proxy", "fx")
    assert result.returncode == 0
    assert "Nothing to verify" in words(result.stdout)


def test_verify_unknown_proxy_cannot_verify(cli, fx):
    result = verify(cli, "--proxy", "nope")
    assert result.returncode == 2
    assert "nope" in result.stderr


def edit_field(path: Path) -> None:
    lines = lines_of(path)
    lines[2] = lines[2].replace(b'"Success"', b'"Failure"')
    rewrite_in_place(path, b"".join(lines))


def delete_line(path: Path) -> None:
    lines = lines_of(path)
    del lines[3]
    rewrite_in_place(path, b"".join(lines))


def truncate_tail(path: Path) -> None:
    lines = lines_of(path)
    rewrite_in_place(path, b"".join(lines[:-2]))


def delete_file(path: Path) -> None:
    path.unlink()


def replace_file(path: Path) -> None:
    copy = path.with_name("copy.tmp")
    copy.write_bytes(path.read_bytes())  # a new inode while the old one still exists
    copy.replace(path)


TAMPERINGS = {
    "edit_field": edit_field,
    "delete_line": delete_line,
    "truncate_tail": truncate_tail,
    "delete_file": delete_file,
    "replace_file": replace_file,
}


@pytest.mark.parametrize("tampering", list(TAMPERINGS))
def test_verify_detects_tampering(cli, fx, tampering):
    standard_logs(fx)
    TAMPERINGS[tampering](fx / OPS)
    result = verify(cli, "--proxy", "fx")
    assert result.returncode == 1, result.stdout + result.stderr
    out = words(result.stdout)
    assert "Verification failed" in out
    assert ("missing" if tampering == "delete_file" else "broken") in out
    # the other files still verify on their own
    assert verify(cli, "--proxy", "fx", "--file", "decisions").returncode == 0
    assert verify(cli, "--proxy", "fx", "--file", "operations").returncode == 1


@pytest.mark.parametrize("damage", ["garbage", "deleted"])
def test_verify_damaged_state_is_a_failure(cli, fx, damage):
    standard_logs(fx)
    if damage == "garbage":
        (fx / STATE).write_bytes(b"\x00garbage{{{" * 10)
    else:
        (fx / STATE).unlink()
    result = verify(cli, "--proxy", "fx")
    assert result.returncode == 1, result.stdout + result.stderr


def test_verify_unreadable_file_cannot_verify(cli, fx):
    standard_logs(fx)
    state = json.loads((fx / STATE).read_bytes())
    del state["files"][DEC]
    (fx / STATE).write_text(json.dumps(state))
    (fx / DEC).unlink()
    (fx / DEC).mkdir()  # unreadable as a file, even for root
    result = verify(cli, "--proxy", "fx")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Could not verify" in words(result.stdout)


def test_verify_json_shape(cli, fx):
    standard_logs(fx)
    result = verify(cli, "--json")
    assert result.returncode == 0
    data = json.loads(result.stdout)
    proxy = data["proxies"]["fx"]
    assert proxy["overall_status"] == "passed"
    files = {f["name"]: f for f in proxy["files"]}
    assert set(files) == {"operations", "decisions", "auth", "system", "config-history", "policy-history", "repairs"}
    for f in files.values():
        assert set(f) >= {"name", "path", "status", "entries", "errors", "warnings", "backups"}
    assert files["operations"]["status"] == "protected" and files["operations"]["entries"] == 6
    assert files["auth"]["status"] == "not_created"

    delete_line(fx / OPS)
    result = verify(cli, "--json", "--proxy", "fx")
    assert result.returncode == 1
    proxy = json.loads(result.stdout)["proxies"]["fx"]
    assert proxy["overall_status"] == "failed"
    ops = next(f for f in proxy["files"] if f["name"] == "operations")
    assert ops["status"] == "broken" and ops["errors"]


# --------------------------------------------------------------------------- checkpoint


def test_checkpoint_catches_a_consistent_rewrite(cli, fx, tmp_path):
    standard_logs(fx)
    printed = cli("audit", "checkpoint", check=True)
    document = json.loads(printed.stdout)
    assert document["version"] == 1 and document["created_at"]
    assert document["proxies"]["fx"][OPS]["sequence"] == 6
    assert set(document["proxies"]["fx"]) == {OPS, DEC, "system/system.jsonl"}

    saved = tmp_path / "elsewhere" / "checkpoint.json"
    written = cli("audit", "checkpoint", "--proxy", "fx", "--output", str(saved), check=True)
    assert "Wrote a checkpoint" in words(written.stdout)
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert json.loads(saved.read_text())["proxies"] == document["proxies"]
    assert verify(cli, "--checkpoint", str(saved)).returncode == 0

    write_entries(fx, OPS, 3)  # growth is fine
    assert verify(cli, "--proxy", "fx", "--checkpoint", str(saved)).returncode == 0

    # someone who can write both the log and the state truncates and re-points the state:
    # the chain and the state agree again, only the checkpoint remembers
    entries = [json.loads(line) for line in lines_of(fx / OPS)][:4]
    rewrite_in_place(fx / OPS, rechain(entries))
    forge_state(fx, OPS)
    assert verify(cli, "--proxy", "fx").returncode == 0  # the documented self-attesting limitation
    result = verify(cli, "--proxy", "fx", "--checkpoint", str(saved))
    assert result.returncode == 1, result.stdout
    assert "entry 6 of audit/operations.jsonl no longer matches the checkpoint" in words(result.stdout)
    as_json = json.loads(verify(cli, "--json", "--checkpoint", str(saved)).stdout)
    assert as_json["proxies"]["fx"]["overall_status"] == "failed"
    assert as_json["proxies"]["fx"]["checkpoint_errors"]


def test_checkpoint_catches_rewritten_history_of_same_length(cli, fx, tmp_path):
    standard_logs(fx)
    saved = tmp_path / "cp.json"
    cli("audit", "checkpoint", "--output", str(saved), check=True)
    entries = [json.loads(line) for line in lines_of(fx / OPS)]
    entries[1]["status"] = "Failure"
    rewrite_in_place(fx / OPS, rechain(entries))
    forge_state(fx, OPS)
    assert verify(cli, "--proxy", "fx").returncode == 0
    assert verify(cli, "--proxy", "fx", "--checkpoint", str(saved)).returncode == 1


def test_checkpoint_refuses_a_failing_trail(cli, fx):
    standard_logs(fx)
    edit_field(fx / OPS)
    result = cli("audit", "checkpoint")
    assert result.returncode == 1
    assert "does not verify" in words(result.stderr)
    assert result.stdout == ""


def test_verify_with_a_bad_checkpoint_cannot_verify(cli, fx, tmp_path):
    standard_logs(fx)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert verify(cli, "--checkpoint", str(bad)).returncode == 2
    assert verify(cli, "--checkpoint", str(tmp_path / "absent.json")).returncode == 2
    bad.write_text(json.dumps({"version": 7, "proxies": {}}))
    assert verify(cli, "--checkpoint", str(bad)).returncode == 2


def test_checkpoint_of_a_deleted_file_fails(cli, fx, tmp_path):
    standard_logs(fx)
    saved = tmp_path / "cp.json"
    cli("audit", "checkpoint", "--output", str(saved), check=True)
    (fx / DEC).unlink()
    state = json.loads((fx / STATE).read_bytes())
    del state["files"][DEC]
    (fx / STATE).write_text(json.dumps(state))
    assert verify(cli, "--proxy", "fx").returncode == 0
    result = verify(cli, "--proxy", "fx", "--checkpoint", str(saved))
    assert result.returncode == 1
    assert "audit/decisions.jsonl no longer exists" in words(result.stdout)


# --------------------------------------------------------------------------- key


def test_key_create_then_a_rewritten_chain_fails(cli, fx, home):
    standard_logs(fx)
    shown = cli("audit", "key", "show", "--proxy", "fx", check=True)
    assert "no audit key" in words(shown.stdout)

    created = cli("audit", "key", "create", "--proxy", "fx")
    assert created.returncode == 0, created.stdout + created.stderr
    assert "From now on every entry is keyed" in words(created.stdout)
    key = load_audit_key("fx")
    assert key is not None
    assert key.since[OPS] == 7 and key.since[DEC] == 5 and key.since["audit/auth.jsonl"] == 1
    shown = words(cli("audit", "key", "show", "--proxy", "fx", check=True).stdout)
    assert "has an audit key" in shown and "file store" in shown
    assert not any(home.rglob("*audit-hmac*")) or all("secrets" in str(p) for p in home.rglob("*audit-hmac*"))
    assert not list(fx.rglob("*audit-hmac*"))  # the key is not next to the logs

    # the existing trail still verifies (plain entries before `since`, the state now signed)
    assert verify(cli, "--proxy", "fx").returncode == 0
    write_entries(fx, OPS, 3, key=key.key, since=key.since[OPS])  # the proxy's keyed entries
    assert verify(cli, "--proxy", "fx").returncode == 0

    again = cli("audit", "key", "create", "--proxy", "fx")
    assert again.returncode == 1 and "already has an audit key" in words(again.stderr)

    # an attacker without the key rewrites an entry, re-chains with sha256 and re-points the state
    entries = [json.loads(line) for line in lines_of(fx / OPS)]
    entries[7]["status"] = "Failure"
    rewrite_in_place(fx / OPS, rechain(entries))
    forge_state(fx, OPS)
    result = verify(cli, "--proxy", "fx")
    assert result.returncode == 1, result.stdout


def test_without_a_key_the_same_rewrite_passes(cli, fx):
    """The self-attesting limitation the key exists for (docs/audit.md)."""
    standard_logs(fx)
    entries = [json.loads(line) for line in lines_of(fx / OPS)]
    entries[3]["status"] = "Failure"
    rewrite_in_place(fx / OPS, rechain(entries))
    forge_state(fx, OPS)
    assert verify(cli, "--proxy", "fx").returncode == 0


def test_key_create_refuses_a_failing_trail(cli, fx, home):
    standard_logs(fx)
    delete_line(fx / OPS)
    result = cli("audit", "key", "create", "--proxy", "fx")
    assert result.returncode == 1
    assert "does not verify" in words(result.stderr)
    assert load_audit_key("fx") is None


def test_key_create_before_any_log(cli, fx, home):
    cli("audit", "key", "create", "--proxy", "fx", check=True)
    key = load_audit_key("fx")
    assert set(key.since.values()) == {1}
    write_entries(fx, OPS, 2, key=key.key)
    assert verify(cli, "--proxy", "fx").returncode == 0


# --------------------------------------------------------------------------- repair


def test_repair_resyncs_a_truncated_log(cli, fx):
    standard_logs(fx)
    before = (fx / OPS).read_bytes()
    truncate_tail(fx / OPS)
    truncated = (fx / OPS).read_bytes()
    assert verify(cli, "--proxy", "fx").returncode == 1
    result = cli("audit", "repair", "--proxy", "fx")
    assert result.returncode == 0, result.stdout + result.stderr
    out = words(result.stdout)
    assert "repaired" in out and "audit/operations.jsonl" in out
    assert (fx / OPS).read_bytes() == truncated != before  # never edits log content
    assert not list(fx.rglob("*.broken.*"))
    assert verify(cli, "--proxy", "fx").returncode == 0
    again = cli("audit", "repair", "--proxy", "fx", check=True)
    assert "Nothing to repair" in words(again.stdout)


def test_repair_backs_up_a_broken_chain(cli, fx):
    standard_logs(fx)
    edit_field(fx / OPS)
    edited = (fx / OPS).read_bytes()
    state_before = (fx / STATE).read_bytes()

    refused = cli("audit", "repair", "--proxy", "fx")  # no terminal, no --yes
    assert refused.returncode == 1
    assert "--yes" in words(refused.stderr) and "Nothing was changed" in words(refused.stderr)
    assert (fx / OPS).read_bytes() == edited and (fx / STATE).read_bytes() == state_before
    assert not list(fx.rglob("*.broken.*"))

    result = cli("audit", "repair", "--proxy", "fx", "--yes")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "backed_up" in words(result.stdout)
    backups = list((fx / "audit").glob("operations.broken.*.jsonl"))
    assert len(backups) == 1
    assert re.fullmatch(r"operations\.broken\.\d{4}-\d{2}-\d{2}_\d{6}\.jsonl", backups[0].name), backups[0].name
    assert backups[0].read_bytes() == edited  # byte-identical
    assert (fx / OPS).read_bytes() == b""
    assert stat.S_IMODE((fx / OPS).stat().st_mode) == 0o600
    assert OPS not in json.loads((fx / STATE).read_bytes())["files"]

    result = verify(cli, "--proxy", "fx", "--json")
    assert result.returncode == 0, result.stdout
    ops = next(f for f in json.loads(result.stdout)["proxies"]["fx"]["files"] if f["name"] == "operations")
    assert ops["status"] == "empty" and ops["backups"] == [backups[0].name]
    # the proxy can chain from GENESIS again
    write_entries(fx, OPS, 2)
    assert verify(cli, "--proxy", "fx").returncode == 0


def test_repair_clears_a_deleted_file_and_only_the_chosen_file(cli, fx):
    standard_logs(fx)
    (fx / DEC).unlink()
    truncate_tail(fx / OPS)
    result = cli("audit", "repair", "--proxy", "fx", "--file", "decisions")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "cleared" in words(result.stdout)
    state = json.loads((fx / STATE).read_bytes())
    assert DEC not in state["files"] and OPS in state["files"]
    assert verify(cli, "--proxy", "fx", "--file", "decisions").returncode == 0
    assert verify(cli, "--proxy", "fx").returncode == 1  # operations was not touched
    cli("audit", "repair", "--proxy", "fx", check=True)
    assert verify(cli, "--proxy", "fx").returncode == 0


@pytest.mark.parametrize("damage", ["garbage", "deleted", "truncated"])
def test_repair_rebuilds_a_damaged_state(cli, fx, damage):
    standard_logs(fx)
    state = fx / STATE
    if damage == "garbage":
        state.write_bytes(b"\x00garbage{{{" * 50)
    elif damage == "truncated":
        state.write_bytes(state.read_bytes()[:40])
    else:
        state.unlink()
    assert verify(cli, "--proxy", "fx").returncode == 1
    result = cli("audit", "repair", "--proxy", "fx")
    assert result.returncode == 0, result.stdout + result.stderr
    assert verify(cli, "--proxy", "fx").returncode == 0
    files = json.loads(state.read_bytes())["files"]
    assert files[OPS]["last_sequence"] == 6 and files[DEC]["last_sequence"] == 4


def test_repair_refuses_while_the_proxy_runs(cli, fx):
    standard_logs(fx)
    truncate_tail(fx / OPS)
    lock = FileLock(str(fx / ".writer.lock"))
    lock.acquire(timeout=0)
    try:
        result = cli("audit", "repair", "--proxy", "fx", "--yes")
        assert result.returncode == 1
        assert "proxy fx is running; stop it first" in words(result.stderr)
        created = cli("audit", "key", "create", "--proxy", "fx")
        assert created.returncode == 1 and "running" in created.stderr
    finally:
        lock.release()
    assert verify(cli, "--proxy", "fx").returncode == 1  # untouched
    cli("audit", "repair", "--proxy", "fx", check=True)


def test_repair_with_a_key_rebuilds_a_signed_state(cli, fx, home):
    cli("audit", "key", "create", "--proxy", "fx", check=True)
    key = load_audit_key("fx")
    write_entries(fx, OPS, 5, key=key.key)
    (fx / STATE).write_bytes(b"{}")
    assert verify(cli, "--proxy", "fx").returncode == 1
    cli("audit", "repair", "--proxy", "fx", check=True)
    assert "mac" in json.loads((fx / STATE).read_bytes())
    assert verify(cli, "--proxy", "fx").returncode == 0


# --------------------------------------------------------------------------- logs


def test_logs_list(cli, fx):
    standard_logs(fx)
    edit_field(fx / OPS)
    cli("audit", "repair", "--proxy", "fx", "--yes", check=True)
    result = cli("logs", "list", check=True)
    out = words(result.stdout)
    assert "audit/decisions.jsonl" in out
    assert re.search(r"\d+ B |\d+\.\d KiB", out), out
    assert "audit/operations.broken." in out and "(repair backup)" in out
    assert "not created" in out  # auth.jsonl
    assert cli("logs", "list", "--proxy", "fx").returncode == 0
    assert cli("logs", "list", "--proxy", "nope").returncode == 1


def test_logs_show(cli, fx):
    standard_logs(fx)
    result = cli("logs", "show", "--proxy", "fx", "--type", "operations", "-n", "3", check=True)
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 3
    assert "tools/call" in lines[0] and "Success" in lines[0] and "#4" in lines[0]
    assert "#6" in lines[-1]  # newest last

    raw = cli("logs", "show", "-p", "fx", "-t", "decisions", "--json", check=True)
    entries = [json.loads(line) for line in raw.stdout.splitlines()]
    assert [e["sequence"] for e in entries] == [1, 2, 3, 4]
    assert entries == [json.loads(line) for line in lines_of(fx / DEC)]

    system = cli("logs", "show", "-p", "fx", "-t", "system", check=True)
    assert "something_odd" in system.stdout and "odd thing 2" in system.stdout

    missing = cli("logs", "show", "-p", "fx", "-t", "auth")
    assert missing.returncode == 1 and "does not exist yet" in words(missing.stderr)
    assert cli("logs", "show", "-p", "fx", "-t", "nonsense").returncode == 2


def test_logs_show_skips_a_torn_last_line(cli, fx):
    standard_logs(fx)
    with open(fx / OPS, "ab") as handle:
        handle.write(b'{"time":"2030-01-01T00:00:00.000Z","seq')
    raw = cli("logs", "show", "-p", "fx", "-t", "operations", "--json", check=True)
    assert len(raw.stdout.splitlines()) == 6


def test_logs_tail_follows_new_entries(cli, fx, acp_env):
    proc = subprocess.Popen(
        [MCP_ACP, "logs", "tail", "--proxy", "fx", "--type", "operations", "--json"],
        env=acp_env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(1.5)  # it waits for the file to appear
        write_entries(fx, OPS, 2)
        deadline = time.monotonic() + 15
        seen = []
        while len(seen) < 2 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if line:
                seen.append(json.loads(line))
        assert [e["sequence"] for e in seen] == [1, 2]
        write_entries(fx, OPS, 1)
        assert json.loads(proc.stdout.readline())["sequence"] == 3
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0
        assert "Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
