"""Signing in from the UI (docs/ui.md#auth, docs/auth.md#signing-in-and-out): the manager runs the device flow against a real OIDC
provider process (tests/fixtures/oidc_provider.py), polls in the background, stores the tokens
as `mcp-acp auth login` does and reports the outcome on its event stream.

The manager is a real `mcp-acp manager _run` daemon; the browser is an httpx client on
127.0.0.1 with the API token; the user's approval at the provider is its /test/approve endpoint,
which is what its HTML page does.
"""

from __future__ import annotations

import json

import httpx
import pytest
from oidc_provider import OidcProvider

from tests.support.events import EVENT_TIMEOUT, EventStream
from tests.support.manager import ManagerHome

CLIENT_ID = "mcp-acp-cli"
AUDIENCE = "mcp-acp"


def provider(tmp_path, interval: int):
    started = OidcProvider(audience=AUDIENCE, client_id=CLIENT_ID, interval=interval, state_dir=tmp_path / "idp")
    started.start(timeout=60)
    return started


@pytest.fixture
def idp(tmp_path):
    started = provider(tmp_path, interval=1)
    yield started
    started.stop()


@pytest.fixture
def slow_polled_idp(tmp_path):
    """Polling every 10 s: a hundred waiting logins must not flood the provider."""
    started = provider(tmp_path, interval=10)
    yield started
    started.stop()


@pytest.fixture
async def home(tmp_path):
    home = ManagerHome(tmp_path)
    try:
        yield home
    finally:
        await home.aclose()
        print(home.diagnostics())


def use_oidc(home: ManagerHome, idp: OidcProvider) -> None:
    path = home.home / "config" / "manager.json"
    config = json.loads(path.read_text())
    config["auth"] = {"mode": "oidc", "oidc": {"issuer": idp.url, "client_id": CLIENT_ID, "audience": AUDIENCE}}
    path.write_text(json.dumps(config))


def start_login(home: ManagerHome) -> dict:
    answer = home.tcp("POST", "/api/manager/auth/login")
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_local_mode_says_how_to_configure_a_provider(home):
    home.start_manager()
    for path in ("/api/manager/auth/login", "/api/manager/auth/logout-federated"):
        answer = home.tcp("POST", path)
        assert answer.status_code == 400, answer.text
        problem = answer.json()["detail"]
        assert problem["code"] == "AUTH_PROVIDER_UNAVAILABLE" and "mcp-acp init --auth oidc" in problem["message"]


async def test_device_login_stores_the_tokens_and_tells_the_browser(home, idp):
    use_oidc(home, idp)
    home.start_manager()
    async with EventStream(home) as events:
        code = start_login(home)
        assert code["interval"] == 1 and code["expires_in"] > 0
        assert code["verification_uri"].startswith(idp.url) and code["user_code"] in code["verification_uri_complete"]
        idp.approve(code["user_code"], "alice")
        event = await events.wait_for(lambda e: e["type"] == "auth_login", "auth_login", timeout=EVENT_TIMEOUT)
        assert event["subject_id"] == "alice" and event["user_code"] == code["user_code"]

        status = home.tcp("GET", "/api/manager/auth/status").json()
        assert status["authenticated"] is True and status["subject_id"] == "alice", status
        assert status["has_refresh_token"] is True and status["storage_backend"]
        # Stored where `mcp-acp auth login` stores them: the CLI sees the same login.
        cli = json.loads(home.cli("auth", "status", "--json", check=True).stdout)
        assert cli["authenticated"] is True and cli["user"]["sub"] == "alice"

        signed_out = home.tcp("POST", "/api/manager/auth/logout-federated")
        assert signed_out.status_code == 200, signed_out.text
        assert signed_out.json()["logout_url"] == f"{idp.url}/oidc/logout?client_id={CLIENT_ID}"
        assert httpx.get(signed_out.json()["logout_url"]).status_code == 200
        await events.wait_for(lambda e: e["type"] == "auth_logout", "auth_logout")
        assert home.tcp("GET", "/api/manager/auth/status").json()["authenticated"] is False
        assert json.loads(home.cli("auth", "status", "--json").stdout)["authenticated"] is False


async def test_a_refused_login_is_reported(home, idp):
    use_oidc(home, idp)
    home.start_manager()
    async with EventStream(home) as events:
        code = start_login(home)
        idp.deny(code["user_code"])
        event = await events.wait_for(
            lambda e: e["type"] == "auth_login_failed", "auth_login_failed", timeout=EVENT_TIMEOUT
        )
        assert event["user_code"] == code["user_code"] and "refused" in event["message"]
    assert home.tcp("GET", "/api/manager/auth/status").json()["authenticated"] is False


async def test_at_most_a_hundred_logins_wait_at_once(home, slow_polled_idp):
    use_oidc(home, slow_polled_idp)
    home.start_manager()
    codes = [start_login(home)["user_code"] for _ in range(100)]
    assert len(set(codes)) == 100
    refused = home.tcp("POST", "/api/manager/auth/login")
    assert refused.status_code == 429, refused.text
    assert refused.json()["detail"]["code"] == "AUTH_DEVICE_FLOW_LIMIT"
    # The waiting logins hold none of the threads the other endpoints need.
    assert home.tcp("GET", "/api/manager/proxies", timeout=10).status_code == 200
