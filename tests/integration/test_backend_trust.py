"""Backend trust against real processes: mTLS to an HTTPS backend that requires client
certificates, a Bearer API key kept in the secret store, and STDIO binary attestation.

Everything runs for real: certificates made with `cryptography` (tests/fixtures/tls_certs.py),
the fixture MCP server behind uvicorn with CERT_REQUIRED or a Bearer check
(tests/fixtures/secure_backend.py), and `mcp-acp start` as a subprocess.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tls_certs import Pki, make_pki

from tests.support.config import allow_everything
from tests.support.processes import BACKEND, MCP_ACP, ROOT, free_port, wait_for_port
from tests.support.proxies import RawProxy

SECURE_BACKEND = str(ROOT / "tests" / "fixtures" / "secure_backend.py")


def flat(text: str) -> str:
    return " ".join(text.split())


def unique(prefix: str) -> str:
    """Proxy names differ per test: if the secret store is a real OS keychain, it is shared."""
    return f"{prefix}-{secrets.token_hex(3)}"


class SecureBackend:
    """tests/fixtures/secure_backend.py on a loopback port: HTTPS requiring client certificates,
    and/or a Bearer key; it records every request's Authorization header."""

    def __init__(self, folder: Path, pki: Pki | None = None, bearer: str | None = None) -> None:
        self.port = free_port()
        self.record = folder / f"requests-{self.port}.jsonl"
        scheme = "https" if pki else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}/mcp"
        argv = [sys.executable, SECURE_BACKEND, "--port", str(self.port), "--record", str(self.record)]
        if pki:
            argv += ["--cert", str(pki.server_cert), "--key", str(pki.server_key), "--client-ca", str(pki.ca)]
        env = {**os.environ}
        if bearer:
            env["MCP_FIXTURE_BEARER"] = bearer
        self.process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port)

    def requests(self) -> list[dict]:
        if not self.record.exists():
            return []
        return [json.loads(line) for line in self.record.read_text().splitlines()]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def mtls_backend(pki, tmp_path_factory):
    server = SecureBackend(tmp_path_factory.mktemp("mtls-backend"), pki=pki)
    yield server
    server.stop()


API_KEY = "test-key-" + secrets.token_hex(8)


@pytest.fixture
def bearer_backend(tmp_path):
    server = SecureBackend(tmp_path, bearer=API_KEY)
    yield server
    server.stop()


def mtls_flags(pki: Pki, client: str) -> list[str]:
    files = pki.clients[client]
    return ["--mtls-cert", str(files.cert), "--mtls-key", str(files.key), "--mtls-ca", str(pki.ca)]


def config_path(env: dict, name: str) -> Path:
    return Path(env["MCP_ACP_HOME"]) / "config" / "proxies" / name / "config.json"


def read_config(env: dict, name: str) -> dict:
    return json.loads(config_path(env, name).read_text())


def edit_config(env: dict, name: str, change) -> None:
    config = read_config(env, name)
    change(config)
    config_path(env, name).write_text(json.dumps(config, indent=2))


def log_dir(cli, name: str) -> Path:
    return Path(json.loads(cli("proxy", "show", name, "--json", check=True).stdout)["log_dir"])


def system_log(cli, name: str) -> list[dict]:
    path = log_dir(cli, name) / "system" / "system.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def bootstrap_log(env: dict, name: str) -> list[dict]:
    path = config_path(env, name).parent / "bootstrap.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


async def run_session(env: dict, name: str) -> tuple[int, str]:
    """Start the proxy, do a handshake and one tool call through it, disconnect."""
    proxy = await RawProxy.start(env, name)
    try:
        init = await proxy.initialize()
        assert init["result"]["serverInfo"]["name"] == "acp-test-backend", init
        answer = await proxy.call_tool("add", {"a": 2, "b": 40})
        assert answer["result"]["structuredContent"] == {"result": 42}, answer
        return await proxy.finish()
    finally:
        await proxy.close()


async def refused_start(env: dict, name: str) -> str:
    """Start the proxy, expect it to refuse (exit 1) before serving; return its stderr."""
    proxy = await RawProxy.start(env, name)
    try:
        code, stderr = await proxy.finish(timeout=60)
    finally:
        await proxy.close()
    assert code == 1, stderr
    assert "Traceback" not in stderr, stderr
    assert "Proxy server ready" not in stderr, stderr
    return flat(stderr)


