"""A STDIO backend's environment, end to end: `mcp-acp proxy add/env` set it, a real proxy
(`mcp-acp start --headless`) starts tests/fixtures/env_server.py with it, and the server reports
what it got. It gets the base (PATH, HOME, locale …) plus its configured values and secrets,
and nothing else of the environment the client started the proxy with."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from mcp_acp.backends.child_env import BASE_PREFIXES, BASE_VARIABLES
from tests.support.config import allow_everything, proxy_config_dir
from tests.support.processes import ROOT
from tests.support.proxies import RawProxy

ENV_SERVER = str(ROOT / "tests" / "fixtures" / "env_server.py")
MARKER = "MCP_ACP_TEST_CLIENT_ONLY_MARKER"


def add_env_proxy(cli, env: dict, name: str, *extra: str, stdin: str = "") -> None:
    result = cli("proxy", "add", name, "--command", sys.executable, "--arg", ENV_SERVER, *extra, input=stdin)
    assert result.returncode == 0, result.stdout + result.stderr
    allow_everything(env, name)


async def backend_environment(env: dict, name: str) -> dict[str, str]:
    proxy = await RawProxy.start(env, name)
    try:
        await proxy.initialize()
        answer = await proxy.call_tool("environment", {}, timeout=60)
        assert "result" in answer, answer
        return json.loads(answer["result"]["content"][0]["text"])
    finally:
        code, stderr = await proxy.finish()
        assert code == 0, stderr
        await proxy.close()


def is_base(variable: str) -> bool:
    return variable in BASE_VARIABLES or variable.startswith(BASE_PREFIXES)


async def test_the_backend_gets_only_the_base_and_its_configured_environment(cli, acp_env):
    add_env_proxy(
        cli,
        acp_env,
        "envfx",
        "--env",
        "PLAIN=plain value",
        "--env",
        "URL=postgres://h/db?a=b",
        "--secret-env",
        "GITHUB_TOKEN",
        stdin="ghp_integration_secret\n",
    )
    client_env = {
        **acp_env,
        MARKER: "the client's own",
        "AWS_SECRET_ACCESS_KEY": "client-aws-key",
        "GITHUB_TOKEN": "the client's token",
        "LC_ALL": "C.UTF-8",
        "TZ": "UTC",
    }
    got = await backend_environment(client_env, "envfx")
    assert MARKER not in got and "AWS_SECRET_ACCESS_KEY" not in got
    assert "PYTHONPATH" not in got and "MCP_ACP_HOME" not in got  # the proxy's own settings stay with it
    assert got["PLAIN"] == "plain value" and got["URL"] == "postgres://h/db?a=b"
    assert got["GITHUB_TOKEN"] == "ghp_integration_secret"  # the store's, not the client's
    assert got["PATH"] == client_env["PATH"] and got["HOME"] == client_env["HOME"]
    assert got["LC_ALL"] == "C.UTF-8" and got["TZ"] == "UTC"
    extra = sorted(v for v in got if not is_base(v) and v not in ("PLAIN", "URL", "GITHUB_TOKEN"))
    assert extra == [], f"the backend got variables nobody configured: {extra}"


async def test_changes_with_proxy_env_apply_at_the_next_start(cli, acp_env):
    add_env_proxy(cli, acp_env, "envfx", "--env", "LEVEL=info")
    assert (await backend_environment(acp_env, "envfx"))["LEVEL"] == "info"
    assert cli("proxy", "env", "envfx", "--env", "LEVEL=debug", "--env", "NEW=1").returncode == 0
    changed = cli("proxy", "env", "envfx", "--secret-env", "API_TOKEN", input="second-secret\n")
    assert changed.returncode == 0, changed.stderr
    assert "second-secret" not in changed.stdout + changed.stderr
    got = await backend_environment(acp_env, "envfx")
    assert (got["LEVEL"], got["NEW"], got["API_TOKEN"]) == ("debug", "1", "second-secret")
    assert cli("proxy", "env", "envfx", "--unset", "NEW", "--unset", "API_TOKEN").returncode == 0
    got = await backend_environment(acp_env, "envfx")
    assert "NEW" not in got and "API_TOKEN" not in got and got["LEVEL"] == "debug"


async def test_a_secret_missing_from_the_store_stops_the_start_naming_the_fix(cli, acp_env):
    add_env_proxy(cli, acp_env, "envfx")
    path = proxy_config_dir(acp_env, "envfx") / "config.json"
    config = json.loads(path.read_text())
    config["backend"]["stdio"]["secret_env"] = ["GONE"]  # named, never stored
    path.write_text(json.dumps(config))
    proxy = await RawProxy.start(acp_env, "envfx")
    try:
        code, stderr = await proxy.finish(timeout=60)
    finally:
        await proxy.close()
    assert code != 0
    assert "mcp-acp proxy env envfx --secret-env GONE" in " ".join(stderr.split())


def words(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--env", "NOEQUALS"], "--env 'NOEQUALS' is not KEY=VALUE: write it as --env NOEQUALS=VALUE"),
        (["--env", "9LIVES=1"], "'9LIVES' is not a valid environment variable name"),
        (["--env", "A B=1"], "'A B' is not a valid environment variable name"),
        (["--secret-env", "BAD-NAME"], "--secret-env: 'BAD-NAME' is not a valid environment variable name"),
        (["--secret-env", "TOKEN"], "--secret-env TOKEN: no value on standard input"),
        (["--env", "A=1", "--secret-env", "A"], "A is given with both --env and --secret-env: keep one"),
    ],
)
def test_proxy_add_refuses_bad_environment_arguments(cli, acp_env, args, message):
    stdin = "x\n" if args[-2:] == ["--secret-env", "A"] else ""
    result = cli("proxy", "add", "envfx", "--command", sys.executable, "--arg", ENV_SERVER, *args, input=stdin)
    assert result.returncode == 1, result.stdout
    assert message in words(result.stderr) and "Traceback" not in result.stderr
    assert not proxy_config_dir(acp_env, "envfx").exists()  # nothing was saved


def test_an_http_only_proxy_has_no_environment(cli, acp_env):
    cli("proxy", "add", "web", "--url", "http://127.0.0.1:9/mcp", check=True)
    refused = cli("proxy", "env", "web", "--secret-env", "TOKEN", input="value\n")
    assert refused.returncode == 1 and "has no STDIO backend" in words(refused.stderr), refused.stderr
    assert "proxy auth web" in words(refused.stderr)
    add = cli("proxy", "add", "web2", "--url", "http://127.0.0.1:9/mcp", "--env", "A=1")
    assert add.returncode == 1 and "pass --command too" in words(add.stderr)


def test_show_and_list_never_print_a_secret_value(cli, acp_env):
    add_env_proxy(cli, acp_env, "envfx", "--env", "PLAIN=shown", "--secret-env", "TOKEN", stdin="never-printed\n")
    show = cli("proxy", "show", "envfx", check=True)
    as_json = cli("proxy", "show", "envfx", "--json", check=True)
    listing = cli("proxy", "env", "envfx", "--list", check=True)
    for result in (show, as_json, listing):
        assert "never-printed" not in result.stdout + result.stderr
        assert "TOKEN" in result.stdout and "shown" in result.stdout
    stdio = json.loads(as_json.stdout)["backend"]["stdio"]
    assert stdio["env"] == {"PLAIN": "shown"} and stdio["secret_env"] == ["TOKEN"]
    assert "never-printed" not in Path(proxy_config_dir(acp_env, "envfx") / "config.json").read_text()
