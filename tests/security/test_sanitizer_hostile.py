"""A hostile server hides instructions in every descriptive field; the client sees none of it (issue 15).

`mcp-acp start --proxy NAME --headless` runs as a subprocess in front of
tests/fixtures/hostile_descriptions_server.py, which poisons its `instructions`, server title,
tool titles and `annotations.title`, descriptions in `$defs`, `anyOf`/`oneOf`/`allOf`, `items`,
`additionalProperties`, `patternProperties` and `outputSchema`, a 300-level deep schema, and
its resource, template and prompt lists (also carried in its `server/discover` result) with
zero-width, bidi and tag characters, C0/C1 controls and ANSI CSI/OSC escape sequences.

The client is the official MCP Python SDK (`ClientSession` over `stdio_client`) in both eras
(`initialize`, and the 2026-07-28 `server/discover`), and raw JSON lines (`RawProxy`) for what
the SDK's models would drop. Each checks every string of every answer: the server puts hidden
characters only in descriptive fields, so any at all means one got through. The same SDK
client run directly against the server sees them, so the check is not vacuous.
"""

from __future__ import annotations

import json
import os
import sys
import unicodedata
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest
from hostile_descriptions_server import DEEP_LEVELS, PHRASE, SDK_DEEP_LEVELS, VISIBLE
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from tests.support.audit import read_jsonl
from tests.support.config import allow_everything, proxy_log_dir
from tests.support.processes import MCP_ACP, ROOT
from tests.support.proxies import RawProxy

SERVER = str(ROOT / "tests" / "fixtures" / "hostile_descriptions_server.py")
NAME = "hostile"
TIMEOUT = 60.0  # a cold proxy and backend on a loaded 2-core box: an upper bound, not a speed check
# What must never reach the client: the tails of the escape sequences the server sends.
ESCAPE_TAILS = ("[31m", "[0m", "[1;5m", "[m", "]8;;", "evil.example", "2J")


