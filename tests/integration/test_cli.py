"""The real `mcp-acp` executable, run as a subprocess without a terminal.

Every run gets MCP_ACP_HOME=<tmp>/home and HOME=<tmp>/userhome, so nothing touches the
real home directory, and stdin is /dev/null so the CLI must never prompt.
"""

from __future__ import annotations

import json
import os
import re
import socket
import stat
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

MCP_ACP = Path(sys.executable).parent / "mcp-acp"
PROXY_ID = re.compile(r"px_[0-9a-f]{8}:[a-z0-9-]+")
DENY_ALL = {"version": "1", "default_action": "deny", "rules": []}


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def tree(folder: Path) -> dict[str, bytes | None]:
    """Every file (with its bytes) and folder under `folder`."""
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None) for p in sorted(folder.rglob("*"))}


def flat(text: str) -> str:
    """Whitespace-normalised text (rich wraps long stdout lines at the console width)."""
    return " ".join(text.split())


class Cli:
    def __init__(self, tmp_path: Path) -> None:
        self.root = tmp_path
        self.home = tmp_path / "home"
        self.user_home = tmp_path / "userhome"
        self.user_home.mkdir()
        self.env = {**os.environ, "MCP_ACP_HOME": str(self.home), "HOME": str(self.user_home)}
        for key in ("XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_RUNTIME_DIR", "APPDATA"):
            self.env.pop(key, None)

    @property
    def config_dir(self) -> Path:
        return self.home / "config"

    @property
    def manager_json(self) -> Path:
        return self.config_dir / "manager.json"

    def proxy_dir(self, name: str) -> Path:
        return self.config_dir / "proxies" / name

    def run(self, *args: str, cwd: Path | None = None, check: bool = False) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [str(MCP_ACP), *args],
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
            cwd=cwd or self.root,
        )
        if check:
            assert result.returncode == 0, (
                f"mcp-acp {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
            )
            assert "Traceback" not in result.stderr, result.stderr
        return result

    def init(self) -> None:
        self.run("init", "--auth", "local", check=True)

    def add(
        self, name: str, *, server_name: str = "backend", command: str = "/bin/cat", args: tuple[str, ...] = ()
    ) -> subprocess.CompletedProcess:
        argv = ["proxy", "add", name, "--server-name", server_name, "--command", command]
        for arg in args:
            argv += ["--arg", arg]
        return self.run(*argv, check=True)


@pytest.fixture
def acp(tmp_path: Path) -> Cli:
    return Cli(tmp_path)


@pytest.fixture
def ready(acp: Cli) -> Cli:
    """`init --auth local` already done."""
    acp.init()
    return acp


def assert_clean_failure(result: subprocess.CompletedProcess, *fragments: str) -> str:
    """Non-zero exit, exactly one 'Error:' line on stderr holding every fragment, no traceback."""
    assert result.returncode != 0, f"expected a failure:\n{result.stdout}\n{result.stderr}"
    assert result.returncode == 1
    assert "Traceback" not in result.stderr, result.stderr
    assert "Traceback" not in result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected a one-line error, got:\n{result.stderr}"
    message = lines[0]
    assert message.startswith("Error: "), message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def printed_json(stdout: str) -> dict:
    """The JSON document printed at the end of stdout (after the human text)."""
    start = stdout.index("{") if stdout.startswith("{") else stdout.index("\n{") + 1
    return json.loads(stdout[start:])


# --- version and init ------------------------------------------------------------------------


def test_version(acp: Cli) -> None:
    result = acp.run("--version", check=True)
    assert re.fullmatch(r"mcp-acp, version \d+\.\d+\.\d+\S*", result.stdout.strip())
    assert not acp.home.exists()


def test_init_local(acp: Cli) -> None:
    result = acp.run("init", "--auth", "local", check=True)
    assert acp.manager_json.is_file()
    assert mode_of(acp.manager_json) == 0o600
    assert mode_of(acp.config_dir) == 0o700
    data = json.loads(acp.manager_json.read_text())
    assert data["auth"]["mode"] == "local"
    assert "oidc" not in data["auth"]
    assert Path(data["log_dir"]) == acp.home / "logs"
    assert "Mode: local" in flat(result.stdout)
    assert str(acp.manager_json) in "".join(result.stdout.split())


