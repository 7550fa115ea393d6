"""End-to-end identity (docs/auth.md, docs/auth.md#what-the-proxy-checks): a real OIDC provider process, the real
`mcp-acp` CLI and the real proxy subprocess in front of the fixture backend.

Every test gets its own MCP_ACP_HOME, its own provider (tests/fixtures/oidc_provider.py) on a
free loopback port, `mcp-acp init --auth oidc` pointing at it, and a proxy "fx" that allows
everything -- so any denial seen here comes from identity, never from policy.

Tokens are only ever put in place the ways a user can: `mcp-acp auth login` (the device flow,
approved at the provider as the user would in a browser), or -- for tokens no honest provider
issues (wrong audience, foreign signature, someone else's) -- written through the product's own
token store (`mcp_acp.identity.tokens.save`) in a subprocess with the test's environment, after
which the running proxy is told over its Unix socket, exactly as `auth login` tells it.

Timing: the box may be loaded, so everything polls with generous deadlines; the tests that
must wait out token lifetimes are marked with a 180 s timeout.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock

import httpx
import jwt
import pytest
from oidc_provider import OidcProvider

from mcp_acp.identity.jwt_check import LEEWAY, MIN_REFETCH_INTERVAL
from tests.support.config import allow_everything
from tests.support.processes import BACKEND, MCP_ACP
from tests.support.proxies import RawProxy

PROXY = "fx"
CLIENT_ID = "mcp-acp-cli"
AUDIENCE = "mcp-acp"
LOGIN_MESSAGE = "Not authenticated. Run 'mcp-acp auth login'"
POLICY_DENIED = -32001
CLI_TIMEOUT = 90  # seconds for one CLI run on a loaded 2-CPU box
REQUEST_TIMEOUT = 60  # seconds for one JSON-RPC answer through the proxy
SHORT_LIFETIME = 8  # seconds: access tokens that expire within a test


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture
def idp(tmp_path):
    """The test OIDC provider, polling interval 1 s so a device login takes about a second."""
    provider = OidcProvider(audience=AUDIENCE, client_id=CLIENT_ID, interval=1, state_dir=tmp_path / "idp")
    provider.start(timeout=60)
    yield provider
    provider.stop()


@pytest.fixture
def env(acp_env, idp) -> dict[str, str]:
    """An OIDC installation against `idp` with proxy "fx" (fixture backend, allow-all policy)."""
    environment = {**acp_env, "NO_COLOR": "1", "TERM": "dumb", "COLUMNS": "300"}
    assert environment["MCP_ACP_SECRET_BACKEND"] == "file"  # never a developer's real keychain
    run(
        environment,
        "init",
        "--auth",
        "oidc",
        "--oidc-issuer",
        idp.url,
        "--oidc-client-id",
        CLIENT_ID,
        "--oidc-audience",
        AUDIENCE,
        "--force",
        check=True,
    )
    run(
        environment,
        "proxy",
        "add",
        PROXY,
        "--server-name",
        "fixture",
        "--command",
        sys.executable,
        "--arg",
        BACKEND,
        check=True,
    )
    allow_everything(environment, PROXY)
    return environment


@pytest.fixture
async def proxies():
    """Start proxies with `await proxies(env)`; every one is killed and reaped at teardown."""
    started: list[RawProxy] = []

    async def launch(environment: dict[str, str], name: str = PROXY) -> RawProxy:
        proxy = await RawProxy.start(environment, name)
        started.append(proxy)
        return proxy

    yield launch
    for proxy in started:
        await proxy.close()


# --- the CLI and the token store -------------------------------------------------------------


def run(environment: dict[str, str], *args: str, check: bool = False) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [MCP_ACP, *args],
        check=False,
        env=environment,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"mcp-acp {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


def login(environment: dict[str, str], idp: OidcProvider, sub: str = "alice") -> subprocess.CompletedProcess:
    """`mcp-acp auth login --no-browser` as the user runs it: read the code it shows on stderr,
    approve it at the provider as `sub`, and wait for it to finish (exit 0)."""
    process = subprocess.Popen(
        [MCP_ACP, "auth", "login", "--no-browser"],
        env=environment,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    shown = []
    try:
        while True:
            line = process.stderr.readline()  # EOF (a crashed login) ends the loop
            if not line:
                break
            shown.append(line)
            found = re.search(r"enter the code (\S+)", line)
            if found:
                idp.approve(found.group(1), sub)
                break
        stdout, stderr = process.communicate(timeout=CLI_TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    stderr = "".join(shown) + stderr
    assert process.returncode == 0, f"auth login exited {process.returncode}:\n{stdout}\n{stderr}"
    assert any("enter the code" in line for line in shown), stderr
    return subprocess.CompletedProcess(process.args, 0, stdout, stderr)


def _python(environment: dict[str, str], code: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code, *args],
        check=False,
        env=environment,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def plant(
    environment: dict[str, str], access_token: str, *, refresh_token: str | None = None, lifetime: float = 3600
) -> None:
    """Store `access_token` as the user's token through the product's own token store."""
    now = time.time()
    record = {
        "access_token": access_token,
        "refresh_token": refresh_token,
        "id_token": None,
        "expires_at": now + lifetime,
        "issued_at": now,
    }
    _python(
        environment,
        "import json, sys\n"
        "from mcp_acp.identity.tokens import StoredTokens, save\n"
        "save(StoredTokens(**json.loads(sys.argv[1])))\n",
        json.dumps(record),
    )


def stored_tokens(environment: dict[str, str]) -> dict | None:
    out = _python(
        environment,
        "import json, dataclasses\n"
        "from mcp_acp.identity.tokens import load\n"
        "t = load()\n"
        "print(json.dumps(dataclasses.asdict(t) if t else None))\n",
    )
    return json.loads(out)


def socket_path(environment: dict[str, str]) -> Path:
    with mock.patch.dict(os.environ, {"MCP_ACP_HOME": environment["MCP_ACP_HOME"]}):
        from mcp_acp.config import paths

        return paths.proxy_socket_path(PROXY)


def control(environment: dict[str, str], method: str, path: str) -> httpx.Response:
    """A request to the running proxy's control API over its Unix socket (what the CLI does)."""
    transport = httpx.HTTPTransport(uds=str(socket_path(environment)))
    with httpx.Client(transport=transport, timeout=30) as client:
        return client.request(method, f"http://proxy{path}")


