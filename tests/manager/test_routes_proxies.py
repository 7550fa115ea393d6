"""The manager's proxies router (manager/routes_proxies.py): listing configured proxies (inactive
or running with pushed stats), creation and its refusals, and the client config snippet. Real
files under a temp MCP_ACP_HOME made by the real CLI; the router mounted alone on a FastAPI app
and driven with TestClient. The helpers here are shared with the other routers' tests."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mcp_acp.admin.proxy_setup import create_proxy
from mcp_acp.manager import routes_proxies
from mcp_acp.manager.registry import ProxyConnection
from mcp_acp.manager.state import ManagerState
from tests.support.config import proxy_config_dir


def client_for(state: ManagerState, *modules) -> TestClient:
    app = FastAPI()
    for module in modules:
        app.include_router(module.router(state))
    return TestClient(app)


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/mcp"


def config_of(env: dict, name: str) -> dict:
    return json.loads((proxy_config_dir(env, name) / "config.json").read_text())


def add(name: str, command: str = "/bin/cat") -> None:
    """What `mcp-acp proxy add NAME --command COMMAND` does, without a CLI process per proxy."""
    create_proxy(name, name, command=command)


def registered(state: ManagerState, env: dict, name: str, stats: dict | None = None) -> ProxyConnection:
    """A connection as the daemon records it after `register` (its socket need not exist)."""
    connection = ProxyConnection(
        proxy_name=name,
        proxy_id=config_of(env, name)["proxy_id"],
        instance_id="inst-1",
        socket_path=str(Path(env["MCP_ACP_HOME"]) / "no-such.sock"),
        config_summary={"transport": "stdio"},
        stats=stats,
    )
    state.registry.add(connection)
    return connection


# --- proxies ---------------------------------------------------------------------------------------


def test_list_shows_configured_proxies_inactive(cli, home, state):
    cli("proxy", "add", "files", "--server-name", "My Files", "--command", "/bin/cat", "--arg", "-u", check=True)
    url = closed_port_url()
    cli("proxy", "add", "web", "--url", url, check=True)  # unreachable: the CLI warns and saves
    proxies = client_for(state, routes_proxies).get("/api/manager/proxies").json()
    assert [p["proxy_name"] for p in proxies] == ["files", "web"]
    files, web = proxies
    assert files == {
        "proxy_name": "files",
        "proxy_id": config_of(home, "files")["proxy_id"],
        "status": "inactive",
        "instance_id": None,
        "session_count": 0,
        "server_name": "My Files",
        "transport": "stdio",
        "command": "/bin/cat",
        "args": ["-u"],
        "env": {},
        "secret_env": [],
        "url": None,
        "created_at": config_of(home, "files")["created_at"],
        "backend_transport": "stdio",
        "mtls_enabled": False,
        "stats": None,
    }
    assert (web["transport"], web["url"], web["command"], web["status"]) == ("streamablehttp", url, None, "inactive")


def test_registered_proxy_is_running_with_its_pushed_stats(home, state):
    add("files")
    stats = {
        "requests_total": 3,
        "requests_allowed": 2,
        "requests_denied": 1,
        "requests_hitl": 0,
        "proxy_latency_ms": 1.5,
        "by_method": {"tools/call": 3},
    }
    registered(state, home, "files", stats)
    client = client_for(state, routes_proxies)
    [listed] = client.get("/api/manager/proxies").json()
    assert (listed["status"], listed["instance_id"]) == ("running", "inst-1")
    assert listed["stats"] == {k: v for k, v in stats.items() if k != "by_method"}
    # Its socket does not answer: the details the proxy would give are empty, not an error.
    detail = client.get(f"/api/manager/proxies/{listed['proxy_id']}").json()
    assert detail["status"] == "running"
    assert (detail["client_id"], detail["pending_approvals"], detail["cached_approvals"]) == (None, [], [])


def test_one_proxy_and_unknown_id(home, state):
    add("files")
    proxy_id = config_of(home, "files")["proxy_id"]
    client = client_for(state, routes_proxies)
    detail = client.get(f"/api/manager/proxies/{proxy_id}").json()
    assert (detail["proxy_name"], detail["status"], detail["client_id"]) == ("files", "inactive", None)
    assert (detail["pending_approvals"], detail["cached_approvals"]) == ([], [])
    missing = client.get("/api/manager/proxies/px_00000000:nope")
    assert missing.status_code == 404
    assert missing.json()["detail"]["code"] == "PROXY_NOT_FOUND"


# --- creation --------------------------------------------------------------------------------------


def test_create_stdio_proxy(home, state):
    client = client_for(state, routes_proxies)
    answer = client.post(
        "/api/manager/proxies", json={"name": "files", "server_name": "Files", "command": "/bin/cat", "args": ["-u"]}
    )
    assert answer.status_code == 201, answer.text
    body = answer.json()
    config = config_of(home, "files")
    assert body["ok"] is True and body["proxy_name"] == "files" and body["proxy_id"] == config["proxy_id"]
    assert config["backend"] == {
        "server_name": "Files",
        "transport": "stdio",
        "stdio": {"command": "/bin/cat", "args": ["-u"]},
    }
    assert body["config_path"] == str(proxy_config_dir(home, "files") / "config.json")
    assert json.loads(Path(body["policy_path"]).read_text()) == {"version": "1", "default_action": "deny", "rules": []}
    entry = body["claude_desktop_snippet"]["mcpServers"]["files"]
    assert entry["args"][-3:] == ["start", "--proxy", "files"]
    assert (os.stat(body["config_path"]).st_mode & 0o777) == 0o600
    # The server name defaults to the proxy name, as in the CLI.
    assert (
        client.post(
            "/api/manager/proxies", json={"name": "cat2", "command": "/bin/cat", "skip_duplicate_check": True}
        ).status_code
        == 201
    )
    assert config_of(home, "cat2")["backend"]["server_name"] == "cat2"


@pytest.mark.parametrize(
    ("body", "status", "code", "fragment"),
    [
        ({"name": "bad name", "command": "/bin/cat"}, 400, "PROXY_INVALID", "invalid proxy name"),
        ({"name": "manager", "command": "/bin/cat"}, 400, "PROXY_INVALID", "reserved"),
        ({"name": "x"}, 400, "PROXY_INVALID", "command"),
        ({"name": "x", "command": "/bin/cat", "api_key": "k"}, 400, "PROXY_INVALID", "pass url too"),
        ({"name": "x", "url": "http://127.0.0.1:1/mcp", "timeout": 0}, 400, "PROXY_INVALID", "timeout"),
        ({"name": "x", "url": "notaurl"}, 400, "PROXY_INVALID", "url 'notaurl' is not a backend URL"),
        ({"name": "x", "url": "http://"}, 400, "PROXY_INVALID", "such as https://host/mcp"),
        (
            {"name": "x", "url": "https://127.0.0.1:1/mcp", "mtls_cert": "/c.pem"},
            400,
            "PROXY_INVALID",
            "mtls_cert, mtls_key and mtls_ca go together",
        ),
    ],
)
def test_create_refuses_invalid_settings(home, state, body, status, code, fragment):
    answer = client_for(state, routes_proxies).post("/api/manager/proxies", json=body)
    assert answer.status_code == status, answer.text
    detail = answer.json()["detail"]
    assert detail["code"] == code and fragment in detail["message"], detail
    assert "--" not in detail["message"]  # API callers get field names, not CLI flags
    assert not (Path(home["MCP_ACP_HOME"]) / "config" / "proxies" / body["name"]).exists()


def test_create_rejects_unknown_fields(home, state):
    answer = client_for(state, routes_proxies).post(
        "/api/manager/proxies", json={"name": "x", "command": "/bin/cat", "colour": "red"}
    )
    assert answer.status_code == 422


def test_create_duplicate_name_is_409(home, state):
    client = client_for(state, routes_proxies)
    assert client.post("/api/manager/proxies", json={"name": "files", "command": "/bin/cat"}).status_code == 201
    before = config_of(home, "files")
    answer = client.post("/api/manager/proxies", json={"name": "files", "command": "/bin/echo"})
    assert answer.status_code == 409
    assert answer.json()["detail"]["code"] == "PROXY_EXISTS"
    assert config_of(home, "files") == before


def test_create_unreachable_backend_then_skip_health_check(home, state):
    client = client_for(state, routes_proxies)
    url = closed_port_url()
    answer = client.post("/api/manager/proxies", json={"name": "web", "url": url})
    assert answer.status_code == 400
    detail = answer.json()["detail"]
    assert detail["code"] == "BACKEND_UNREACHABLE" and f"{url} did not answer" in detail["message"]
    assert not proxy_config_dir(home, "web").exists()
    answer = client.post("/api/manager/proxies", json={"name": "web", "url": url, "skip_health_check": True})
    assert answer.status_code == 201, answer.text
    assert config_of(home, "web")["backend"]["http"]["url"] == url


def test_create_missing_command_then_skip_health_check(home, state):
    """The form's "Create without checking" covers a command that is not installed yet, too."""
    client = client_for(state, routes_proxies)
    answer = client.post("/api/manager/proxies", json={"name": "typo", "command": "no-such-mcp-server-xyz"})
    assert answer.status_code == 400
    detail = answer.json()["detail"]
    assert detail["code"] == "BACKEND_UNREACHABLE", detail
    assert "'no-such-mcp-server-xyz' was not found on PATH" in detail["message"]
    assert "full path with command" in detail["message"]  # the field's name, not the CLI flag
    assert not proxy_config_dir(home, "typo").exists()
    answer = client.post(
        "/api/manager/proxies", json={"name": "typo", "command": "no-such-mcp-server-xyz", "skip_health_check": True}
    )
    assert answer.status_code == 201, answer.text


