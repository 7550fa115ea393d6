"""A secret environment value reaches its backend and appears nowhere else (issue 19).

One real session: `mcp-acp proxy add --secret-env` (the value on standard input), a second secret
through the manager's API as the UI sends it, the proxy started by a client (registered with a
real manager daemon), allowed and denied calls, `proxy show`, `proxy env --list`, every manager
API answer about the proxy, the process list, and after the session every file under the home
(config, logs, audit, debug wire logs, the encrypted secret store), then again after `proxy
delete` made an archive. The secrets are random per run and carry characters that JSON escapes,
so the raw value, its JSON-escaped form and its random core are all looked for.

The backend proves it got the value by answering its SHA-256 (tests/fixtures/env_server.py), not
the value itself: a tool result that echoed the secret would be recorded as a payload, by design.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from mcp_acp.audit.log_query import LOG_FILES
from tests.support.config import HIGH_LIMITS, proxy_config_dir
from tests.support.config import home as in_home
from tests.support.manager import MANAGER_TIMEOUT, ManagerHome
from tests.support.processes import ROOT, wait_until_async

ENV_SERVER = str(ROOT / "tests" / "fixtures" / "env_server.py")
POLICY_DENIED = -32001
POLICY = {
    "rules": [
        {"id": "digest-ok", "effect": "allow", "conditions": {"tool_name": "env_digest"}},
        {"id": "no-environment", "effect": "deny", "conditions": {"tool_name": "environment"}},
    ]
}


class Secret:
    """A random value with a quote and a backslash (JSON escapes both): each form is searched for."""

    def __init__(self, label: str) -> None:
        self.core = secrets.token_hex(16)
        self.value = f'{label}"{self.core}\\end'

    @property
    def forms(self) -> list[bytes]:
        return [self.value.encode(), json.dumps(self.value)[1:-1].encode(), self.core.encode()]

    def digest(self) -> str:
        return hashlib.sha256(self.value.encode()).hexdigest()

    def found_in(self, data: bytes) -> bool:
        return any(form in data for form in self.forms)


@pytest.fixture
async def home(tmp_path):
    home = ManagerHome(tmp_path)
    try:
        yield home
    finally:
        await home.aclose()
        print(home.diagnostics())


def file_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    if path.suffix == ".gz":  # rotated logs are compressed: look inside them too
        with contextlib.suppress(OSError, EOFError):
            data += gzip.decompress(data)
    return data


def leaks_in_tree(root: Path, secret_values: list[Secret]) -> list[str]:
    found = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            data = file_bytes(path)
            found += [f"{path} holds {s.value!r}" for s in secret_values if s.found_in(data)]
    return found


def process_list() -> bytes:
    """What any local user can read: `ps -eo args` and every /proc/<pid>/cmdline."""
    listing = subprocess.run(["ps", "-eo", "args"], capture_output=True, check=True).stdout
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            listing += b"\n" + cmdline.read_bytes().replace(b"\0", b" ")
        except OSError:
            continue  # gone meanwhile
    return listing


def environ_of_descendants(pid: int) -> list[bytes]:
    import psutil

    found = []
    for child in psutil.Process(pid).children(recursive=True):
        try:
            found.append(Path(f"/proc/{child.pid}/environ").read_bytes())
        except OSError:
            continue
    return found


async def test_a_secret_env_value_reaches_the_backend_and_nothing_else(home: ManagerHome):
    first, second = Secret("cli-secret"), Secret("ui-secret")
    both = [first, second]

    # Set by the CLI, the value on standard input (never an argument).
    added = subprocess.run(
        [
            str(Path(sys.executable).parent / "mcp-acp"),
            "proxy",
            "add",
            "sx",
            "--command",
            sys.executable,
            "--arg",
            ENV_SERVER,
            "--env",
            "PLAIN=visible",
            "--secret-env",
            "FIRST_TOKEN",
        ],
        env=home.env,
        input=first.value + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert added.returncode == 0, added.stderr
    outputs = [added.stdout + added.stderr]
    folder = proxy_config_dir(home.env, "sx")
    (folder / "policy.json").write_text(json.dumps(POLICY))
    config = json.loads((folder / "config.json").read_text())
    config.update(limits=HIGH_LIMITS, log_level="DEBUG", include_payloads=True)  # every log there is, payloads too
    (folder / "config.json").write_text(json.dumps(config))

    home.start_manager()
    proxy_id = home.proxy_id("sx")

    # Set through the manager's API, as the UI's Config tab sends it.
    put = home.tcp(
        "PUT", f"/api/manager/proxies/{proxy_id}/env/SECOND_TOKEN", json={"value": second.value, "secret": True}
    )
    assert put.status_code == 200, put.text
    outputs.append(put.text)

    proxy = await home.start_proxy("sx")
    await wait_until_async(home.registered("sx"), MANAGER_TIMEOUT, "sx registered")
    for secret, variable in ((first, "FIRST_TOKEN"), (second, "SECOND_TOKEN")):
        answer = await proxy.call_tool("env_digest", {"name": variable})
        assert answer["result"]["content"][0]["text"] == secret.digest(), answer  # it reached the backend
    denied = await proxy.call_tool("environment", {})
    assert denied["error"]["code"] == POLICY_DENIED, denied
    unlisted = await proxy.call_tool("echo", {"text": "hello"})
    assert unlisted["error"]["code"] == POLICY_DENIED, unlisted

    # The backend process holds them (positive control: the search below can find them).
    assert any(first.found_in(environ) for environ in environ_of_descendants(proxy.process.pid))

    # The process list, while everything runs.
    running = process_list()
    assert not [s.value for s in both if s.found_in(running)], "a secret is on a command line"

    # Every answer the UI can get about the proxy.
    paths = [
        "/api/manager/proxies",
        f"/api/manager/proxies/{proxy_id}",
        f"/api/manager/proxies/{proxy_id}/config",
        f"/api/manager/proxies/{proxy_id}/config/compare",
        f"/api/manager/proxies/{proxy_id}/env",
        f"/api/manager/proxies/{proxy_id}/policy",
        f"/api/manager/proxies/{proxy_id}/logs/metadata",
        "/api/manager/status",
        "/api/proxy/sx/proxies",
        *(f"/api/manager/proxies/{proxy_id}/logs/{kind}?time_range=all&limit=1000" for kind in LOG_FILES),
    ]
    for path in paths:
        response = home.tcp("GET", path)
        assert response.status_code in (200, 404), (path, response.text)
        outputs.append(f"{path}: {response.text}")
    listing = home.tcp("GET", f"/api/manager/proxies/{proxy_id}/env").json()
    assert {item["name"] for item in listing["secret_env"]} == {"FIRST_TOKEN", "SECOND_TOKEN"}

    # What the CLI shows.
    for args in (("proxy", "show", "sx"), ("proxy", "show", "sx", "--json"), ("proxy", "env", "sx", "--list")):
        result = home.cli(*args, check=True)
        outputs.append(result.stdout + result.stderr)
    code, stderr = await proxy.finish(timeout=60)
    assert code == 0, stderr
    outputs.append(stderr)
    for args in (("audit", "verify"), ("logs", "list"), ("logs", "show", "--proxy", "sx", "--type", "operations")):
        result = home.cli(*args)
        outputs.append(result.stdout + result.stderr)

    leaked = [f"{s.value!r} in: {text[:300]!r}" for text in outputs for s in both if s.found_in(text.encode())]
    assert not leaked, leaked

    # Every file under the test's root: MCP_ACP_HOME (config, logs, audit, debug wire logs, the
    # encrypted secret store), HOME, and the proxy's and manager's stderr.
    assert (home.home / "config" / "secrets.enc").exists()
    logs = b"".join(file_bytes(p) for p in (home.home / "logs").rglob("*") if p.is_file())
    assert list((home.home / "logs").rglob("backend_wire.jsonl")), "no debug wire log: the search would miss them"
    # Positive control: the backend's answers are logged, so an echoed secret would be found.
    assert first.digest().encode() in logs and b"env_digest" in logs
    assert not leaks_in_tree(home.root, both)

    # Deleted: the archive has the config and logs, and no secret; the store forgets the values.
    deleted = home.cli("proxy", "delete", "--proxy", "sx", "--yes", check=False)
    assert deleted.returncode == 0, deleted.stdout + deleted.stderr
    assert not [s.value for s in both if s.found_in((deleted.stdout + deleted.stderr).encode())]
    archives = list((home.home / "config" / "archive").iterdir())
    assert len(archives) == 1 and (archives[0] / "config" / "config.json").exists()
    assert not leaks_in_tree(home.root, both)
    from mcp_acp import secret_store
    from mcp_acp.backends.child_env import secret_env_key

    with in_home(home.env):
        assert secret_store.get(secret_env_key("sx", "FIRST_TOKEN")) is None
        assert secret_store.get(secret_env_key("sx", "SECOND_TOKEN")) is None