def assert_clean_failure(result: subprocess.CompletedProcess, *fragments: str) -> str:
    assert result.returncode == 1, f"{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    text = flat(result.stderr)
    assert text.startswith("Error: "), text
    for fragment in fragments:
        assert fragment in text, f"{fragment!r} not in {text!r}"
    return text


# --- mTLS -----------------------------------------------------------------------------------------


async def test_mtls_valid_certificate_connects(cli, acp_env, pki, mtls_backend):
    name = unique("tls")
    added = cli("proxy", "add", name, "--url", mtls_backend.url, *mtls_flags(pki, "valid"), check=True)
    assert "answered the MCP handshake" in flat(added.stdout)
    config = read_config(acp_env, name)
    assert config["mtls"] == {
        "client_cert_path": str(pki.clients["valid"].cert),
        "client_key_path": str(pki.clients["valid"].key),
        "ca_bundle_path": str(pki.ca),
    }
    allow_everything(acp_env, name)
    code, stderr = await run_session(acp_env, name)
    assert code == 0, stderr
    assert "transport: streamablehttp" in stderr
    assert "expires in" not in stderr


async def test_mtls_wrong_ca_certificate_fails_the_handshake_clearly(cli, acp_env, pki, mtls_backend):
    name = unique("wrongca")
    # The files themselves are fine, so `add` saves them; its handshake check warns.
    added = cli("proxy", "add", name, "--url", mtls_backend.url, *mtls_flags(pki, "wrong_ca"), check=True)
    assert "did not answer the MCP handshake" in flat(added.stderr)
    allow_everything(acp_env, name)
    stderr = await refused_start(acp_env, name)
    assert f"cannot reach the HTTP backend at {mtls_backend.url}" in stderr
    assert "TLS handshake failed" in stderr
    assert f"rejected the client certificate {pki.clients['wrong_ca'].cert}" in stderr
    assert "retrying" not in stderr  # a rejected certificate is not retried: waiting will not help
    assert bootstrap_log(acp_env, name)[-1]["exit_code"] == 1


async def test_mtls_expired_certificate_refuses_to_start(cli, acp_env, pki, mtls_backend):
    name = unique("expired")
    cli("proxy", "add", name, "--url", mtls_backend.url, *mtls_flags(pki, "valid"), check=True)
    expired = pki.clients["expired"]
    edit_config(
        acp_env, name, lambda c: c["mtls"].update(client_cert_path=str(expired.cert), client_key_path=str(expired.key))
    )
    stderr = await refused_start(acp_env, name)
    assert f"the mTLS client certificate {expired.cert}" in stderr
    assert "expired on" in stderr
    entry = bootstrap_log(acp_env, name)[-1]
    assert entry["exit_code"] == 1 and "expired" in entry["error_message"]


@pytest.mark.parametrize(
    ("client", "days", "level_text"),
    [
        ("expires_10d", 9, "renew it soon"),
        ("expires_5d", 4, "CRITICAL"),
    ],
)
async def test_mtls_certificate_expiring_soon_starts_with_a_warning(
    cli, acp_env, pki, mtls_backend, client, days, level_text
):
    name = unique("soon")
    added = cli("proxy", "add", name, "--url", mtls_backend.url, *mtls_flags(pki, client), check=True)
    assert f"expires in {days} days" in flat(added.stderr)
    allow_everything(acp_env, name)
    code, stderr = await run_session(acp_env, name)
    assert code == 0, stderr
    stderr = flat(stderr)
    assert f"the mTLS client certificate {pki.clients[client].cert}" in stderr
    assert f"expires in {days} days" in stderr and level_text in stderr
    if client == "expires_10d":
        assert "CRITICAL" not in stderr
    warnings = [e for e in system_log(cli, name) if "expires in" in e.get("message", "")]
    assert warnings and warnings[0]["level"] == "WARNING", system_log(cli, name)
    assert level_text in warnings[0]["message"]