def test_init_oidc_records_the_flags(acp: Cli) -> None:
    result = acp.run(
        "init",
        "--auth",
        "oidc",
        "--oidc-issuer",
        "https://idp.example.com",
        "--oidc-client-id",
        "client-123",
        "--oidc-audience",
        "https://api.example.com",
        check=True,
    )
    data = json.loads(acp.manager_json.read_text())
    assert data["auth"]["mode"] == "oidc"
    assert data["auth"]["oidc"]["issuer"] == "https://idp.example.com"
    assert data["auth"]["oidc"]["client_id"] == "client-123"
    assert data["auth"]["oidc"]["audience"] == "https://api.example.com"
    assert mode_of(acp.manager_json) == 0o600
    assert "Mode: oidc" in flat(result.stdout)


def test_init_oidc_with_http_issuer_fails(acp: Cli) -> None:
    result = acp.run(
        "init",
        "--auth",
        "oidc",
        "--oidc-issuer",
        "http://idp.example.com",
        "--oidc-client-id",
        "c",
        "--oidc-audience",
        "a",
    )
    assert_clean_failure(result, "issuer", "https://")
    assert not acp.manager_json.exists()


def test_init_oidc_missing_flag_names_it(acp: Cli) -> None:
    result = acp.run("init", "--auth", "oidc", "--oidc-issuer", "https://idp.example.com", "--oidc-audience", "a")
    assert_clean_failure(result, "--oidc-client-id")
    assert not acp.manager_json.exists()


def test_init_twice_without_force_keeps_file(acp: Cli) -> None:
    acp.init()
    before = acp.manager_json.read_bytes()
    stamp = acp.manager_json.stat().st_mtime_ns
    result = acp.run(
        "init",
        "--auth",
        "oidc",
        "--oidc-issuer",
        "https://idp.example.com",
        "--oidc-client-id",
        "c",
        "--oidc-audience",
        "a",
    )
    assert_clean_failure(result, str(acp.manager_json), "already exists", "--force")
    assert acp.manager_json.read_bytes() == before
    assert acp.manager_json.stat().st_mtime_ns == stamp
    assert sorted(p.name for p in acp.config_dir.iterdir()) == ["manager.json"]


def test_init_force_overwrites(acp: Cli) -> None:
    acp.init()
    acp.run(
        "init",
        "--auth",
        "oidc",
        "--oidc-issuer",
        "https://idp.example.com",
        "--oidc-client-id",
        "c",
        "--oidc-audience",
        "a",
        "--force",
        check=True,
    )
    assert json.loads(acp.manager_json.read_text())["auth"]["mode"] == "oidc"


def test_init_without_auth_and_terminal_names_the_flag(acp: Cli) -> None:
    result = acp.run("init")
    assert_clean_failure(result, "--auth")
    assert not acp.manager_json.exists()


# --- proxy add -------------------------------------------------------------------------------


def test_proxy_add_before_init_says_run_init(acp: Cli) -> None:
    result = acp.run("proxy", "add", "files", "--server-name", "fs", "--command", "/bin/cat")
    assert_clean_failure(result, "mcp-acp init")
    assert not acp.proxy_dir("files").exists()


def test_proxy_add_stdio(ready: Cli) -> None:
    result = ready.add("files", server_name="My Files", command="/usr/bin/env", args=("a", "b"))
    config_path = ready.proxy_dir("files") / "config.json"
    policy_path = ready.proxy_dir("files") / "policy.json"
    config = json.loads(config_path.read_text())
    assert PROXY_ID.fullmatch(config["proxy_id"])
    assert config["proxy_id"].endswith(":my-files")
    assert config["backend"]["server_name"] == "My Files"
    assert config["backend"]["transport"] == "stdio"
    assert config["backend"]["stdio"] == {"command": "/usr/bin/env", "args": ["a", "b"]}
    assert "http" not in config["backend"]
    assert json.loads(policy_path.read_text()) == DENY_ALL
    for path in (config_path, policy_path):
        assert mode_of(path) == 0o600
    assert mode_of(ready.proxy_dir("files")) == 0o700

    out = flat(result.stdout)
    assert config["proxy_id"] in out
    unwrapped = "".join(result.stdout.split())  # rich may break a long path across lines
    assert str(config_path) in unwrapped and str(policy_path) in unwrapped
    snippet = printed_json(result.stdout)
    entry = snippet["mcpServers"]["files"]
    assert Path(entry["command"]).is_absolute()
    assert entry["command"] == str(MCP_ACP)
    assert entry["args"] == ["start", "--proxy", "files"]


