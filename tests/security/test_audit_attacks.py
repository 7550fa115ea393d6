"""Every tampering an auditor would try on a real proxy's audit trail, with and without an audit
key, in one table (issue 16, docs/audit.md).

Each test starts from a fresh home where `mcp-acp init` has run, proxy `fx` was added in front of
a small stdlib MCP server (tests/fixtures/quick_backend.py: the backend plays no part in the
audit trail) and, with a key, its audit key was created (`mcp-acp audit key create`, the file
secret store of a headless Linux host). That home is made once per module and key and copied for
each test (the trail itself cannot be copied: the state remembers each log's inode). The test
runs a real session through `mcp-acp start --proxy fx --headless` (initialize, six tools/call, a
clean disconnect), checks that `audit verify` passes, and then attacks the trail. What is expected is
one of two outcomes, written per row and per key:

- CAUGHT: `mcp-acp audit verify --json` exits 1 with `overall_status: failed`, and
  `mcp-acp start --proxy fx --headless` refuses with exit 10 and a message pointing at
  `audit repair`, twice (a refused start never heals the trail), and verify still fails after.
- UNCATCHABLE: the attack leaves a trail that is consistent by every record the attacker could
  rewrite. docs/audit.md must say so (a paragraph matching the row's patterns), `audit verify`
  passes and the proxy starts. If the product catches one of these, the test fails too: the row
  and the docs must then be updated together, so the docs never promise less or more than holds.

Attackers come in three strengths, named in each row: one who writes the log folder only; one
who also rewrites what the proxy keeps about the trail in the config folder (the unkeyed record
outside the log folder); one who rolls back everything the user owns, the encrypted secret store
included, without ever reading the key. A rewritten record "outside the log folder" is forged by
value (the old head's sequence and hash are replaced wherever they appear), so this file does not
depend on the record's format.

The tests of `audit repair` at the bottom check that a repair leaves evidence that verify reports
and that tampering with that evidence is itself caught.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from mcp_acp.audit.chain import GENESIS, entry_hash
from tests.security.conftest import ALLOW_ALL, QUICK_BACKEND, Home, Proxy
from tests.support.processes import ROOT

NAME = "fx"
OPS = "audit/operations.jsonl"
DEC = "audit/decisions.jsonl"
AUTH = "audit/auth.jsonl"
SYSTEM = "system/system.jsonl"
CONFIG_HISTORY = "system/config_history.jsonl"
POLICY_HISTORY = "system/policy_history.jsonl"
STATE = ".integrity_state"
LAST_CRASH = ".last_crash"
AUDIT_FAILURE = 10
CALLS = 6  # per session: with initialize and notifications/initialized, 8 operations entries
EXIT_TIMEOUT = 20.0  # a proxy that must stop on its own (fail-closed): generous on a loaded box
DOCS = ROOT / "docs" / "audit.md"

CAUGHT = "caught"
UNCATCHABLE = "uncatchable (documented)"


# --------------------------------------------------------------------------- the trail under attack


def words(text: str) -> str:
    return " ".join(text.split())


def key_is_optional() -> bool:
    """Whether proxy configs have the `audit_key` switch (a key created at the first start)."""
    from mcp_acp.config.models import ProxyConfig

    return "audit_key" in ProxyConfig.model_fields


def prepare(home: Home, keyed: bool) -> None:
    """Add proxy `fx` to a new home and, if `keyed`, create its audit key: no session yet."""
    home.add_proxy(
        NAME,
        sys.executable,
        [QUICK_BACKEND],
        ALLOW_ALL,
        config=None if keyed or not key_is_optional() else {"audit_key": False},
    )
    if keyed:
        created = home.cli("audit", "key", "create", "--proxy", NAME, check=False)
        assert created.returncode == 0 or "already has an audit key" in words(created.stderr), (
            created.stdout + created.stderr
        )


@pytest.fixture(scope="module")
def prepared_homes() -> dict[bool, Path]:
    """One prepared home per key setting, made on first use and never started: tests copy it."""
    return {}


@pytest.fixture
def home_for(tmp_path: Path, prepared_homes: dict[bool, Path], tmp_path_factory: pytest.TempPathFactory):
    """`home_for(keyed)`: a private copy of the prepared home (init, `fx` added, key if keyed)."""
    homes: list[Home] = []

    def make(keyed: bool) -> Home:
        if keyed not in prepared_homes:
            made = Home(tmp_path_factory.mktemp("prepared") / "home")
            prepare(made, keyed)
            prepared_homes[keyed] = made.root
        template, root = prepared_homes[keyed], tmp_path / "home"
        shutil.copytree(template, root, symlinks=True)
        for path in root.rglob("*.json"):  # manager.json names the log folder by its full path
            data = path.read_bytes()
            if bytes(template) in data:
                rewrite_in_place(path, data.replace(bytes(template), bytes(root)))
        homes.append(Home(root, init=False))
        return homes[-1]

    try:
        yield make
    finally:
        for home in homes:
            home.close()
            print(home.diagnostics())  # shown when the test failed


class Trail:
    """Proxy `fx` in a private prepared home, keyed or not, after one real session."""

    def __init__(self, home: Home, keyed: bool) -> None:
        self.home = home
        self.keyed = keyed
        self.session()
        code, report, output = self.verify()
        assert code == 0 and report["overall_status"] == "passed", f"the clean trail does not verify:\n{output}"
        assert report["keyed"] is keyed, f"expected keyed={keyed}:\n{output}"

    # -- places ----------------------------------------------------------------

    @property
    def log_dir(self) -> Path:
        return self.home.log_dir(NAME)

    @property
    def config_root(self) -> Path:
        return self.home.acp_home / "config"

    def path(self, rel: str) -> Path:
        return self.log_dir / rel

    # -- the proxy ---------------------------------------------------------------

    def proxy(self, **env: str) -> Proxy:
        """`mcp-acp start --proxy fx --headless`, initialized (with extra environment if given)."""
        if not env:
            return self.home.start(NAME)
        logs = self.home.root / "stderr"
        logs.mkdir(exist_ok=True)
        proxy = Proxy({**self.home.env, **env}, NAME, logs / f"{NAME}-{len(self.home.proxies)}.log")
        self.home.proxies.append(proxy)
        proxy.initialize()
        return proxy

    def session(self, calls: int = CALLS) -> None:
        proxy = self.proxy()
        for i in range(calls):
            answer = proxy.call("echo", {"text": f"hello {i}"}) if i % 2 == 0 else proxy.call("add", {"a": i, "b": 1})
            assert "result" in answer, answer
        code = proxy.finish()
        assert code == 0, proxy.stderr()[-3000:]

    def start_headless(self) -> subprocess.CompletedProcess:
        """A start with no client behind it (stdin at EOF): exit 10 when it refuses, else it runs
        and stops at once with 0."""
        return self.home.cli("start", "--proxy", NAME, "--headless", check=False)

    def verify(self) -> tuple[int, dict | None, str]:
        """`audit verify --json --proxy fx`: (exit code, fx's report or None, the output)."""
        result = self.home.cli("audit", "verify", "--json", "--proxy", NAME, check=False)
        output = result.stdout + result.stderr
        assert "Traceback" not in output, output
        try:
            report = json.loads(result.stdout)["proxies"][NAME]
        except (ValueError, KeyError, TypeError):
            report = None
        return result.returncode, report, output


# --------------------------------------------------------------------------- file surgery


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def entries_of(path: Path) -> list[dict]:
    return [json.loads(raw) for raw in lines_of(path)]


def rewrite_in_place(path: Path, data: bytes) -> None:
    """Same inode: only the chain, the state and the records outside can tell."""
    with open(path, "r+b") as handle:
        handle.truncate(0)
        handle.write(data)


def line(entry: dict) -> bytes:
    return json.dumps(entry, separators=(",", ":")).encode() + b"\n"  # a form the chain accepts


def forged(prev: dict | None, fields: dict) -> dict:
    """The entry an attacker without the key writes: plain SHA-256, correctly linked."""
    entry = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
        "sequence": prev["sequence"] + 1 if prev else 1,
        "prev_hash": prev["entry_hash"] if prev else GENESIS,
        **fields,
    }
    entry["entry_hash"] = entry_hash(entry)
    return entry


