"""admin/deletion.py in-process, on real files under a private MCP_ACP_HOME (file secret store)."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from filelock import FileLock

from mcp_acp import secret_store
from mcp_acp.admin import archives, deletion
from mcp_acp.audit.keys import create_audit_key, load_audit_key
from mcp_acp.audit.sharing import FolderLocks
from mcp_acp.audit.state import IntegrityState
from mcp_acp.audit.writer import AuditLog
from mcp_acp.backends.credentials import credential_key
from mcp_acp.config import paths
from mcp_acp.config.models import ManagerConfig
from mcp_acp.localhttp.sse import Subscriber
from mcp_acp.manager import routes_deletion
from mcp_acp.manager.registry import ProxyConnection
from mcp_acp.manager.state import ManagerState

PROXY_ID = "px_0123abcd:fixture"
ARCHIVED_KEYS = {
    "config",
    "audit_logs",
    "system_logs",
    "integrity_state",
    "crash_breadcrumb",
    "incident_shutdowns",
    "incident_bootstrap",
}
DELETED_KEYS = {"debug_logs", "debug_logs_size_bytes", "socket_file", "backend_credential"}


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "acp-home"
    monkeypatch.setenv("MCP_ACP_HOME", str(home))
    monkeypatch.setenv("MCP_ACP_SECRET_BACKEND", "file")
    return home


@pytest.fixture
def log_root(home) -> Path:
    return home / "logs"


def make_proxy(log_root: Path, name: str = "fx", proxy_id: str = PROXY_ID, api_key: str | None = None) -> Path:
    """A proxy as a run leaves it: config, policy, bootstrap incidents, chained logs, incidents,
    debug logs. Returns its log folder."""
    http = {"url": "http://127.0.0.1:9/mcp", **({"credential_key": credential_key(name)} if api_key else {})}
    config = {"proxy_id": proxy_id, "backend": {"server_name": "fixture", "transport": "streamablehttp", "http": http}}
    folder = paths.proxy_config_dir(name)
    folder.mkdir(parents=True, mode=0o700)
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "policy.json").write_text("{}")
    (folder / "bootstrap.jsonl").write_text('{"event": "startup_failed"}\n')
    if api_key:
        secret_store.put(credential_key(name), api_key)
    log_dir = paths.proxy_log_dir(log_root, name)
    locks = FolderLocks(log_dir)
    audit = AuditLog(log_dir, IntegrityState.load(log_dir), None, locks=locks)
    for i in range(3):
        audit.write("operations", {"method": "tools/call", "request_id": str(i)})
    audit.write("system", {"level": "WARNING", "event": "test", "message": "hello"})
    audit.close()
    locks.close()
    (log_dir / ".last_crash").write_text("2026-01-01T00:00:00Z\nfailure_type: test\n")
    (log_dir / "shutdowns.jsonl").write_text('{"event": "security_shutdown"}\n')
    (log_dir / "audit" / "operations.broken.2026-01-01_000000.jsonl").write_text("{}\n")
    (log_dir / "debug").mkdir(mode=0o700)
    (log_dir / "debug" / "client_wire.jsonl").write_text("x" * 100)
    return log_dir


def test_archive_layout_metadata_and_readme(home, log_root):
    log_dir = make_proxy(log_root)
    result = deletion.delete_proxy("fx", deleted_by="cli", log_dir=log_root)

    target = paths.archive_dir() / result.archive_name
    assert result.archive_name.startswith("fx_") and archives.ARCHIVE_NAME.fullmatch(result.archive_name)
    metadata = json.loads((target / "metadata.json").read_text())
    assert set(metadata) == {
        "version",
        "original_name",
        "deleted_at",
        "deleted_by",
        "original_config_path",
        "original_log_path",
        "archived",
        "deleted",
    }
    assert metadata["version"] == 1 and metadata["original_name"] == "fx" and metadata["deleted_by"] == "cli"
    assert metadata["original_config_path"] == str(paths.proxy_config_dir("fx"))
    assert metadata["original_log_path"] == str(log_dir)
    assert datetime.fromisoformat(metadata["deleted_at"]).tzinfo is not None
    assert metadata["archived"] == dict.fromkeys(ARCHIVED_KEYS, True)
    assert metadata["deleted"] == {
        "debug_logs": True,
        "debug_logs_size_bytes": 100,
        "socket_file": False,
        "backend_credential": False,
    }

    for rel in (
        "config/config.json",
        "config/policy.json",
        "config/bootstrap.jsonl",
        "logs/audit/operations.jsonl",
        "logs/audit/operations.broken.2026-01-01_000000.jsonl",
        "logs/system/system.jsonl",
        "logs/.integrity_state",
        "logs/.last_crash",
        "logs/shutdowns.jsonl",
        "README.txt",
    ):
        assert (target / rel).is_file(), rel
    assert not (target / "logs" / "debug").exists() and not (target / "logs" / ".writer.lock").exists()
    readme = (target / "README.txt").read_text()
    assert "logs/audit/" in readme and "debug wire logs (100 bytes)" in readme
    assert f"mcp-acp proxy purge {result.archive_name}" in readme and "verify_archive" in readme

    for path in [target, *target.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))
    assert stat.S_IMODE((target / "logs" / "audit" / "operations.jsonl").stat().st_mode) == 0o600

    assert not paths.proxy_config_dir("fx").exists() and not log_dir.exists()
    assert result.archived[:4] == ["config", "audit logs", "system logs", "integrity state"]
    assert result.deleted == ["debug logs"] and result.deleted_size == 100
    assert result.archived_size == archives.tree_size(target) and result.proxy_id == PROXY_ID
    # Moved, not copied: the inodes match the integrity state, so the trail still verifies.
    assert archives.verify_archive("fx").overall == "passed"


def test_archive_keeps_the_audit_key_with_the_archive(home, log_root):
    make_proxy(log_root)
    create_audit_key("fx", {"audit/operations.jsonl": 4})
    result = deletion.delete_proxy("fx", log_dir=log_root)
    assert load_audit_key("fx") is None  # a new proxy named fx starts without the old key
    assert load_audit_key(archives.archived_key_owner(result.archive_name)) is not None
    assert "audit key" in result.archived
    archives.purge_archive(result.archive_name)
    assert load_audit_key(archives.archived_key_owner(result.archive_name)) is None


def test_backend_credential_is_deleted(home, log_root):
    make_proxy(log_root, api_key="k-123")
    result = deletion.delete_proxy("fx", log_dir=log_root)
    assert secret_store.get(credential_key("fx")) is None
    assert "backend credential" in result.deleted
    metadata = json.loads((paths.archive_dir() / result.archive_name / "metadata.json").read_text())
    assert metadata["deleted"]["backend_credential"] is True


def test_timestamp_collision_gets_a_suffix(home):
    now = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)
    first = deletion._new_archive_dir("fx", now)
    second = deletion._new_archive_dir("fx", now)
    third = deletion._new_archive_dir("fx", now)
    assert first.name == "fx_2026-05-01T12-00-00"
    assert second.name == "fx_2026-05-01T12-00-00-2" and third.name == "fx_2026-05-01T12-00-00-3"
    assert all(archives.ARCHIVE_NAME.fullmatch(p.name)["name"] == "fx" for p in (first, second, third))


def test_two_deletions_of_the_same_name_keep_both_archives(home, log_root):
    make_proxy(log_root)
    first = deletion.delete_proxy("fx", log_dir=log_root)
    make_proxy(log_root)
    second = deletion.delete_proxy("fx", log_dir=log_root)
    assert first.archive_name != second.archive_name
    assert sorted(a.archive_name for a in archives.list_archives()) == sorted([first.archive_name, second.archive_name])


def test_purge_deletes_everything(home, log_root):
    log_dir = make_proxy(log_root, api_key="k-123")
    result = deletion.delete_proxy("fx", purge=True, log_dir=log_root)
    assert result.archive_name is None and result.archived == [] and result.archived_size == 0
    assert {"config", "logs", "backend credential"} <= set(result.deleted) and result.deleted_size > 100
    assert not paths.proxy_config_dir("fx").exists() and not log_dir.exists()
    assert not paths.archive_dir().exists() or not any(paths.archive_dir().iterdir())
    assert secret_store.get(credential_key("fx")) is None


def test_refused_while_the_writer_lock_is_held(home, log_root):
    log_dir = make_proxy(log_root)
    before = sorted(p.relative_to(home) for p in home.rglob("*"))
    lock = FileLock(str(log_dir / ".writer.lock"))
    lock.acquire()
    try:
        assert deletion.proxy_running("fx", log_root)
        with pytest.raises(deletion.ProxyRunning):
            deletion.delete_proxy("fx", log_dir=log_root)
    finally:
        lock.release()
    assert sorted(p.relative_to(home) for p in home.rglob("*")) == before
    assert not deletion.proxy_running("fx", log_root)


def test_broken_config_is_still_deletable(home, log_root):
    make_proxy(log_root)
    paths.proxy_config_path("fx").write_text("{not json")
    result = deletion.delete_proxy("fx", log_dir=log_root)
    assert result.proxy_id is None and result.archive_name


@pytest.mark.parametrize("name", ["../x", "..", "/etc", "fx/../..", "", "a" * 65])
def test_hostile_proxy_names_are_refused(home, log_root, name):
    with pytest.raises(deletion.DeletionError):
        deletion.delete_proxy(name, log_dir=log_root)


def test_find_archive(home, log_root):
    make_proxy(log_root)
    first = deletion.delete_proxy("fx", log_dir=log_root).archive_name
    assert archives.find_archive("fx").archive_name == first
    make_proxy(log_root)
    second = deletion.delete_proxy("fx", log_dir=log_root).archive_name
    with pytest.raises(archives.AmbiguousArchive) as ambiguous:
        archives.find_archive("fx")
    assert set(ambiguous.value.matches) == {first, second}
    assert archives.find_archive(second).archive_name == second
    (paths.archive_dir().parent / "outside").mkdir()
    for hostile in ("../x", "..", ".", "/etc", "../outside", f"{first}/..", f"../archive/{first}", "*"):
        with pytest.raises(archives.ArchiveNotFound):
            archives.purge_archive(hostile)
    assert (paths.archive_dir().parent / "outside").is_dir() and (paths.archive_dir() / first).is_dir()
    assert archives.purge_archive(first).archive_name == first
    assert archives.find_archive("fx").archive_name == second


def test_a_crafted_metadata_name_cannot_redirect_a_purge(home, log_root):
    make_proxy(log_root)
    name = deletion.delete_proxy("fx", log_dir=log_root).archive_name
    metadata_path = paths.archive_dir() / name / "metadata.json"
    metadata = json.loads(metadata_path.read_text())
    metadata["original_name"] = "../../config"
    metadata_path.write_text(json.dumps(metadata))
    assert archives.purge_archive("../../config").archive_name == name  # only ever its own folder
    assert paths.config_dir().is_dir()


# --------------------------------------------------------------------------------- API routes


@pytest.fixture
def api(home, log_root):
    state = ManagerState(config=ManagerConfig())
    app = FastAPI()
    app.include_router(routes_deletion.router(state))
    subscriber = Subscriber()
    state.hub.subscribers.add(subscriber)
    with TestClient(app) as client:
        yield client, state, subscriber


def events(subscriber: Subscriber) -> list[dict]:
    found = []
    while not subscriber.queue.empty():
        found.append(json.loads(subscriber.queue.get_nowait().removeprefix(b"data: ")))
    return found


def test_api_delete_unknown_is_404(api):
    client, _, _ = api
    response = client.delete("/api/manager/proxies/px_deadbeef:none")
    assert response.status_code == 404 and response.json()["detail"]["code"] == "PROXY_NOT_FOUND"


def test_api_delete_registered_is_409(api, log_root):
    client, state, subscriber = api
    make_proxy(log_root)
    state.registry.add(
        ProxyConnection(
            proxy_name="fx", proxy_id=PROXY_ID, instance_id="inst", socket_path="/nonexistent.sock", config_summary={}
        )
    )
    response = client.delete(f"/api/manager/proxies/{PROXY_ID}")
    assert response.status_code == 409 and response.json()["detail"]["code"] == "PROXY_RUNNING"
    assert paths.proxy_config_dir("fx").is_dir() and events(subscriber) == []


def test_api_delete_archives_and_announces(api, log_root):
    client, _, subscriber = api
    make_proxy(log_root)
    response = client.delete(f"/api/manager/proxies/{PROXY_ID}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"archived", "deleted", "archive_name", "archived_size", "deleted_size"}
    metadata = json.loads((paths.archive_dir() / body["archive_name"] / "metadata.json").read_text())
    assert metadata["deleted_by"] == "api"
    [event] = events(subscriber)
    assert event["type"] == "proxy_deleted" and event["proxy_name"] == "fx" and event["proxy_id"] == PROXY_ID
    assert event["archive_name"] == body["archive_name"] and event["severity"] == "warning"


def test_api_delete_purge(api, log_root):
    client, _, _ = api
    make_proxy(log_root)
    body = client.delete(f"/api/manager/proxies/{PROXY_ID}", params={"purge": "true"}).json()
    assert body["archive_name"] is None and not paths.proxy_config_dir("fx").exists()


def test_api_notify_deleted(api):
    client, _, subscriber = api
    notice = {"proxy_id": PROXY_ID, "proxy_name": "fx", "archive_name": "fx_2026-05-01T12-00-00"}
    assert client.post("/api/manager/proxies/notify-deleted", json=notice).json() == {"ok": True}
    [event] = events(subscriber)
    assert event["type"] == "proxy_deleted" and event["archive_name"] == notice["archive_name"]
    for bad in ({**notice, "proxy_name": "../x"}, {"proxy_name": "fx"}):
        assert client.post("/api/manager/proxies/notify-deleted", json=bad).status_code == 422
    assert events(subscriber) == []
