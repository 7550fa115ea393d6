"""`mcp-acp install mcp-json --write` against each client's real config file, pre-filled with the
user's own servers: the user's entries are never replaced without --force, a run that changes
nothing writes nothing (no backup either), the file keeps its mode, and VS Code's JSONC keeps its
comments. Every case runs the real CLI in a subprocess."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import json5
import pytest

MCP_ACP = Path(sys.executable).parent / "mcp-acp"

CLAUDE_DESKTOP = """{
  "mcpServers": {
    "files": {
      "command": "npx",
      "args": ["-y", "@modelcontextprotocol/server-filesystem", "/home/me/Desktop"]
    },
    "time": {
      "command": "uvx",
      "args": ["mcp-server-time"]
    }
  },
  "globalShortcut": ""
}
"""

CLAUDE_CODE = """{
  "mcpServers": {
    "files": {
      "type": "stdio",
      "command": "npx",
      "args": ["-y", "@modelcontextprotocol/server-filesystem", "."],
      "env": {}
    },
    "docs": {
      "type": "http",
      "url": "https://example.invalid/mcp"
    }
  }
}
"""

CURSOR = """{
    "mcpServers": {
        "files": {
            "command": "npx",
            "args": ["-y", "@modelcontextprotocol/server-filesystem", "/home/me/src"],
            "env": {"LOG_LEVEL": "debug"}
        },
        "remote": {
            "url": "http://localhost:3000/mcp"
        }
    }
}
"""

VSCODE = """// Project MCP servers (VS Code reads this file as JSONC)
{
  "inputs": [
    {
      "type": "promptString",
      "id": "github-token",
      "description": "GitHub token",
      "password": true, // never stored in this file
    },
  ],
  "servers": {
    /* the filesystem server, limited to this project */
    "files": {
      "type": "stdio",
      "command": "npx",
      "args": ["-y", "@modelcontextprotocol/server-filesystem", "${workspaceFolder}"],
    },
    "github": {
      "type": "http",
      "url": "https://api.githubcopilot.com/mcp/", // remote
      "headers": {"Authorization": "Bearer ${input:github-token}"},
    },
  },
}
"""

# client -> (path relative to the user home or the project, servers key, the user's file)
CLIENTS = {
    "claude-desktop": ("userhome/.config/Claude/claude_desktop_config.json", "mcpServers", CLAUDE_DESKTOP),
    "claude-code": ("project/.mcp.json", "mcpServers", CLAUDE_CODE),
    "cursor": ("userhome/.cursor/mcp.json", "mcpServers", CURSOR),
    "vscode": ("project/.vscode/mcp.json", "servers", VSCODE),
}
COMMENTS = [
    "// Project MCP servers (VS Code reads this file as JSONC)",
    "// never stored in this file",
    "/* the filesystem server, limited to this project */",
    "// remote",
]


@dataclass
class Setup:
    root: Path
    env: dict[str, str]
    client: str
    target: Path
    key: str
    original: bytes

    def run(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(MCP_ACP), *args],
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
            cwd=self.root / "project",
        )

    def install(self, *extra: str) -> subprocess.CompletedProcess:
        return self.run("install", "mcp-json", "--client", self.client, "--write", *extra)

    def backups(self) -> list[Path]:
        return sorted(self.target.parent.glob(f"{self.target.name}.bak.*"))

    def folder(self) -> dict[str, bytes]:
        return {p.name: p.read_bytes() for p in sorted(self.target.parent.iterdir()) if p.is_file()}

    def data(self) -> dict:
        return json5.loads(self.target.read_text(encoding="utf-8"))

    def ours(self, name: str) -> dict:
        entry: dict = {"command": str(MCP_ACP), "args": ["start", "--proxy", name]}
        entry["env"] = {"MCP_ACP_HOME": self.env["MCP_ACP_HOME"]}
        return {"type": "stdio", **entry} if self.client in ("claude-code", "vscode") else entry


def ok(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert "Traceback" not in result.stderr
    return result


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(params=list(CLIENTS))
def setup(request: pytest.FixtureRequest, tmp_path: Path) -> Setup:
    client = request.param
    relative, key, content = CLIENTS[client]
    (tmp_path / "userhome").mkdir()
    (tmp_path / "project").mkdir()
    env = {**os.environ, "MCP_ACP_HOME": str(tmp_path / "home"), "HOME": str(tmp_path / "userhome")}
    for var in ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_RUNTIME_DIR", "APPDATA"):
        env.pop(var, None)
    target = tmp_path / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(content, encoding="utf-8")
    os.chmod(target, 0o644)
    s = Setup(tmp_path, env, client, target, key, target.read_bytes())
    ok(s.run("init", "--auth", "local"))
    for name in ("files", "acp"):
        ok(s.run("proxy", "add", name, "--server-name", "backend", "--command", "/bin/cat"))
    return s


def test_users_entry_is_refused_without_force(setup: Setup) -> None:
    before = setup.folder()
    result = setup.install("--proxy", "files")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    err = " ".join(result.stderr.split())
    assert "not written by mcp-acp" in err and "Nothing was changed" in err and "--force" in err
    # the difference: the user's command is shown as what is there, ours as what would be written
    assert "--- what is there" in result.stderr and "+++ what mcp-acp would write" in result.stderr
    assert '-  "command": "npx"' in result.stderr
    assert f'+  "command": "{MCP_ACP}"' in result.stderr
    assert setup.target.read_bytes() == setup.original
    assert setup.folder() == before  # no backup, no temp file


def test_all_proxies_refused_as_one_when_one_collides(setup: Setup) -> None:
    """Installing every proxy: 'acp' is new, 'files' is the user's; nothing at all is written."""
    result = setup.install()
    assert result.returncode == 1
    assert setup.target.read_bytes() == setup.original
    assert not setup.backups()


