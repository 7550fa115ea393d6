"""The manager's disk-backed API routers (docs/manager.md#the-managers-routes): proxies, creation, config snippet, incidents,
audit (without a proxy run), auth in local mode. Real files under a temp MCP_ACP_HOME, config made
by the real CLI; each router mounted alone on a FastAPI app and driven with TestClient."""

from __future__ import annotations

import json
import os
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from mcp_acp.admin.proxy_setup import create_proxy
from mcp_acp.config.store import load_manager_config
from mcp_acp.localhttp.sse import Subscriber
from mcp_acp.manager import routes_audit, routes_auth, routes_incidents, routes_proxies
from mcp_acp.manager.incidents import last_shutdown
from mcp_acp.manager.registry import ProxyConnection
from mcp_acp.manager.state import ManagerState
from tests.helpers import proxy_config_dir, proxy_log_dir


@pytest.fixture
def home(cli, acp_env, monkeypatch) -> dict:
    """`init --auth local` done by the CLI; this process sees the same MCP_ACP_HOME."""
    for name in ("MCP_ACP_HOME", "HOME", "MCP_ACP_SECRET_BACKEND"):
        monkeypatch.setenv(name, acp_env[name])
    return acp_env


@pytest.fixture
def state(home) -> ManagerState:
    return ManagerState(config=load_manager_config())


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
        "server_name": "My Files",
        "transport": "stdio",
        "command": "/bin/cat",
        "args": ["-u"],
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


# --- incidents -------------------------------------------------------------------------------------


