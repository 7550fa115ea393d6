"""Human approval end to end (issue 7, docs/approvals.md) with real processes.

Every test has its own MCP_ACP_HOME and UI port. The proxy is a real `mcp-acp start --proxy NAME`
subprocess in front of the fixture backend (tests/fixtures/backend.py), spoken to in raw JSON-RPC
over its STDIO; several requests can be in flight on that one connection (`Client`). The manager
is a real `mcp-acp manager _run` daemon. A browser is played by an httpx client following the
manager's `GET /api/events` (`EventStream`): with one connected, the proxy routes approvals to
the web UI and the request waits. Decisions go through the manager's HTTP API on 127.0.0.1 with
the API token, as the UI sends them, or over the proxy's own socket, as the CLI does.

No DISPLAY or WAYLAND_DISPLAY is set for the proxies, so there is never a native dialog here:
with nobody watching, a request that needs approval is denied at once. OIDC tests run a real
provider process (tests/fixtures/oidc_provider.py).

Nothing is timed: every wait is an upper bound on a poll, generous for a loaded 2-core box.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from oidc_provider import OidcProvider
from prometheus_client.parser import text_string_to_metric_families

from tests.support.audit import read_jsonl
from tests.support.config import proxy_config_dir, proxy_log_dir
from tests.support.events import EVENT_TIMEOUT, EventStream, ProxyEventStream
from tests.support.manager import MANAGER_TIMEOUT, ManagerHome
from tests.support.processes import wait_until_async
from tests.support.proxies import RawProxy

PROXY = "ap"
POLICY_DENIED = -32001
CALL_TIMEOUT = 90.0  # one answer through a cold proxy on a loaded box (approvals wait far less)
DEFAULT_HITL_TIMEOUT = 60  # seconds a request waits for a human unless a test shortens it
CLIENT_ID = "mcp-acp-cli"
AUDIENCE = "mcp-acp"


def hitl_policy(files: Path, *, cache: bool = True) -> dict:
    """`echo` allowed; `write_file` under `files` needs a human (cacheable when `cache`)."""
    writes = {
        "id": "writes",
        "effect": "hitl",
        "conditions": {"tool_name": "write_file", "path_pattern": f"{files}/**"},
    }
    if cache:
        writes["cache_side_effects"] = ["fs_write"]
    return {"rules": [{"id": "echo-ok", "effect": "allow", "conditions": {"tool_name": "echo"}}, writes]}


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
async def home(tmp_path):
    """A home with a free UI port and no display; afterwards every proxy and manager of it is gone."""
    home = ManagerHome(tmp_path)
    for name in ("DISPLAY", "WAYLAND_DISPLAY"):  # no native dialog: the web UI or nobody
        home.env.pop(name, None)
    try:
        yield home
    finally:
        await home.aclose()
        print(home.diagnostics())  # shown only when the test failed
    assert not home.manager_processes(), "a manager outlived its test"


@pytest.fixture
def files(tmp_path) -> Path:
    folder = tmp_path / "files"
    folder.mkdir()
    return Path(os.path.realpath(folder))


def add_hitl_proxy(
    home: ManagerHome,
    files: Path,
    *,
    timeout: int = DEFAULT_HITL_TIMEOUT,
    ttl: int | None = None,
    cache: bool = True,
    name: str = PROXY,
) -> str:
    proxy_id = home.add_proxy(name, hitl_policy(files, cache=cache))
    path = proxy_config_dir(home.env, name) / "config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    config["hitl"] = {"timeout_seconds": timeout, **({"approval_ttl_seconds": ttl} if ttl else {})}
    path.write_text(json.dumps(config), encoding="utf-8")
    return proxy_id


# --------------------------------------------------------------------------- one connection, many requests


class Client:
    """The MCP client side of one proxy's STDIO: requests in flight at once, each answer handed to
    whoever sent that id (RawProxy.response_to would drop other requests' answers)."""

    def __init__(self, proxy: RawProxy) -> None:
        self.proxy = proxy
        self.waiting: dict[Any, asyncio.Future] = {}
        self.unclaimed: list[dict] = []
        self._next = 1000
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while True:
            line = await self.proxy.process.stdout.readline()
            if not line:
                for future in self.waiting.values():
                    if not future.done():
                        future.set_exception(EOFError("the proxy closed its stdout"))
                return
            message = json.loads(line)
            future = self.waiting.pop(message.get("id"), None) if "method" not in message else None
            if future is not None and not future.done():
                future.set_result(message)
            else:
                self.unclaimed.append(message)

    async def send(self, tool: str, arguments: dict, request_id: Any = None) -> tuple[Any, asyncio.Future]:
        if request_id is None:
            self._next += 1
            request_id = self._next
        future = asyncio.get_running_loop().create_future()
        self.waiting[request_id] = future
        await self.proxy.send(
            {
                "jsonrpc": "2.0",
                "id": request_id,
                "method": "tools/call",
                "params": {"name": tool, "arguments": arguments},
            }
        )
        return request_id, future

    async def call(self, tool: str, arguments: dict, timeout: float = CALL_TIMEOUT) -> dict:
        _, future = await self.send(tool, arguments)
        return await asyncio.wait_for(future, timeout)

    async def close(self) -> None:
        self._reader.cancel()
        with contextlib.suppress(BaseException):
            await self._reader


@contextlib.asynccontextmanager
async def watched_proxy(home: ManagerHome, name: str = PROXY) -> AsyncIterator[tuple[EventStream, Client]]:
    """The manager, a browser following its events, then the proxy (so the proxy is told at
    registration that someone watches), initialized and registered."""
    if home.status() is None:
        home.start_manager()
    async with EventStream(home) as events:
        proxy = await home.start_proxy(name)
        await events.wait_for(
            lambda e: e["type"] == "proxy_registered" and e["proxy_name"] == name, f"{name}'s registration"
        )
        # The manager asks the proxy for its state once registered: by then the proxy has had the
        # `ui_status` (sent before the registration was announced) for a while.
        await events.wait_for(lambda e: e["type"] == "snapshot" and e.get("proxy_name") == name, f"{name}'s snapshot")
        client = Client(proxy)
        try:
            yield events, client
        finally:
            await client.close()


async def pending_created(
    events: EventStream, path: str | None = None, after: int = 0, timeout: float = EVENT_TIMEOUT
) -> dict:
    """The approval of the first `pending_created` event (for `path`, if given) that is not one of the
    first `after` such events: pass `created_count(events)` taken before the call to get only a new one."""

    def match(event: dict) -> bool:
        return (
            event["type"] == "pending_created"
            and event["approval"]["id"] not in seen
            and (path is None or event["approval"]["path"] == path)
        )

    seen = {e["approval"]["id"] for e in events.of_type("pending_created")[:after]}
    return (await events.wait_for(match, f"pending_created for {path}", timeout))["approval"]


def created_count(events: EventStream) -> int:
    return len(events.of_type("pending_created"))


# --------------------------------------------------------------------------- the HTTP APIs


async def manager_post(home: ManagerHome, path: str, **kwargs: Any) -> httpx.Response:
    return await asyncio.to_thread(home.tcp, "POST", path, **kwargs)


async def manager_get(home: ManagerHome, path: str, **kwargs: Any) -> httpx.Response:
    return await asyncio.to_thread(home.tcp, "GET", path, **kwargs)


async def decide(
    home: ManagerHome,
    approval_id: str,
    decision: str,
    *,
    name: str = PROXY,
    binding: dict | None = None,
    headers: dict | None = None,
    token: Any = True,
) -> httpx.Response:
    """POST /api/proxy/NAME/approvals/pending/ID/DECISION on the manager, as the web UI does."""
    kwargs: dict[str, Any] = {"headers": headers, "token": token}
    if binding is not None:
        kwargs["json"] = binding
    return await manager_post(home, f"/api/proxy/{name}/approvals/pending/{approval_id}/{decision}", **kwargs)


def binding_of(approval: dict) -> dict:
    return {"args_hash": approval["args_hash"], "policy_version": approval["policy_version"]}


async def pending_list(home: ManagerHome, name: str = PROXY) -> list[dict]:
    response = await manager_get(home, f"/api/proxy/{name}/approvals/pending/list")
    assert response.status_code == 200, response.text
    return response.json()


async def cached(home: ManagerHome, name: str = PROXY) -> dict:
    response = await manager_get(home, f"/api/proxy/{name}/approvals/cached")
    assert response.status_code == 200, response.text
    return response.json()


def proxy_socket(home: ManagerHome, name: str = PROXY) -> str:
    return str(home.path("proxy_socket_path", name))


async def socket_request(home: ManagerHome, method: str, path: str, name: str = PROXY, **kwargs: Any) -> httpx.Response:
    """The proxy's own API over its Unix socket, as the CLI calls it."""

    def go() -> httpx.Response:
        transport = httpx.HTTPTransport(uds=proxy_socket(home, name))
        with httpx.Client(transport=transport, base_url="http://proxy", timeout=30, trust_env=False) as client:
            return client.request(method, path, **kwargs)

    return await asyncio.to_thread(go)


async def start_headless(home: ManagerHome, name: str = PROXY) -> RawProxy:
    """`mcp-acp start --headless` (no manager), initialized, once its socket answers."""
    proxy = await RawProxy.start(home.env, name)
    await proxy.initialize()
    deadline = time.monotonic() + MANAGER_TIMEOUT
    while True:
        try:
            if (await socket_request(home, "GET", "/api/control/status", name)).status_code == 200:
                return proxy
        except (httpx.TransportError, OSError):
            pass
        assert time.monotonic() < deadline, "the proxy's socket never answered"
        await asyncio.sleep(0.1)


def decisions(home: ManagerHome, name: str = PROXY) -> list[dict]:
    return [
        e
        for e in read_jsonl(proxy_log_dir(home.env, name) / "audit" / "decisions.jsonl")
        if e.get("mcp_method") == "tools/call"
    ]


def hitl_entries(home: ManagerHome, name: str = PROXY) -> list[dict]:
    return [e for e in decisions(home, name) if e["decision"] == "hitl"]


def system_log(home: ManagerHome, name: str = PROXY) -> list[dict]:
    return read_jsonl(proxy_log_dir(home.env, name) / "system" / "system.jsonl")


def pending_gauge(home: ManagerHome, name: str = PROXY) -> float | None:
    """`mcp_acp_pending_approvals{proxy=NAME}` in the manager's /metrics."""
    response = home.tcp("GET", "/metrics")
    assert response.status_code == 200, response.text
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name == "mcp_acp_pending_approvals" and sample.labels.get("proxy") == name:
                return sample.value
    return None


def assert_denied(answer: dict, text: str) -> dict:
    assert "result" not in answer, f"expected a denial, the call went through: {answer}"
    error = answer["error"]
    assert error["code"] == POLICY_DENIED and text in error["message"], error
    return error


def assert_wrote(answer: dict, path: Path, content: str) -> None:
    assert "error" not in answer, answer
    assert answer["result"]["content"][0]["text"] == f"wrote {len(content.encode())} bytes to {path}", answer
    assert path.read_text() == content


def write(path: Path, content: str) -> dict:
    return {"path": str(path), "content": content}


# A second process that approves as the web UI would: it finds the approval in the manager's list
# and sends the decision bound to what it saw, with the manager's API token.
APPROVER_SCRIPT = r"""
import json, os, sys, time
import httpx
port, name, path, decision = sys.argv[1:5]
headers = {"Authorization": "Bearer " + os.environ["APPROVER_API_TOKEN"]}
deadline = time.monotonic() + 60
with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=30, trust_env=False) as client:
    while True:
        listed = client.get(f"/api/proxy/{name}/approvals/pending/list")
        listed.raise_for_status()
        found = [a for a in listed.json() if a["path"] == path]
        if found:
            break
        if time.monotonic() > deadline:
            sys.exit(f"no approval for {path} appeared")
        time.sleep(0.1)
    approval = found[0]
    answer = client.post(f"/api/proxy/{name}/approvals/pending/{approval['id']}/{decision}",
                         json={"args_hash": approval["args_hash"], "policy_version": approval["policy_version"]})
    print(json.dumps({"approval": approval, "status": answer.status_code, "body": answer.json()}))
"""


async def decide_from_another_process(home: ManagerHome, path: Path, decision: str) -> dict:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        APPROVER_SCRIPT,
        str(home.port),
        PROXY,
        str(path),
        decision,
        env={**home.env, "APPROVER_API_TOKEN": home.token},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), CALL_TIMEOUT)
    assert process.returncode == 0, stderr.decode()
    return json.loads(stdout)


