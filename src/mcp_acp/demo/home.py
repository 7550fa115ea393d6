"""The demo's throwaway MCP_ACP_HOME (./.demo-home, recreated each run): its settings, the
demo policy, and the mcp-acp CLI run against it to set it up and to reach its manager.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.panel import Panel
from rich.text import Text

PROXY = "demo"
HOME = Path(".demo-home").absolute()
SANDBOX = HOME / "sandbox"
CLI = str(Path(sys.executable).with_name("mcp-acp"))
CALL_TIMEOUT = 30  # seconds; a hung proxy should fail the demo, not freeze it
MANAGER_WAIT = 20  # seconds for the manager the proxy started to answer
HITL_TIMEOUT = 60  # the proxy's default wait for a human (config.json hitl.timeout_seconds)

console = Console()

# Reads anywhere in the demo home are allowed on purpose: the proxy's own config folder inside
# it stays protected all the same.
POLICY = {
    "rules": [
        {
            "id": "read-demo-home",
            "effect": "allow",
            "description": "Read and list files in the demo home",
            "conditions": {"tool_name": ["read_*", "list_*"], "path_pattern": f"{HOME}/**"},
        },
        {
            "id": "notes",
            "effect": "allow",
            "description": "Notes are harmless",
            "conditions": {"tool_name": ["add_note", "list_notes"]},
        },
        {
            "id": "no-secrets",
            "effect": "deny",
            "description": "Never read secrets",
            "conditions": {"path_pattern": ["**/secrets*", "**/.env"]},
        },
        {
            "id": "approve-writes",
            "effect": "hitl",
            "description": "A human approves every write",
            "conditions": {"operations": ["write", "delete"], "path_pattern": f"{SANDBOX}/**"},
        },
        {"id": "notes-resources", "effect": "allow", "conditions": {"resource_type": "resource", "scheme": "notes"}},
        {"id": "prompts", "effect": "allow", "conditions": {"mcp_method": "prompts/get"}},
    ]
}


def cli(*args: str) -> str:
    """Run the mcp-acp CLI against the demo home; stop the demo with its output on failure."""
    env = {**os.environ, "MCP_ACP_HOME": str(HOME)}
    proc = subprocess.run([CLI, *args], check=False, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        body = Text(f"$ mcp-acp {' '.join(args)}\n", style="bold") + Text(proc.stdout + proc.stderr)
        console.print(Panel(body, title=f"command failed (exit {proc.returncode})", border_style="red"))
        raise SystemExit(1)
    return proc.stdout


def ui_port(preferred: int = 8765) -> int:
    """The usual manager port, or any free one when something (another manager?) holds it."""
    for port in (preferred, 0):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return probe.getsockname()[1]
    raise RuntimeError("no free port on 127.0.0.1")


def stop_manager() -> None:
    """Stop the demo home's manager (a previous run's, or this run's when nobody is watching)."""
    subprocess.run(
        [CLI, "manager", "stop"],
        check=False,
        env={**os.environ, "MCP_ACP_HOME": str(HOME)},
        capture_output=True,
        stdin=subprocess.DEVNULL,
    )


def prepare() -> None:
    if HOME.exists():
        stop_manager()
    shutil.rmtree(HOME, ignore_errors=True)
    (SANDBOX / "docs").mkdir(parents=True)
    (SANDBOX / "README.txt").write_text("Welcome to the mcp-acp demo sandbox.\n", encoding="utf-8")
    (SANDBOX / "docs" / "plan.md").write_text("# Plan\n1. Proxy every call\n2. Log it\n", encoding="utf-8")
    cli("init", "--auth", "local")
    manager_config = HOME / "config" / "manager.json"
    config = json.loads(manager_config.read_text(encoding="utf-8"))
    config["ui_port"] = ui_port()
    manager_config.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    server = [sys.executable, "-m", "mcp_acp.demo.server", "--sandbox", str(SANDBOX)]
    extra = [part for arg in server[1:] for part in ("--arg", arg)]
    cli("proxy", "add", PROXY, "--server-name", "demo-files", "--command", server[0], *extra)
    (SANDBOX / "secrets.txt").write_text("api-key: not-for-agents\n", encoding="utf-8")
    policy_path = Path(cli("policy", "path", "--proxy", PROXY).strip())
    policy_path.write_text(json.dumps(POLICY, indent=2) + "\n", encoding="utf-8")
    cli("policy", "validate", "--proxy", PROXY)
    console.print(Text.from_ansi(cli("policy", "show", "--proxy", PROXY)))
    console.print(
        Panel(
            f"home     {HOME}\nsandbox  {SANDBOX}\nproxy    {PROXY} -> demo-files (STDIO)",
            title="[bold]mcp-acp demo[/] set up",
            border_style="cyan",
        )
    )


def cli_command() -> str:
    """How the reader runs the CLI: `mcp-acp` when the venv is on PATH, else its full path."""
    return "mcp-acp" if shutil.which("mcp-acp") == CLI else CLI


def open_web_ui() -> str:
    """`mcp-acp manager open`: a browser where there is a display, else its one-time link."""
    env = {**os.environ, "MCP_ACP_HOME": str(HOME)}
    # The proxy starts the manager in the background: on a loaded machine it may not answer yet.
    deadline = time.monotonic() + MANAGER_WAIT
    while True:
        proc = subprocess.run(
            [CLI, "manager", "open"], check=False, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL
        )
        if proc.returncode == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    link = proc.stdout.strip()
    if proc.returncode != 0:
        return f"not available ({proc.stderr.strip() or 'manager open failed'})"
    return f"{link} (one-time sign-in link, valid 2 minutes)" if link else "opened in your browser"
