"""The manager's "write it into my client" route (manager/routes_clients.py): real files under a temp
home, the router mounted alone and driven with TestClient. What `install mcp-json --write` promises
holds here too: a foreign entry is never replaced unless forced, a diff is shown first, and a backup
is made only when the file changes."""

from __future__ import annotations

import json
from pathlib import Path

from mcp_acp.manager import routes_clients
from tests.manager.test_routes_proxies import add, client_for

ROUTE = "/api/manager/client-config"


def backups(folder: Path) -> list[Path]:
    return sorted(folder.glob("mcp.json.bak.*"))


def test_vscode_preview_then_write_then_nothing_to_change(home, state, tmp_path):
    add("files")
    project = tmp_path / "project"
    (project / ".vscode").mkdir(parents=True)
    target = project / ".vscode" / "mcp.json"
    original = '{\n  // mine\n  "servers": {\n    "mine": {"type": "stdio", "command": "x"}\n  }\n}\n'
    target.write_text(original)
    target.chmod(0o644)
    client = client_for(state, routes_clients)
    body = {"client": "vscode", "proxy": "files", "project_dir": str(project)}

    preview = client.post(ROUTE, json=body).json()
    assert preview["written"] is False and preview["changes"] is True and preview["added"] == ["files"]
    assert '+    "files": {' in preview["diff"] and target.read_text() == original

    done = client.post(ROUTE, json={**body, "write": True}).json()
    assert done["written"] is True and done["path"] == str(target)
    data_text = target.read_text()
    assert "// mine" in data_text and (target.stat().st_mode & 0o777) == 0o644
    assert Path(done["backup"]).read_text() == original and len(backups(target.parent)) == 1

    again = client.post(ROUTE, json={**body, "write": True}).json()
    assert again["changes"] is False and again["written"] is False and again["unchanged"] == ["files"]
    assert len(backups(target.parent)) == 1  # no backup when nothing changes


def test_a_foreign_entry_is_kept_unless_forced(home, state, tmp_path):
    add("files")
    project = tmp_path / "project"
    project.mkdir()
    target = project / ".mcp.json"
    theirs = {"mcpServers": {"files": {"command": "npx", "args": ["their-server"]}}}
    target.write_text(json.dumps(theirs))
    client = client_for(state, routes_clients)
    body = {"client": "claude-code", "project_dir": str(project), "write": True}

    refused = client.post(ROUTE, json=body).json()
    assert refused["written"] is False and refused["needs_force"] is True
    assert refused["conflicts"][0]["name"] == "files" and '-    "their-server"' in refused["conflicts"][0]["diff"]
    assert json.loads(target.read_text()) == theirs and list(project.glob(".mcp.json.bak.*")) == []

    forced = client.post(ROUTE, json={**body, "force": True}).json()
    assert forced["written"] is True and forced["replaced"] == ["files"]
    assert json.loads(target.read_text())["mcpServers"]["files"]["args"][-3:] == ["start", "--proxy", "files"]


def test_refusals(home, state, tmp_path):
    add("files")
    client = client_for(state, routes_clients)
    cases = [
        ({"client": "vscode"}, 400, "PROJECT_DIR_REQUIRED"),
        ({"client": "vscode", "project_dir": "relative/dir"}, 400, "PROJECT_DIR_INVALID"),
        ({"client": "vscode", "project_dir": str(tmp_path / "missing")}, 400, "PROJECT_DIR_INVALID"),
        ({"client": "cursor", "proxy": "../files"}, 404, "PROXY_NOT_FOUND"),
    ]
    for body, status, code in cases:
        answer = client.post(ROUTE, json=body)
        assert answer.status_code == status and answer.json()["detail"]["code"] == code, answer.text
    assert client.post(ROUTE, json={"client": "emacs"}).status_code == 422
    broken = tmp_path / "p"
    broken.mkdir()
    (broken / ".mcp.json").write_text("{not json")
    answer = client.post(ROUTE, json={"client": "claude-code", "project_dir": str(broken), "write": True})
    assert answer.status_code == 409 and answer.json()["detail"]["code"] == "CLIENT_FILE_UNUSABLE"
    assert (broken / ".mcp.json").read_text() == "{not json"


def test_cursor_goes_to_the_users_home(home, state):
    add("files")
    client = client_for(state, routes_clients)
    done = client.post(ROUTE, json={"client": "cursor", "write": True}).json()
    target = Path(home["HOME"]) / ".cursor" / "mcp.json"
    assert done["path"] == str(target) and done["backup"] is None  # a new file: nothing to back up
    assert list(json.loads(target.read_text())["mcpServers"]) == ["files"]