# --------------------------------------------------------------------------- approve, deny, time out


async def test_a_second_process_approves_through_the_manager_and_the_call_completes(home, files):
    proxy_id = add_hitl_proxy(home, files)
    target = files / "approved.txt"
    async with watched_proxy(home) as (events, client):
        request_id, answer = await client.send("write_file", write(target, "approved content"))
        approval = await pending_created(events, str(target))
        assert approval["tool_name"] == "write_file" and approval["proxy_name"] == PROXY
        assert approval["proxy_id"] == proxy_id and approval["request_id"] == str(request_id)
        assert approval["side_effects"] == ["fs_write"] and approval["rule_id"] == "writes"
        assert approval["arguments"] == {"path": str(target), "content": "approved content"}
        assert approval["can_cache"] is True and approval["timeout_seconds"] == DEFAULT_HITL_TIMEOUT
        assert [a["id"] for a in await pending_list(home)] == [approval["id"]]
        assert not answer.done() and not target.exists()  # it waits for a human

        # A browser that connects (or reloads) now still sees it, in its first snapshot.
        async with EventStream(home) as late:
            snapshot = await late.wait_for(
                lambda e: e["type"] == "snapshot" and e.get("proxy_name") == PROXY, "the proxy's snapshot"
            )
            assert [a["id"] for a in snapshot["approvals"]] == [approval["id"]]
            assert snapshot["approvals"][0]["args_hash"] == approval["args_hash"]

        # Without the manager's API token nobody decides anything.
        for kwargs in (
            {"token": None},
            {"token": "not-the-token"},
            {"token": None, "headers": {"Origin": f"http://127.0.0.1:{home.port}"}},
        ):
            refused = await decide(home, approval["id"], "approve", **kwargs)
            assert refused.status_code in (401, 403), refused.text
        assert [a["id"] for a in await pending_list(home)] == [approval["id"]] and not answer.done()

        done = await decide_from_another_process(home, target, "approve")
        assert done["approval"]["id"] == approval["id"]
        assert done["status"] == 200 and done["body"] == {"status": "approved", "approval_id": approval["id"]}
        assert_wrote(await asyncio.wait_for(answer, CALL_TIMEOUT), target, "approved content")

        resolved = await events.wait_for(lambda e: e["type"] == "pending_resolved", "pending_resolved")
        assert resolved["approval_id"] == approval["id"] and resolved["decision"] == "approve"
        assert resolved["approver_id"] == approval["subject_id"] and resolved["proxy_name"] == PROXY
        assert await pending_list(home) == []

    [entry] = hitl_entries(home)
    assert entry["hitl_outcome"] == "user_allowed" and entry["hitl_approver_id"] == approval["subject_id"]
    assert entry["subject_id"] == approval["subject_id"] and entry["final_rule"] == "writes"
    assert entry["request_id"] == str(request_id) and entry["path"] == str(target)
    assert entry["hitl_cache_hit"] is False and entry["policy_hitl_ms"] > 0
    assert entry["policy_total_ms"] >= entry["policy_hitl_ms"]