def notify(environment: dict[str, str], what: str = "login") -> None:
    response = control(environment, "POST", f"/api/auth/notify-{what}")
    assert response.status_code == 200 and response.json()["status"] == "ok", response.text


async def wait_for_control_socket(environment: dict[str, str], proxy: RawProxy, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        assert proxy.process.returncode is None, "the proxy exited"
        try:
            response = await asyncio.to_thread(control, environment, "GET", "/api/control/status")
            if response.status_code == 200:
                return
        except (httpx.TransportError, OSError):
            pass
        if time.monotonic() > deadline:
            raise AssertionError("the proxy's control socket never answered")
        await asyncio.sleep(0.2)


# --- logs ------------------------------------------------------------------------------------


def log_dir(environment: dict[str, str]) -> Path:
    return Path(environment["MCP_ACP_HOME"]) / "logs" / "mcp-acp" / "proxies" / PROXY


def entries(environment: dict[str, str], relative: str) -> list[dict]:
    path = log_dir(environment) / relative
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def auth_events(environment: dict[str, str], event_type: str | None = None) -> list[dict]:
    found = entries(environment, "audit/auth.jsonl")
    return [e for e in found if event_type is None or e.get("event_type") == event_type]


def decisions(environment: dict[str, str]) -> list[dict]:
    return entries(environment, "audit/decisions.jsonl")


def bootstrap(environment: dict[str, str]) -> list[dict]:
    path = Path(environment["MCP_ACP_HOME"]) / "config" / "proxies" / PROXY / "bootstrap.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


# --- talking to the proxy --------------------------------------------------------------------


async def start_proxy(proxies, environment: dict[str, str], name: str = PROXY) -> RawProxy:
    """Start proxy `name` and complete the MCP handshake (which the proxy also checks the identity of)."""
    proxy = await proxies(environment, name)
    try:
        answer = await proxy.request(
            "initialize",
            {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "identity-test-client", "version": "1"},
            },
            timeout=REQUEST_TIMEOUT,
        )
    except (EOFError, TimeoutError):
        raise AssertionError(f"the proxy did not start:\n{await _stderr_if_exited(proxy)}") from None
    if "result" not in answer:
        stderr = await _stderr_if_exited(proxy)
        raise AssertionError(f"initialize failed: {answer}\n{stderr}")
    await proxy.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
    return proxy