@pytest.mark.parametrize(
    ("client", "fragment"),
    [
        ("expired", "expired on"),
        ("mismatched_key", "does not belong to the certificate"),
        ("encrypted_key", "is encrypted"),
    ],
)
def test_proxy_add_refuses_unusable_mtls_files(cli, acp_env, pki, mtls_backend, client, fragment):
    name = unique("bad")
    result = cli("proxy", "add", name, "--url", mtls_backend.url, *mtls_flags(pki, client))
    assert_clean_failure(result, fragment)
    assert not config_path(acp_env, name).parent.exists()


def test_proxy_add_mtls_flag_rules(cli, acp_env, pki, mtls_backend, tmp_path):
    valid = pki.clients["valid"]
    cases = [
        (
            ["--url", mtls_backend.url, "--mtls-cert", str(valid.cert), "--mtls-key", str(valid.key)],
            "pass all three or none",
        ),
        (
            ["--url", mtls_backend.url.replace("https", "http"), *mtls_flags(pki, "valid")],
            "only applies to https:// URLs",
        ),
        (["--command", "/bin/cat", *mtls_flags(pki, "valid")], "pass --url https://"),
        (
            [
                "--url",
                mtls_backend.url,
                "--mtls-cert",
                str(tmp_path / "nope.pem"),
                "--mtls-key",
                str(valid.key),
                "--mtls-ca",
                str(pki.ca),
            ],
            "does not exist",
        ),
        (
            [
                "--url",
                mtls_backend.url,
                "--mtls-cert",
                str(valid.cert),
                "--mtls-key",
                str(valid.key),
                "--mtls-ca",
                str(valid.key),
            ],
            "holds no PEM certificate",
        ),
        (
            [
                "--url",
                mtls_backend.url,
                "--mtls-cert",
                str(valid.key),
                "--mtls-key",
                str(valid.key),
                "--mtls-ca",
                str(pki.ca),
            ],
            "is not a PEM certificate",
        ),
    ]
    for flags, fragment in cases:
        name = unique("rule")
        assert_clean_failure(cli("proxy", "add", name, *flags), fragment)
        assert not config_path(acp_env, name).parent.exists()


def test_proxy_add_stores_mtls_paths_absolute(cli, acp_env, pki, mtls_backend):
    home = Path(acp_env["HOME"])
    (home / "certs").mkdir(parents=True)
    valid = pki.clients["valid"]
    for source in (valid.cert, valid.key):
        shutil.copy(source, home / "certs" / source.name)
    name = unique("paths")
    cli(
        "proxy",
        "add",
        name,
        "--url",
        mtls_backend.url,
        "--mtls-cert",
        f"~/certs/{valid.cert.name}",
        "--mtls-key",
        f"certs/{valid.key.name}",
        "--mtls-ca",
        str(pki.ca),
        cwd=home,
        check=True,
    )
    mtls = read_config(acp_env, name)["mtls"]
    assert mtls["client_cert_path"] == str(home / "certs" / valid.cert.name)
    assert mtls["client_key_path"] == str(home / "certs" / valid.key.name)


def test_mtls_status_levels(pki, tmp_path):
    from mcp_acp.backends.tls import expiry_level, mtls_status
    from mcp_acp.config.models import BackendConfig, HttpBackend, MTLSConfig, ProxyConfig

    def config(client: str, url: str = "https://127.0.0.1:1/mcp") -> ProxyConfig:
        files = pki.clients[client]
        return ProxyConfig(
            proxy_id="px_00000000:x",
            backend=BackendConfig(server_name="x", http=HttpBackend(url=url)),
            mtls=MTLSConfig(
                client_cert_path=str(files.cert), client_key_path=str(files.key), ca_bundle_path=str(pki.ca)
            ),
        )

    expected = {
        "valid": ("ok", 364),
        "expires_10d": ("warning", 9),
        "expires_5d": ("critical", 4),
        "expired": ("expired", -1),
    }
    for client, (level, days) in expected.items():
        status = mtls_status(config(client))
        assert status["level"] == level, status
        assert status["days_left"] == days, status
        assert status["configured"] and status["applies"]
        assert status["subject"] == f"CN=client-{client},O=mcp-acp tests"
        assert status["issuer"] == "CN=mcp-acp test CA,O=mcp-acp tests"
    broken = mtls_status(config("mismatched_key"))
    assert broken["level"] == "error" and "does not belong" in broken["message"]
    assert mtls_status(config("valid", "http://127.0.0.1:1/mcp"))["applies"] is False
    plain = ProxyConfig(
        proxy_id="px_00000000:x", backend=BackendConfig(server_name="x", http=HttpBackend(url="http://h/"))
    )
    assert mtls_status(plain) == {"configured": False}

    now = datetime(2030, 1, 1, tzinfo=UTC)
    start = now - timedelta(days=30)
    for left, level in [
        (timedelta(days=15), "ok"),
        (timedelta(days=14), "warning"),
        (timedelta(days=8), "warning"),
        (timedelta(days=7), "critical"),
        (timedelta(seconds=1), "critical"),
        (timedelta(0), "expired"),
        (timedelta(days=-3), "expired"),
    ]:
        assert expiry_level(start, now + left, now)[0] == level, left
    assert expiry_level(now + timedelta(days=1), now + timedelta(days=90), now)[0] == "not_yet_valid"