def test_force_replaces_and_backs_up(setup: Setup) -> None:
    before = json5.loads(setup.original.decode())
    result = ok(setup.install("--proxy", "files", "--force"))
    assert "Backed up" in " ".join(result.stdout.split())
    [backup] = setup.backups()
    assert backup.read_bytes() == setup.original
    data = setup.data()
    assert data[setup.key]["files"] == setup.ours("files")
    # everything else is exactly as it was
    others = {k: v for k, v in data[setup.key].items() if k != "files"}
    assert others == {k: v for k, v in before[setup.key].items() if k != "files"}
    assert {k: v for k, v in data.items() if k != setup.key} == {k: v for k, v in before.items() if k != setup.key}
    assert mode_of(setup.target) == 0o644


def test_second_identical_run_writes_no_backup(setup: Setup) -> None:
    ok(setup.install("--proxy", "acp"))
    assert len(setup.backups()) == 1  # the first run changed the file
    after_first = setup.folder()
    result = ok(setup.install("--proxy", "acp"))
    assert "nothing to change" in " ".join(result.stdout.split())
    assert setup.folder() == after_first  # same bytes, no new backup
    assert setup.data()[setup.key]["acp"] == setup.ours("acp")
    assert setup.data()[setup.key]["files"] == json5.loads(setup.original.decode())[setup.key]["files"]


@pytest.mark.parametrize("mode", [0o644, 0o640])
def test_mode_is_kept(setup: Setup, mode: int) -> None:
    os.chmod(setup.target, mode)
    ok(setup.install("--proxy", "acp"))
    assert mode_of(setup.target) == mode
    [backup] = setup.backups()
    assert mode_of(backup) == mode  # the backup is no more readable than the file


def test_our_stale_entry_is_updated_without_force(setup: Setup) -> None:
    """An entry mcp-acp wrote earlier (another mcp-acp path, say after a venv move) is ours to update."""
    ok(setup.install("--proxy", "acp"))
    data = setup.data()
    stale = dict(setup.ours("acp"), command="/old/venv/bin/mcp-acp")
    setup.target.write_text(setup.target.read_text().replace(str(MCP_ACP), "/old/venv/bin/mcp-acp"))
    assert setup.data()[setup.key]["acp"] == stale
    ok(setup.install("--proxy", "acp"))
    assert setup.data() == data


def test_comments_survive(setup: Setup) -> None:
    if setup.client != "vscode":
        pytest.skip("only VS Code reads JSONC")
    ok(setup.install("--proxy", "acp"))
    ok(setup.install("--proxy", "files", "--force"))
    text = setup.target.read_text()
    for comment in COMMENTS:
        assert comment in text
    assert setup.data()[setup.key]["acp"] == setup.ours("acp")
    assert setup.data()[setup.key]["files"] == setup.ours("files")
    assert setup.data()["inputs"][0]["password"] is True


def test_new_file_gets_the_users_umask(setup: Setup) -> None:
    setup.target.unlink()
    result = subprocess.run(
        [str(MCP_ACP), "install", "mcp-json", "--client", setup.client, "--write", "--proxy", "acp"],
        env=setup.env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=setup.root / "project",
        preexec_fn=lambda: os.umask(0o022),
    )
    ok(result)
    assert mode_of(setup.target) == 0o644
    assert json.loads(setup.target.read_text()) == {setup.key: {"acp": setup.ours("acp")}}
    assert not setup.backups()


@pytest.mark.parametrize("client", ["claude-desktop", "cursor"])
def test_comments_refused_where_the_client_reads_strict_json(tmp_path: Path, client: str) -> None:
    """Claude Desktop and Cursor parse strict JSON: a commented file would break them, so it is refused."""
    relative, _, _ = CLIENTS[client]
    (tmp_path / "userhome").mkdir()
    (tmp_path / "project").mkdir()
    env = {**os.environ, "MCP_ACP_HOME": str(tmp_path / "home"), "HOME": str(tmp_path / "userhome")}
    env.pop("XDG_CONFIG_HOME", None)
    target = tmp_path / relative
    target.parent.mkdir(parents=True)
    target.write_text('{\n  // note\n  "mcpServers": {}\n}\n')
    s = Setup(tmp_path, env, client, target, "mcpServers", target.read_bytes())
    ok(s.run("init", "--auth", "local"))
    ok(s.run("proxy", "add", "acp", "--server-name", "backend", "--command", "/bin/cat"))
    result = s.install()
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "is not valid JSON" in " ".join(result.stderr.split())
    assert target.read_bytes() == s.original and not s.backups()


def test_json5_only_syntax_refused_for_vscode(tmp_path: Path) -> None:
    """JSONC, not JSON5: single quotes would be accepted by a JSON5 reader but not by VS Code."""
    (tmp_path / "userhome").mkdir()
    (tmp_path / "project" / ".vscode").mkdir(parents=True)
    env = {**os.environ, "MCP_ACP_HOME": str(tmp_path / "home"), "HOME": str(tmp_path / "userhome")}
    target = tmp_path / "project" / ".vscode" / "mcp.json"
    target.write_text("{'servers': {}}\n")
    s = Setup(tmp_path, env, "vscode", target, "servers", target.read_bytes())
    ok(s.run("init", "--auth", "local"))
    ok(s.run("proxy", "add", "acp", "--server-name", "backend", "--command", "/bin/cat"))
    result = s.install()
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "vscode does not read" in " ".join(result.stderr.split())
    assert target.read_bytes() == s.original and not s.backups()
