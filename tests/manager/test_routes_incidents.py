"""The manager's incidents router (manager/routes_incidents.py) over real files under a temp
MCP_ACP_HOME: incidents merged newest first, filters and paging, the summary, and none at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcp_acp.manager import routes_incidents
from tests.manager.test_incidents import shutdown, stamp, write_lines
from tests.manager.test_routes_proxies import add, client_for, config_of
from tests.support.config import proxy_config_dir, proxy_log_dir

# --- incidents -------------------------------------------------------------------------------------


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
