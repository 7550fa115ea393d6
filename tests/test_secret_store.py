"""The secret store: the OS keychain (a real gnome-keyring Secret Service, `keychain` marker,
run by `make test-keychain` under dbus-run-session) and the encrypted file (always runs).

Every test keeps MCP_ACP_HOME under tmp_path; keychain tests reach only the Secret Service of
the private D-Bus session `make test-keychain` starts, and clean up what they store there.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import socket
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from mcp_acp import secret_store
from mcp_acp.config.store import ConfigError
from mcp_acp.secret_store import BACKEND_ENV, SecretStoreError

SECRET = "s3cr3t-vAlue-" + "x" * 24


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "acp-home"
    monkeypatch.setenv("MCP_ACP_HOME", str(home))
    monkeypatch.delenv(BACKEND_ENV, raising=False)
    return home


@pytest.fixture
def machine(tmp_path, monkeypatch) -> dict[str, str]:
    """This 'machine's' identity: a machine-id file and a hostname the test can change."""
    ident = {"machine_id": "0123456789abcdef0123456789abcdef", "hostname": "host-a"}
    id_file = tmp_path / "machine-id"
    id_file.write_text(ident["machine_id"] + "\n")
    monkeypatch.setattr(secret_store, "MACHINE_ID_FILES", (str(id_file),))
    monkeypatch.setattr(socket, "gethostname", lambda: ident["hostname"])
    return ident


@pytest.fixture
def file_store(home, machine, monkeypatch) -> Path:
    monkeypatch.setenv(BACKEND_ENV, "file")
    return home / "config" / "secrets.enc"


def _files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def _assert_no_plaintext(root: Path, *secrets: str) -> None:
    for path in _files_under(root):
        data = path.read_bytes()
        for secret in secrets:
            assert secret.encode() not in data, f"{path} holds a secret in plaintext"


def _legacy(home: Path, files: dict[str, str]) -> Path:
    """Plaintext secret files as versions before the encrypted store wrote them."""
    folder = home / "config" / "secrets"
    folder.mkdir(parents=True, mode=0o700)
    for name, value in files.items():
        (folder / name).write_text(value)
        os.chmod(folder / name, 0o600)
    return folder


# ------------------------------------------------------------------------ encrypted file


def test_file_round_trip(file_store):
    assert secret_store.get("audit-hmac:p1") is None
    secret_store.put("audit-hmac:p1", SECRET)
    secret_store.put("oauth_tokens", '{"access_token": "ünïcode ✓"}')
    assert secret_store.get("audit-hmac:p1") == SECRET
    assert secret_store.get("oauth_tokens") == '{"access_token": "ünïcode ✓"}'
    secret_store.put("audit-hmac:p1", "replaced")
    assert secret_store.get("audit-hmac:p1") == "replaced"
    assert secret_store.get("oauth_tokens") == '{"access_token": "ünïcode ✓"}'
    assert secret_store.get("unknown") is None


def test_file_delete(file_store):
    secret_store.delete("a")
    assert not file_store.parent.exists(), "deleting from an empty store creates nothing"
    secret_store.put("a", "1")
    secret_store.put("b", "2")
    secret_store.delete("a")
    assert secret_store.get("a") is None
    assert secret_store.get("b") == "2"
    secret_store.delete("a")  # absent: no error
    secret_store.delete("b")
    assert not file_store.exists(), "an empty store leaves no file behind"
    secret_store.delete("never-there")
    assert not file_store.exists()


def test_file_is_private_and_holds_no_plaintext(file_store, home):
    secret_store.put("audit-hmac:p1", SECRET)
    assert stat.S_IMODE(file_store.stat().st_mode) == 0o600
    assert stat.S_IMODE(file_store.parent.stat().st_mode) == 0o700
    _assert_no_plaintext(home, SECRET, "audit-hmac:p1")  # names are inside the ciphertext too
    leftovers = [p.name for p in _files_under(home) if p.name not in ("secrets.enc", ".secrets.enc.lock")]
    assert leftovers == [], "no temp file left behind"


def test_file_key_is_the_spec_derivation(file_store, machine):
    """docs/auth.md#where-secrets-are-kept: Fernet key = PBKDF2-SHA256('<machine-id>:<hostname>:mcp-acp-token-storage',
    salt 'mcp-acp-v1', 100 000 iterations); derived here independently, with hashlib."""
    secret_store.put("k", SECRET)
    material = f"{machine['machine_id']}:{machine['hostname']}:mcp-acp-token-storage"
    key = hashlib.pbkdf2_hmac("sha256", material.encode(), b"mcp-acp-v1", 100_000, 32)
    plain = Fernet(base64.urlsafe_b64encode(key)).decrypt(file_store.read_bytes().strip())
    assert json.loads(plain) == {"k": SECRET}