@pytest.mark.parametrize("command", ["./bin/server", "bin/server", "../outside/server"])
def test_proxy_add_relative_command_is_stored_absolute(ready: Cli, command: str) -> None:
    ready.add("rel", command=command)
    stored = json.loads((ready.proxy_dir("rel") / "config.json").read_text())["backend"]["stdio"]["command"]
    assert Path(stored).is_absolute()
    assert Path(stored) == (ready.root / command).absolute()


def test_proxy_add_bare_command_is_left_for_path_lookup(ready: Cli) -> None:
    ready.add("bare", command="npx", args=("-y", "pkg"))
    stdio = json.loads((ready.proxy_dir("bare") / "config.json").read_text())["backend"]["stdio"]
    assert stdio == {"command": "npx", "args": ["-y", "pkg"]}


def test_proxy_add_tilde_command_is_expanded(ready: Cli) -> None:
    ready.add("tilde", command="~/bin/server")
    stored = json.loads((ready.proxy_dir("tilde") / "config.json").read_text())["backend"]["stdio"]["command"]
    assert stored == str(ready.user_home / "bin" / "server")


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("bad name", "invalid proxy name"),
        ("_hidden", "invalid proxy name"),
        (".dot", "invalid proxy name"),
        ("../escape", "invalid proxy name"),
        ("x" * 65, "invalid proxy name"),
        ("manager", "reserved"),
        ("ALL", "reserved"),
        ("Default", "reserved"),
    ],
)
def test_proxy_add_invalid_name(ready: Cli, name: str, fragment: str) -> None:
    before = tree(ready.root)
    result = ready.run("proxy", "add", name, "--server-name", "s", "--command", "/bin/cat")
    assert_clean_failure(result, fragment)
    assert tree(ready.root) == before


def test_proxy_add_duplicate_name(ready: Cli) -> None:
    ready.add("files", command="/bin/cat")
    before = tree(ready.root)
    result = ready.run("proxy", "add", "files", "--server-name", "other", "--command", "/bin/echo")
    assert_clean_failure(result, "'files' already exists")
    assert tree(ready.root) == before


def test_proxy_add_without_command_or_url_names_the_flags(ready: Cli) -> None:
    before = tree(ready.root)
    result = ready.run("proxy", "add", "files", "--server-name", "fs")
    assert_clean_failure(result, "--command", "--url")
    assert tree(ready.root) == before


def test_proxy_add_unreachable_url_warns_but_saves(ready: Cli) -> None:
    url = f"http://127.0.0.1:{closed_port()}/mcp"
    result = ready.run("proxy", "add", "web", "--server-name", "web", "--url", url, check=True)
    err = flat(result.stderr)
    assert "Warning:" in err
    assert f"{url} did not answer" in err
    config = json.loads((ready.proxy_dir("web") / "config.json").read_text())
    assert config["backend"]["transport"] == "streamablehttp"
    assert config["backend"]["http"]["url"] == url
    assert "stdio" not in config["backend"]
    assert json.loads((ready.proxy_dir("web") / "policy.json").read_text()) == DENY_ALL


@pytest.mark.parametrize(
    "url", ["notaurl", "example.com/mcp", "ftp://host/mcp", "http://", "https:///mcp", "http://host:port/mcp"]
)
def test_proxy_add_url_that_is_not_a_url_says_what_to_pass(ready: Cli, url: str) -> None:
    before = tree(ready.root)
    message = assert_clean_failure(
        ready.run("proxy", "add", "web", "--url", url), f"--url {url!r}", "http:// or https:// URL such as"
    )
    assert "pattern" not in message and "field" not in message  # no pydantic wording
    assert tree(ready.root) == before