# --- Bearer API key -----------------------------------------------------------------------------


def stored_secret(acp_env: dict, monkeypatch, key: str) -> str | None:
    """What the secret store holds for `key`, read through its public API in this test's home."""
    from mcp_acp import secret_store

    with monkeypatch.context() as patch:
        for variable in ("MCP_ACP_HOME", "HOME", "MCP_ACP_SECRET_BACKEND"):  # the store the CLI used
            if variable in acp_env:
                patch.setenv(variable, acp_env[variable])
        return secret_store.get(key)


async def test_bearer_key_set_use_and_delete(cli, acp_env, bearer_backend, monkeypatch):
    name = unique("bearer")
    key_name = f"proxy:{name}:backend"
    added = cli("proxy", "add", name, "--url", bearer_backend.url, check=True)
    assert "HTTP 401 Unauthorized" in flat(added.stderr)
    allow_everything(acp_env, name)

    # Without a key the backend refuses us, and the error says what to do.
    stderr = await refused_start(acp_env, name)
    assert "the backend answered HTTP 401 Unauthorized" in stderr
    assert f"mcp-acp proxy auth set-key --proxy {name}" in stderr
    assert "retrying" not in stderr

    result = cli("proxy", "auth", "set-key", "--proxy", name, "--api-key-stdin", input=API_KEY + "\n", check=True)
    assert key_name in flat(result.stdout)
    config_text = config_path(acp_env, name).read_text()
    assert json.loads(config_text)["backend"]["http"]["credential_key"] == key_name
    assert API_KEY not in config_text  # only the reference is in the config
    for path in Path(acp_env["MCP_ACP_HOME"]).rglob("*"):
        if path.is_file():
            assert API_KEY.encode() not in path.read_bytes(), f"the key is in plaintext in {path}"
    assert stored_secret(acp_env, monkeypatch, key_name) == API_KEY

    before = len(bearer_backend.requests())
    code, stderr = await run_session(acp_env, name)
    assert code == 0, stderr
    sent = bearer_backend.requests()[before:]
    assert len(sent) >= 4  # probe initialize + session initialize, initialized, tools/call …
    assert {r["authorization"] for r in sent} == {f"Bearer {API_KEY}"}
    assert all(r["user_agent"].startswith("mcp-acp/") for r in sent)

    result = cli("proxy", "auth", "delete-key", "--proxy", name, "--force", check=True)
    assert "Deleted the backend API key" in flat(result.stdout)
    assert "credential_key" not in read_config(acp_env, name)["backend"]["http"]
    assert stored_secret(acp_env, monkeypatch, key_name) is None
    stderr = await refused_start(acp_env, name)
    assert "HTTP 401 Unauthorized" in stderr

    again = cli("proxy", "auth", "delete-key", "--proxy", name, "--force", check=True)
    assert "nothing to delete" in flat(again.stdout)


