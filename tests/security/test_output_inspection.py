"""Output inspection: secrets in results are redacted or denied as the policy says, and no log
ever holds one (issue 22, docs/output-inspection.md).

`mcp-acp start --proxy leaky --headless` runs as a subprocess in front of
tests/fixtures/secrets_server.py, which returns a PEM private key, an AWS access key id and secret
access key, a GitHub token and a bearer JWT in text `content`, in `structuredContent`, in an
embedded resource (as text and as a base64 blob), split over two content items, in a resource read,
in a prompt and in a sampling request. The client is the official MCP Python SDK. The proxy runs at
log level DEBUG with payloads in its wire logs: every log it can write. Afterwards EVERY file
under MCP_ACP_HOME and the proxy's stderr is searched for each secret.

With inspection off (no `output` section) the client sees the secrets, which shows the checks
can fail; the logs stay clean even then (the operations log keeps hashes, the wire log scrubs).
"""

from __future__ import annotations

import base64
import sys
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.shared.exceptions import MCPError
from secrets_server import NEEDLES

from tests.security.conftest import FIXTURES, POLICY_DENIED, Home
from tests.support.processes import MCP_ACP

SERVER = FIXTURES / "secrets_server.py"
NAME = "leaky"
TIMEOUT = 60.0  # a cold proxy on a loaded 2-core box: an upper bound, not a speed check
ALLOW = [{"id": "allow-all", "effect": "allow", "conditions": {"mcp_method": "*"}}]
PLACES = ("content", "structured", "resource", "blob")
KINDS = {"private_key", "aws_access_key", "aws_secret_key", "github_token", "jwt"}


def policy(setting: str) -> dict[str, Any]:
    if setting == "off":
        return {"rules": ALLOW}
    return {"rules": ALLOW, "output": {"secrets": setting}}


def every_file_under(*folders: Path) -> list[Path]:
    return [path for folder in folders for path in folder.rglob("*") if path.is_file()]


def leaked_into(paths: list[Path]) -> list[tuple[str, str]]:
    """(file, needle) for every secret found in any of the files, as text or as base64."""
    found = []
    for path in paths:
        data = path.read_bytes()
        for needle in NEEDLES:
            if needle.encode() in data:
                found.append((str(path), needle))
    return found


def visible(result: Any) -> str:
    """Everything the client got, as one text (blobs decoded)."""
    dumped = result.model_dump_json(by_alias=True)
    blobs = []
    for item in getattr(result, "content", None) or []:
        resource = getattr(item, "resource", None)
        if resource is not None and getattr(resource, "blob", None):
            blobs.append(base64.b64decode(resource.blob).decode())
    return dumped + "".join(blobs)


async def sample(context: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
    text = params.messages[0].content.text  # type: ignore[union-attr]
    return types.CreateMessageResult(
        role="assistant", content=types.TextContent(type="text", text=f"got: {text}"), model="echo"
    )


async def session_run(home: Home, errlog: Path) -> dict[str, Any]:
    """Everything the SDK client sees: each call's result or its error."""
    params = StdioServerParameters(command=MCP_ACP, args=["start", "--proxy", NAME, "--headless"], env=home.env)
    seen: dict[str, Any] = {}
    with open(errlog, "w", encoding="utf-8") as err:
        async with (
            stdio_client(params, errlog=err) as (read, write),
            ClientSession(read, write, read_timeout_seconds=TIMEOUT, sampling_callback=sample) as session,
        ):
            with anyio.fail_after(TIMEOUT * 4):
                await session.initialize()
                calls: dict[str, Any] = {
                    **{place: lambda p=place: session.call_tool("leak", {"where": p}) for place in PLACES},
                    "split": lambda: session.call_tool("split", {}),
                    "read": lambda: session.read_resource("secret://all"),
                    "prompt": lambda: session.get_prompt("leaky"),
                    "sample": lambda: session.call_tool("sample", {}),
                }
                for label, run in calls.items():
                    try:
                        seen[label] = await run()
                    except MCPError as exc:
                        seen[label] = exc
    return seen


@pytest.mark.parametrize("setting", ["redact", "deny", "off"])
async def test_secrets_are_redacted_or_denied_and_never_logged(home: Home, setting: str) -> None:
    home.add_proxy(
        NAME, sys.executable, [SERVER], policy(setting), config={"log_level": "DEBUG", "include_payloads": True}
    )
    errlog = home.root / "stderr" / "sdk-proxy.log"
    errlog.parent.mkdir(exist_ok=True)
    seen = await session_run(home, errlog)

    for label in (*PLACES, "read", "prompt"):
        outcome = seen[label]
        if setting == "redact":
            assert not isinstance(outcome, MCPError), (label, outcome)
            text = visible(outcome)
            assert not [n for n in NEEDLES if n in text], (label, text)
            for kind in KINDS:
                assert f"[redacted: {kind}]" in text, (label, kind, text)
            assert "Here is the config" in text or label == "structured", text  # the rest is left
            if label in PLACES:  # the model reads what went
                assert "mcp-acp redacted" in outcome.content[-1].text, outcome
        elif setting == "deny":
            assert isinstance(outcome, MCPError), (label, outcome)
            assert outcome.code == POLICY_DENIED
            assert set(outcome.data["kinds"]) == KINDS, outcome.data
            assert not [n for n in NEEDLES if n in outcome.message + str(outcome.data)]
        else:
            assert any(n in visible(outcome) for n in NEEDLES), (label, outcome)  # the test can fail

    split = seen["split"]
    if setting == "redact":
        assert not any(n in visible(split) for n in NEEDLES), split
    elif setting == "deny":
        assert isinstance(split, MCPError) and split.data["kinds"] == ["github_token"], split

    if setting != "off":  # the sampling request's message never reached the client with the key
        sampled = seen["sample"]
        assert not any(n in str(sampled) for n in NEEDLES), sampled

    # The audit says what and where, never the text.
    operations = home.operations(NAME)
    inspected = [e for e in operations if "output_inspection" in e]
    if setting == "off":
        assert not inspected
    else:
        by_place = {tuple(sorted({f["where"] for f in e["output_inspection"]["findings"]})) for e in inspected}
        assert any("structuredContent.aws.aws_secret_access_key" in places for places in by_place), by_place
        assert any("content[0].resource.blob (base64)" in places for places in by_place), by_place
        for entry in inspected:
            assert entry["output_inspection"]["action"] == ("redact" if setting == "redact" else "deny")

    # EVERY file the proxy can write, its stderr and the client's view of it.
    files = every_file_under(home.acp_home, home.root / "stderr")
    assert any(path.name == "backend_wire.jsonl" for path in files)  # the debug wire logs were written
    assert any(path.name == "operations.jsonl" for path in files)
    assert leaked_into(files) == []