def strings(value: Any) -> list[str]:
    """Every string in a JSON value, keys included, at any depth (without recursion)."""
    found, stack = [], [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            found.append(node)
        elif isinstance(node, dict):
            found.extend(key for key in node if isinstance(key, str))
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def hidden(text: str) -> list[str]:
    return [ch for ch in text if ch not in "\n\t\r" and unicodedata.category(ch) in ("Cc", "Cf", "Cs")]


def assert_clean(value: Any) -> None:
    texts = strings(value)
    assert texts
    for text in texts:
        assert not hidden(text), (text, hidden(text))
        assert not any(tail in text for tail in ESCAPE_TAILS), text


def assert_poisoned(value: Any) -> None:
    texts = strings(value)
    assert any(hidden(text) for text in texts)
    assert any("\x1b[31m" in text for text in texts)


def assert_still_readable(text: str, label: str) -> None:
    """Cleaning removes what is hidden, not what is written."""
    assert text.startswith(label), text
    assert all(word in text for word in VISIBLE), text
    assert PHRASE in text  # suspicious text is reported, not removed


def deepest_description(schema: dict) -> tuple[int, str]:
    levels = 0
    while "properties" in schema:
        schema = schema["properties"]["next"]
        levels += 1
    return levels, schema["description"]


def add_proxy(cli, env: dict, depth: int) -> StdioServerParameters:
    """Proxy NAME in front of the hostile server (its deep schema `depth` levels), allowing every
    method; the parameters that start it."""
    cli(
        "proxy",
        "add",
        NAME,
        "--server-name",
        "hostile-descriptions",
        "--command",
        sys.executable,
        "--arg",
        SERVER,
        "--arg",
        str(depth),
        check=True,
    )
    allow_everything(env, NAME)
    return StdioServerParameters(command=MCP_ACP, args=["start", "--proxy", NAME, "--headless"], env=env)


async def sdk_view(params: StdioServerParameters, era: str, errlog: Path) -> dict[str, Any]:
    """What an SDK client gets from the server: the handshake and every list, as JSON."""
    with open(errlog, "w", encoding="utf-8") as err:
        async with (
            stdio_client(params, errlog=err) as (read, write),
            ClientSession(
                read,
                write,
                read_timeout_seconds=TIMEOUT,
                client_info=types.Implementation(name="sanitizer-hostile-tests", version="0"),
            ) as session,
        ):
            with anyio.fail_after(TIMEOUT):
                handshake = await session.initialize() if era == "initialize" else await session.discover()
                view = {
                    "handshake": handshake,
                    "tools": await session.list_tools(),
                    "resources": await session.list_resources(),
                    "templates": await session.list_resource_templates(),
                    "prompts": await session.list_prompts(),
                }
    return {key: value.model_dump(by_alias=True, mode="json", exclude_none=True) for key, value in view.items()}


@pytest.mark.parametrize("era", ["initialize", "server/discover"])
async def test_an_sdk_client_sees_nothing_hidden(cli, acp_env, tmp_path, era: str) -> None:
    # The SDK's JSON parser stops at ~200 nested containers: a schema it can read at all.
    direct = StdioServerParameters(command=sys.executable, args=[SERVER, str(SDK_DEEP_LEVELS)], env=acp_env)
    assert_poisoned(await sdk_view(direct, era, tmp_path / "direct.log"))  # sent, and kept by the SDK

    view = await sdk_view(add_proxy(cli, acp_env, SDK_DEEP_LEVELS), era, tmp_path / "proxy.log")
    assert_clean(view)
    assert_still_readable(view["handshake"]["instructions"], "server instructions")
    if era == "initialize":  # the SDK's DiscoverResult has no serverInfo
        assert_still_readable(view["handshake"]["serverInfo"]["title"], "server title")
    tools = {tool["name"]: tool for tool in view["tools"]["tools"]}
    fetch = tools["fetch_report"]
    assert_still_readable(fetch["title"], "tool title")
    assert_still_readable(fetch["annotations"]["title"], "annotations title")
    assert_still_readable(fetch["inputSchema"]["$defs"]["Path"]["description"], "$defs description")
    assert_still_readable(fetch["outputSchema"]["description"], "outputSchema")
    assert_still_readable(fetch["inputSchema"]["properties"]["tuple"]["items"][0]["description"], "items list")
    levels, leaf = deepest_description(tools["deep"]["inputSchema"])
    assert levels == SDK_DEEP_LEVELS  # the whole schema arrives, cleaned all the way down
    assert_still_readable(leaf, "leaf")
    assert_still_readable(view["prompts"]["prompts"][0]["arguments"][0]["description"], "argument description")
    assert_still_readable(view["resources"]["resources"][0]["description"], "resource description")
    assert_still_readable(view["templates"]["resourceTemplates"][0]["title"], "template title")


async def test_raw_answers_carry_nothing_hidden_and_the_proxy_reports_it(cli, acp_env) -> None:
    """Raw JSON lines: every field of every answer, including the lists a `server/discover`
    result carries (the SDK's model drops them), and a schema 300 levels deep, which the proxy
    must clean and encode again (its encoder alone stops at 254 containers)."""
    add_proxy(cli, acp_env, DEEP_LEVELS)
    proxy = await RawProxy.start(acp_env, NAME)
    try:
        answers = [await proxy.initialize()]
        for method in ("tools/list", "resources/list", "resources/templates/list", "prompts/list", "server/discover"):
            answers.append(await proxy.request(method, timeout=TIMEOUT))
        for answer in answers:
            assert "result" in answer, answer
            assert_clean(answer)
        discover = answers[-1]["result"]
        assert {"tools", "resources", "prompts"} <= discover.keys()
        for tools in (answers[1]["result"]["tools"], discover["tools"]):
            levels, leaf = deepest_description(tools[1]["inputSchema"])
            assert levels == DEEP_LEVELS
            assert_still_readable(leaf, "leaf")
        assert_still_readable(discover["instructions"], "server instructions")
        assert (await proxy.request("ping"))["result"] == {}  # the session goes on
        code, stderr = await proxy.finish()
        assert code == 0, stderr
    finally:
        await proxy.close()
    system = read_jsonl(proxy_log_dir(acp_env, NAME) / "system" / "system.jsonl")
    warnings = [entry["message"] for entry in system if entry.get("level") == "WARNING"]
    assert any("server 'hostile-descriptions': suspicious text in instructions" in m for m in warnings), warnings
    assert any("prompt 'summarize'" in m for m in warnings), warnings
    assert any("more fields with suspicious text" in m for m in warnings), warnings  # the deep tool, capped


def test_the_fixture_really_hides_things() -> None:
    """The hostile server's own answers, read straight from its stdout."""
    import subprocess

    lines = (
        "\n".join(
            json.dumps({"jsonrpc": "2.0", "id": i, "method": m})
            for i, m in enumerate(["initialize", "tools/list", "prompts/list"])
        )
        + "\n"
    )
    out = subprocess.run(
        [sys.executable, SERVER],
        input=lines,
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ},
        check=True,
    ).stdout
    answers = [json.loads(line) for line in out.splitlines()]
    assert len(answers) == 3
    for answer in answers:
        assert_poisoned(answer)