def test_file_other_machine_is_a_clear_error_and_the_file_is_kept(file_store, machine):
    secret_store.put("k", SECRET)
    before = file_store.read_bytes()
    machine["hostname"] = "host-b"
    for attempt in (
        lambda: secret_store.get("k"),
        lambda: secret_store.put("other", "v"),
        lambda: secret_store.delete("k"),
    ):
        with pytest.raises(SecretStoreError) as error:
            attempt()
        message = str(error.value)
        assert str(file_store) in message and "cannot be decrypted" in message
        assert "hostname" in message and "move it aside" in message
    assert file_store.read_bytes() == before, "an undecryptable store is never overwritten or dropped"
    machine["hostname"] = "host-a"
    assert secret_store.get("k") == SECRET


def test_file_other_machine_id_is_an_error(file_store, tmp_path, monkeypatch):
    secret_store.put("k", SECRET)
    other = tmp_path / "other-machine-id"
    other.write_text("ffffffffffffffffffffffffffffffff\n")
    monkeypatch.setattr(secret_store, "MACHINE_ID_FILES", (str(other),))
    with pytest.raises(SecretStoreError, match="cannot be decrypted"):
        secret_store.get("k")


@pytest.mark.parametrize("content", [b"", b"garbage, not a token\n", b"gAAAAA-truncated", b'{"k": "v"}'])
def test_file_damaged_is_a_clear_error(file_store, content):
    file_store.parent.mkdir(parents=True)
    file_store.write_bytes(content)
    with pytest.raises(SecretStoreError) as error:
        secret_store.get("k")
    assert str(file_store) in str(error.value) and "damaged" in str(error.value)
    with pytest.raises(SecretStoreError):
        secret_store.put("k", "v")
    assert file_store.read_bytes() == content


def test_file_altered_token_is_an_error(file_store):
    secret_store.put("k", SECRET)
    token = bytearray(base64.urlsafe_b64decode(file_store.read_bytes().strip()))
    token[40] ^= 0x01  # one bit of the ciphertext
    file_store.write_bytes(base64.urlsafe_b64encode(bytes(token)))
    with pytest.raises(SecretStoreError, match="cannot be decrypted"):
        secret_store.get("k")


@pytest.mark.parametrize("plain", [b"not json", b"[1, 2]", b'{"k": 5}'])
def test_file_decrypting_to_no_object_is_an_error(file_store, machine, plain):
    material = f"{machine['machine_id']}:{machine['hostname']}:mcp-acp-token-storage"
    key = hashlib.pbkdf2_hmac("sha256", material.encode(), b"mcp-acp-v1", 100_000, 32)
    file_store.parent.mkdir(parents=True)
    file_store.write_bytes(Fernet(base64.urlsafe_b64encode(key)).encrypt(plain))
    with pytest.raises(SecretStoreError, match="holds no name -> secret object"):
        secret_store.get("k")


def test_file_error_is_a_config_error(file_store):
    """The CLI turns ConfigError into a one-line message: the store's errors are ConfigErrors."""
    file_store.parent.mkdir(parents=True)
    file_store.write_text("junk")
    with pytest.raises(ConfigError):
        secret_store.get("k")


def test_file_without_machine_id_still_works(file_store, monkeypatch, tmp_path):
    monkeypatch.setattr(secret_store, "MACHINE_ID_FILES", (str(tmp_path / "absent"),))
    secret_store.put("k", SECRET)
    secret_store._fernet.cache_clear()
    assert secret_store.get("k") == SECRET  # the stand-in is stable across derivations


def test_file_concurrent_writers_lose_nothing(file_store, home, machine):
    """Separate processes writing at once: the lock keeps every update."""
    code = (
        "import socket, sys; from mcp_acp import secret_store as s;"
        "s.MACHINE_ID_FILES = (sys.argv[2],); socket.gethostname = lambda: sys.argv[3];"
        "[s.put(f'{sys.argv[1]}-{i}', 'v') for i in range(8)]"
    )
    env = {**os.environ, "MCP_ACP_HOME": str(home), BACKEND_ENV: "file"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, f"w{n}", secret_store.MACHINE_ID_FILES[0], machine["hostname"]], env=env
        )
        for n in range(3)
    ]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0]
    for n in range(3):
        for i in range(8):
            assert secret_store.get(f"w{n}-{i}") == "v"


# ------------------------------------------------------------------- legacy plaintext