async def test_proxy_add_with_api_key(cli, acp_env, bearer_backend, monkeypatch):
    name = unique("addkey")
    added = cli("proxy", "add", name, "--url", bearer_backend.url, "--api-key-stdin", input=API_KEY, check=True)
    assert "answered the MCP handshake" in flat(added.stdout)
    assert read_config(acp_env, name)["backend"]["http"]["credential_key"] == f"proxy:{name}:backend"
    assert API_KEY not in config_path(acp_env, name).read_text()
    allow_everything(acp_env, name)
    code, stderr = await run_session(acp_env, name)
    assert code == 0, stderr
    cli("proxy", "auth", "delete-key", "--proxy", name, "--force", check=True)


async def test_missing_secret_is_a_clear_startup_error(cli, acp_env, bearer_backend):
    name = unique("nosecret")
    cli("proxy", "add", name, "--url", bearer_backend.url, check=True)
    # The config refers to a key that is not in the secret store (e.g. copied from another machine).
    edit_config(acp_env, name, lambda c: c["backend"]["http"].update(credential_key=f"proxy:{name}:backend"))
    before = len(bearer_backend.requests())
    stderr = await refused_start(acp_env, name)
    assert f"proxy '{name}': the backend API key 'proxy:{name}:backend' is not in the secret store" in stderr
    assert f"mcp-acp proxy auth set-key --proxy {name}" in stderr
    assert len(bearer_backend.requests()) == before  # refused before contacting the backend
    # delete-key clears a dangling reference too.
    result = cli("proxy", "auth", "delete-key", "--proxy", name, "--force", check=True)
    assert "missing API key" in flat(result.stdout)
    assert "credential_key" not in read_config(acp_env, name)["backend"]["http"]


def test_set_key_and_delete_key_refusals(cli, acp_env, bearer_backend):
    web, files = unique("web"), unique("files")
    cli("proxy", "add", web, "--url", bearer_backend.url, check=True)
    cli("proxy", "add", files, "--command", "/bin/cat", check=True)
    before = config_path(acp_env, web).read_text()

    def set_key(proxy: str, key: str) -> subprocess.CompletedProcess:
        return cli("proxy", "auth", "set-key", "--proxy", proxy, "--api-key-stdin", input=key)

    assert_clean_failure(cli("proxy", "auth", "set-key", "--proxy", web), "pipe it in with --api-key-stdin")
    assert_clean_failure(set_key(web, ""), "read nothing from standard input")
    assert_clean_failure(set_key(web, "  \n"), "empty")
    assert_clean_failure(set_key(web, "a b"), "spaces")
    assert_clean_failure(set_key(files, "k"), "no HTTP backend")
    assert_clean_failure(set_key("nosuch", "k"), "no proxy named")
    assert config_path(acp_env, web).read_text() == before
    set_key(web, "k1\n").check_returncode()
    assert_clean_failure(cli("proxy", "auth", "delete-key", "--proxy", web), "pass --force")
    assert "credential_key" in read_config(acp_env, web)["backend"]["http"]
    assert_clean_failure(
        cli("proxy", "add", unique("x"), "--command", "/bin/cat", "--api-key-stdin", input="k"), "--url"
    )
    cli("proxy", "auth", "delete-key", "-p", web, "-f", check=True)


def test_an_api_key_on_the_command_line_is_refused(cli, acp_env, bearer_backend, monkeypatch):
    """Every local user can read a process's arguments (`ps`, /proc): `--api-key KEY` is refused
    by both commands that used to take it, says what to use instead, and stores nothing
    (issue 16, class 8)."""
    web, added = unique("web"), unique("added")
    cli("proxy", "add", web, "--url", bearer_backend.url, check=True)
    before = config_path(acp_env, web).read_text()
    for args in (
        ("proxy", "auth", "set-key", "--proxy", web, "--api-key", API_KEY),
        ("proxy", "auth", "set-key", "--proxy", web, "-k", API_KEY),
        ("proxy", "add", added, "--url", bearer_backend.url, "--api-key", API_KEY),
    ):
        text = assert_clean_failure(
            cli(*args), "where every local user can read it", "--api-key-stdin", "asked for it (input hidden)"
        )
        assert API_KEY not in text
    assert config_path(acp_env, web).read_text() == before
    assert not config_path(acp_env, added).exists()
    assert stored_secret(acp_env, monkeypatch, f"proxy:{web}:backend") is None
    assert stored_secret(acp_env, monkeypatch, f"proxy:{added}:backend") is None
    assert "--api-key-stdin" in cli("proxy", "add", "--help").stdout
    assert "--api-key " not in cli("proxy", "add", "--help").stdout  # no longer offered