def test_proxy_add_missing_command_warns_with_the_fix(ready: Cli) -> None:
    result = ready.run("proxy", "add", "typo", "--command", "no-such-mcp-server-xyz", check=True)
    err = flat(result.stderr)
    assert err.startswith("Warning: backend command 'no-such-mcp-server-xyz' was not found on PATH"), err
    assert "install it first" in err and "full path with --command" in err
    assert "Traceback" not in err
    # Saved, as an unreachable URL is (it may be installed later): `start` reports it again.
    assert ready.proxy_dir("typo").joinpath("config.json").exists()


def test_proxy_add_missing_command_path_warns(ready: Cli) -> None:
    result = ready.run("proxy", "add", "gone", "--command", "./bin/server", check=True)
    err = flat(result.stderr)
    assert f"backend command '{ready.root / 'bin' / 'server'}' was not found or is not executable" in err


def test_proxy_add_command_found_on_path_gives_no_warning(ready: Cli) -> None:
    """An `npx`-style bare name is looked up on PATH, as `start` does, and is accepted quietly."""
    folder = ready.root / "tools"
    folder.mkdir()
    npx = folder / "npx"
    npx.write_text("#!/bin/sh\nexit 0\n")
    npx.chmod(0o755)
    ready.env["PATH"] = f"{folder}{os.pathsep}{ready.env['PATH']}"
    result = ready.run("proxy", "add", "npx", "--command", "npx", "--arg", "-y", "--arg", "pkg", check=True)
    assert "Warning" not in result.stderr, result.stderr
    stdio = json.loads((ready.proxy_dir("npx") / "config.json").read_text())["backend"]["stdio"]
    assert stdio == {"command": "npx", "args": ["-y", "pkg"]}


def test_proxy_add_command_that_is_not_executable_warns(ready: Cli) -> None:
    script = ready.root / "server.sh"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o644)
    result = ready.run("proxy", "add", "noexec", "--command", str(script), check=True)
    assert "not executable" in flat(result.stderr)


# --- proxy list / show -------------------------------------------------------------------------


def test_proxy_list(ready: Cli) -> None:
    empty = ready.run("proxy", "list", check=True)
    assert "No proxies yet" in flat(empty.stdout)
    ready.add("alpha", server_name="Alpha", command="/bin/cat")
    ready.add("beta", server_name="beta-srv", command="/bin/echo", args=("hi",))
    result = ready.run("proxy", "list", check=True)
    for text in ("alpha", "beta", "Alpha", "beta-srv", "/bin/echo hi"):
        assert text in result.stdout
    ids = {json.loads((ready.proxy_dir(n) / "config.json").read_text())["proxy_id"] for n in ("alpha", "beta")}
    for proxy_id in ids:
        assert proxy_id in result.stdout


def test_proxy_show_json(ready: Cli) -> None:
    ready.add("files", server_name="fs", command="/bin/cat")
    result = ready.run("proxy", "show", "files", "--json", check=True)
    details = json.loads(result.stdout)
    assert {"name", "proxy_id", "config_path", "policy_path", "log_dir"} <= details.keys()
    assert details["name"] == "files"
    assert PROXY_ID.fullmatch(details["proxy_id"])
    assert details["config_path"] == str(ready.proxy_dir("files") / "config.json")
    assert details["policy_path"] == str(ready.proxy_dir("files") / "policy.json")
    log_dir = Path(details["log_dir"])
    assert log_dir.is_relative_to(ready.home)
    assert log_dir.parts[-2:] == ("proxies", "files")


def test_proxy_show_human(ready: Cli) -> None:
    ready.add("files", server_name="fs", command="/bin/cat", args=("x",))
    result = ready.run("proxy", "show", "files", check=True)
    assert "files" in result.stdout and "/bin/cat x" in result.stdout