def test_legacy_plaintext_files_migrate_and_disappear(file_store, home):
    folder = _legacy(
        home,
        {
            "audit-hmac_my_proxy": SECRET,
            "oauth_tokens": '{"t": "tok-plain"}',
            ".audit-hmac_p2.abc.tmp": "half-written-plain",
        },
    )
    assert secret_store.get("audit-hmac:my_proxy") == SECRET
    assert secret_store.get("oauth_tokens") == '{"t": "tok-plain"}'
    assert not folder.exists()
    _assert_no_plaintext(home, SECRET, "tok-plain", "half-written-plain")


def test_legacy_migration_keeps_a_newer_value(file_store, home):
    secret_store.put("audit-hmac:p1", "current")
    _legacy(home, {"audit-hmac_p1": "stale"})
    assert secret_store.get("audit-hmac:p1") == "current"
    assert not (home / "config" / "secrets").exists()


def test_legacy_migration_runs_on_any_first_use(file_store, home):
    folder = _legacy(home, {"audit-hmac_p1": SECRET})
    secret_store.delete("something-else")
    assert not folder.exists()
    assert secret_store.get("audit-hmac:p1") == SECRET


def test_legacy_files_stay_when_the_store_is_unreadable(file_store, home):
    folder = _legacy(home, {"audit-hmac_p1": SECRET})
    file_store.write_text("junk")
    with pytest.raises(SecretStoreError):
        secret_store.get("audit-hmac:p1")
    assert (folder / "audit-hmac_p1").read_text() == SECRET, "never deleted before it is stored"


# ------------------------------------------------------------------ choice of backend


@pytest.fixture
def no_keychain(monkeypatch):
    """keyring's own 'no backend' answer, so these run the same on a desktop with a keychain."""
    import keyring.core
    from keyring.backends import fail

    monkeypatch.setattr(keyring.core, "_keyring_backend", fail.Keyring())


def test_backend_name_of_the_file(file_store):
    assert secret_store.backend_name() == f"encrypted file store ({file_store})"


def test_auto_without_a_keychain_uses_the_file(home, machine, no_keychain):
    assert secret_store.backend_name() == f"encrypted file store ({home / 'config' / 'secrets.enc'})"
    secret_store.put("k", SECRET)
    assert (home / "config" / "secrets.enc").is_file()


def test_forced_keychain_without_one_is_a_clear_error(home, machine, no_keychain, monkeypatch):
    monkeypatch.setenv(BACKEND_ENV, "keychain")
    for attempt in (
        lambda: secret_store.get("k"),
        lambda: secret_store.put("k", "v"),
        lambda: secret_store.delete("k"),
    ):
        with pytest.raises(SecretStoreError, match=f"{BACKEND_ENV}=keychain, but no OS keychain is usable"):
            attempt()
    assert not (home / "config" / "secrets.enc").exists(), "no silent fallback to the file"
    assert secret_store.backend_name().startswith("unusable secret store (")


def test_plaintext_keyring_backends_do_not_count(home, machine, monkeypatch):
    """keyrings.alt's PlaintextKeyring (not installed here: a stand-in of that module and class
    name, deliberately not a KeyringBackend subclass, which keyring would register globally)."""
    import keyring.core

    plaintext = type("PlaintextKeyring", (), {"__module__": "keyrings.alt.file", "name": "file PlaintextKeyring"})
    monkeypatch.setattr(keyring.core, "_keyring_backend", plaintext())
    assert secret_store.backend_name().startswith("encrypted file store (")


def test_unknown_backend_value_is_an_error(home, monkeypatch):
    monkeypatch.setenv(BACKEND_ENV, "vault")
    with pytest.raises(SecretStoreError, match=f"{BACKEND_ENV}='vault' is not a secret backend"):
        secret_store.get("k")
    assert "is not a secret backend" in secret_store.backend_name()


# ------------------------------------------------------------------------- keychain


@pytest.fixture
def keychain(home, monkeypatch):
    """A reachable, unlocked Secret Service (make test-keychain starts one), or a skip; under
    MCP_ACP_REQUIRE_KEYCHAIN=1 (set by make test-keychain) a failure instead."""
    monkeypatch.setenv(BACKEND_ENV, "keychain")
    try:
        secret_store.get(f"probe-{uuid.uuid4().hex}")
    except SecretStoreError as exc:
        if os.environ.get("MCP_ACP_REQUIRE_KEYCHAIN") == "1":
            pytest.fail(f"no usable Secret Service in the keychain test run: {exc}")
        pytest.skip(f"no Secret Service reachable (run 'make test-keychain'): {exc}")
    names: list[str] = []

    def name(label: str) -> str:
        names.append(f"{label}-{uuid.uuid4().hex[:8]}")
        return names[-1]

    yield name
    import keyring

    for stored in names:  # leave the session's keychain as we found it
        with contextlib.suppress(keyring.errors.PasswordDeleteError):
            keyring.delete_password(secret_store.SERVICE, stored)