async def _stderr_if_exited(proxy: RawProxy) -> str:
    try:
        await asyncio.wait_for(proxy.process.wait(), 5)
    except TimeoutError:
        return ""
    return (await proxy.process.stderr.read()).decode(errors="replace")


async def echo(proxy: RawProxy, text: str = "hello") -> dict:
    return await proxy.call_tool("echo", {"text": text}, timeout=REQUEST_TIMEOUT)


def assert_allowed(answer: dict, text: str = "hello") -> None:
    assert "error" not in answer, answer
    assert answer["result"]["content"][0]["text"] == text, answer


def assert_login_denial(answer: dict) -> str:
    """A -32001 denial whose message tells the user to run `mcp-acp auth login`."""
    assert "result" not in answer, f"expected a denial, the call went through: {answer}"
    error = answer["error"]
    assert error["code"] == POLICY_DENIED, error
    assert "mcp-acp auth login" in error["message"], error
    assert error["data"]["decision"] == "deny" and error["data"]["final_rule"] == "not_authenticated", error
    return error["message"]


def assert_last_decision_not_authenticated(environment: dict[str, str]) -> dict:
    last = [d for d in decisions(environment) if d.get("mcp_method") == "tools/call"][-1]
    assert last["decision"] == "deny" and last["final_rule"] == "not_authenticated", last
    assert "mcp-acp auth login" in (last["reason"] or ""), last
    assert last.get("subject_id") is None, last  # nobody verified, so nobody is named
    return last


def files_containing(root: Path, secrets: list[str]) -> list[str]:
    found = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path} holds {secret[:12]}…" for secret in secrets if secret.encode() in data]
    return found


# --- login, status and per-request validation ------------------------------------------------


def test_device_login_stores_tokens_encrypted_and_status_shows_the_user(env, idp):
    assert json.loads(run(env, "auth", "status", "--json", check=True).stdout)["authenticated"] is False
    done = login(env, idp, "alice")
    assert "Signed in as alice" in done.stdout and "encrypted file store" in done.stdout

    status = json.loads(run(env, "auth", "status", "--json", check=True).stdout)
    assert status["mode"] == "oidc" and status["authenticated"] is True, status
    assert status["user"]["sub"] == "alice" and status["refresh_token"] is True
    assert status["oidc"] == {"issuer": idp.url, "client_id": CLIENT_ID, "audience": AUDIENCE}
    assert 3000 < status["expires_in_seconds"] <= 3600
    assert "alice" in run(env, "auth", "status", check=True).stdout

    tokens = stored_tokens(env)
    assert tokens and tokens["refresh_token"] and tokens["id_token"]
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert claims["sub"] == "alice" and claims["iss"] == idp.url and claims["aud"] == AUDIENCE
    # Never in plaintext: not the tokens, not even one JWT segment (the claims), anywhere we own.
    secrets = [
        tokens["access_token"],
        tokens["refresh_token"],
        tokens["id_token"],
        tokens["access_token"].split(".")[1],
        tokens["id_token"].split(".")[1],
    ]
    home = Path(env["MCP_ACP_HOME"])
    assert files_containing(home, secrets) == []
    assert files_containing(Path(env["HOME"]), secrets) == []
    store = home / "config" / "secrets.enc"
    assert store.is_file() and store.stat().st_mode & 0o777 == 0o600
    stats = idp.stats()
    assert stats["device_authorization"] == 1 and stats["token_results"]["ok"] == 1