@pytest.mark.parametrize("command", ["set-key", "add"])
def test_the_key_is_asked_for_with_hidden_input_on_a_terminal(cli, acp_env, bearer_backend, monkeypatch, command):
    import pty
    import select

    name = unique("tty")
    if command == "set-key":
        cli("proxy", "add", name, "--url", bearer_backend.url, check=True)
        argv, done = [MCP_ACP, "proxy", "auth", "set-key", "--proxy", name], b"Stored"
    else:  # an HTTP backend added in a terminal: asked for its key (Enter for none)
        argv, done = [MCP_ACP, "proxy", "add", name, "--server-name", "tty", "--url", bearer_backend.url], b"Added"
    main, child = pty.openpty()

    process = subprocess.Popen(argv, env=acp_env, stdin=child, stdout=child, stderr=child, close_fds=True)
    os.close(child)
    output = b""

    def read_until(marker: bytes, timeout: float = 30) -> None:
        nonlocal output
        deadline = datetime.now() + timedelta(seconds=timeout)
        while marker not in output and datetime.now() < deadline:
            ready, _, _ = select.select([main], [], [], 0.5)
            if ready:
                try:
                    output += os.read(main, 4096)
                except OSError:
                    break

    try:
        read_until(b"API key")
        assert b"API key" in output, output
        os.write(main, API_KEY.encode() + b"\n")  # the backend's own key: `add` checks it with a handshake
        read_until(done)
        while process.poll() is None and select.select([main], [], [], 30)[0]:  # the rest, so it never blocks
            try:
                output += os.read(main, 4096)
            except OSError:
                break
        assert process.wait(30) == 0, output
    finally:
        if process.poll() is None:
            process.kill()
        os.close(main)
    assert API_KEY.encode() not in output  # the input was not echoed
    assert stored_secret(acp_env, monkeypatch, f"proxy:{name}:backend") == API_KEY
    cli("proxy", "auth", "delete-key", "-p", name, "-f", check=True)


# --- STDIO binary attestation ----------------------------------------------------------------------


