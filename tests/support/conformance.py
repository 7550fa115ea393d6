"""The official MCP conformance suite's server scenarios, run against a STDIO server behind the
`mcp-proxy` npm bridge, and their results read back check by check.

Both paths of the differential use the same bridge, so the only difference between them is
whether `mcp-acp start --proxy NAME --headless` sits between the bridge and the test server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from tests.support.processes import MCP_ACP, ROOT, ListeningProcess, free_port

CONFORMANCE_DIR = ROOT / "tests" / "conformance"
NODE_BIN = CONFORMANCE_DIR / "node_modules" / ".bin"
NODE = NODE_BIN / "node"
SUITE = NODE_BIN / "conformance"
BRIDGE = NODE_BIN / "mcp-proxy"
SERVER = ROOT / "tests" / "fixtures" / "conformance_server.py"
EXPECTED_FAILURES = CONFORMANCE_DIR / "expected-failures-server.yml"

ERAS = ("2025-11-25", "2026-07-28")
# The bridge speaks to its STDIO child in the client's era: the 2025 handshake for 2025 clients;
# for 2026-07-28 it probes with server/discover and falls back to the handshake (`auto`), as a
# dual-era client does.
UPSTREAM = {"2025-11-25": "legacy", "2026-07-28": "auto"}

# Statuses that say something about the server; INFO checks only log the traffic.
GRADED = ("SUCCESS", "FAILURE", "WARNING", "SKIPPED")
SUITE_TIMEOUT = 300

# An ordinary policy: the suite's tools by name, reads of its test:// resources, its prompts and
# completions. Not allow-all: anything else is denied by default.
CONFORMANCE_POLICY = {
    "rules": [
        {
            "id": "conformance-tools",
            "effect": "allow",
            "conditions": {"tool_name": ["test_*", "json_schema_2020_12_tool"]},
        },
        {
            "id": "conformance-resources",
            "effect": "allow",
            "conditions": {"mcp_method": "resources/*", "scheme": "test"},
        },
        {"id": "conformance-prompts", "effect": "allow", "conditions": {"mcp_method": "prompts/get"}},
        {"id": "conformance-completions", "effect": "allow", "conditions": {"mcp_method": "completion/complete"}},
        {"id": "conformance-log-level", "effect": "allow", "conditions": {"mcp_method": "logging/setLevel"}},
    ]
}
# The suite fires requests in bursts; the rate limits are not what is under test here.
HIGH_LIMITS = {"requests_per_second": 100000, "burst": 1000000, "tool_calls_per_window": 1000000}


def missing_tools() -> list[Path]:
    return [path for path in (NODE, SUITE, BRIDGE) if not path.exists()]


@dataclass(frozen=True)
class Check:
    scenario: str
    check: str  # the check's id, with "#n" for its n-th repeat within the scenario
    status: str
    message: str

    @property
    def key(self) -> str:
        return f"{self.scenario}/{self.check}"


def read_results(output_dir: Path) -> dict[str, dict[str, Check]]:
    """{scenario: {check: Check}} from the suite's `-o` folder (one `server-<scenario>-<time>/checks.json` each)."""
    results: dict[str, dict[str, Check]] = {}
    for checks_file in sorted(output_dir.glob("server-*/checks.json")):
        folder = checks_file.parent.name
        scenario = folder.removeprefix("server-").rsplit("-", 6)[0]  # drop the ISO timestamp's six dashes
        seen: Counter[str] = Counter()
        checks: dict[str, Check] = {}
        for entry in json.loads(checks_file.read_text(encoding="utf-8")):
            if entry.get("status") not in GRADED:
                continue
            seen[entry["id"]] += 1
            name = entry["id"] if seen[entry["id"]] == 1 else f"{entry['id']}#{seen[entry['id']]}"
            checks[name] = Check(scenario, name, entry["status"], str(entry.get("errorMessage") or ""))
        results[scenario] = checks
    return results


class Bridge(ListeningProcess):
    """`mcp-proxy` serving one STDIO command on streamable HTTP at a loopback port."""

    def __init__(self, command: list[str], era: str, env: dict[str, str], log: Path) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}/mcp"
        argv = [str(NODE), str(BRIDGE), "--host", "127.0.0.1", "--port", str(port), "--server", "stream"]
        super().__init__([*argv, "--upstreamProtocol", UPSTREAM[era], "--", *command], port, log, env)