def test_create_duplicate_backend_then_skip_duplicate_check(home, state):
    client = client_for(state, routes_proxies)
    first = {"name": "one", "command": "/bin/cat", "args": ["-u"]}
    assert client.post("/api/manager/proxies", json=first).status_code == 201
    # Other arguments are another backend.
    assert client.post("/api/manager/proxies", json={"name": "two", "command": "/bin/cat"}).status_code == 201
    answer = client.post("/api/manager/proxies", json={**first, "name": "three"})
    assert answer.status_code == 400
    detail = answer.json()["detail"]
    assert detail["code"] == "BACKEND_DUPLICATE" and detail["existing_proxy"] == "one"
    assert not proxy_config_dir(home, "three").exists()
    answer = client.post("/api/manager/proxies", json={**first, "name": "three", "skip_duplicate_check": True})
    assert answer.status_code == 201


def test_create_duplicate_url(home, state):
    client = client_for(state, routes_proxies)
    url = closed_port_url()
    body = {"url": url, "skip_health_check": True}
    assert client.post("/api/manager/proxies", json={"name": "web", **body}).status_code == 201
    answer = client.post("/api/manager/proxies", json={"name": "web2", **body, "url": url + "/"})
    assert answer.json()["detail"]["code"] == "BACKEND_DUPLICATE"


