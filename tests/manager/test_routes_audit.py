"""The manager's audit router (manager/routes_audit.py), mounted alone on a FastAPI app: verify
before any proxy has run and for an unknown id, and repair refused while the proxy is registered."""

from __future__ import annotations

from mcp_acp.manager import routes_audit
from tests.manager.test_routes_proxies import add, client_for, config_of, registered

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