def rechained(entries: list[dict]) -> list[dict]:
    """A consistent chain over `entries` with plain SHA-256 (sequence 1.., GENESIS first)."""
    prev = GENESIS
    for number, entry in enumerate(entries, start=1):
        entry["sequence"], entry["prev_hash"] = number, prev
        entry.pop("entry_hash", None)
        entry["entry_hash"] = prev = entry_hash(entry)
    return entries


def head(path: Path) -> tuple[int, str]:
    last = entries_of(path)[-1]
    return last["sequence"], last["entry_hash"]


def restate(trail: Trail, rel: str, keep_mac: bool) -> None:
    """Point .integrity_state at the file as it now is, as anyone who can write the folder can.
    Without the key the signature ("mac") cannot be recomputed: it is kept stale or dropped."""
    path = trail.path(rel)
    state_path = trail.path(STATE)
    state = json.loads(state_path.read_bytes())
    sequence, last_hash = head(path)
    stat = path.stat()
    state["files"][rel].update(
        last_hash=last_hash,
        last_sequence=sequence,
        last_inode=stat.st_ino,
        last_dev=stat.st_dev,
        last_size=stat.st_size,
    )
    if not keep_mac:
        state.pop("mac", None)
    rewrite_in_place(state_path, json.dumps(state).encode())


def _replace_head(value, old: tuple[int, str], new: tuple[int, str]) -> tuple[object, bool]:
    """`value` with every dict that holds the old head's hash moved to the new head."""
    changed = False
    if isinstance(value, dict):
        if old[1] in value.values():
            value = {
                k: (new[1] if v == old[1] else new[0] if v == old[0] and type(v) is int else v)
                for k, v in value.items()
            }
            changed = True
        for k, v in list(value.items()):
            value[k], inner = _replace_head(v, old, new)
            changed |= inner
    elif isinstance(value, list):
        for i, v in enumerate(value):
            value[i], inner = _replace_head(v, old, new)
            changed |= inner
    return value, changed


def forge_outside_record(trail: Trail, old: tuple[int, str], new: tuple[int, str]) -> None:
    """Move every record in the config folder that names the old head (sequence, hash) of a log to
    its new head: what someone who can write the config folder does after rewriting a log. The
    encrypted secret store is left alone (it cannot be read without the machine's key)."""
    for path in trail.config_root.rglob("*"):
        if not path.is_file() or path.name.startswith("secrets"):
            continue
        try:
            document = json.loads(path.read_bytes())
        except ValueError:
            continue
        document, changed = _replace_head(document, old, new)
        if changed:
            rewrite_in_place(path, json.dumps(document, indent=1).encode() + b"\n")


