"""`mcp-acp wrap` / `unwrap` end to end, against each client's real file format (issue 19).

Each client's file is pre-filled as a user would have it: the official filesystem server on a
folder, server-everything with a GitHub token in its env, an HTTP server with an Authorization
header (left as it is), an entry already going through mcp-acp, and the client's own other
settings (and, for VS Code, comments). Then, through the real CLI as a subprocess:
- `wrap --dry-run` changes nothing: every file under the test's whole tree (the user's home, the
  project, MCP_ACP_HOME) hashes the same before and after;
- `wrap --yes` rewrites the entries; the rewritten entry is started exactly as the client would
  start it, and a real MCP client (the SDK) lists the tools, makes an allowed call, and sees the
  starter policy refuse a read outside the server's folder and ask (nobody to ask: refused) for a
  write; the token is nowhere in the client's file or the proxy's config;
- `unwrap --yes --remove-proxies` puts the file back byte for byte and deletes the proxies.
"""

from __future__ import annotations

import hashlib
import json
import os
import pty
import shutil
import stat
import subprocess
from pathlib import Path

import json5
import pytest

from tests.support.audit import read_jsonl
from tests.support.config import proxy_config_dir, proxy_log_dir
from tests.support.processes import MCP_ACP, ROOT, free_port, wait_for_port
from tests.support.wrap_home import World

NPM_BIN = ROOT / "tests" / "npm" / "node_modules" / ".bin"
FILESYSTEM_BIN = NPM_BIN / "mcp-server-filesystem"
EVERYTHING_BIN = NPM_BIN / "mcp-server-everything"
TOKEN = "ghp_0123456789abcdefghijklmnopqrstuvwxyzAB"

pytestmark = [
    pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning"),
    pytest.mark.skipif(
        not FILESYSTEM_BIN.exists() or not EVERYTHING_BIN.exists() or shutil.which("node") is None,
        reason="the npm test servers or node are missing: run `make npm-deps`",
    ),
]


# --------------------------------------------------------------------------- the user's files


def _servers(data_dir: Path, client: str) -> str:
    """The servers block as JSON text (no outer braces), in the client's entry shape."""
    typed = client in ("claude-code", "vscode")
    kind = '"type": "stdio", ' if typed else ""
    http_kind = '"type": "http", ' if typed or client == "cursor" else ""
    return f"""
    "files": {{{kind}"command": "{FILESYSTEM_BIN}", "args": ["{data_dir}"]}},
    "everything": {{
      {kind}"command": "{EVERYTHING_BIN}",
      "env": {{"GITHUB_TOKEN": "{TOKEN}", "LOG_LEVEL": "info"}}
    }},
    "remote": {{{http_kind}"url": "https://mcp.example.com/mcp", "headers": {{"Authorization": "Bearer abc"}}}},
    "old-proxy": {{{kind}"command": "/usr/local/bin/mcp-acp", "args": ["start", "--proxy", "old-proxy"]}}"""


def client_file(client: str, home: Path, project: Path, data_dir: Path) -> tuple[Path, str, list[str]]:
    """(where the client keeps its servers, the file's text, extra wrap arguments)."""
    servers = _servers(data_dir, client)
    if client == "claude-desktop":
        path = home / ".config" / "Claude" / "claude_desktop_config.json"
        text = f'{{\n  "mcpServers": {{{servers}\n  }},\n  "globalShortcut": "Ctrl+Space"\n}}\n'
        return path, text, []
    if client == "cursor":
        path = home / ".cursor" / "mcp.json"
        return path, f'{{\n  "mcpServers": {{{servers}\n  }}\n}}\n', []
    if client == "claude-code":
        # ~/.claude.json: user-scope servers at the top, and much else that Claude Code keeps there
        path = home / ".claude.json"
        text = (
            '{\n  "numStartups": 42,\n  "theme": "dark",\n'
            f'  "mcpServers": {{{servers}\n  }},\n'
            f'  "projects": {{\n    "{project}": {{"allowedTools": [], "mcpServers": {{"local-db": {{"command": "db"}}}}}}\n  }}\n}}\n'
        )
        return path, text, []
    # VS Code: the workspace's .vscode/mcp.json, JSONC with comments and a trailing comma
    path = project / ".vscode" / "mcp.json"
    text = (
        "// MCP servers for this workspace\n{\n"
        '  "inputs": [],\n'
        "  /* the servers */\n"
        f'  "servers": {{{servers}, // the last one\n  }},\n'
        "}\n"
    )
    return path, text, ["--file", str(path)]