def test_start_without_a_token_is_refused_with_exit_13(env):
    result = run(env, "start", "--proxy", PROXY, "--headless")
    assert result.returncode == 13, result.stderr
    assert LOGIN_MESSAGE in result.stderr and "Traceback" not in result.stderr
    assert [(e["event"], e["exit_code"]) for e in bootstrap(env)] == [("not_authenticated", 13)]


def test_start_with_the_provider_down_is_refused_with_exit_12(env, idp):
    login(env, idp, "alice")
    idp.stop()
    result = run(env, "start", "--proxy", PROXY, "--headless")
    assert result.returncode == 12, result.stderr
    assert idp.url in result.stderr and "identity provider" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert [(e["event"], e["exit_code"]) for e in bootstrap(env)] == [("identity_verification_failed", 12)]


async def test_requests_carry_the_verified_subject(env, idp, proxies):
    await asyncio.to_thread(login, env, idp, "alice")
    proxy = await start_proxy(proxies, env)
    idp.reset_stats()
    for n in range(5):
        assert_allowed(await echo(proxy, f"call {n}"), f"call {n}")
    # The keys are cached (600 s) and the result of a check is not: five verified calls, no refetch.
    assert idp.stats()["jwks"] == 0

    started = auth_events(env, "session_started")
    assert len(started) == 1, auth_events(env)
    assert started[0]["subject"] == {"subject_id": "alice", "provenance": "token"}
    assert started[0]["method"] == "oidc" and started[0]["bound_session_id"].startswith("alice:")
    calls = [d for d in decisions(env) if d.get("mcp_method") == "tools/call"]
    assert len(calls) == 5 and {d["decision"] for d in calls} == {"allow"}
    assert {d["subject_id"] for d in calls} == {"alice"}
    assert {d["session_id"] for d in calls} == {started[0]["bound_session_id"]}
    ops = [e for e in entries(env, "audit/operations.jsonl") if e.get("method") == "tools/call"]
    assert ops and {e["subject"]["subject_id"] for e in ops} == {"alice"}

    code, stderr = await proxy.finish(timeout=REQUEST_TIMEOUT)
    assert code == 0, stderr
    assert "'alice' via OIDC" in stderr
    ended = auth_events(env, "session_ended")
    assert ended and ended[-1]["end_reason"] == "normal"


async def test_auth_sessions_list_shows_the_bound_user(env, idp, proxies):
    await asyncio.to_thread(login, env, idp, "alice")
    proxy = await start_proxy(proxies, env)
    await wait_for_control_socket(env, proxy)
    listed = json.loads(
        (await asyncio.to_thread(run, env, "auth", "sessions", "list", "--proxy", PROXY, "--json", check=True)).stdout
    )
    assert len(listed) == 1 and listed[0]["user_id"] == "alice", listed
    bound = auth_events(env, "session_started")[0]["bound_session_id"]
    assert listed[0]["session_id"] == bound
    table = (await asyncio.to_thread(run, env, "auth", "sessions", "list", "--proxy", PROXY, check=True)).stdout
    assert "alice" in table
    code, stderr = await proxy.finish(timeout=REQUEST_TIMEOUT)
    assert code == 0, stderr
    gone = await asyncio.to_thread(run, env, "auth", "sessions", "list", "--proxy", PROXY)
    assert gone.returncode != 0 and "not running" in gone.stderr


def test_auth_status_in_local_mode_says_unauthenticated_single_user(cli):
    plain = cli("auth", "status", check=True)
    assert "unauthenticated single-user mode" in plain.stdout, plain.stdout
    status = json.loads(cli("auth", "status", "--json", check=True).stdout)
    assert status["mode"] == "local" and status["authenticated"] is False
    assert "unauthenticated single-user mode" in status["message"]
    refused = cli("auth", "login", "--no-browser")
    assert refused.returncode == 1 and "local mode" in refused.stderr