async def test_a_denied_call_returns_minus_32001_user_denied(home, files):
    add_hitl_proxy(home, files)
    target = files / "denied.txt"
    async with watched_proxy(home) as (events, client):
        _, answer = await client.send("write_file", write(target, "no"))
        approval = await pending_created(events, str(target))
        response = await decide(home, approval["id"], "deny", binding=binding_of(approval))
        assert response.status_code == 200 and response.json() == {"status": "denied", "approval_id": approval["id"]}
        error = assert_denied(await asyncio.wait_for(answer, CALL_TIMEOUT), "User denied")
        assert error["data"]["final_rule"] == "writes" and error["data"]["path"] == str(target)
        resolved = await events.wait_for(lambda e: e["type"] == "pending_resolved", "pending_resolved")
        assert resolved["decision"] == "deny"
    assert not target.exists()
    [entry] = hitl_entries(home)
    assert entry["hitl_outcome"] == "user_denied" and entry["hitl_approver_id"] == approval["subject_id"]


async def test_with_no_answer_the_call_times_out(home, files):
    add_hitl_proxy(home, files, timeout=5)  # the shortest timeout the config allows
    target = files / "ignored.txt"
    async with watched_proxy(home) as (events, client):
        _, answer = await client.send("write_file", write(target, "never"))
        approval = await pending_created(events, str(target))
        assert approval["timeout_seconds"] == 5 and 0 <= approval["expires_in_seconds"] <= 5
        error = assert_denied(await asyncio.wait_for(answer, CALL_TIMEOUT), "Approval timeout")
        assert error["data"]["final_rule"] == "writes"
        timed_out = await events.wait_for(lambda e: e["type"] == "pending_timeout", "pending_timeout")
        assert timed_out["approval_id"] == approval["id"] and timed_out["proxy_name"] == PROXY
        assert await pending_list(home) == []
        late = await decide(home, approval["id"], "approve")  # a click after the deadline
        assert late.status_code == 404 and late.json()["detail"]["code"] == "APPROVAL_NOT_FOUND"
        await events.wait_for(lambda e: e["type"] == "pending_not_found", "pending_not_found")
    assert not target.exists()
    [entry] = hitl_entries(home)
    assert entry["hitl_outcome"] == "timeout" and entry.get("hitl_approver_id") is None
    assert entry["policy_hitl_ms"] >= 4990  # it waited out the whole 5 s