def snapshot(folder: Path, skip: Callable[[Path], bool] = lambda p: False) -> dict[Path, bytes]:
    return {
        p.relative_to(folder): p.read_bytes()
        for p in folder.rglob("*")
        if p.is_file() and not skip(p) and not p.name.endswith(".lock")
    }


def restore_in_place(folder: Path, saved: dict[Path, bytes], skip: Callable[[Path], bool] = lambda p: False) -> None:
    """Put an older copy back byte for byte, into the same inodes where the files still exist
    (the way `cp` onto existing files does): the state's inodes stay right."""
    for path in list(folder.rglob("*")):
        if (
            path.is_file()
            and not skip(path)
            and not path.name.endswith(".lock")
            and path.relative_to(folder) not in saved
        ):
            path.unlink()
    for rel, data in saved.items():
        path = folder / rel
        if path.exists():
            rewrite_in_place(path, data)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            path.chmod(0o600)


def plant_crash_marker(trail: Trail) -> None:
    """A `.last_crash` exactly like the one a security shutdown leaves."""
    trail.path(LAST_CRASH).write_text(
        f"{time.strftime('%Y-%m-%dT%H:%M:%S.000Z', time.gmtime())}\nfailure_type: audit_failure\n"
        "exit_code: 10\nreason: audit log operations.jsonl was deleted\ncontext: {}\n"
    )


def assert_fails_closed(proxy: Proxy) -> None:
    """A request after the tampering is refused (the result never reaches the client) and the
    proxy stops with exit 10."""
    answer = proxy.call("echo", {"text": "after the tampering"})
    assert "result" not in answer, answer
    assert "audit" in answer["error"]["message"].lower(), answer
    assert proxy.process.wait(EXIT_TIMEOUT) == AUDIT_FAILURE, proxy.stderr()[-3000:]
    proxy.close()


def wait_for_exit(proxy: Proxy) -> None:
    """No request sent: the health check alone must stop it."""
    try:
        code = proxy.process.wait(EXIT_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"the health check did not stop the proxy within {EXIT_TIMEOUT:g} s") from None
    assert code == AUDIT_FAILURE, proxy.stderr()[-3000:]
    proxy.close()


# --------------------------------------------------------------------------- the attacks


def edit_entry(rel: str) -> Callable[[Trail], None]:
    def attack(trail: Trail) -> None:
        path = trail.path(rel)
        lines = lines_of(path)
        index = 2 if rel == OPS else 0  # operations: a tools/call entry; the others: the first entry
        entry = json.loads(lines[index])
        victim = (
            "status"
            if rel == OPS
            else next(k for k in entry if k not in ("sequence", "prev_hash", "entry_hash", "time"))
        )
        entry[victim] = "Failure" if rel == OPS else "tampered"
        lines[index] = line(entry)
        rewrite_in_place(path, b"".join(lines))

    return attack


def delete_middle_entry(trail: Trail) -> None:
    lines = lines_of(trail.path(OPS))
    del lines[len(lines) // 2]
    rewrite_in_place(trail.path(OPS), b"".join(lines))


def insert_copy_of_earlier_entry(trail: Trail) -> None:
    lines = lines_of(trail.path(OPS))
    middle = len(lines) // 2
    lines.insert(middle + 1, lines[middle - 1])
    rewrite_in_place(trail.path(OPS), b"".join(lines))


def insert_forged_entry(trail: Trail) -> None:
    """A new entry after entry 4, linked to it; what follows it no longer links."""
    entries = entries_of(trail.path(OPS))
    fake = forged(
        entries[3], {"method": "tools/call", "tool_name": "echo", "request_id": "forged", "status": "Success"}
    )
    data = [line(e) for e in entries]
    data.insert(4, line(fake))
    rewrite_in_place(trail.path(OPS), b"".join(data))


def reorder_two_entries(trail: Trail) -> None:
    lines = lines_of(trail.path(OPS))
    middle = len(lines) // 2
    lines[middle], lines[middle + 1] = lines[middle + 1], lines[middle]
    rewrite_in_place(trail.path(OPS), b"".join(lines))


def cut_last(count: int) -> Callable[[Trail], None]:
    def attack(trail: Trail) -> None:
        lines = lines_of(trail.path(OPS))
        rewrite_in_place(trail.path(OPS), b"".join(lines[:-count]))

    return attack


def cut_end_and_rewrite_state(trail: Trail, outside_too: bool = False) -> None:
    old = head(trail.path(OPS))
    cut_last(3)(trail)
    restate(trail, OPS, keep_mac=True)
    if outside_too:
        forge_outside_record(trail, old, head(trail.path(OPS)))


def rechain_and_rewrite_state(trail: Trail, outside_too: bool = False) -> None:
    """Turn a successful call into a failed one, then recompute every hash after it (plain
    SHA-256) and point the state at the new last entry: same length, same inode."""
    path = trail.path(OPS)
    old = head(path)
    entries = entries_of(path)
    next(e for e in entries if e.get("method") == "tools/call")["status"] = "Failure"
    rewrite_in_place(path, b"".join(line(e) for e in rechained(entries)))
    restate(trail, OPS, keep_mac=False)
    if outside_too:
        forge_outside_record(trail, old, head(path))


def delete_log(trail: Trail) -> None:
    trail.path(OPS).unlink()


def replace_log_by_copy(trail: Trail) -> None:
    path = trail.path(OPS)
    copy = path.with_name("operations.copy")
    shutil.copyfile(path, copy)
    os.chmod(copy, 0o600)
    os.replace(copy, path)  # same bytes, a new inode


def delete_state(trail: Trail) -> None:
    trail.path(STATE).unlink()


def state_bad_json(trail: Trail) -> None:
    trail.path(STATE).write_bytes(b"\x00garbage{{{" * 50)


def state_cut_short(trail: Trail) -> None:
    state = trail.path(STATE)
    state.write_bytes(state.read_bytes()[:40])


def append_forged_entry(rel: str) -> Callable[[Trail], None]:
    def attack(trail: Trail) -> None:
        path = trail.path(rel)
        entries = entries_of(path)
        with path.open("ab") as handle:
            handle.write(
                line(
                    forged(
                        entries[-1] if entries else None,
                        {
                            "method": "tools/call",
                            "tool_name": "echo",
                            "request_id": "forged",
                            "status": "Success",
                            "event": "policy_decision",
                            "decision": "allow",
                        },
                    )
                )
            )

    return attack


def torn_line_not_matching_state(trail: Trail) -> None:
    """The file ends in half a line, but its last complete entry is not the one the state names
    (the last entry was removed, then half of it put back): not what a crash leaves."""
    lines = lines_of(trail.path(OPS))
    rewrite_in_place(trail.path(OPS), b"".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2])


