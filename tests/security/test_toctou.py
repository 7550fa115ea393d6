"""Class 3, time of check vs time of use: a path that changes while a human decides.

A `hitl` rule puts reads in the project to a person. While the request waits, the attacker
re-points the symlink it names at a secret outside the project. The person approves what they
were shown; the proxy must resolve every path again after the approval and refuse (-32001,
saying the path changed) rather than forward a request that now means something else.

The approver is played the way `mcp-acp approvals watch` works: a client following the proxy's
own event stream on its Unix socket (so the proxy routes the approval there), deciding with a
POST on the same socket. The backend is the official server-filesystem, which serves both the
project and the secret.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from pathlib import Path

import httpx
import pytest

from tests.security.conftest import (
    FILESYSTEM_MISSING,
    Home,
    assert_denied,
    socket_client,
    text_of,
    wait_until,
)

pytestmark = pytest.mark.skipif(FILESYSTEM_MISSING, reason="server-filesystem or node missing: run `make npm-deps`")

SECRET = "TOCTOU-SECRET-3141"


class ApprovalWatcher:
    """Follows GET /api/approvals/pending on the proxy's socket in a thread; keeps every event."""

    def __init__(self, socket_path: str) -> None:
        self.socket_path = socket_path
        self.events: list[dict] = []
        self.error: BaseException | None = None
        self._client = httpx.Client(
            transport=httpx.HTTPTransport(uds=socket_path),
            base_url="http://proxy",
            timeout=httpx.Timeout(30, read=None),
            trust_env=False,
        )
        self._thread = threading.Thread(target=self._follow, daemon=True)
        self._thread.start()

    def _follow(self) -> None:
        try:
            with self._client.stream("GET", "/api/approvals/pending") as response:
                for line in response.iter_lines():
                    if line.startswith("data:"):
                        self.events.append(json.loads(line[5:]))
        except BaseException as exc:
            self.error = exc

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._client.close()
        self._thread.join(5)


@pytest.fixture
def world(home: Home) -> Path:
    world = home.root / "world"
    (world / "proj").mkdir(parents=True)
    (world / "outside").mkdir()
    (world / "proj" / "ok.txt").write_text("approved content\n")
    (world / "outside" / "secret.txt").write_text(SECRET + "\n")
    (world / "proj" / "link.txt").symlink_to(world / "proj" / "ok.txt")
    return world


def next_created(watcher: ApprovalWatcher, seen: int) -> dict | None:
    return next((e["approval"] for e in watcher.events[seen:] if e.get("type") == "pending_created"), None)


def decide(watcher: ApprovalWatcher, approval: dict, decision: str) -> None:
    with socket_client(watcher.socket_path) as client:
        response = client.post(
            f"/api/approvals/pending/{approval['id']}/{decision}",
            json={"args_hash": approval["args_hash"], "policy_version": approval["policy_version"]},
        )
    assert response.status_code == 200, response.text


def socket_ready(home: Home, name: str) -> str:
    path = home.socket_path(name)

    def answers() -> bool:
        try:
            with socket_client(path) as client:
                return client.get("/api/control/status").status_code == 200
        except (httpx.TransportError, OSError):
            return False

    wait_until(answers, "the proxy's socket to answer")
    return path


@pytest.mark.parametrize("decision", ["allow-once", "approve"])
def test_a_symlink_swapped_while_the_approval_waits(home: Home, world: Path, decision: str) -> None:
    project = world / "proj"
    home.add_filesystem(
        "toctou",
        [world],
        {
            "rules": [
                {
                    "id": "ask-project-reads",
                    "effect": "hitl",
                    "conditions": {"tool_name": "read_text_file", "path_pattern": f"{project}/**"},
                    "cache_side_effects": ["fs_read"],
                },
            ]
        },
        config={"hitl": {"timeout_seconds": 60}},
    )
    proxy = home.start("toctou")
    watcher = ApprovalWatcher(socket_ready(home, "toctou"))
    try:
        wait_until(
            lambda: any(e.get("type") == "stats_updated" for e in watcher.events) or watcher.error,
            "the approval stream to open",
        )
        assert watcher.error is None, watcher.error
        # Control: an approved read in the project is served.
        control = proxy.next_id()
        proxy.send(
            {
                "jsonrpc": "2.0",
                "id": control,
                "method": "tools/call",
                "params": {"name": "read_text_file", "arguments": {"path": str(project / "ok.txt")}},
            }
        )
        first = wait_until(lambda: next_created(watcher, 0), "the control's approval")
        decide(watcher, first, "allow-once")
        assert text_of(proxy.response(control)) == "approved content\n"

        link = project / "link.txt"
        request_id = proxy.next_id()
        seen = len(watcher.events)
        proxy.send(
            {
                "jsonrpc": "2.0",
                "id": request_id,
                "method": "tools/call",
                "params": {"name": "read_text_file", "arguments": {"path": str(link)}},
            }
        )
        approval = wait_until(lambda: next_created(watcher, seen), "the approval to be asked")
        assert not proxy.responses_to(request_id)  # it waits for the human

        swapped = project / ".link.swap"
        swapped.symlink_to(world / "outside" / "secret.txt")
        os.replace(swapped, link)  # the attacker's move, while the person reads the dialog

        decide(watcher, approval, decision)
        answer = proxy.response(request_id)
        error = assert_denied(answer)
        message = error["message"].lower()
        assert "changed" in message or "somewhere else than when it was approved" in message, error
        assert SECRET not in json.dumps(proxy.messages)
        proxy.ping()
    finally:
        watcher.close()
        proxy.close()