async def test_with_nobody_watching_the_call_is_denied_at_once_with_a_hint(home, files):
    add_hitl_proxy(home, files)
    home.start_manager()  # a manager, but no browser follows it
    proxy = await home.start_proxy(PROXY)
    await wait_until_async(home.registered(PROXY), MANAGER_TIMEOUT, "the proxy's registration")
    target = files / "nobody.txt"
    # The hitl timeout is 60 s: an answer well before it can only be the immediate denial.
    answer = await proxy.call_tool("write_file", write(target, "x"), timeout=DEFAULT_HITL_TIMEOUT - 15)
    error = assert_denied(answer, "Approval required but no approver is available")
    assert "mcp-acp manager start" in error["message"], error
    assert "result" in await proxy.call_tool("echo", {"text": "still fine"})
    assert not target.exists()
    [entry] = hitl_entries(home)
    assert entry["hitl_outcome"] == "no_approver" and entry.get("hitl_approver_id") is None
    assert await pending_list(home) == []


async def test_when_the_browser_leaves_mid_wait_the_request_falls_back_to_no_approver(home, files):
    add_hitl_proxy(home, files)  # 60 s to decide: an earlier answer can only be the fallback
    home.start_manager()
    target = files / "abandoned.txt"
    async with EventStream(home) as events:
        proxy = await home.start_proxy(PROXY)
        await events.wait_for(lambda e: e["type"] == "snapshot" and e.get("proxy_name") == PROXY, "the snapshot")
        client = Client(proxy)
        _, answer = await client.send("write_file", write(target, "x"))
        approval = await pending_created(events, str(target))
    try:  # the only browser is gone; there is no dialog on this host
        error = assert_denied(
            await asyncio.wait_for(answer, DEFAULT_HITL_TIMEOUT - 15), "Approval required but no approver is available"
        )
        assert "mcp-acp manager start" in error["message"]
        assert await pending_list(home) == []
        assert (await decide(home, approval["id"], "approve")).status_code == 404
    finally:
        await client.close()
    assert not target.exists()
    [entry] = hitl_entries(home)
    assert entry["hitl_outcome"] == "no_approver"


# --------------------------------------------------------------------------- who may approve (OIDC)


@pytest.fixture
def idp(tmp_path):
    provider = OidcProvider(audience=AUDIENCE, client_id=CLIENT_ID, interval=1, state_dir=tmp_path / "idp")
    provider.start(timeout=60)
    yield provider
    provider.stop()