def cut_every_log_to_first_entry_empty_unsigned_state(trail: Trail) -> None:
    for path in sorted(trail.log_dir.glob("*/*.jsonl")):
        lines = lines_of(path)
        if lines:
            rewrite_in_place(path, lines[0])
    trail.path(STATE).write_bytes(b'{"files":{}}')


def delete_every_log_and_state(trail: Trail) -> None:
    for path in sorted(trail.log_dir.glob("*/*.jsonl")):
        path.unlink()
    trail.path(STATE).unlink()


def forged_crash_marker_then_delete_log(trail: Trail) -> None:
    plant_crash_marker(trail)
    trail.path(OPS).unlink()


def forged_crash_marker_then_cut_log(trail: Trail) -> None:
    """`head -n 2 operations.jsonl > t && mv t operations.jsonl`: a file whose own chain holds."""
    plant_crash_marker(trail)
    path = trail.path(OPS)
    cut = path.with_name("operations.cut")
    cut.write_bytes(b"".join(lines_of(path)[:2]))
    cut.chmod(0o600)
    os.replace(cut, path)


def rm_rf_log_folder(trail: Trail) -> None:
    shutil.rmtree(trail.log_dir)


def rm_rf_log_folder_while_running(trail: Trail) -> None:
    proxy = trail.proxy()
    assert "result" in proxy.call("echo", {"text": "before"})
    shutil.rmtree(trail.log_dir)
    assert_fails_closed(proxy)


def _replay(trail: Trail, *, in_place: bool, config_too: bool = False, secret_store_too: bool = False) -> None:
    """Copy what the attacker can after session 1, let session 2 run, put the copy back: the log
    folder, and (if asked) the config folder, with or without the encrypted secret store in it.
    The copy is put back into the same inodes (as `cp` onto existing files does), or, unless
    `in_place`, as a fresh copy swapped in for the folder (every inode new)."""

    def skip(path: Path) -> bool:  # files of the config folder the attacker leaves alone
        return not secret_store_too and path.name.startswith("secrets")

    old_logs = snapshot(trail.log_dir)
    old_config = snapshot(trail.config_root, skip)
    saved = trail.home.root / "replay-copy"
    shutil.copytree(trail.log_dir, saved, symlinks=True)
    trail.session(calls=2)
    if in_place:
        restore_in_place(trail.log_dir, old_logs)
    else:  # copied while the originals still exist, so every inode is new
        fresh = trail.log_dir.with_name(f"{NAME}.restored")
        shutil.copytree(saved, fresh, symlinks=True)
        shutil.rmtree(trail.log_dir)
        fresh.rename(trail.log_dir)
    if config_too:
        restore_in_place(trail.config_root, old_config, skip)


def replay_log_folder_copy(trail: Trail) -> None:
    _replay(trail, in_place=False)


def replay_log_folder_in_place(trail: Trail) -> None:
    _replay(trail, in_place=True)


def replay_log_and_config_folders(trail: Trail) -> None:
    _replay(trail, in_place=True, config_too=True)


def replay_everything_with_secret_store(trail: Trail) -> None:
    _replay(trail, in_place=True, config_too=True, secret_store_too=True)


def delete_log_while_running(trail: Trail) -> None:
    proxy = trail.proxy()
    assert "result" in proxy.call("echo", {"text": "before"})
    trail.path(OPS).unlink()
    assert_fails_closed(proxy)


def replace_log_while_running(trail: Trail) -> None:
    proxy = trail.proxy()
    assert "result" in proxy.call("echo", {"text": "before"})
    replace_log_by_copy(trail)
    assert_fails_closed(proxy)


def delete_log_while_idle(trail: Trail) -> None:
    proxy = trail.proxy(MCP_ACP_AUDIT_CHECK_SECONDS="1")
    assert "result" in proxy.call("echo", {"text": "before"})
    trail.path(OPS).unlink()
    wait_for_exit(proxy)


def edit_entry_while_idle(trail: Trail) -> None:
    """Same inode, same size, valid JSON: only re-reading the chain can see it."""
    proxy = trail.proxy(MCP_ACP_AUDIT_CHECK_SECONDS="1")
    assert "result" in proxy.call("echo", {"text": "before"})
    path = trail.path(OPS)
    data = path.read_bytes()
    index = data.rindex(b'"status":"Success"')
    rewrite_in_place(path, data[:index] + b'"status":"Failure"' + data[index + len(b'"status":"Success"') :])
    wait_for_exit(proxy)