# --- expiry, refresh and revocation ----------------------------------------------------------


@pytest.mark.timeout(180)
async def test_an_expiring_token_is_refreshed_and_calls_keep_working(env, idp, proxies):
    idp.set_lifetime(SHORT_LIFETIME)
    await asyncio.to_thread(login, env, idp, "alice")
    original = stored_tokens(env)
    original_exp = jwt.decode(original["access_token"], options={"verify_signature": False})["exp"]
    idp.reset_stats()
    proxy = await start_proxy(proxies, env)

    # Past the original token's expiry *and* the validator's clock-skew leeway: only a renewed
    # token can still be accepted then.
    n = 0
    while time.time() < original_exp + LEEWAY + 3:
        n += 1
        assert_allowed(await echo(proxy, f"call {n}"), f"call {n}")
        await asyncio.sleep(1)
    assert_allowed(await echo(proxy, "after expiry"), "after expiry")

    refreshed = auth_events(env, "token_refreshed")
    assert refreshed and {e["status"] for e in refreshed} == {"success"}, auth_events(env)
    assert not auth_events(env, "token_refresh_failed") and not auth_events(env, "token_invalid")
    assert idp.stats()["token_results"].get("ok", 0) >= 1  # refresh grants (the login was before the reset)
    calls = [d for d in decisions(env) if d.get("mcp_method") == "tools/call"]
    assert {d["decision"] for d in calls} == {"allow"} and {d["subject_id"] for d in calls} == {"alice"}

    # The proxy stored the renewed tokens (rotated refresh token included), encrypted.
    now = stored_tokens(env)
    assert now["access_token"] != original["access_token"] and now["refresh_token"] != original["refresh_token"]
    assert jwt.decode(now["access_token"], options={"verify_signature": False})["exp"] > original_exp + LEEWAY
    secrets = [now["access_token"], now["refresh_token"], original["refresh_token"]]
    assert files_containing(Path(env["MCP_ACP_HOME"]), secrets) == []
    code, stderr = await proxy.finish(timeout=REQUEST_TIMEOUT)
    assert code == 0, stderr


@pytest.mark.timeout(180)
async def test_a_revoked_refresh_token_denies_with_the_login_message(env, idp, proxies):
    idp.set_lifetime(SHORT_LIFETIME)
    await asyncio.to_thread(login, env, idp, "alice")
    proxy = await start_proxy(proxies, env)
    assert_allowed(await echo(proxy))
    assert idp.revoke("alice") >= 1

    # Keep calling: once the token is due for renewal, the provider refuses the revoked refresh
    # token and the proxy denies -- before the token outlives its lifetime plus the leeway.
    revoked_at = time.monotonic()
    while True:
        answer = await echo(proxy)
        if "error" in answer:
            break
        assert time.monotonic() - revoked_at < SHORT_LIFETIME + LEEWAY + 30, "never denied after revocation"
        await asyncio.sleep(0.5)
    message = assert_login_denial(answer)
    assert "renewed" in message or "Not authenticated" in message, message
    failed = auth_events(env, "token_refresh_failed")
    assert len(failed) == 1 and failed[0]["status"] == "failure", auth_events(env)
    assert "invalid_grant" in failed[0]["message"] and "mcp-acp auth login" in failed[0]["message"]
    assert_last_decision_not_authenticated(env)

    # It stays denied (fail closed), with the plain login message, until the user signs in again.
    again = assert_login_denial(await echo(proxy))
    assert LOGIN_MESSAGE in again
    assert len(auth_events(env, "token_refresh_failed")) == 1  # one entry, not one per request
    idp.set_lifetime(3600)
    await asyncio.to_thread(login, env, idp, "alice")  # notifies the running proxy
    assert_allowed(await echo(proxy, "signed in again"), "signed in again")