def tree_digest(root: Path) -> dict[str, str]:
    """Every path under `root` with its kind, mode and content hash (links by their target)."""
    found: dict[str, str] = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            info = path.lstat()
            rel = str(path.relative_to(root))
            if stat.S_ISLNK(info.st_mode):
                found[rel] = f"link {os.readlink(path)}"
            elif stat.S_ISDIR(info.st_mode):
                found[rel] = f"dir {info.st_mode:o}"
            else:
                found[rel] = f"file {info.st_mode:o} {hashlib.sha256(path.read_bytes()).hexdigest()}"
    return found


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def world(tmp_path: Path):
    world = World(tmp_path)
    (world.data / "hello.txt").write_text("hello from the data folder\n")
    world.cli("init", "--auth", "local")
    yield world
    world.cli("manager", "stop", check=False)  # a non-headless start brings the manager up


def _load(path: Path, client: str) -> dict:
    text = path.read_text(encoding="utf-8")
    return json5.loads(text) if client == "vscode" else json.loads(text)


# --------------------------------------------------------------------------- the test


@pytest.mark.parametrize("client", ["claude-desktop", "claude-code", "cursor", "vscode"])
def test_wrap_dry_run_session_unwrap(world: World, client: str) -> None:
    path, text, extra = client_file(client, world.home, world.project, world.data)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(0o640)
    original = path.read_bytes()
    key = "servers" if client == "vscode" else "mcpServers"

    # --dry-run: a table, and not one byte changed anywhere
    before = tree_digest(world.root)
    dry = world.cli("wrap", "--client", client, "--dry-run", *extra)
    assert tree_digest(world.root) == before
    assert "Dry run" in dry.stdout
    assert "already goes through mcp-acp" in dry.stdout and "'headers'" in dry.stdout
    assert "GITHUB_TOKEN" in dry.stdout and TOKEN not in dry.stdout + dry.stderr
    if client == "claude-code":
        assert "local scope" in dry.stdout and "local-db" in dry.stdout

    # without a terminal, wrap refuses to go ahead unasked
    refused = world.cli("wrap", "--client", client, *extra, check=False)
    assert refused.returncode != 0 and "--yes" in refused.stderr
    assert tree_digest(world.root) == before

    done = world.cli("wrap", "--client", client, "--yes", *extra)
    assert TOKEN not in done.stdout + done.stderr
    assert path.stat().st_mode & 0o777 == 0o640
    wrapped = _load(path, client)
    servers = wrapped[key]
    for name in ("files", "everything"):
        assert servers[name]["args"][-3:] == ["start", "--proxy", name]
    assert servers["remote"] == _load_original(original, client)[key]["remote"]  # left as it was
    assert servers["old-proxy"]["command"] == "/usr/local/bin/mcp-acp"
    assert TOKEN not in path.read_text(encoding="utf-8")
    if client == "vscode":
        assert path.read_text(encoding="utf-8").startswith("// MCP servers for this workspace\n")
    if client == "claude-code":
        assert wrapped["numStartups"] == 42 and str(world.project) in wrapped["projects"]

    # the token moved to the secret store: config.json names it only
    everything_config = (proxy_config_dir(world.env, "everything") / "config.json").read_text()
    assert TOKEN not in everything_config
    stdio = json.loads(everything_config)["backend"]["stdio"]
    assert stdio["secret_env"] == ["GITHUB_TOKEN"] and stdio["env"] == {"LOG_LEVEL": "info"}

    # a real session through the wrapped filesystem server, started as the client would
    hello = world.data / "hello.txt"
    seen = world.session(
        servers["files"],
        [
            ("read_text_file", {"path": str(hello)}),
            ("read_text_file", {"path": "/etc/hostname"}),
            ("write_file", {"path": str(hello), "content": "overwritten"}),
        ],
    )
    assert "read_text_file" in seen["tools"]
    assert seen["0:read_text_file"] == "hello from the data folder\n"
    assert seen["1:read_text_file"][0] == "refused"
    assert seen["2:write_file"][0] == "refused"
    assert hello.read_text() == "hello from the data folder\n"
    decisions = read_jsonl(proxy_log_dir(world.env, "files") / "audit" / "decisions.jsonl")
    calls = {(d.get("tool_name"), d.get("final_rule"), d.get("decision")) for d in decisions if d.get("tool_name")}
    assert ("read_text_file", "starter-read", "allow") in calls, calls
    assert ("read_text_file", "default", "deny") in calls, calls
    assert any(tool == "write_file" and rule == "starter-ask" for tool, rule, _ in calls), calls

    # unwrap: the file byte for byte, its mode, and the proxies gone
    world.cli("manager", "stop", check=False)
    undone = world.cli("unwrap", "--client", client, "--yes", "--remove-proxies", *extra)
    assert "byte for byte" in undone.stdout
    assert path.read_bytes() == original
    assert path.stat().st_mode & 0o777 == 0o640
    assert not proxy_config_dir(world.env, "files").exists()
    assert not proxy_config_dir(world.env, "everything").exists()
    again = world.cli("unwrap", "--client", client, "--yes", *extra, check=False)
    assert again.returncode != 0 and "nothing to undo" in again.stderr