def put_in_place_with_a_new_inode(trail: Trail, rel: str, data: bytes) -> None:
    """Write `data` at `rel` as a file whose inode is not the one the state remembers (a freed
    inode number can be handed out again at once, which would make the put-back look in place)."""
    remembered = json.loads(trail.path(STATE).read_bytes())["files"][rel]["last_inode"]
    path = trail.path(rel)
    spares = []
    while True:
        spare = path.with_name(f"{path.name}.{len(spares)}.new")
        spare.write_bytes(data)
        spares.append(spare)
        if spare.stat().st_ino != remembered:
            break
    spare.chmod(0o600)
    os.replace(spare, path)
    for other in spares[:-1]:
        other.unlink()


def forged_chain_put_back_after_real_shutdown(trail: Trail) -> None:
    """A genuine security shutdown (the log deleted while running), then an edited copy of the
    old log, re-chained with plain SHA-256, put where it was (as a new file)."""
    saved = trail.path(OPS).read_bytes()
    delete_log_while_running(trail)
    assert trail.path(LAST_CRASH).exists()
    entries = [json.loads(raw) for raw in saved.splitlines()]
    next(e for e in entries if e.get("method") == "tools/call")["status"] = "Failure"
    put_in_place_with_a_new_inode(trail, OPS, b"".join(line(e) for e in rechained(entries)))


# --------------------------------------------------------------------------- the table

# What the docs must say for an attack that is not caught: patterns that one paragraph of
# docs/audit.md matches together (case-insensitive).
UNDETECTED = (
    r"nothing on this machine can tell|undetect|uncatch|(cannot|can't|not) be (detected|caught|noticed)"
    r"|goes unnoticed|no way to tell"
)
DOC_CUT_END = (r"\bcut\b|truncat", UNDETECTED)
DOC_RECHAIN = (r"recompute|re-?chain", UNDETECTED)
DOC_APPEND_ONE = (r"\bappend", r"without (the |a |an )?(audit )?key|cannot read the key|unkeyed|no (audit )?key")
DOC_CRASH_WINDOW = (r"\bone\b", r"ahead", r"accepted")
DOC_REPLAY_CONFIG = (r"older copy|roll(ed)?[ -]?back|replay", r"config(uration)? folder")
DOC_REPLAY_ALL = (
    r"older copy|roll(ed)?[ -]?back|replay",
    r"keychain|secret store",
    r"checkpoint|shipped|off the machine",
)


@dataclass(frozen=True)
class Attack:
    name: str
    run: Callable[[Trail], None]
    unkeyed: str
    keyed: str
    why: str  # the reason for the expected outcomes, shown when a test fails
    docs: tuple[tuple[str, ...], ...] = ()  # for an UNCATCHABLE outcome: what docs/audit.md must say