# --- tokens that must never verify -----------------------------------------------------------

BAD_TOKENS = {
    "wrong-audience": ({"aud": "someone-else"}, "audience"),
    "wrong-issuer": ({"iss": "https://evil.example.com"}, "not issued by"),
    "bad-signature": ({"foreign_key": True}, "signature"),
    "alg-none": ({"alg": "none"}, "algorithm"),  # unsigned, under the real kid
}


def bad_token(idp: OidcProvider, kind: str) -> str:
    options, _ = BAD_TOKENS[kind]
    return idp.mint("alice", **options)


@pytest.mark.parametrize("kind", list(BAD_TOKENS))
def test_a_bad_token_is_refused_at_start_with_exit_13(env, idp, kind):
    plant(env, bad_token(idp, kind))
    result = run(env, "start", "--proxy", PROXY, "--headless")
    assert result.returncode == 13, result.stderr
    assert LOGIN_MESSAGE in result.stderr and BAD_TOKENS[kind][1] in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert [(e["event"], e["exit_code"]) for e in bootstrap(env)] == [("not_authenticated", 13)]
    invalid = auth_events(env, "token_invalid")
    assert invalid and BAD_TOKENS[kind][1] in invalid[0]["message"], auth_events(env)
    assert not auth_events(env, "session_started")
    status = json.loads(run(env, "auth", "status", "--json", check=True).stdout)
    assert status["authenticated"] is False and BAD_TOKENS[kind][1] in status["message"]


def test_an_expired_token_without_refresh_token_is_refused_at_start(env, idp):
    plant(env, idp.mint("alice", expired=True), lifetime=-3600)
    result = run(env, "start", "--proxy", PROXY, "--headless")
    assert result.returncode == 13, result.stderr
    assert LOGIN_MESSAGE in result.stderr and "expired" in result.stderr


def test_an_expired_token_is_renewed_at_start(env, idp):
    """A stored token past its expiry but with a live refresh token: the start renews it first."""
    login(env, idp, "alice")
    refresh_token = stored_tokens(env)["refresh_token"]
    plant(env, idp.mint("alice", expired=True), refresh_token=refresh_token, lifetime=-3600)
    idp.reset_stats()
    result = subprocess.run(
        [MCP_ACP, "start", "--proxy", PROXY, "--headless"],
        check=False,
        env=env,
        input="",
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
    )  # stdin closed at once
    assert result.returncode == 0, result.stderr
    assert "'alice' via OIDC" in result.stderr
    assert [e["event_type"] for e in auth_events(env)][:2] == ["token_refreshed", "session_started"]
    assert idp.stats()["token_results"] == {"ok": 1}
    assert stored_tokens(env)["refresh_token"] != refresh_token  # rotated, and stored


def test_an_expired_token_with_a_revoked_refresh_token_is_refused_at_start(env, idp):
    login(env, idp, "alice")
    refresh_token = stored_tokens(env)["refresh_token"]
    plant(env, idp.mint("alice", expired=True), refresh_token=refresh_token, lifetime=-3600)
    assert idp.revoke("alice") == 1
    result = run(env, "start", "--proxy", PROXY, "--headless")
    assert result.returncode == 13, result.stderr
    assert "mcp-acp auth login" in result.stderr and "invalid_grant" in result.stderr, result.stderr
    failed = auth_events(env, "token_refresh_failed")
    assert len(failed) == 1 and not auth_events(env, "session_started"), auth_events(env)