def _secret_service_items(username: str) -> list[str]:
    """What the Secret Service itself holds under (service mcp-acp, username), read with
    secretstorage directly rather than through our code or keyring."""
    import secretstorage

    with secretstorage.dbus_init() as connection:
        collection = secretstorage.get_default_collection(connection)
        return [
            item.get_secret().decode()
            for item in collection.search_items({"service": secret_store.SERVICE, "username": username})
        ]


@pytest.mark.keychain
def test_keychain_is_chosen_automatically(keychain, home, monkeypatch):
    monkeypatch.delenv(BACKEND_ENV)
    assert secret_store.backend_name() == "keychain (SecretService Keyring)"
    name = keychain("auto")
    secret_store.put(name, SECRET)
    assert _secret_service_items(name) == [SECRET]
    assert not (home / "config" / "secrets.enc").exists()


@pytest.mark.keychain
def test_keychain_round_trip_and_delete(keychain, home):
    name, other = keychain("audit-hmac:p1"), keychain("oauth_tokens")
    assert secret_store.get(name) is None
    secret_store.put(name, SECRET)
    secret_store.put(other, '{"access_token": "ünïcode ✓"}')
    assert secret_store.get(name) == SECRET
    assert _secret_service_items(name) == [SECRET]
    secret_store.put(name, "replaced")
    assert secret_store.get(name) == "replaced"
    assert _secret_service_items(name) == ["replaced"], "one item per name, replaced in place"
    secret_store.delete(name)
    assert secret_store.get(name) is None and _secret_service_items(name) == []
    secret_store.delete(name)  # absent: no error
    assert secret_store.get(other) == '{"access_token": "ünïcode ✓"}'
    _assert_no_plaintext(home, SECRET)  # nothing went to a file


@pytest.mark.keychain
def test_keychain_migrates_legacy_plaintext(keychain, home):
    proxy = keychain("p")  # a unique proxy name
    stored = f"audit-hmac:{proxy}"
    folder = _legacy(home, {f"audit-hmac_{proxy}": SECRET})
    try:
        assert secret_store.get(stored) == SECRET
        assert _secret_service_items(stored) == [SECRET]
        assert not folder.exists()
        _assert_no_plaintext(home, SECRET)
    finally:
        secret_store.delete(stored)


@pytest.mark.keychain
def test_file_can_be_forced_beside_a_keychain(keychain, home, machine, monkeypatch):
    monkeypatch.setenv(BACKEND_ENV, "file")
    name = keychain("forced-file")
    assert secret_store.backend_name().startswith("encrypted file store (")
    secret_store.put(name, SECRET)
    assert _secret_service_items(name) == []
    assert secret_store.get(name) == SECRET
    _assert_no_plaintext(home, SECRET)


LOCKED_PROBE = """
import secretstorage
from mcp_acp import secret_store
secret_store.put("k", "v")
with secretstorage.dbus_init() as connection:
    secretstorage.get_default_collection(connection).lock()
try:
    secret_store.get("k")
except secret_store.SecretStoreError as exc:
    print("ERROR:", exc)
"""


@pytest.mark.keychain
def test_locked_keychain_is_a_clear_error_not_a_fallback(keychain, home, tmp_path):
    """A keychain that refuses (locked, no prompt possible on a headless host). Locking is for
    good, so this runs in a Secret Service of its own: a second private D-Bus session."""
    keyrings = tmp_path / "keyrings"
    keyrings.mkdir(mode=0o700)
    env = {**os.environ, "MCP_ACP_HOME": str(home), "XDG_DATA_HOME": str(keyrings), "XDG_RUNTIME_DIR": str(keyrings)}
    env.pop(BACKEND_ENV, None)
    script = 'printf pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null && exec "$0" -c "$1"'
    result = subprocess.run(
        ["dbus-run-session", "--", "sh", "-c", script, sys.executable, LOCKED_PROBE],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert (
        "ERROR: the keychain (SecretService Keyring) refused to read 'k': Failed to unlock the collection. "
        "Unlock the keychain, or set MCP_ACP_SECRET_BACKEND=file"
    ) in result.stdout, result.stdout + result.stderr
    assert not (home / "config" / "secrets.enc").exists(), "no silent fallback to the file"