def plant_token(home: ManagerHome, access_token: str) -> None:
    """Store `access_token` as the signed-in user's, through the product's own token store."""
    now = time.time()
    record = {
        "access_token": access_token,
        "refresh_token": None,
        "id_token": None,
        "expires_at": now + 3600,
        "issued_at": now,
    }
    code = (
        "import json, sys\n"
        "from mcp_acp.identity.tokens import StoredTokens, save\n"
        "save(StoredTokens(**json.loads(sys.argv[1])))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, json.dumps(record)],
        env=home.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def oidc_home(home: ManagerHome, idp: OidcProvider) -> None:
    """Switch `home` to OIDC mode against `idp` (keeping its UI port), signed in as alice."""
    home.cli(
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
    config_path = home.home / "config" / "manager.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["ui_port"] = home.port
    config_path.write_text(json.dumps(config), encoding="utf-8")
    plant_token(home, idp.mint("alice"))


async def test_oidc_only_the_requesting_user_may_decide(home, files, idp):
    oidc_home(home, idp)
    add_hitl_proxy(home, files, cache=False)
    first, second = files / "first.txt", files / "second.txt"
    async with watched_proxy(home) as (events, client):
        _, answer = await client.send("write_file", write(first, "by alice"))
        approval = await pending_created(events, str(first))
        assert approval["subject_id"] == "alice"
        url = f"/api/proxy/{PROXY}/approvals/pending/{approval['id']}/approve"

        # Another user, with a perfectly valid token of their own: refused and logged.
        bob = await decide(home, approval["id"], "approve", headers={"X-Approver-Token": idp.mint("bob")})
        assert bob.status_code == 403 and bob.json()["detail"]["code"] == "APPROVAL_UNAUTHORIZED", bob.text
        # A token that is no token at all.
        forged = await decide(home, approval["id"], "approve", headers={"X-Approver-Token": "not.a.jwt"})
        assert forged.status_code == 401 and forged.json()["detail"]["code"] == "AUTH_REQUIRED", forged.text
        # alice's name in a token the provider never signed.
        foreign = await decide(
            home, approval["id"], "approve", headers={"X-Approver-Token": idp.mint("alice", foreign_key=True)}
        )
        assert foreign.status_code == 401 and foreign.json()["detail"]["code"] == "AUTH_REQUIRED", foreign.text
        # Straight to the proxy's socket (as the CLI) with no token at all.
        nobody = await socket_request(home, "POST", url.replace(f"/api/proxy/{PROXY}", "/api"))
        assert nobody.status_code == 401 and nobody.json()["detail"]["code"] == "AUTH_REQUIRED", nobody.text
        assert [a["id"] for a in await pending_list(home)] == [approval["id"]]
        assert not answer.done() and not first.exists()  # still waiting for alice
        assert any(e.get("level") == "WARNING" and "bob" in json.dumps(e) for e in system_log(home)), system_log(home)

        # alice, with another token of hers (it is the identity that counts, not the token).
        alice = await decide(
            home,
            approval["id"],
            "approve",
            headers={"X-Approver-Token": idp.mint("alice")},
            binding=binding_of(approval),
        )
        assert alice.status_code == 200 and alice.json()["status"] == "approved", alice.text
        assert_wrote(await asyncio.wait_for(answer, CALL_TIMEOUT), first, "by alice")

        # The browser sends no token of its own: the manager adds the signed-in user's (alice).
        _, answer = await client.send("write_file", write(second, "via the manager's login"))
        approval2 = await pending_created(events, str(second))
        assert approval2["id"] != approval["id"]
        via_manager = await decide(home, approval2["id"], "allow-once", binding=binding_of(approval2))
        assert via_manager.status_code == 200 and via_manager.json()["status"] == "allowed_once", via_manager.text
        assert_wrote(await asyncio.wait_for(answer, CALL_TIMEOUT), second, "via the manager's login")

    assert [(e["hitl_outcome"], e["hitl_approver_id"]) for e in hitl_entries(home)] == [
        ("user_allowed", "alice"),
        ("user_allowed", "alice"),
    ]


async def test_oidc_a_decision_without_a_valid_token_is_logged_by_the_proxy(home, files, idp):
    oidc_home(home, idp)
    add_hitl_proxy(home, files)
    proxy = await start_headless(home)  # the CLI's path: the proxy's own socket, no manager
    client = Client(proxy)
    try:
        async with ProxyEventStream(proxy_socket(home)) as stream:
            _, answer = await client.send("write_file", write(files / "t.txt", "x"))
            approval = (await stream.wait_for(lambda e: e["type"] == "pending_created", "pending_created"))["approval"]
            url = f"/api/approvals/pending/{approval['id']}/approve"
            for headers in ({}, {"X-Approver-Token": "not.a.jwt"}):
                refused = await socket_request(home, "POST", url, headers=headers)
                assert refused.status_code == 401 and refused.json()["detail"]["code"] == "AUTH_REQUIRED"
            assert not answer.done()
            refusals = [
                e
                for e in system_log(home)
                if e.get("level") == "WARNING"
                and "approv" in e.get("message", "").lower()
                and "refused" in e.get("message", "")
            ]
            assert len(refusals) == 2, system_log(home)
            assert "not.a.jwt" not in json.dumps(system_log(home))  # what was presented is not echoed
    finally:
        await client.close()
        await proxy.close()


# --------------------------------------------------------------------------- approval binding


async def test_allow_once_cannot_be_replayed(home, files):
    add_hitl_proxy(home, files)  # cacheable: even so, allow-once must not cache
    target = files / "once.txt"
    async with watched_proxy(home) as (events, client):
        _, answer = await client.send("write_file", write(target, "one"))
        first = await pending_created(events, str(target))

        # A decision bound to something else than what waits: refused, and the request still waits.
        for stale in (
            {"args_hash": "0" * 64},
            {"policy_version": "v999"},
            {"args_hash": "0" * 64, "policy_version": first["policy_version"]},
        ):
            conflict = await decide(home, first["id"], "allow-once", binding=stale)
            assert conflict.status_code == 409 and conflict.json()["detail"]["code"] == "CONFLICT", conflict.text
        assert [a["id"] for a in await pending_list(home)] == [first["id"]] and not answer.done()

        once = await decide(home, first["id"], "allow-once", binding=binding_of(first))
        assert once.status_code == 200 and once.json() == {"status": "allowed_once", "approval_id": first["id"]}
        assert_wrote(await asyncio.wait_for(answer, CALL_TIMEOUT), target, "one")
        resolved = await events.wait_for(lambda e: e["type"] == "pending_resolved", "pending_resolved")
        assert resolved["decision"] == "allow_once"

        # The same id again, with any decision: gone.
        for decision in ("allow-once", "approve", "deny"):
            again = await decide(home, first["id"], decision)
            assert again.status_code == 404 and again.json()["detail"]["code"] == "APPROVAL_NOT_FOUND", again.text
        assert (await cached(home))["count"] == 0  # allow-once never caches

        # The same call again (same arguments): asked again, under a new id, same binding hash.
        seen = created_count(events)
        _, answer = await client.send("write_file", write(target, "one"))
        repeat = await pending_created(events, str(target), after=seen)
        assert repeat["id"] != first["id"] and repeat["args_hash"] == first["args_hash"]
        replayed = await decide(home, first["id"], "allow-once", binding=binding_of(first))
        assert replayed.status_code == 404  # the old approval does not answer the new request
        assert not answer.done()
        assert (await decide(home, repeat["id"], "deny")).status_code == 200
        assert_denied(await asyncio.wait_for(answer, CALL_TIMEOUT), "User denied")

        # Other arguments: another approval, another id and hash; the first one's binding does not fit it.
        seen = created_count(events)
        _, answer = await client.send("write_file", write(target, "two"))
        other = await pending_created(events, str(target), after=seen)
        assert other["id"] not in (first["id"], repeat["id"]) and other["args_hash"] != first["args_hash"]
        assert other["arguments"]["content"] == "two"
        conflict = await decide(home, other["id"], "allow-once", binding=binding_of(first))
        assert conflict.status_code == 409, conflict.text
        assert [a["id"] for a in await pending_list(home)] == [other["id"]] and not answer.done()
        assert (await decide(home, other["id"], "allow-once", binding=binding_of(other))).status_code == 200
        assert_wrote(await asyncio.wait_for(answer, CALL_TIMEOUT), target, "two")

    assert [e["hitl_outcome"] for e in hitl_entries(home)] == ["user_allowed", "user_denied", "user_allowed"]
    assert not any(e["hitl_cache_hit"] for e in hitl_entries(home))


# --------------------------------------------------------------------------- cached approvals


async def test_a_cached_approval_covers_exactly_the_approved_path(home, files):
    add_hitl_proxy(home, files, ttl=300)
    approved, other, elsewhere = files / "approved.txt", files / "other.txt", files / "elsewhere.txt"
    alias = files / "alias.txt"
    async with watched_proxy(home) as (events, client):
        _, answer = await client.send("write_file", write(approved, "v1"))
        approval = await pending_created(events, str(approved))
        assert approval["can_cache"] is True and approval["cache_ttl_seconds"] == 300
        assert (await decide(home, approval["id"], "approve", binding=binding_of(approval))).status_code == 200
        assert_wrote(await asyncio.wait_for(answer, CALL_TIMEOUT), approved, "v1")

        listing = await cached(home)
        [entry] = listing["approvals"]
        assert listing["count"] == 1 and listing["ttl_seconds"] == 300
        assert (entry["tool_name"], entry["path"], entry["subject_id"]) == (
            "write_file",
            str(approved),
            approval["subject_id"],
        )
        assert 0 < entry["expires_in_seconds"] <= 300 and entry["ttl_seconds"] == 300  # it will expire

        # The same path (any content): covered, nobody is asked.
        seen = created_count(events)
        assert_wrote(await client.call("write_file", write(approved, "v2")), approved, "v2")
        assert created_count(events) == seen
        # Another name for the same file: an approval covers exactly the paths approved, in every
        # reading, so a symlink to it is asked about again.
        alias.symlink_to(approved)
        _, answer = await client.send("write_file", write(alias, "v3"))
        asked = await pending_created(events, str(alias), after=seen)
        assert (await decide(home, asked["id"], "deny")).status_code == 200
        assert_denied(await asyncio.wait_for(answer, CALL_TIMEOUT), "User denied")
        assert approved.read_text() == "v2"
        seen = created_count(events)

        # Another path: asked.
        _, answer = await client.send("write_file", write(other, "no"))
        asked = await pending_created(events, str(other), after=seen)
        assert (await decide(home, asked["id"], "deny")).status_code == 200
        assert_denied(await asyncio.wait_for(answer, CALL_TIMEOUT), "User denied")

        # The same path name, now a symlink to another file: asked again.
        elsewhere.write_text("untouched")
        approved.unlink()
        approved.symlink_to(elsewhere)
        seen = created_count(events)
        _, answer = await client.send("write_file", write(approved, "redirected"))
        asked = await pending_created(events, after=seen)
        assert asked["path"] == str(approved)
        assert (await decide(home, asked["id"], "deny")).status_code == 200
        assert_denied(await asyncio.wait_for(answer, CALL_TIMEOUT), "User denied")
        assert elsewhere.read_text() == "untouched"

    entries = hitl_entries(home)
    assert [(e.get("hitl_outcome"), e.get("hitl_cache_hit")) for e in entries] == [
        ("user_allowed", False),
        (None, True),
        ("user_denied", False),
        ("user_denied", False),
        ("user_denied", False),
    ]


async def test_a_policy_reload_clears_the_cache_and_withdraws_waiting_approvals(home, files):
    add_hitl_proxy(home, files)
    target = files / "reloaded.txt"
    async with watched_proxy(home) as (events, client):
        _, answer = await client.send("write_file", write(target, "first"))
        approval = await pending_created(events, str(target))
        assert (await decide(home, approval["id"], "approve")).status_code == 200
        assert_wrote(await asyncio.wait_for(answer, CALL_TIMEOUT), target, "first")
        assert (await cached(home))["count"] == 1
        seen = created_count(events)
        assert_wrote(await client.call("write_file", write(target, "cached")), target, "cached")
        assert created_count(events) == seen  # served from the cache

        reloaded = await asyncio.to_thread(home.cli, "policy", "reload", "--proxy", PROXY, check=True)
        assert "reloaded" in reloaded.stdout.lower(), reloaded.stdout
        assert (await cached(home))["count"] == 0
        cleared = await events.wait_for(lambda e: e["type"] == "cache_cleared", "cache_cleared")
        assert cleared["count"] == 1 and cleared["proxy_name"] == PROXY

        # The next call asks again; a reload while it waits withdraws it: the call is denied.
        _, answer = await client.send("write_file", write(target, "after reload"))
        waiting = await pending_created(events, str(target), after=seen)
        assert [a["id"] for a in await pending_list(home)] == [waiting["id"]]
        await asyncio.to_thread(home.cli, "policy", "reload", "--proxy", PROXY, check=True)
        assert_denied(await asyncio.wait_for(answer, CALL_TIMEOUT), "Approval withdrawn (policy_changed)")
        withdrawn = await events.wait_for(lambda e: e["type"] == "pending_cancelled", "pending_cancelled")
        assert withdrawn["approval_id"] == waiting["id"] and withdrawn["reason"] == "policy_changed"
        assert await pending_list(home) == []
        late = await decide(home, waiting["id"], "approve")
        assert late.status_code == 404
    assert target.read_text() == "cached"
    # Logged as withdrawn, not as the user's denial: nobody denied it.
    assert hitl_entries(home)[-1]["hitl_outcome"] == "withdrawn"


# --------------------------------------------------------------------------- concurrency and cancellation


async def test_one_call_waiting_for_approval_does_not_block_100_others(home, files):
    add_hitl_proxy(home, files)
    target = files / "slow-human.txt"
    async with watched_proxy(home) as (events, client):
        _, waiting = await client.send("write_file", write(target, "eventually"))
        approval = await pending_created(events, str(target))

        sent = [await client.send("echo", {"text": f"call {n}"}, request_id=f"echo-{n}") for n in range(100)]
        answers = await asyncio.wait_for(asyncio.gather(*(future for _, future in sent)), CALL_TIMEOUT)
        assert [a["result"]["content"][0]["text"] for a in answers] == [f"call {n}" for n in range(100)]
        assert [a["id"] for a in answers] == [f"echo-{n}" for n in range(100)]
        assert not waiting.done() and [a["id"] for a in await pending_list(home)] == [approval["id"]]
        assert pending_gauge(home) == 1

        assert (await decide(home, approval["id"], "allow-once")).status_code == 200
        assert_wrote(await asyncio.wait_for(waiting, CALL_TIMEOUT), target, "eventually")
        await wait_until_async(lambda: pending_gauge(home) == 0, EVENT_TIMEOUT, "no pending approval in /metrics")
    assert sum(e["decision"] == "allow" for e in decisions(home)) == 100


async def test_a_cancelled_request_withdraws_its_pending_approval(home, files):
    add_hitl_proxy(home, files)
    target, kept = files / "cancelled.txt", files / "kept.txt"
    async with watched_proxy(home) as (events, client):
        _, other = await client.send("write_file", write(kept, "still waiting"))
        other_approval = await pending_created(events, str(kept))
        request_id, cancelled_future = await client.send("write_file", write(target, "never"), request_id=77)
        approval = await pending_created(events, str(target))
        assert approval["request_id"] == "77"

        await client.proxy.send(
            {
                "jsonrpc": "2.0",
                "method": "notifications/cancelled",
                "params": {"requestId": request_id, "reason": "the user gave up"},
            }
        )
        withdrawn = await events.wait_for(lambda e: e["type"] == "pending_cancelled", "pending_cancelled")
        assert withdrawn["approval_id"] == approval["id"]
        assert [a["id"] for a in await pending_list(home)] == [other_approval["id"]]  # only that one went
        late = await decide(home, approval["id"], "approve")
        assert late.status_code == 404 and late.json()["detail"]["code"] == "APPROVAL_NOT_FOUND"

        assert (await decide(home, other_approval["id"], "allow-once")).status_code == 200
        assert_wrote(await asyncio.wait_for(other, CALL_TIMEOUT), kept, "still waiting")
        # Whether the proxy answers a cancelled request at all is its choice (MCP: SHOULD NOT); if it
        # does, the answer is never a result.
        if cancelled_future.done():
            assert "result" not in cancelled_future.result(), cancelled_future.result()
    assert not target.exists()  # the cancelled write never reached the backend


# --------------------------------------------------------------------------- the proxy's own stream


async def test_the_proxys_own_stream_alone_makes_it_wait(home, files):
    """Headless, no manager: a client of the proxy's own event stream is someone to ask."""
    add_hitl_proxy(home, files)
    proxy = await start_headless(home)
    try:
        # Before anyone follows the stream: nobody to ask, denied at once (the timeout is 60 s).
        before = files / "before.txt"
        answer = await proxy.call_tool("write_file", write(before, "x"), timeout=DEFAULT_HITL_TIMEOUT - 15)
        assert_denied(answer, "no approver is available")

        client = Client(proxy)
        try:
            async with ProxyEventStream(proxy_socket(home)) as stream:
                first = stream.events[0]
                assert first["type"] == "snapshot" and first["approvals"] == [] and first["proxy_name"] == PROXY
                target = files / "watched.txt"
                _, answer = await client.send("write_file", write(target, "watched"))
                created = await stream.wait_for(lambda e: e["type"] == "pending_created", "pending_created")
                approval = created["approval"]
                assert approval["path"] == str(target) and created["proxy_name"] == PROXY
                listed = await socket_request(home, "GET", "/api/approvals/pending/list")
                assert [a["id"] for a in listed.json()] == [approval["id"]]
                assert not answer.done()

                decided = await socket_request(
                    home, "POST", f"/api/approvals/pending/{approval['id']}/approve", json=binding_of(approval)
                )
                assert decided.status_code == 200 and decided.json()["status"] == "approved", decided.text
                assert_wrote(await asyncio.wait_for(answer, CALL_TIMEOUT), target, "watched")
                resolved = await stream.wait_for(lambda e: e["type"] == "pending_resolved", "pending_resolved")
                assert resolved["approval_id"] == approval["id"]
                assert (await socket_request(home, "GET", "/api/approvals/cached")).json()["count"] == 1
        finally:
            await client.close()
    finally:
        await proxy.close()
    assert not home.manager_processes()  # headless: no manager was ever started
    assert [e["hitl_outcome"] for e in hitl_entries(home)] == ["no_approver", "user_allowed"]


# --------------------------------------------------------------------------- rate-limit breach


async def test_a_rate_limit_breach_asks_a_human_and_approval_resets_the_count(home, files):
    """Too many calls of one tool in the window: the next one waits for a person (never cached);
    approving lets it through and starts the count again."""
    add_hitl_proxy(home, files)
    path = proxy_config_dir(home.env, PROXY) / "config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    config["limits"] = {"tool_calls_per_window": 3, "window_seconds": 300}
    path.write_text(json.dumps(config), encoding="utf-8")
    proxy = await start_headless(home)
    client = Client(proxy)
    try:
        async with ProxyEventStream(proxy_socket(home)) as stream:
            for n in range(3):
                assert "result" in await client.call("echo", {"text": f"call {n}"})
            _, answer = await client.send("echo", {"text": "one too many"})
            created = await stream.wait_for(lambda e: e["type"] == "pending_created", "pending_created")
            approval = created["approval"]
            assert approval["rule_id"] == "rate_limit_breach" and approval["can_cache"] is False
            await stream.wait_for(lambda e: e["type"] == "rate_limit_triggered", "rate_limit_triggered")
            decided = await socket_request(home, "POST", f"/api/approvals/pending/{approval['id']}/approve")
            assert decided.status_code == 200, decided.text
            assert "result" in await asyncio.wait_for(answer, CALL_TIMEOUT)
            await stream.wait_for(lambda e: e["type"] == "rate_limit_approved", "rate_limit_approved")
            # The count started again: three more calls pass without asking.
            for n in range(3):
                assert "result" in await client.call("echo", {"text": f"after {n}"})
            assert [e for e in stream.events if e["type"] == "pending_created"] == [created]
    finally:
        await client.close()
        await proxy.close()
    # The call a person let past the limit was then decided by the policy; its entry says who let it.
    [let_through] = [e for e in decisions(home) if e.get("hitl_outcome")]
    assert (let_through["decision"], let_through["final_rule"], let_through["hitl_outcome"]) == (
        "allow",
        "echo-ok",
        "user_allowed",
    )
    assert let_through["hitl_approver_id"] == approval["subject_id"] and let_through["policy_hitl_ms"] > 0
