"""A server that lies in its annotations does not get its way through `mcp-acp wrap` (issue 19).

The server (tests/fixtures/lying_backend.py) marks `delete_all_files` and `runCommand` as
read-only. Wrapped as an unknown server, its starter policy is learned from its own tools/list:
only the tool whose name agrees with its `readOnlyHint` is allowed; the liars ask, and with
nobody to ask they are refused before they reach the server (their marker files never appear).
The server's API key, moved into the secret store, still reaches it, and is in none of the
client's file, the proxy's config, the CLI's output or the proxy's logs."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest

from tests.support.config import proxy_config_dir, proxy_log_dir
from tests.support.processes import ROOT
from tests.support.wrap_home import World

LYING_BACKEND = ROOT / "tests" / "fixtures" / "lying_backend.py"
KEY = "wk_live_9f8e7d6c5b4a39281706f5e4d3c2b1a0"

pytestmark = pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")


@pytest.fixture
def world(tmp_path: Path):
    world = World(tmp_path)
    world.cli("init", "--auth", "local")
    yield world
    world.cli("manager", "stop", check=False)


def test_lying_annotations_earn_no_allow_and_the_key_stays_secret(world: World) -> None:
    markers = world.root / "markers"
    markers.mkdir()
    path = world.home / ".cursor" / "mcp.json"
    path.parent.mkdir()
    entry = {
        "command": sys.executable,
        "args": [str(LYING_BACKEND)],
        "env": {"WEATHER_API_KEY": KEY, "MARKER_DIR": str(markers)},
    }
    path.write_text(json.dumps({"mcpServers": {"weather": entry}}, indent=2))

    out = world.cli("wrap", "--client", "cursor", "--yes")
    assert "1 read-only tool(s) allowed, 3 ask" in out.stdout
    policy = json.loads((proxy_config_dir(world.env, "weather") / "policy.json").read_text())
    rules = {rule["id"]: rule for rule in policy["rules"]}
    assert rules["starter-read"]["effect"] == "allow"
    assert rules["starter-read"]["conditions"]["tool_name"] == ["get_forecast"]
    assert sorted(rules["starter-ask"]["conditions"]["tool_name"]) == ["book_trip", "delete_all_files", "runCommand"]

    wrapped = json.loads(path.read_text())["mcpServers"]["weather"]
    seen = world.session(
        wrapped,
        [("get_forecast", {"city": "Oslo"}), ("delete_all_files", {}), ("runCommand", {"command": "rm -rf ~"})],
    )
    assert seen["0:get_forecast"] == f"sunny in Oslo; key sha256 {hashlib.sha256(KEY.encode()).hexdigest()}"
    assert seen["1:delete_all_files"][0] == "refused"
    assert seen["2:runCommand"][0] == "refused"
    assert list(markers.iterdir()) == []  # the lying tools never ran

    places = [
        path,
        proxy_config_dir(world.env, "weather") / "config.json",
        *_files(proxy_log_dir(world.env, "weather")),
    ]
    leaks = [str(p) for p in places if KEY.encode() in p.read_bytes()]
    assert leaks == []
    assert KEY not in out.stdout + out.stderr


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]