ATTACKS = [
    # -- entries changed inside a log -------------------------------------------
    Attack("edit_operations_entry", edit_entry(OPS), CAUGHT, CAUGHT, "the edited entry's own hash no longer matches"),
    Attack(
        "edit_decisions_entry", edit_entry(DEC), CAUGHT, CAUGHT, "every chained log is verified, not only operations"
    ),
    Attack("edit_auth_entry", edit_entry(AUTH), CAUGHT, CAUGHT, "every chained log is verified, not only operations"),
    Attack(
        "edit_config_history_entry",
        edit_entry(CONFIG_HISTORY),
        CAUGHT,
        CAUGHT,
        "every chained log is verified, not only operations",
    ),
    Attack(
        "edit_policy_history_entry",
        edit_entry(POLICY_HISTORY),
        CAUGHT,
        CAUGHT,
        "every chained log is verified, not only operations",
    ),
    Attack(
        "delete_middle_entry", delete_middle_entry, CAUGHT, CAUGHT, "the sequence numbers and prev_hash links break"
    ),
    Attack(
        "insert_copy_of_earlier_entry",
        insert_copy_of_earlier_entry,
        CAUGHT,
        CAUGHT,
        "a repeated sequence number and a broken link",
    ),
    Attack(
        "insert_forged_entry",
        insert_forged_entry,
        CAUGHT,
        CAUGHT,
        "the entry after the forged one no longer links (and with a key the forged hash is wrong)",
    ),
    Attack("reorder_two_entries", reorder_two_entries, CAUGHT, CAUGHT, "sequence numbers go backwards and links break"),
    # -- the end of a log cut off ------------------------------------------------
    Attack(
        "cut_last_entry",
        cut_last(1),
        CAUGHT,
        CAUGHT,
        "the state remembers the last entry written; the file ends before it",
    ),
    Attack(
        "cut_last_three_entries",
        cut_last(3),
        CAUGHT,
        CAUGHT,
        "the state remembers the last entry written; the file ends before it",
    ),
    Attack(
        "cut_end_and_rewrite_state",
        cut_end_and_rewrite_state,
        CAUGHT,
        CAUGHT,
        "no key: the record outside the log folder remembers the entry the log had reached; "
        "key: the state's signature cannot be recomputed without the key",
    ),
    Attack(
        "cut_end_rewrite_state_and_outside_record",
        lambda t: cut_end_and_rewrite_state(t, outside_too=True),
        UNCATCHABLE,
        CAUGHT,
        "no key: the log, the state and the record outside all agree again, the documented limit "
        "(only a checkpoint or a shipped copy remembers); key: the signed state and the signed "
        "record in the secret store cannot be forged",
        docs=(DOC_CUT_END,),
    ),
    # -- a log re-chained -----------------------------------------------------------
    Attack(
        "rechain_and_rewrite_state",
        rechain_and_rewrite_state,
        CAUGHT,
        CAUGHT,
        "no key: the record outside the log folder remembers the hash of the last entry, and every "
        "hash after the edit changed; key: plain SHA-256 hashes are not the HMAC the key gives",
    ),
    Attack(
        "rechain_rewrite_state_and_outside_record",
        lambda t: rechain_and_rewrite_state(t, outside_too=True),
        UNCATCHABLE,
        CAUGHT,
        "no key: a perfectly consistent plain chain, state and record, the documented limit; "
        "key: plain SHA-256 hashes are not the HMAC the key gives",
        docs=(DOC_RECHAIN,),
    ),
    # -- whole files -------------------------------------------------------------------
    Attack("delete_log", delete_log, CAUGHT, CAUGHT, "the state says the file had entries"),
    Attack("replace_log_by_copy", replace_log_by_copy, CAUGHT, CAUGHT, "the state remembers the file's inode"),
    Attack(
        "delete_state", delete_state, CAUGHT, CAUGHT, "logs with entries and no state: the state was deleted or reset"
    ),
    Attack("state_bad_json", state_bad_json, CAUGHT, CAUGHT, "a damaged state vouches for nothing"),
    Attack(
        "state_cut_short",
        state_cut_short,
        CAUGHT,
        CAUGHT,
        "a damaged state vouches for nothing (the state is one block written at once: a crash never cuts it)",
    ),
    # -- what the crash rules forgive, imitated ----------------------------------------
    Attack(
        "append_forged_entry_operations",
        append_forged_entry(OPS),
        UNCATCHABLE,
        CAUGHT,
        "no key: one valid entry past the state is exactly the crash window (line written, state "
        "not yet), which must be accepted; key: the forged entry's plain hash is not the HMAC",
        docs=(DOC_CRASH_WINDOW, DOC_APPEND_ONE),
    ),
    Attack(
        "append_forged_entry_decisions",
        append_forged_entry(DEC),
        UNCATCHABLE,
        CAUGHT,
        "as for operations: the crash window, unless a key makes the forged hash detectable",
        docs=(DOC_CRASH_WINDOW, DOC_APPEND_ONE),
    ),
    Attack(
        "torn_line_not_matching_state",
        torn_line_not_matching_state,
        CAUGHT,
        CAUGHT,
        "a crash leaves a torn end only after the entry the state names; this file ends before it",
    ),
    # -- issue 16: the key's promise -----------------------------------------------------
    Attack(
        "cut_every_log_to_first_entry_empty_unsigned_state",
        cut_every_log_to_first_entry_empty_unsigned_state,
        CAUGHT,
        CAUGHT,
        "no key: the record outside the log folder shows more entries than the logs; key: an unsigned "
        "state (even an empty one) is never accepted",
    ),
    Attack(
        "delete_every_log_and_state",
        delete_every_log_and_state,
        CAUGHT,
        CAUGHT,
        "a trail that disappears is an integrity failure, not 'nothing to verify': the record outside "
        "the log folder says it existed",
    ),
    # -- issue 16: a crash marker proves nothing ----------------------------------------
    Attack(
        "forged_crash_marker_then_delete_log",
        forged_crash_marker_then_delete_log,
        CAUGHT,
        CAUGHT,
        "only what the files prove is forgiven (one torn line, one entry past the state); a planted "
        ".last_crash never excuses a deleted log",
    ),
    Attack(
        "forged_crash_marker_then_cut_log",
        forged_crash_marker_then_cut_log,
        CAUGHT,
        CAUGHT,
        "a planted .last_crash never excuses a log cut to its first entries (new inode, own chain intact)",
    ),
    # -- issue 16: wiped logs --------------------------------------------------------------
    Attack(
        "rm_rf_log_folder", rm_rf_log_folder, CAUGHT, CAUGHT, "the record outside the log folder says a trail existed"
    ),
    Attack(
        "rm_rf_log_folder_while_running",
        rm_rf_log_folder_while_running,
        CAUGHT,
        CAUGHT,
        "the proxy fails closed (exit 10), and its own genuine shutdown notes cannot excuse the loss",
    ),
    # -- issue 16: rollback (replay of an older copy) -------------------------------------
    Attack(
        "replay_log_folder_copy",
        replay_log_folder_copy,
        CAUGHT,
        CAUGHT,
        "the copy has new inodes, and the record outside the log folder shows more entries",
    ),
    Attack(
        "replay_log_folder_in_place",
        replay_log_folder_in_place,
        CAUGHT,
        CAUGHT,
        "same inodes, consistent state (signed, with a key): only the record outside the log folder "
        "(a file in the config folder, or signed in the secret store with a key) shows more entries",
    ),
    Attack(
        "replay_log_and_config_folders",
        replay_log_and_config_folders,
        UNCATCHABLE,
        CAUGHT,
        "no key: the record in the config folder was rolled back too, the documented limit; key: the "
        "record is signed in the secret store, which the attacker did not roll back",
        docs=(DOC_REPLAY_CONFIG,),
    ),
    Attack(
        "replay_everything_with_secret_store",
        replay_everything_with_secret_store,
        UNCATCHABLE,
        UNCATCHABLE,
        "the encrypted secret store can be copied back without being read: the signed record goes "
        "back with it; nothing on the machine is newer, only a checkpoint kept elsewhere can tell",
        docs=(DOC_REPLAY_ALL,),
    ),
    # -- while the proxy runs -------------------------------------------------------------
    Attack(
        "delete_log_while_running",
        delete_log_while_running,
        CAUGHT,
        CAUGHT,
        "fails closed, and then a crash marker proves nothing: the deleted entries are lost, "
        "so only `audit repair` (which records the loss) may accept it",
    ),
    Attack(
        "replace_log_while_running",
        replace_log_while_running,
        CAUGHT,
        CAUGHT,
        "fails closed; a replaced file is not a crash artefact",
    ),
    Attack(
        "delete_log_while_idle",
        delete_log_while_idle,
        CAUGHT,
        CAUGHT,
        "the health check stops the proxy; the deletion stays a deletion",
    ),
    Attack(
        "edit_entry_while_idle",
        edit_entry_while_idle,
        CAUGHT,
        CAUGHT,
        "the health check re-reads the chain's tail; an edited entry is never excused",
    ),
    Attack(
        "forged_chain_put_back_after_real_shutdown",
        forged_chain_put_back_after_real_shutdown,
        CAUGHT,
        CAUGHT,
        "a genuine shutdown note does not make a put-back file trustworthy: its inode is not the "
        "state's, and with a key its plain hashes are wrong",
    ),
]