def test_proxy_roots_from_the_flag_and_the_filesystem_server_command_line(ready: Cli, tmp_path: Path) -> None:
    """Relative paths are judged against the server's roots: `--root` stores them, and the
    official filesystem server's folders are found on its command line; `proxy show` says so."""
    result = ready.run(
        "proxy",
        "add",
        "notes",
        "--server-name",
        "notes",
        "--command",
        "/bin/cat",
        "--root",
        str(tmp_path / "notes"),
        check=True,
    )
    assert json.loads((ready.proxy_dir("notes") / "config.json").read_text())["roots"] == [str(tmp_path / "notes")]
    ready.add(
        "fs",
        server_name="fs",
        command="npx",
        args=("-y", "@modelcontextprotocol/server-filesystem", "/srv/a", "/srv/b"),
    )
    assert json.loads(ready.run("proxy", "show", "fs", "--json", check=True).stdout)["roots"] == ["/srv/a", "/srv/b"]
    shown = ready.run("proxy", "show", "notes", check=True).stdout
    assert str(tmp_path / "notes") in "".join(shown.split())  # folded across lines, never cut
    ready.add("files")
    assert "none known" in ready.run("proxy", "show", "files", check=True).stdout
    result = ready.run("proxy", "add", "rel", "--server-name", "rel", "--command", "/bin/cat", "--root", "notes")
    assert_clean_failure(result, "must be an absolute folder")


def test_proxy_show_unknown_lists_configured(ready: Cli) -> None:
    ready.add("alpha")
    ready.add("beta")
    result = ready.run("proxy", "show", "nope")
    assert_clean_failure(result, "'nope'", "alpha, beta")


# --- hand-broken config.json ------------------------------------------------------------------------

BROKEN = {
    "invalid-json": ('{\n  "proxy_id": "px_0123abcd:fs",\n  "backend": \n}\n', ["not valid JSON", "line 4, column 1"]),
    "unknown-field": (None, ["field 'log_levl'", "unknown field"]),
    "bad-type": (None, ["field 'hitl.timeout_seconds'", "integer"]),
}


def _break(config_path: Path, case: str) -> bytes:
    if case == "invalid-json":
        data = BROKEN[case][0].encode()
    elif case == "non-utf8":
        data = b'{"proxy_id": "px_0123abcd:caf\xe9"}'
    else:
        config = json.loads(config_path.read_text())
        if case == "unknown-field":
            config["log_levl"] = "DEBUG"
        else:
            config["hitl"] = {"timeout_seconds": "soon"}
        data = json.dumps(config, indent=2).encode()
    config_path.write_bytes(data)
    return data


@pytest.mark.parametrize(
    "command", [("proxy", "show", "files"), ("proxy", "show", "files", "--json"), ("start", "--proxy", "files")]
)
@pytest.mark.parametrize("case", list(BROKEN))
def test_broken_config_fails_clearly(ready: Cli, case: str, command: tuple[str, ...]) -> None:
    ready.add("files", server_name="fs", command="/bin/cat")
    config_path = ready.proxy_dir("files") / "config.json"
    data = _break(config_path, case)
    result = ready.run(*command)
    assert_clean_failure(result, str(config_path), *BROKEN[case][1])
    assert config_path.read_bytes() == data


@pytest.mark.parametrize("command", [("proxy", "show", "files"), ("start", "--proxy", "files")])
def test_non_utf8_config_fails_clearly(ready: Cli, command: tuple[str, ...]) -> None:
    ready.add("files", server_name="fs", command="/bin/cat")
    config_path = ready.proxy_dir("files") / "config.json"
    data = _break(config_path, "non-utf8")
    result = ready.run(*command)
    assert_clean_failure(result, str(config_path))
    assert config_path.read_bytes() == data


def test_proxy_list_survives_a_broken_config(ready: Cli) -> None:
    ready.add("good")
    ready.add("files")
    config_path = ready.proxy_dir("files") / "config.json"
    data = _break(config_path, "unknown-field")
    result = ready.run("proxy", "list", check=True)
    assert "good" in result.stdout
    assert "invalid config" in result.stdout
    assert config_path.read_bytes() == data


def test_broken_manager_json_fails_clearly(ready: Cli) -> None:
    ready.add("files")
    ready.manager_json.write_text('{"ui_port": 80}')
    result = ready.run("proxy", "show", "files")
    assert_clean_failure(result, str(ready.manager_json), "field 'ui_port'")
    assert ready.manager_json.read_text() == '{"ui_port": 80}'


# --- start ----------------------------------------------------------------------------------------