@pytest.mark.parametrize("kind", list(BAD_TOKENS))
async def test_a_bad_token_is_denied_on_the_next_request(env, idp, proxies, kind):
    await asyncio.to_thread(login, env, idp, "alice")
    proxy = await start_proxy(proxies, env)
    assert_allowed(await echo(proxy))
    await wait_for_control_socket(env, proxy)

    await asyncio.to_thread(plant, env, bad_token(idp, kind))
    await asyncio.to_thread(notify, env, "login")
    message = assert_login_denial(await echo(proxy))
    assert BAD_TOKENS[kind][1] in message, message
    assert_last_decision_not_authenticated(env)
    invalid = auth_events(env, "token_invalid")
    assert len(invalid) == 1 and BAD_TOKENS[kind][1] in invalid[0]["message"], auth_events(env)
    # Not only tools: nothing gets through with a token that does not verify.
    listed = await proxy.request("tools/list", timeout=REQUEST_TIMEOUT)
    assert listed["error"]["code"] == POLICY_DENIED
    assert proxy.process.returncode is None  # denied, not shut down: the subject never changed


async def test_garbage_key_ids_do_not_hammer_the_provider(env, idp, proxies):
    await asyncio.to_thread(login, env, idp, "alice")
    proxy = await start_proxy(proxies, env)
    await wait_for_control_socket(env, proxy)
    await asyncio.to_thread(plant, env, idp.mint("alice", kid="no-such-key"))
    await asyncio.to_thread(notify, env, "login")
    idp.reset_stats()
    began = time.monotonic()
    for _ in range(10):
        message = assert_login_denial(await echo(proxy))
        assert "unknown key" in message, message
    elapsed = time.monotonic() - began
    # At most one refetch per MIN_REFETCH_INTERVAL, however many requests name an unknown kid.
    assert idp.stats()["jwks"] <= 1 + int(elapsed // MIN_REFETCH_INTERVAL) + 1, (idp.stats(), elapsed)


@pytest.mark.timeout(180)
async def test_a_rotated_key_is_accepted_after_the_jwks_refetch(env, idp, proxies):
    await asyncio.to_thread(login, env, idp, "alice")
    old_kid = jwt.get_unverified_header(stored_tokens(env)["access_token"])["kid"]
    proxy = await start_proxy(proxies, env)
    keys_fetched_by = time.monotonic()  # the proxy verified the token (fetching the JWKS) before it answered
    assert_allowed(await echo(proxy))
    await wait_for_control_socket(env, proxy)

    new_kids = idp.rotate_keys()  # the old key leaves the JWKS
    assert old_kid not in {key["kid"] for key in idp.jwks()["keys"]}
    idp.reset_stats()
    done = await asyncio.to_thread(login, env, idp, "alice")
    assert f"picked up the new session: {PROXY}" in done.stdout, done.stdout
    new_kid = jwt.get_unverified_header(stored_tokens(env)["access_token"])["kid"]
    assert new_kid != old_kid and new_kid == new_kids["RS256"]

    await asyncio.sleep(max(0.0, keys_fetched_by + MIN_REFETCH_INTERVAL + 1.5 - time.monotonic()))
    assert_allowed(await echo(proxy, "new key"), "new key")
    assert idp.stats()["jwks"] >= 1  # the unknown kid made the proxy fetch the keys again
    assert_allowed(await echo(proxy, "still fine"), "still fine")
    calls = [d for d in decisions(env) if d.get("mcp_method") == "tools/call"]
    assert calls[-1]["decision"] == "allow" and calls[-1]["subject_id"] == "alice"
    assert proxy.process.returncode is None


# --- logout and session binding --------------------------------------------------------------


async def test_logout_takes_effect_on_the_next_request(env, idp, proxies):
    await asyncio.to_thread(login, env, idp, "alice")
    proxy = await start_proxy(proxies, env)
    assert_allowed(await echo(proxy))
    await wait_for_control_socket(env, proxy)

    out = await asyncio.to_thread(run, env, "auth", "logout", check=True)
    assert "Signed out" in out.stdout and PROXY in out.stdout, out.stdout
    assert stored_tokens(env) is None
    message = assert_login_denial(await echo(proxy))
    assert message.startswith(LOGIN_MESSAGE), message
    assert_last_decision_not_authenticated(env)
    assert proxy.process.returncode is None
    status = json.loads((await asyncio.to_thread(run, env, "auth", "status", "--json", check=True)).stdout)
    assert status["authenticated"] is False and "auth login" in status["message"]

    await asyncio.to_thread(login, env, idp, "alice")  # the same user signs in again: the session goes on
    assert_allowed(await echo(proxy, "back"), "back")


@pytest.mark.timeout(180)
async def test_another_users_token_shuts_the_proxy_down_with_exit_15(env, idp, proxies):
    await asyncio.to_thread(login, env, idp, "alice")
    proxy = await start_proxy(proxies, env)
    assert_allowed(await echo(proxy))
    await wait_for_control_socket(env, proxy)

    await asyncio.to_thread(plant, env, idp.mint("bob"))  # a perfectly valid token, for someone else
    await asyncio.to_thread(notify, env, "login")
    await proxy.send(
        {
            "jsonrpc": "2.0",
            "id": 999,
            "method": "tools/call",
            "params": {"name": "echo", "arguments": {"text": "as bob"}},
        }
    )
    try:
        answer = await proxy.response_to(999, timeout=REQUEST_TIMEOUT)
    except (EOFError, asyncio.IncompleteReadError):
        answer = None  # the process may exit before the client reads its answer
    if answer is not None:
        assert "result" not in answer, answer
        assert answer["error"]["code"] == POLICY_DENIED
        assert answer["error"]["data"]["final_rule"] == "session_binding_violation"
    code = await asyncio.wait_for(proxy.process.wait(), REQUEST_TIMEOUT)
    stderr = (await asyncio.wait_for(proxy.process.stderr.read(), REQUEST_TIMEOUT)).decode(errors="replace")
    assert code == 15, stderr
    assert "SECURITY SHUTDOWN" in stderr and "bob" in stderr, stderr

    shutdowns = entries(env, "shutdowns.jsonl")
    assert len(shutdowns) == 1, shutdowns
    assert shutdowns[0]["failure_type"] == "session_binding_violation" and shutdowns[0]["exit_code"] == 15
    assert shutdowns[0]["context"]["new_subject"] == "bob"
    assert shutdowns[0]["context"]["bound_session_id"].startswith("alice:")
    denied = [d for d in decisions(env) if d.get("final_rule") == "session_binding_violation"]
    assert len(denied) == 1 and denied[0]["decision"] == "deny"
    # bob's request never reached the backend
    ops = [e for e in entries(env, "audit/operations.jsonl") if e.get("method") == "tools/call"]
    assert [e["status"] for e in ops].count("Success") == 1
    ended = auth_events(env, "session_ended")
    assert ended and ended[-1]["subject"]["subject_id"] == "alice"


@pytest.mark.timeout(180)
async def test_two_proxies_share_one_rotating_refresh_token(env, idp, proxies):
    """Two proxies renew the same login: the provider rotates the refresh token on every
    renewal, so the second proxy must pick up what the first one stored, not replay the old one."""
    run(
        env,
        "proxy",
        "add",
        "fy",
        "--server-name",
        "fixture2",
        "--command",
        sys.executable,
        "--arg",
        BACKEND,
        check=True,
    )
    allow_everything(env, "fy")
    idp.set_lifetime(SHORT_LIFETIME)
    await asyncio.to_thread(login, env, idp, "alice")
    original_exp = jwt.decode(stored_tokens(env)["access_token"], options={"verify_signature": False})["exp"]
    first = await start_proxy(proxies, env)
    second = await start_proxy(proxies, env, "fy")
    n = 0
    while time.time() < original_exp + LEEWAY + 3:
        n += 1
        assert_allowed(await echo(first, f"a{n}"), f"a{n}")
        assert_allowed(await echo(second, f"b{n}"), f"b{n}")
        await asyncio.sleep(0.5)
    assert not auth_events(env, "token_refresh_failed")
    fy_auth = [
        json.loads(line) for line in (log_dir(env).parent / "fy" / "audit" / "auth.jsonl").read_text().splitlines()
    ]
    assert not [e for e in fy_auth if e["event_type"] == "token_refresh_failed"], fy_auth