KEYS = [pytest.param(False, id="no-key"), pytest.param(True, id="key")]


def documented(patterns: tuple[str, ...]) -> bool:
    paragraphs = re.split(r"\n\s*\n", DOCS.read_text(encoding="utf-8"))
    return any(all(re.search(p, paragraph, re.IGNORECASE | re.DOTALL) for p in patterns) for paragraph in paragraphs)


def assert_caught(trail: Trail, label: str) -> None:
    code, report, output = trail.verify()
    assert code == 1 and report is not None and report["overall_status"] == "failed", (
        f"{label}: audit verify did not catch it (exit {code}):\n{output}"
    )
    for attempt in ("first", "second"):
        started = trail.start_headless()
        text = words(started.stdout + started.stderr)
        assert started.returncode == AUDIT_FAILURE, (
            f"{label}: the {attempt} start was not refused (exit {started.returncode}): {text}"
        )
        assert "audit repair" in text and "Traceback" not in text, f"{label}: {text}"
    code, report, output = trail.verify()
    assert code == 1, f"{label}: a refused start healed the trail (verify exit {code}):\n{output}"


def assert_uncatchable(trail: Trail, label: str, docs: tuple[tuple[str, ...], ...]) -> None:
    code, report, output = trail.verify()
    assert code == 0 and report is not None and report["overall_status"] == "passed", (
        f"{label}: caught, but this row says it cannot be: if the product now catches it, make the row "
        f"CAUGHT and update docs/audit.md (verify exit {code}):\n{output}"
    )
    missing = [patterns for patterns in docs if not documented(patterns)]
    assert not missing, f"{label}: docs/audit.md does not say that this goes undetected: no paragraph matches {missing}"
    started = trail.start_headless()
    assert started.returncode == 0, f"{label}: {started.stdout}{started.stderr}"


@pytest.mark.timeout(180)
@pytest.mark.parametrize("keyed", KEYS)
@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
def test_attack(home_for: Callable[[bool], Home], attack: Attack, keyed: bool) -> None:
    trail = Trail(home_for(keyed), keyed)
    attack.run(trail)
    expected = attack.keyed if keyed else attack.unkeyed
    label = f"{attack.name} ({'key' if keyed else 'no key'}, expected {expected}: {attack.why})"
    if expected == CAUGHT:
        assert_caught(trail, label)
    else:
        assert_uncatchable(trail, label, attack.docs)


def test_every_expectation_with_a_key_is_caught_unless_everything_is_rolled_back() -> None:
    """The issue's promise, as a property of the table: with a key, no rollback, truncation,
    deletion or forged crash marker is accepted. The one exception is a rollback of everything
    the user owns, secret store included, which nothing on the machine can tell."""
    keyed_misses = [a.name for a in ATTACKS if a.keyed != CAUGHT]
    assert keyed_misses == ["replay_everything_with_secret_store"]


# --------------------------------------------------------------------------- audit repair leaves evidence


def find_repairs(report: dict) -> list[dict]:
    repairs = report.get("repairs")
    assert isinstance(repairs, list) and repairs, f"no `repairs` list in the verify report: {json.dumps(report)[:3000]}"
    return repairs


def names_loss(record: dict, lost: list[int]) -> bool:
    """Whether a repair record says which entries were lost: a count or the sequence numbers."""
    values = [v for k, v in record.items() if "lost" in k.lower()]
    if isinstance(record.get("details"), dict):
        values += [v for k, v in record["details"].items() if "lost" in k.lower()]
    text = json.dumps(values)
    return bool(values) and (str(len(lost)) in text or (str(lost[0]) in text and str(lost[-1]) in text))


def repair_entries_in_system_log(trail: Trail) -> list[dict]:
    shown = trail.home.cli("logs", "show", "--proxy", NAME, "--type", "system", "--json", "-n", "1000", check=False)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    entries = [json.loads(raw) for raw in shown.stdout.splitlines() if raw.strip()]
    return [e for e in entries if "repair" in str(e.get("event", "")).lower()]