def stamp(seconds_ago: float) -> str:
    return (
        (datetime.now(UTC) - timedelta(seconds=seconds_ago)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


def write_lines(path: Path, *lines: dict | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        for line in lines:
            handle.write((line if isinstance(line, str) else json.dumps(line)) + "\n")


def shutdown(seconds_ago: float, reason: str = "audit log deleted") -> dict:
    return {
        "time": stamp(seconds_ago),
        "event": "security_shutdown",
        "failure_type": "audit_failure",
        "reason": reason,
        "exit_code": 10,
        "context": {},
    }


@pytest.fixture
def incidents(home):
    """Two proxies with shutdowns and start-up failures, and emergency entries for one of them and
    for a proxy that no longer exists; plus lines that are not entries."""
    add("files")
    add("web", "/bin/echo")
    write_lines(
        proxy_log_dir(home, "files") / "shutdowns.jsonl", shutdown(7200, "old"), "{not json", shutdown(60, "recent")
    )
    write_lines(proxy_log_dir(home, "web") / "shutdowns.jsonl", shutdown(30, "web down"))
    write_lines(
        proxy_config_dir(home, "web") / "bootstrap.jsonl",
        {
            "time": stamp(90),
            "event": "config_invalid",
            "error_message": "bad",
            "error_type": "ConfigError",
            "exit_code": 1,
            "component": "cli",
            "source": "cli_start",
        },
        "[1, 2]",
        {"no": "time"},
    )
    write_lines(
        Path(home["MCP_ACP_HOME"]) / "config" / "emergency_audit.jsonl",
        {
            "time": stamp(10),
            "event": "emergency_audit",
            "event_type": "operations",
            "failure_reason": "disk full",
            "proxy_name": "files",
            "proxy_id": config_of(home, "files")["proxy_id"],
        },
        {
            "time": stamp(100000),
            "event": "emergency_audit",
            "event_type": "auth",
            "failure_reason": "x",
            "proxy_name": "gone",
            "proxy_id": "px_00000000:gone",
        },
        "",
    )
    return home


def test_incidents_merged_newest_first(incidents, state):
    client = client_for(state, routes_incidents)
    page = client.get("/api/manager/incidents").json()
    summary = [(e["incident_type"], e["proxy_name"]) for e in page["entries"]]
    assert summary == [
        ("emergency", "files"),
        ("shutdown", "web"),
        ("shutdown", "files"),
        ("bootstrap", "web"),
        ("shutdown", "files"),
        ("emergency", "gone"),
    ]
    assert page["total_returned"] == 6 and page["has_more"] is False
    assert page["entries"][1]["proxy_id"] == config_of(incidents, "web")["proxy_id"]
    assert page["entries"][1]["reason"] == "web down"
    assert page["filters_applied"]["time_range"] == "all"


def test_incidents_filters_and_paging(incidents, state):
    client = client_for(state, routes_incidents)

    def kinds(**params) -> list[tuple[str, str]]:
        return [
            (e["incident_type"], e["proxy_name"])
            for e in client.get("/api/manager/incidents", params=params).json()["entries"]
        ]

    assert kinds(proxy="files") == [("emergency", "files"), ("shutdown", "files"), ("shutdown", "files")]
    assert kinds(incident_type="shutdown") == [("shutdown", "web"), ("shutdown", "files"), ("shutdown", "files")]
    assert kinds(incident_type="bootstrap", proxy="files") == []
    assert kinds(time_range="1h") == [
        ("emergency", "files"),
        ("shutdown", "web"),
        ("shutdown", "files"),
        ("bootstrap", "web"),
    ]
    assert kinds(time_range="5m", incident_type="emergency") == [("emergency", "files")]
    first = client.get("/api/manager/incidents", params={"limit": 2}).json()
    assert first["total_returned"] == 2 and first["has_more"] is True
    rest = client.get("/api/manager/incidents", params={"limit": 100, "before": first["entries"][-1]["time"]}).json()
    assert [(e["incident_type"], e.get("reason")) for e in rest["entries"][:2]] == [
        ("shutdown", "recent"),
        ("bootstrap", None),
    ]
    assert len(rest["entries"]) == 4 and rest["has_more"] is False
    for params in (
        {"limit": 0},
        {"limit": 1001},
        {"incident_type": "crash"},
        {"time_range": "2d"},
        {"before": "yesterday"},
    ):
        assert client.get("/api/manager/incidents", params=params).status_code == 422, params


def test_incidents_summary(incidents, state):
    client = client_for(state, routes_incidents)
    summary = client.get("/api/manager/incidents/summary").json()
    assert (summary["shutdowns_count"], summary["emergency_count"], summary["bootstrap_count"]) == (3, 2, 1)
    newest = client.get("/api/manager/incidents").json()["entries"][0]
    assert summary["latest_critical_timestamp"] == newest["time"]
    assert summary["new_count"] == 6
    since = client.get("/api/manager/incidents/summary", params={"since": stamp(45)}).json()
    assert since["new_count"] == 2 and since["shutdowns_count"] == 3


def test_no_incidents(home, state):
    client = client_for(state, routes_incidents)
    assert client.get("/api/manager/incidents").json()["entries"] == []
    summary = client.get("/api/manager/incidents/summary").json()
    assert summary["latest_critical_timestamp"] is None and summary["new_count"] == 0


def test_last_shutdown_only_when_recent(home):
    add("files")
    path = proxy_log_dir(home, "files") / "shutdowns.jsonl"
    assert last_shutdown("files") is None  # no file
    write_lines(path, shutdown(5, "fresh"))
    assert last_shutdown("files") == {
        "failure_type": "audit_failure",
        "reason": "fresh",
        "exit_code": 10,
        "time": json.loads(path.read_text())["time"],
    }
    write_lines(path, shutdown(31, "too old"))
    assert last_shutdown("files") is None
    write_lines(path, shutdown(1), '{"time": "truncated')
    assert last_shutdown("files") is None  # the last entry is malformed: no guessing from older ones
    path.write_text(json.dumps(shutdown(1)) + "\n\n")
    assert last_shutdown("files")["reason"] == "audit log deleted"
    assert last_shutdown("../files") is None


# --- audit (no proxy has run: nothing to verify yet) -------------------------------------------------


def test_audit_verify_before_any_run_and_unknown_id(home, state):
    add("files")
    proxy_id = config_of(home, "files")["proxy_id"]
    client = client_for(state, routes_audit)
    report = client.get(f"/api/manager/proxies/{proxy_id}/audit/verify").json()
    assert report["proxy_name"] == "files" and report["proxy_id"] == proxy_id
    assert report["overall_status"] == "no_files" and report["state_file_present"] is False
    assert {f["status"] for f in report["files"]} == {"not_created"}
    assert [f["name"] for f in report["files"]] == [
        "operations",
        "decisions",
        "auth",
        "system",
        "config-history",
        "policy-history",
        "repairs",
    ]
    assert all(f["description"] for f in report["files"])
    assert report["totals"] == {"files": 7, "entries": 0, "not_created": 7}
    repaired = client.post(f"/api/manager/proxies/{proxy_id}/audit/repair").json()
    assert repaired["success"] is True and repaired["message"] == "Nothing to repair."
    assert {r["action"] for r in repaired["results"]} == {"none"}
    for method, path in (("GET", "verify"), ("POST", "repair")):
        answer = client.request(method, f"/api/manager/proxies/px_00000000:nope/audit/{path}")
        assert answer.status_code == 404 and answer.json()["detail"]["code"] == "PROXY_NOT_FOUND"


def test_audit_repair_refused_while_registered(home, state):
    add("files")
    connection = registered(state, home, "files")
    answer = client_for(state, routes_audit).post(f"/api/manager/proxies/{connection.proxy_id}/audit/repair")
    assert answer.status_code == 409 and answer.json()["detail"]["code"] == "PROXY_RUNNING"


# --- auth (local mode) -----------------------------------------------------------------------------


def test_auth_in_local_mode(home, state):
    client = client_for(state, routes_auth)
    status = client.get("/api/manager/auth/status").json()
    assert status["configured"] is False and status["authenticated"] is False
    assert status["mode"] == "local" and status["provider"] is None and status["subject_id"] is None
    assert "encrypted file" in status["storage_backend"]
    for action in ("reload", "clear"):
        answer = client.post(f"/api/manager/auth/{action}").json()
        assert answer["ok"] is True and "local mode" in answer["message"]


def test_logout_tells_the_browsers(home, state):
    browser = Subscriber()
    state.hub.subscribers.add(browser)
    answer = client_for(state, routes_auth).post("/api/manager/auth/logout").json()
    assert answer["ok"] is True
    event = json.loads(browser.queue.get_nowait().removeprefix(b"data: "))
    assert event["type"] == "auth_logout"