def launcher(folder: Path) -> Path:
    """A small executable script that runs the fixture backend and leaves a mark when it runs."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "fixture-backend"
    script.write_text(
        f"#!{sys.executable}\n"
        "# mcp-acp attestation test launcher\n"
        "import pathlib, runpy, sys\n"
        "pathlib.Path(__file__).with_suffix('.ran').touch()\n"
        f"sys.argv[0] = {BACKEND!r}\n"
        f"runpy.run_path({BACKEND!r}, run_name='__main__')\n"
    )
    script.chmod(0o755)
    return script


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def test_attested_binary_starts(cli, acp_env, tmp_path):
    script = launcher(tmp_path / "bin")
    name = unique("att")
    added = cli(
        "proxy", "add", name, "--command", str(script), "--attestation-sha256", sha256(script).upper(), check=True
    )
    assert "matches the expected SHA-256" in flat(added.stdout)
    assert read_config(acp_env, name)["backend"]["stdio"]["attestation"] == {
        "expected_sha256": sha256(script),
        "require_signature": False,
    }
    allow_everything(acp_env, name)
    code, stderr = await run_session(acp_env, name)
    assert code == 0, stderr
    assert script.with_suffix(".ran").exists()


async def test_one_byte_change_refuses_to_start(cli, acp_env, tmp_path):
    script = launcher(tmp_path / "bin")
    expected = sha256(script)
    name = unique("tamper")
    cli("proxy", "add", name, "--command", str(script), "--attestation-sha256", expected, check=True)
    data = bytearray(script.read_bytes())
    data[data.index(b"attestation")] ^= 0x20  # 'a' -> 'A' in the comment: still a working script
    script.write_bytes(bytes(data))
    actual = sha256(script)
    stderr = await refused_start(acp_env, name)
    assert f"expected SHA-256 {expected}, actual {actual}" in stderr
    assert str(script) in stderr
    assert not script.with_suffix(".ran").exists()  # never spawned
    assert bootstrap_log(acp_env, name)[-1]["error_type"] == "AttestationError"


async def test_attestation_follows_symlinks_to_the_real_file(cli, acp_env, tmp_path):
    script = launcher(tmp_path / "real")
    (tmp_path / "bin").mkdir()
    link = tmp_path / "bin" / "backend-link"
    link.symlink_to(script)
    name = unique("link")
    cli("proxy", "add", name, "--command", str(link), "--attestation-sha256", sha256(script), check=True)
    allow_everything(acp_env, name)
    code, stderr = await run_session(acp_env, name)
    assert code == 0, stderr
    script.write_text(script.read_text() + "# changed\n")
    stderr = await refused_start(acp_env, name)
    assert f"backend binary {script} failed attestation" in stderr  # the realpath is named


async def test_slsa_owner_without_gh_is_a_clear_error(cli, acp_env, tmp_path):
    script = launcher(tmp_path / "bin")
    name = unique("slsa")
    empty_bin = tmp_path / "empty-bin"
    empty_bin.mkdir()
    env = {**acp_env, "PATH": str(empty_bin)}  # no `gh` anywhere
    added = subprocess.run(
        [MCP_ACP, "proxy", "add", name, "--command", str(script), "--attestation-slsa-owner", "example-org"],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert added.returncode == 0, added.stderr
    assert "needs the GitHub CLI 'gh'" in flat(added.stderr)
    assert read_config(acp_env, name)["backend"]["stdio"]["attestation"]["slsa_owner"] == "example-org"
    stderr = await refused_start(env, name)
    assert "slsa_owner 'example-org'" in stderr and "GitHub CLI 'gh' is not installed" in stderr
    assert not script.with_suffix(".ran").exists()


@pytest.mark.skipif(sys.platform == "darwin", reason="macOS really checks the signature")
async def test_require_signature_is_reported_as_skipped_off_macos(cli, acp_env, tmp_path):
    script = launcher(tmp_path / "bin")
    name = unique("sig")
    cli("proxy", "add", name, "--command", str(script), "--attestation-require-signature", check=True)
    assert read_config(acp_env, name)["backend"]["stdio"]["attestation"]["require_signature"] is True
    allow_everything(acp_env, name)
    code, stderr = await run_session(acp_env, name)
    assert code == 0, stderr
    assert "signature check skipped: code signatures are only checked on macOS" in flat(stderr)
    assert any("signature check skipped" in e.get("message", "") for e in system_log(cli, name))


def test_proxy_add_attestation_refusals(cli, acp_env, tmp_path):
    script = launcher(tmp_path / "bin")
    cases = [
        (["--command", str(script), "--attestation-sha256", "0" * 64], "does not match --attestation-sha256"),
        (["--command", str(script), "--attestation-sha256", "xyz"], "invalid attestation settings"),
        (["--command", str(script), "--attestation-slsa-owner=-evil"], "invalid attestation settings"),
        (["--url", "http://127.0.0.1:1/mcp", "--attestation-sha256", sha256(script)], "pass --command"),
    ]
    for flags, fragment in cases:
        name = unique("attbad")
        assert_clean_failure(cli("proxy", "add", name, *flags), fragment)
        assert not config_path(acp_env, name).parent.exists()


def test_auth_status_shows_client_certificate_expiry(cli, acp_env, pki, mtls_backend):
    """`auth status` reports each proxy's mTLS certificate with its warning level (14 / 7 days)."""
    levels = {}
    for client in ("valid", "expires_10d", "expires_5d"):
        name = unique("status")
        cli("proxy", "add", name, "--url", mtls_backend.url, *mtls_flags(pki, client), check=True)
        levels[name] = client
    shown = json.loads(cli("auth", "status", "--json", check=True).stdout)["mtls"]
    assert {shown[name]["level"] for name in levels} == {"ok", "warning", "critical"}
    for name, client in levels.items():
        expected = {"valid": "ok", "expires_10d": "warning", "expires_5d": "critical"}[client]
        assert shown[name]["level"] == expected, shown[name]
    table = cli("auth", "status", check=True).stdout
    assert all(f"mTLS ({name})" in table for name in levels)