def _cut_two(trail: Trail) -> list[int]:
    sequences = [e["sequence"] for e in entries_of(trail.path(OPS))]
    cut_last(2)(trail)
    return sequences[-2:]


def _delete(trail: Trail) -> list[int]:
    sequences = [e["sequence"] for e in entries_of(trail.path(OPS))]
    delete_log(trail)
    return sequences


def _replace(trail: Trail) -> list[int]:
    replace_log_by_copy(trail)
    return []  # nothing lost, but the repair must still be on record


REPAIR_DAMAGES = {"cut_last_two_entries": _cut_two, "deleted_log": _delete, "replaced_log": _replace}


def files_under(root: Path) -> dict[Path, tuple[int, int, int]]:
    return {p: (p.stat().st_ino, p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}


def repair(trail: Trail) -> None:
    code, _, output = trail.verify()
    assert code == 1, f"the damage was not even seen before the repair:\n{output}"
    repaired = trail.home.cli("audit", "repair", "--proxy", NAME, "--yes", check=False)
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr


@pytest.mark.timeout(180)
@pytest.mark.parametrize("keyed", KEYS)
@pytest.mark.parametrize("damage", list(REPAIR_DAMAGES))
def test_repair_leaves_evidence(home_for: Callable[[bool], Home], damage: str, keyed: bool) -> None:
    """After `audit repair`, verify passes and reports the repair (what was lost), the system
    log has a chained entry saying the same, and the proxy runs again."""
    trail = Trail(home_for(keyed), keyed)
    lost = REPAIR_DAMAGES[damage](trail)
    repair(trail)

    for moment in ("after the repair", "after the next session"):
        code, report, output = trail.verify()
        assert code == 0 and report["overall_status"] == "passed", f"{moment}:\n{output}"
        records = [r for r in find_repairs(report) if "operations" in json.dumps(r)]
        assert records, f"{moment}: no repair names operations.jsonl: {report['repairs']}"
        record = records[-1]
        assert {"time", "file", "action"} <= set(record), record
        if lost:
            assert names_loss(record, lost), (
                f"{moment}: the repair record does not say that entries {lost} were lost: {record}"
            )
        if moment == "after the repair":
            trail.session(calls=1)

    entries = [e for e in repair_entries_in_system_log(trail) if "operations" in json.dumps(e)]
    assert entries, "no repair entry naming operations.jsonl in the system log"
    assert all("entry_hash" in e and "sequence" in e for e in entries), entries  # chained (keyed with a key)
    if lost:
        assert names_loss(entries[-1], lost), (
            f"the system log's repair entry does not say that entries {lost} were lost: {entries[-1]}"
        )


def _repair_record(before: dict[Path, tuple], after: dict[Path, tuple], trail: Trail) -> Path:
    """The append-only repair record: a file the repair created or changed with "repair" in its
    name (the system log is checked on its own)."""
    changed = [p for p, meta in after.items() if before.get(p) != meta]
    found = [p for p in changed if "repair" in p.name.lower() and p != trail.path(SYSTEM)]
    assert len(found) == 1, f"expected one repair record file; the repair changed {sorted(map(str, changed))}"
    return found[0]


def _edit_record(path: Path) -> None:
    """Make the record say less was lost (or name another file): what a cover-up would do."""
    lines = lines_of(path)
    index = max(i for i, raw in enumerate(lines) if b"repair" in raw.lower())
    entry = json.loads(lines[index])
    lost_keys = [k for k in entry if "lost" in k.lower()]
    for k in lost_keys:
        entry[k] = 0 if isinstance(entry[k], int) else type(entry[k])()
    if not lost_keys:
        entry["file"] = "audit/decisions.jsonl"
    lines[index] = line(entry)
    rewrite_in_place(path, b"".join(lines))


def _delete_system_repair_entry(trail: Trail) -> None:
    path = trail.path(SYSTEM)
    lines = lines_of(path)
    kept = [raw for raw in lines if b"repair" not in raw.lower()]
    assert len(kept) < len(lines), "no repair entry in system.jsonl"
    rewrite_in_place(path, b"".join(kept))


def _edit_system_repair_entry(trail: Trail) -> None:
    _edit_record(trail.path(SYSTEM))


RECORD_TAMPERINGS = [
    "delete_repair_record",
    "edit_repair_record",
    "delete_system_repair_entry",
    "edit_system_repair_entry",
]


@pytest.mark.timeout(180)
@pytest.mark.parametrize("keyed", KEYS)
@pytest.mark.parametrize("tampering", RECORD_TAMPERINGS)
def test_tampering_with_the_repair_evidence_is_caught(
    home_for: Callable[[bool], Home], tampering: str, keyed: bool
) -> None:
    """Covering up a repair is tampering like any other: verify fails and the proxy refuses."""
    trail = Trail(home_for(keyed), keyed)
    _cut_two(trail)
    before = files_under(trail.home.acp_home)
    repair(trail)
    after = files_under(trail.home.acp_home)
    code, report, output = trail.verify()
    assert code == 0, output
    find_repairs(report)

    if tampering == "delete_repair_record":
        _repair_record(before, after, trail).unlink()
    elif tampering == "edit_repair_record":
        _edit_record(_repair_record(before, after, trail))
    elif tampering == "delete_system_repair_entry":
        _delete_system_repair_entry(trail)
    else:
        _edit_system_repair_entry(trail)
    assert_caught(trail, f"{tampering} ({'key' if keyed else 'no key'})")