# --- config snippet --------------------------------------------------------------------------------


def test_config_snippet(home, state):
    add("files")
    add("other", "/bin/echo")
    client = client_for(state, routes_proxies)
    everything = client.get("/api/manager/config-snippet").json()
    assert sorted(everything["mcpServers"]) == ["files", "other"]
    assert Path(everything["executable_path"]).is_absolute()
    one = client.get("/api/manager/config-snippet", params={"proxy": "files"}).json()
    assert list(one["mcpServers"]) == ["files"]
    entry = one["mcpServers"]["files"]
    assert entry["args"][-3:] == ["start", "--proxy", "files"]
    assert entry["env"] == {"MCP_ACP_HOME": home["MCP_ACP_HOME"]}
    for unknown in ("nosuch", "../files"):
        answer = client.get("/api/manager/config-snippet", params={"proxy": unknown})
        assert answer.status_code == 404 and answer.json()["detail"]["code"] == "PROXY_NOT_FOUND"


def test_config_snippet_in_each_clients_format(home, state):
    add("files")
    client = client_for(state, routes_proxies)
    vscode = client.get("/api/manager/config-snippet", params={"client": "vscode"}).json()
    assert "mcpServers" not in vscode and vscode["servers"]["files"]["type"] == "stdio"
    code = client.get("/api/manager/config-snippet", params={"client": "claude-code"}).json()
    assert code["mcpServers"]["files"]["type"] == "stdio"
    cursor = client.get("/api/manager/config-snippet", params={"client": "cursor"}).json()
    assert "type" not in cursor["mcpServers"]["files"]
    answer = client.get("/api/manager/config-snippet", params={"client": "emacs"})
    assert answer.status_code == 400 and answer.json()["detail"]["code"] == "UNKNOWN_CLIENT"