class HttpServer(ListeningProcess):
    """The test server serving streamable HTTP itself (the mcp SDK's own transport, both eras), at
    a loopback port: no bridge, so nothing but the server's own HTTP front is measured."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}/mcp"
        super().__init__([*server_command(), "--http", str(port)], port, log, env)


def run_suite(
    url: str, era: str, output_dir: Path, env: dict[str, str], frozen: bool = False, scenario: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Every server scenario that applies to `era`, in one invocation; exits non-zero when any fails.
    `frozen`: exactly the scenarios the revision `era` requires, as frozen at its release
    (`--requirements`); `scenario`: that one only."""
    if scenario is not None:
        selection = ["--scenario", scenario, "--spec-version", era]
    elif frozen:
        selection = ["--requirements", era]
    else:
        selection = ["--suite", "all", "--spec-version", era]
    return subprocess.run(
        [str(NODE), str(SUITE), "server", "--url", url, *selection, "--output-dir", str(output_dir)],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=SUITE_TIMEOUT,
    )


def server_command() -> list[str]:
    return [sys.executable, str(SERVER)]


def prepare_proxy_home(env: dict[str, str], name: str) -> list[str]:
    """`mcp-acp init` and `proxy add NAME` in front of the test server, under CONFORMANCE_POLICY;
    returns the command that starts the proxy over STDIO."""
    run_env = {**os.environ, **env}

    def cli(*args: str) -> None:
        done = subprocess.run(
            [MCP_ACP, *args], env=run_env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60
        )
        if done.returncode != 0:
            raise RuntimeError(f"mcp-acp {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")

    cli("init", "--auth", "local")
    add = ["proxy", "add", name, "--server-name", name, "--command", sys.executable, "--arg", str(SERVER)]
    cli(*add)
    folder = Path(env["MCP_ACP_HOME"]) / "config" / "proxies" / name
    (folder / "policy.json").write_text(json.dumps(CONFORMANCE_POLICY), encoding="utf-8")
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    config["limits"] = HIGH_LIMITS
    # The backend gets only its configured environment: pass the era log on explicitly.
    if "CONFORMANCE_SERVER_ERA_LOG" in env:
        config["backend"]["stdio"]["env"] = {"CONFORMANCE_SERVER_ERA_LOG": env["CONFORMANCE_SERVER_ERA_LOG"]}
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return [MCP_ACP, "start", "--proxy", name, "--headless"]


# The gateway's own rate limit (per principal) is not under test either: the suite is one principal.
GATEWAY_SETTINGS = {"limits": {"requests_per_minute": 1_000_000, "burst": 1_000_000}}


def prepare_gateway_home(env: dict[str, str], name: str) -> None:
    """prepare_proxy_home, plus a gateway.json without an `auth` block (a loopback gateway: the
    local user) whose rate limit the suite's bursts stay under."""
    prepare_proxy_home(env, name)
    path = Path(env["MCP_ACP_HOME"]) / "config" / "gateway.json"
    path.write_text(json.dumps(GATEWAY_SETTINGS), encoding="utf-8")
    path.chmod(0o600)


def read_expected_failures(path: Path = EXPECTED_FAILURES) -> dict[str, dict[str, str]]:
    """{era: {"scenario/check": reason}} from the YAML file (a plain two-level mapping)."""
    import yaml

    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {str(era): {str(k): str(v) for k, v in (checks or {}).items()} for era, checks in data.items()}


def isolated_env(root: Path) -> dict[str, str]:
    home = root / "home"
    acp_home = root / "mcp-acp-home"
    runtime = root / "xdg-runtime"
    for folder in (home, acp_home):
        folder.mkdir(parents=True, exist_ok=True)
    runtime.mkdir(mode=0o700, exist_ok=True)
    return {
        **os.environ,
        "MCP_ACP_HOME": str(acp_home),
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_STATE_HOME": str(home / ".local" / "state"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_RUNTIME_DIR": str(runtime),
        "NO_COLOR": "1",
        "MCP_ACP_SECRET_BACKEND": "file",
    }


def denials(acp_home: Path) -> list[str]:
    """mcp-acp's refusals as its decision log records them: method, request id and rule."""
    found: list[str] = []
    for log in acp_home.glob("logs/mcp-acp/proxies/*/audit/decisions.jsonl"):
        for line in log.read_text(encoding="utf-8").splitlines():
            entry = json.loads(line)
            if entry.get("decision") != "allow":
                found.append(
                    f"{entry.get('mcp_method')} (id {entry.get('request_id')}): {entry.get('decision')} "
                    f"by rule {entry.get('final_rule')}"
                )
    return found