def test_start_without_proxy_lists_configured(ready: Cli) -> None:
    none_yet = ready.run("start")
    assert_clean_failure(none_yet, "--proxy", "none")
    ready.add("alpha")
    ready.add("beta")
    result = ready.run("start")
    assert_clean_failure(result, "--proxy NAME", "alpha, beta")


def test_start_unknown_proxy(ready: Cli) -> None:
    ready.add("alpha")
    result = ready.run("start", "--proxy", "nope")
    assert_clean_failure(result, "'nope'", "alpha")


def test_start_with_invalid_name_writes_nothing(ready: Cli) -> None:
    ready.add("files")  # <config>/proxies exists, so <config>/proxies/.. resolves
    before = tree(ready.home)
    result = ready.run("start", "--proxy", "..")
    assert_clean_failure(result, "invalid proxy name")
    assert tree(ready.home) == before


# --- install mcp-json ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("client", "key", "type_"),
    [
        ("claude-desktop", "mcpServers", None),
        ("cursor", "mcpServers", None),
        ("vscode", "servers", "stdio"),
        ("claude-code", "mcpServers", "stdio"),
    ],
)
def test_install_mcp_json_prints_snippet(ready: Cli, client: str, key: str, type_: str | None) -> None:
    ready.add("alpha")
    ready.add("beta")
    before = tree(ready.root)
    result = ready.run("install", "mcp-json", "--client", client, check=True)
    snippet = json.loads(result.stdout)
    assert list(snippet) == [key]
    assert sorted(snippet[key]) == ["alpha", "beta"]
    for name, entry in snippet[key].items():
        assert entry["args"] == ["start", "--proxy", name]
        assert Path(entry["command"]).is_absolute()
        assert entry["command"] == str(MCP_ACP)
        if type_ is None:
            assert "type" not in entry
        else:
            assert entry["type"] == type_
    assert tree(ready.root) == before  # printing writes nothing


def test_install_mcp_json_single_proxy(ready: Cli) -> None:
    ready.add("alpha")
    ready.add("beta")
    result = ready.run("install", "mcp-json", "--proxy", "beta", check=True)
    assert list(json.loads(result.stdout)["mcpServers"]) == ["beta"]


def test_install_mcp_json_unknown_proxy(ready: Cli) -> None:
    ready.add("alpha")
    assert_clean_failure(ready.run("install", "mcp-json", "--proxy", "nope"), "'nope'", "alpha")


def test_install_mcp_json_without_proxies(ready: Cli) -> None:
    assert_clean_failure(ready.run("install", "mcp-json"), "mcp-acp proxy add")


def test_install_write_cursor_creates_file(ready: Cli) -> None:
    ready.add("files")
    ready.run("install", "mcp-json", "--client", "cursor", "--write", check=True)
    target = ready.user_home / ".cursor" / "mcp.json"
    data = json.loads(target.read_text())
    assert data == {
        "mcpServers": {
            "files": {
                "command": str(MCP_ACP),
                "args": ["start", "--proxy", "files"],
                "env": {"MCP_ACP_HOME": str(ready.home)},
            }
        }
    }
    assert not list(target.parent.glob("mcp.json.bak.*"))


def test_install_write_cursor_merges_and_backs_up(ready: Cli) -> None:
    ready.add("files")
    target = ready.user_home / ".cursor" / "mcp.json"
    target.parent.mkdir()
    original = {"mcpServers": {"other": {"command": "/usr/bin/other", "args": ["--x"]}}, "theme": "dark"}
    original_bytes = json.dumps(original, indent=4).encode()
    target.write_bytes(original_bytes)
    result = ready.run("install", "mcp-json", "--client", "cursor", "--write", check=True)
    data = json.loads(target.read_text())
    assert data["mcpServers"]["other"] == original["mcpServers"]["other"]
    assert data["theme"] == "dark"
    assert data["mcpServers"]["files"] == {
        "command": str(MCP_ACP),
        "args": ["start", "--proxy", "files"],
        "env": {"MCP_ACP_HOME": str(ready.home)},
    }
    backups = list(target.parent.glob("mcp.json.bak.*"))
    assert len(backups) == 1
    assert backups[0].read_bytes() == original_bytes
    assert "Backed up" in flat(result.stdout)


