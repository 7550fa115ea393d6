"""The manager's backend-environment router (manager/routes_env.py) and the env fields of proxy
creation: real files under a temp MCP_ACP_HOME made by the real CLI (file secret store), the
routers mounted alone and driven with TestClient. Secret values go in and never come back."""

from __future__ import annotations

import json

from mcp_acp import secret_store
from mcp_acp.backends.child_env import secret_env_key
from mcp_acp.manager import routes_config, routes_env, routes_proxies
from tests.manager.test_routes_proxies import add, client_for, config_of, registered

SECRET = "route-secret-4f1c9e7d"


def proxy_id(home, name: str) -> str:
    return config_of(home, name)["proxy_id"]


def test_put_list_and_delete(home, state):
    add("files")
    client = client_for(state, routes_env)
    base = f"/api/manager/proxies/{proxy_id(home, 'files')}/env"
    assert client.get(base).json()["env"] == {}
    answer = client.put(f"{base}/DATABASE_URL", json={"value": "postgres://db"})
    assert answer.status_code == 200 and answer.json()["restart_required"] is False, answer.text
    answer = client.put(f"{base}/TOKEN", json={"value": SECRET, "secret": True})
    assert answer.status_code == 200 and SECRET not in answer.text, answer.text
    listing = client.get(base)
    assert SECRET not in listing.text
    body = listing.json()
    assert body["env"] == {"DATABASE_URL": "postgres://db"}
    assert body["secret_env"] == [{"name": "TOKEN", "stored": True}]
    assert "PATH" in body["base_variables"] and "LC_*" in body["base_variables"]
    assert config_of(home, "files")["backend"]["stdio"]["secret_env"] == ["TOKEN"]
    assert secret_store.get(secret_env_key("files", "TOKEN")) == SECRET

    assert client.delete(f"{base}/TOKEN").status_code == 200
    assert secret_store.get(secret_env_key("files", "TOKEN")) is None
    assert client.delete(f"{base}/DATABASE_URL").status_code == 200
    missing = client.delete(f"{base}/DATABASE_URL")
    assert missing.status_code == 404 and missing.json()["detail"]["code"] == "NOT_FOUND"


def test_a_running_proxy_needs_a_restart(home, state):
    add("files")
    registered(state, home, "files")
    client = client_for(state, routes_env)
    answer = client.put(f"/api/manager/proxies/{proxy_id(home, 'files')}/env/A", json={"value": "1"})
    assert answer.json()["restart_required"] is True and "restart" in answer.json()["message"]


def test_refusals_name_the_problem(home, state, cli):
    add("files")
    url = "http://127.0.0.1:9/mcp"
    cli("proxy", "add", "web", "--url", url, check=True)
    client = client_for(state, routes_env)
    files = f"/api/manager/proxies/{proxy_id(home, 'files')}/env"
    bad = client.put(f"{files}/1BAD", json={"value": "x"})
    assert bad.status_code == 400 and "not a valid environment variable name" in bad.json()["detail"]["message"]
    shape = client.put(f"{files}/A", json={"value": 3})
    assert shape.status_code == 422
    http = client.put(f"/api/manager/proxies/{proxy_id(home, 'web')}/env/A", json={"value": SECRET, "secret": True})
    assert http.status_code == 400 and "no STDIO backend" in http.json()["detail"]["message"]
    assert SECRET not in http.text
    assert client.get("/api/manager/proxies/px_nope/env").status_code == 404


def test_creation_with_env_never_answers_a_secret(home, state):
    client = client_for(state, routes_proxies, routes_config, routes_env)
    answer = client.post(
        "/api/manager/proxies",
        json={"name": "gh", "command": "/bin/cat", "env": {"LEVEL": "debug"}, "secret_env": {"GITHUB_TOKEN": SECRET}},
    )
    assert answer.status_code == 201, answer.text
    stdio = config_of(home, "gh")["backend"]["stdio"]
    assert stdio["env"] == {"LEVEL": "debug"} and stdio["secret_env"] == ["GITHUB_TOKEN"]
    assert secret_store.get(secret_env_key("gh", "GITHUB_TOKEN")) == SECRET
    pid = proxy_id(home, "gh")
    for path in (
        "/api/manager/proxies",
        f"/api/manager/proxies/{pid}",
        f"/api/manager/proxies/{pid}/config",
        f"/api/manager/proxies/{pid}/env",
    ):
        response = client.get(path)
        assert response.status_code == 200 and SECRET not in response.text, path
    [listed] = client.get("/api/manager/proxies").json()
    assert listed["env"] == {"LEVEL": "debug"} and listed["secret_env"] == ["GITHUB_TOKEN"]
    assert SECRET not in answer.text and SECRET not in json.dumps(config_of(home, "gh"))


def test_creation_refusals(home, state):
    client = client_for(state, routes_proxies)
    http = client.post(
        "/api/manager/proxies",
        json={"name": "web", "url": "http://127.0.0.1:9/mcp", "secret_env": {"A": SECRET}, "skip_health_check": True},
    )
    assert http.status_code == 400 and "pass command too" in http.json()["detail"]["message"], http.text
    both = client.post(
        "/api/manager/proxies", json={"name": "x", "command": "/bin/cat", "env": {"A": "1"}, "secret_env": {"A": "2"}}
    )
    assert both.status_code == 400 and "both env and secret_env" in both.json()["detail"]["message"], both.text
    bad = client.post("/api/manager/proxies", json={"name": "y", "command": "/bin/cat", "env": {"A B": "1"}})
    assert bad.status_code == 400 and "not a valid environment variable name" in bad.json()["detail"]["message"]
    empty = client.post("/api/manager/proxies", json={"name": "z", "command": "/bin/cat", "secret_env": {"A": ""}})
    assert empty.status_code == 400
    assert SECRET not in http.text
    assert secret_store.get(secret_env_key("web", "A")) is None