def _load_original(original: bytes, client: str) -> dict:
    text = original.decode("utf-8")
    return json5.loads(text) if client == "vscode" else json.loads(text)


def test_a_plain_http_entry_gets_an_http_proxy_and_a_policy_from_its_tools(world: World) -> None:
    """A streamable-HTTP server (server-everything over HTTP) in Cursor's file: wrap lists its tools
    over HTTP (it is not recognized by a command), and the rewritten entry reaches it through
    the proxy: `echo` (read-only, by its name too) answers; `get-env` (read-only, but it shows the
    server's environment) asks, and with nobody to ask is refused."""
    port = free_port()
    server = subprocess.Popen(
        [str(EVERYTHING_BIN), "streamableHttp"],
        env={**world.env, "PORT": str(port)},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for_port(port, timeout=45)
        path = world.home / ".cursor" / "mcp.json"
        path.parent.mkdir()
        path.write_text(json.dumps({"mcpServers": {"demo": {"url": f"http://127.0.0.1:{port}/mcp"}}}))
        out = world.cli("wrap", "--client", "cursor", "--yes")
        assert "read-only tool(s) allowed" in out.stdout
        config = json.loads((proxy_config_dir(world.env, "demo") / "config.json").read_text())
        assert config["backend"]["transport"] == "streamablehttp"
        entry = json.loads(path.read_text())["mcpServers"]["demo"]
        assert entry["args"][-3:] == ["start", "--proxy", "demo"]
        seen = world.session(entry, [("echo", {"message": "hi"}), ("get-env", {})])
        assert "hi" in seen["0:echo"]
        assert seen["1:get-env"][0] == "refused"
    finally:
        server.terminate()
        server.wait(10)


@pytest.mark.parametrize(("answer", "wraps"), [("n", False), ("y", True)])
def test_in_a_terminal_wrap_asks_first(world: World, answer: str, wraps: bool) -> None:
    path, text, _ = client_file("cursor", world.home, world.project, world.data)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    before = tree_digest(world.root)
    controller, terminal = pty.openpty()
    try:
        proc = subprocess.Popen(
            [MCP_ACP, "wrap", "--client", "cursor"],
            env=world.env,
            cwd=world.project,
            stdin=terminal,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        os.write(controller, f"{answer}\n".encode())
        out, err = proc.communicate(timeout=120)
    finally:
        os.close(controller)
        os.close(terminal)
    assert "Wrap 2 server(s)" in out
    if wraps:
        assert proc.returncode == 0, err
        assert json.loads(path.read_text())["mcpServers"]["files"]["args"][-3:] == ["start", "--proxy", "files"]
    else:
        assert proc.returncode == 1 and "nothing was changed" in err
        assert tree_digest(world.root) == before