def test_install_write_replaces_our_own_stale_entry(ready: Cli) -> None:
    ready.add("files")
    target = ready.user_home / ".cursor" / "mcp.json"
    target.parent.mkdir()
    target.write_text(
        json.dumps({"mcpServers": {"files": {"command": "/old/mcp-acp", "args": ["start", "--proxy", "files"]}}})
    )
    ready.run("install", "mcp-json", "--client", "cursor", "--write", check=True)
    assert json.loads(target.read_text())["mcpServers"]["files"]["command"] == str(MCP_ACP)


def test_install_write_never_overwrites_an_existing_backup(ready: Cli) -> None:
    ready.add("files")
    target = ready.user_home / ".cursor" / "mcp.json"
    target.parent.mkdir()
    target.write_text('{"mcpServers": {}}')
    now = datetime.now()
    sentinels = {}
    for offset in range(-2, 40):  # every name the run could pick in the next ~40 s
        backup = target.with_name(f"mcp.json.bak.{now + timedelta(seconds=offset):%Y%m%d-%H%M%S}")
        backup.write_text(f"earlier backup {offset}")
        sentinels[backup] = backup.read_bytes()
    ready.run("install", "mcp-json", "--client", "cursor", "--write", check=True)
    for backup, data in sentinels.items():
        assert backup.read_bytes() == data, f"{backup.name} was overwritten"


@pytest.mark.parametrize("content", ['{"mcpServers": {"other": ', "[1, 2, 3]"])
def test_install_write_refuses_invalid_target(ready: Cli, content: str) -> None:
    ready.add("files")
    target = ready.user_home / ".cursor" / "mcp.json"
    target.parent.mkdir()
    target.write_text(content)
    before = tree(target.parent)
    result = ready.run("install", "mcp-json", "--client", "cursor", "--write")
    assert_clean_failure(result, str(target), "Nothing was changed")
    assert target.read_text() == content
    assert tree(target.parent) == before


@pytest.mark.parametrize(
    ("client", "relative", "key"),
    [
        ("claude-code", ".mcp.json", "mcpServers"),
        ("vscode", ".vscode/mcp.json", "servers"),
    ],
)
def test_install_write_project_clients_use_cwd(ready: Cli, client: str, relative: str, key: str) -> None:
    ready.add("files")
    project = ready.root / "project"
    project.mkdir()
    ready.run("install", "mcp-json", "--client", client, "--write", cwd=project, check=True)
    target = project / relative
    data = json.loads(target.read_text())
    assert data == {
        key: {
            "files": {
                "type": "stdio",
                "command": str(MCP_ACP),
                "args": ["start", "--proxy", "files"],
                "env": {"MCP_ACP_HOME": str(ready.home)},
            }
        }
    }
    assert not (ready.user_home / relative).exists()


@pytest.mark.parametrize(("client", "folder"), [("claude-code", "."), ("vscode", ".vscode")])
def test_install_write_keeps_project_folder_permissions(ready: Cli, client: str, folder: str) -> None:
    ready.add("files")
    project = ready.root / "project"
    (project / ".vscode").mkdir(parents=True)
    os.chmod(project, 0o755)
    os.chmod(project / ".vscode", 0o755)
    ready.run("install", "mcp-json", "--client", client, "--write", cwd=project, check=True)
    assert mode_of(project / folder) == 0o755


def test_install_snippet_without_custom_home_has_no_env(tmp_path: Path) -> None:
    """The default home needs no env entry; MCP_ACP_HOME is only passed on when it is set."""
    env = {k: v for k, v in os.environ.items() if k != "MCP_ACP_HOME"}
    env["HOME"] = str(tmp_path)
    env["XDG_CONFIG_HOME"] = str(tmp_path / "cfg")

    def run(*a):
        return subprocess.run(
            [str(MCP_ACP), *a],
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )

    run("init", "--auth", "local")
    run("proxy", "add", "files", "--server-name", "fs", "--command", "true")
    data = json.loads(run("install", "mcp-json", "--proxy", "files").stdout)
    assert data == {"mcpServers": {"files": {"command": str(MCP_ACP), "args": ["start", "--proxy", "files"]}}}
    assert (tmp_path / "cfg" / "mcp-acp" / "proxies" / "files" / "config.json").is_file()
