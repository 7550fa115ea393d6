"""Transparency of the proxy against the official `server-everything` npm server.

Every test runs with identical client code and identical assertions in each
``mode``: whatever works against the server directly must work exactly the same
through `mcp-acp start --proxy NAME --headless`.

* direct:     the client launches `mcp-server-everything stdio` itself;
* proxy:      the client launches the proxy, which spawns that STDIO server;
* proxy-http: the client launches the proxy, which talks streamable HTTP to
              `mcp-server-everything streamableHttp` on a loopback port.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp.shared.exceptions import MCPError

# Helpers live in conftest.py and are reached through the `launcher` fixture
# (tests/integration is not a package, so conftest is not importable here).
Launcher = Any
Connection = Any

EVERYTHING_DOCS = (
    Path(__file__).resolve().parents[1]
    / "npm"
    / "node_modules"
    / "@modelcontextprotocol"
    / "server-everything"
    / "dist"
    / "docs"
)


def text_of(result: Any) -> str:
    """All text blocks of a tool result (or prompt messages) joined by newlines."""
    blocks = result.content if isinstance(result, types.CallToolResult) else [m.content for m in result.messages]
    return "\n".join(b.text for b in blocks if isinstance(b, types.TextContent))


pytestmark = pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")

TEXT_TEMPLATE = "demo://resource/dynamic/text/{resourceId}"
BLOB_TEMPLATE = "demo://resource/dynamic/blob/{resourceId}"
STATIC_DOC_URI = "demo://resource/static/document/features.md"


@pytest.fixture(params=["direct", "proxy", "proxy-http"])
def mode(request: pytest.FixtureRequest) -> str:
    """Overrides conftest's ("direct", "proxy") with a third way in: the proxy in front of
    the same server running as a streamable-HTTP backend (`mcp-acp proxy add --url`)."""
    return request.param


@pytest.fixture(params=["legacy", "auto"], ids=["era-2025", "era-auto"])
def era(request: pytest.FixtureRequest) -> str:
    """How the client connects: the 2025 handshake, or as a dual-era client does (server/discover
    first). server-everything (TypeScript SDK 1.x) speaks only the 2025 revisions, so the
    dual-era client must fall back, through the proxy exactly as directly."""
    return request.param


# An ordinary policy (not allow-all): the server's tools by name, its demo:// resources, its
# prompts and their completions. Discovery (server/discover included) needs no rule.
EVERYTHING_POLICY = {
    "rules": [
        {
            "id": "everything-tools",
            "effect": "allow",
            "conditions": {"tool_name": ["echo", "get-*", "toggle-*", "trigger-*", "no-such-tool"]},
        },
        {"id": "demo-resources", "effect": "allow", "conditions": {"scheme": "demo"}},
        {"id": "prompts", "effect": "allow", "conditions": {"resource_type": "prompt"}},
        {"id": "completions", "effect": "allow", "conditions": {"mcp_method": "completion/complete"}},
    ]
}


@pytest.fixture(autouse=True)
def _this_checkout(launcher: Launcher) -> None:
    """The proxy runs this checkout's code when the tests do (PYTHONPATH=src)."""
    if pythonpath := os.environ.get("PYTHONPATH"):
        launcher.env["PYTHONPATH"] = pythonpath


def _tool_policy(launcher: Launcher, name: str) -> None:
    path = Path(launcher.env["MCP_ACP_HOME"]) / "config" / "proxies" / name / "policy.json"
    path.write_text(json.dumps(EVERYTHING_POLICY), encoding="utf-8")


@pytest.fixture
def everything(launcher: Launcher, mode: str, everything_bin: Any) -> Any:
    """StdioServerParameters for server-everything, direct or behind the proxy (under EVERYTHING_POLICY)."""
    if mode == "proxy-http":
        url = launcher.start_http_backend(everything_bin, ["streamableHttp"], label="everything-http")
        params = launcher.proxy_url(url, name="everything-http")
        _tool_policy(launcher, "everything-http")
        return params
    params = launcher.params(mode, everything_bin, ["stdio"], name="everything")
    if mode == "proxy":
        _tool_policy(launcher, "everything")
    return params


def _client(launcher: Launcher, params: Any, mode: str, era: str, **callbacks: Any):
    return launcher.connect(params, label=f"everything-{mode}-{era}", era=era, **callbacks)


# --------------------------------------------------------------------------- lifecycle


async def test_initialize_handshake(launcher: Launcher, everything: Any, mode: str, era: str) -> None:
    with anyio.fail_after(60):
        async with _client(launcher, everything, mode, era) as c:
            init = c.init
            assert init.protocol_version == "2025-11-25"
            if era == "auto":  # the probe reached the server and got its own answer, not a denial
                (probe,) = c.wire.requests_sent("server/discover")
                (answer,) = c.wire.responses_to(probe["id"])
                # STDIO: -32601; streamable HTTP: the TS SDK refuses a request outside a session
                # (HTTP 400, -32000 "Server not initialized"). Never the proxy's -32001.
                expected = -32000 if mode == "proxy-http" else -32601
                assert answer["error"]["code"] == expected, answer
            else:
                assert not c.wire.requests_sent("server/discover")
            assert init.server_info.name == "mcp-servers/everything"
            assert init.server_info.version == "2.0.0"
            caps = init.capabilities
            assert caps.tools is not None and caps.tools.list_changed is True
            assert caps.prompts is not None and caps.prompts.list_changed is True
            assert caps.resources is not None and caps.resources.subscribe is True
            assert caps.logging is not None
            assert caps.completions is not None
            assert init.instructions == (EVERYTHING_DOCS / "instructions.md").read_text(encoding="utf-8")
            assert isinstance(await c.session.send_ping(), types.EmptyResult)


# --------------------------------------------------------------------------- tools


async def test_tools_list_and_call(launcher: Launcher, everything: Any, mode: str, era: str) -> None:
    with anyio.fail_after(60):
        async with _client(launcher, everything, mode, era) as c:
            s = c.session
            tools = {t.name: t for t in (await s.list_tools()).tools}
            assert {
                "echo",
                "get-sum",
                "get-tiny-image",
                "get-structured-content",
                "toggle-simulated-logging",
                "toggle-subscriber-updates",
                "trigger-long-running-operation",
            } <= tools.keys()
            echo = tools["echo"]
            assert echo.description == "Echoes back the input string"
            assert echo.input_schema["properties"]["message"]["type"] == "string"
            assert echo.input_schema["required"] == ["message"]
            assert echo.annotations is not None and echo.annotations.read_only_hint is True

            result = await s.call_tool("echo", {"message": "hello through mcp-acp"})
            assert not result.is_error
            assert text_of(result) == "Echo: hello through mcp-acp"

            result = await s.call_tool("get-sum", {"a": 19, "b": 23.5})
            assert text_of(result) == "The sum of 19 and 23.5 is 42.5."

            # Structured content, validated by the SDK against the tool's outputSchema.
            result = await s.call_tool("get-structured-content", {"location": "Chicago"})
            assert result.structured_content == {
                "temperature": 36,
                "conditions": "Light rain / drizzle",
                "humidity": 82,
            }
            assert json.loads(text_of(result)) == result.structured_content

            # Binary payload (base64 PNG) survives intact.
            result = await s.call_tool("get-tiny-image", {})
            images = [b for b in result.content if isinstance(b, types.ImageContent)]
            assert len(images) == 1 and images[0].mime_type == "image/png"
            assert base64.b64decode(images[0].data).startswith(b"\x89PNG\r\n\x1a\n")


async def test_tool_errors_come_from_the_server(launcher: Launcher, everything: Any, mode: str, era: str) -> None:
    with anyio.fail_after(60):
        async with _client(launcher, everything, mode, era) as c:
            s = c.session
            # The TS SDK reports tool-level failures as isError results, not JSON-RPC errors.
            unknown = await s.call_tool("no-such-tool", {})
            assert unknown.is_error is True
            assert text_of(unknown) == "MCP error -32602: Tool no-such-tool not found"

            invalid = await s.call_tool("get-sum", {"a": "not a number", "b": 1})
            assert invalid.is_error is True
            assert text_of(invalid).startswith(
                "MCP error -32602: Input validation error: Invalid arguments for tool get-sum:"
            )
            assert "expected number, received string" in text_of(invalid)

            # JSON-RPC level errors keep their code and message.
            with pytest.raises(MCPError) as excinfo:
                await s.get_prompt("no-such-prompt")
            assert excinfo.value.error.code == -32602
            assert excinfo.value.error.message == "MCP error -32602: Prompt no-such-prompt not found"

            # The session is still healthy afterwards.
            assert text_of(await s.call_tool("echo", {"message": "ok"})) == "Echo: ok"


async def test_large_unicode_payload_round_trips(launcher: Launcher, everything: Any, mode: str, era: str) -> None:
    # ~300 KB on one JSON line, with characters a line-based relay could trip on:
    # U+2028/U+2029 (line/paragraph separators that str.splitlines() splits on, and
    # that Node's JSON.stringify emits unescaped), astral-plane emoji, CR, NUL escape.
    chunk = 'héllo wörld € 😀 \u2028 LS \u2029 PS \r CR \x00 NUL \t tab \\ backslash " quote | '
    message = chunk * 4000
    with anyio.fail_after(60):
        async with _client(launcher, everything, mode, era) as c:
            result = await c.session.call_tool("echo", {"message": message})
            assert text_of(result) == f"Echo: {message}"


async def test_concurrent_requests_are_correlated(launcher: Launcher, everything: Any, mode: str, era: str) -> None:
    results: dict[int, str] = {}
    with anyio.fail_after(60):
        async with _client(launcher, everything, mode, era) as c:
            s = c.session

            async def echo(i: int) -> None:
                results[i] = text_of(await s.call_tool("echo", {"message": f"message #{i}"}))

            async def add(i: int) -> None:
                results[1000 + i] = text_of(await s.call_tool("get-sum", {"a": i, "b": 1000}))

            async with anyio.create_task_group() as tg:
                for i in range(30):
                    tg.start_soon(echo, i)
                    tg.start_soon(add, i)
            assert results == {
                **{i: f"Echo: message #{i}" for i in range(30)},
                **{1000 + i: f"The sum of {i} and 1000 is {i + 1000}." for i in range(30)},
            }


# --------------------------------------------------------------------------- resources


async def test_resources_list_read_and_templates(launcher: Launcher, everything: Any, mode: str, era: str) -> None:
    docs = sorted(p for p in EVERYTHING_DOCS.iterdir() if p.is_file())
    assert docs, "server-everything ships its docs/ folder"
    with anyio.fail_after(60):
        async with _client(launcher, everything, mode, era) as c:
            s = c.session
            listed = {r.uri: r for r in (await s.list_resources()).resources}
            for doc in docs:
                uri = f"demo://resource/static/document/{doc.name}"
                assert uri in listed, f"{uri} missing from resources/list"
                assert listed[uri].name == doc.name
            assert listed[STATIC_DOC_URI].mime_type == "text/markdown"

            read = await s.read_resource(STATIC_DOC_URI)
            assert len(read.contents) == 1
            content = read.contents[0]
            assert isinstance(content, types.TextResourceContents)
            assert content.uri == STATIC_DOC_URI
            assert content.mime_type == "text/markdown"
            assert content.text == (EVERYTHING_DOCS / "features.md").read_text(encoding="utf-8")

            templates = {t.uri_template: t for t in (await s.list_resource_templates()).resource_templates}
            assert {TEXT_TEMPLATE, BLOB_TEMPLATE} <= templates.keys()
            assert templates[TEXT_TEMPLATE].name == "Dynamic Text Resource"
            assert templates[BLOB_TEMPLATE].mime_type == "application/octet-stream"

            text = (await s.read_resource("demo://resource/dynamic/text/7")).contents[0]
            assert isinstance(text, types.TextResourceContents)
            assert text.uri == "demo://resource/dynamic/text/7"
            assert text.text.startswith("Resource 7: This is a plaintext resource created at ")

            blob = (await s.read_resource("demo://resource/dynamic/blob/3")).contents[0]
            assert isinstance(blob, types.BlobResourceContents)
            assert base64.b64decode(blob.blob).decode().startswith("Resource 3: This is a base64 blob created at ")

            # A template match with an invalid variable: the server's own error comes back.
            with pytest.raises(MCPError) as excinfo:
                await s.read_resource("demo://resource/dynamic/text/0")
            assert excinfo.value.error.code == -32603
            assert excinfo.value.error.message == "Unknown resource: demo://resource/dynamic/text/0"


async def test_resource_subscription_updates(launcher: Launcher, everything: Any, mode: str, era: str) -> None:
    with anyio.fail_after(60):
        async with _client(launcher, everything, mode, era) as c:
            s = c.session
            assert isinstance(await s.subscribe_resource(STATIC_DOC_URI), types.EmptyResult)
            started = await s.call_tool("toggle-subscriber-updates", {})
            assert "Started simulated resource updated notifications" in text_of(started)
            # The server sends one update immediately, then every 5 s.
            updates = await c.inbox.wait_for(
                lambda: [
                    n for n in c.inbox.of_type(types.ResourceUpdatedNotification) if n.params.uri == STATIC_DOC_URI
                ],
                timeout=15,
                what=f"notifications/resources/updated for {STATIC_DOC_URI}",
            )
            assert updates[0].params.uri == STATIC_DOC_URI
            assert isinstance(await s.unsubscribe_resource(STATIC_DOC_URI), types.EmptyResult)
            stopped = await s.call_tool("toggle-subscriber-updates", {})
            assert "Stopped simulated resource updates" in text_of(stopped)


# --------------------------------------------------------------------------- prompts & completion


async def test_prompts_list_and_get(launcher: Launcher, everything: Any, mode: str, era: str) -> None:
    with anyio.fail_after(60):
        async with _client(launcher, everything, mode, era) as c:
            s = c.session
            prompts = {p.name: p for p in (await s.list_prompts()).prompts}
            assert {"simple-prompt", "args-prompt", "completable-prompt", "resource-prompt"} <= prompts.keys()
            args = {a.name: bool(a.required) for a in prompts["args-prompt"].arguments or []}
            assert args == {"city": True, "state": False}

            simple = await s.get_prompt("simple-prompt")
            assert text_of(simple) == "This is a simple prompt without arguments."

            weather = await s.get_prompt("args-prompt", {"city": "Paris", "state": "Texas"})
            assert [m.role for m in weather.messages] == ["user"]
            assert text_of(weather) == "What's weather in Paris, Texas?"

            embedded = await s.get_prompt("resource-prompt", {"resourceType": "Text", "resourceId": "5"})
            assert len(embedded.messages) == 2
            resource_block = embedded.messages[1].content
            assert isinstance(resource_block, types.EmbeddedResource)
            assert resource_block.resource.uri == "demo://resource/dynamic/text/5"
            assert isinstance(resource_block.resource, types.TextResourceContents)
            assert resource_block.resource.text.startswith("Resource 5: This is a plaintext resource")

            with pytest.raises(MCPError) as excinfo:
                await s.get_prompt("resource-prompt", {"resourceType": "Video", "resourceId": "1"})
            assert "Invalid resourceType: Video" in excinfo.value.error.message


async def test_completion(launcher: Launcher, everything: Any, mode: str, era: str) -> None:
    with anyio.fail_after(60):
        async with _client(launcher, everything, mode, era) as c:
            s = c.session
            prompt = types.PromptReference(name="completable-prompt")
            r = await s.complete(prompt, {"name": "department", "value": "S"})
            assert r.completion.values == ["Sales", "Support"]
            # Context arguments travel too: the second argument depends on the first.
            r = await s.complete(prompt, {"name": "name", "value": ""}, context_arguments={"department": "Engineering"})
            assert r.completion.values == ["Alice", "Bob", "Charlie"]
            r = await s.complete(prompt, {"name": "name", "value": "K"}, context_arguments={"department": "Support"})
            assert r.completion.values == ["Kim"]

            r = await s.complete(types.PromptReference(name="resource-prompt"), {"name": "resourceType", "value": "B"})
            assert r.completion.values == ["Blob"]

            template = types.ResourceTemplateReference(uri=TEXT_TEMPLATE)
            r = await s.complete(template, {"name": "resourceId", "value": "42"})
            assert r.completion.values == ["42"]
            r = await s.complete(template, {"name": "resourceId", "value": "-1"})
            assert r.completion.values == []


# --------------------------------------------------------------------------- logging


def _logs_containing(c: Connection, needle: str) -> list[types.LoggingMessageNotificationParams]:
    return [entry for entry in c.inbox.logs if needle in str(entry.data)]


async def test_logging_set_level_and_notifications(launcher: Launcher, everything: Any, mode: str, era: str) -> None:
    with anyio.fail_after(60):
        async with _client(launcher, everything, mode, era) as c:
            s = c.session
            # At "error", the server suppresses the info-level log it emits on subscribe.
            assert isinstance(await s.set_logging_level("error"), types.EmptyResult)
            await s.subscribe_resource(STATIC_DOC_URI)
            await anyio.sleep(1.0)
            assert _logs_containing(c, "Received Subscribe Resource request") == []

            # At "debug", the info-level log on unsubscribe is delivered.
            assert isinstance(await s.set_logging_level("debug"), types.EmptyResult)
            await s.unsubscribe_resource(STATIC_DOC_URI)
            logs = await c.inbox.wait_for(
                lambda: _logs_containing(c, f"Received Unsubscribe Resource request: {STATIC_DOC_URI}"),
                timeout=10,
                what="an info-level notifications/message after unsubscribe",
            )
            assert logs[0].level == "info"
            assert c.inbox.of_type(types.LoggingMessageNotification), "logging notifications reach message_handler"

            # Simulated logging sends one random-level message immediately.
            result = await s.call_tool("toggle-simulated-logging", {})
            assert "Started simulated, random-leveled logging" in text_of(result)
            simulated = await c.inbox.wait_for(
                lambda: [e for e in c.inbox.logs if "-level message" in str(e.data) or "level-message" in str(e.data)],
                timeout=12,
                what="a simulated logging notification",
            )
            assert simulated[0].level in {
                "debug",
                "info",
                "notice",
                "warning",
                "error",
                "critical",
                "alert",
                "emergency",
            }
            await s.call_tool("toggle-simulated-logging", {})


# --------------------------------------------------------------------------- progress & cancellation


async def test_progress_notifications(launcher: Launcher, everything: Any, mode: str, era: str) -> None:
    updates: list[tuple[float, float | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        updates.append((progress, total))

    with anyio.fail_after(60):
        async with _client(launcher, everything, mode, era) as c:
            s = c.session
            result = await s.call_tool(
                "trigger-long-running-operation", {"duration": 1, "steps": 4}, progress_callback=on_progress
            )
            assert text_of(result) == "Long running operation completed. Duration: 1 seconds, Steps: 4."
            await c.inbox.wait_for(lambda: len(updates) >= 4, timeout=5, what="4 progress callbacks")
            assert sorted(updates) == [(1.0, 4.0), (2.0, 4.0), (3.0, 4.0), (4.0, 4.0)]

            # On the wire: the request carried a progress token and every progress
            # notification referenced exactly that token, before the response.
            request = c.wire.requests_sent("tools/call")[-1]
            token = request["params"]["_meta"]["progressToken"]
            received = c.wire.received()
            progress = [m for m in received if m.get("method") == "notifications/progress"]
            assert len(progress) >= 1
            assert [m["params"]["progress"] for m in progress] == [1, 2, 3, 4]
            assert all(m["params"]["progressToken"] == token and m["params"]["total"] == 4 for m in progress)
            response_index = received.index(c.wire.responses_to(request["id"])[0])
            assert all(received.index(m) < response_index for m in progress)


async def test_cancellation_keeps_session_usable(launcher: Launcher, everything: Any, mode: str, era: str) -> None:
    first_progress = anyio.Event()
    outcome: list[str] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        first_progress.set()

    with anyio.fail_after(60):
        async with _client(launcher, everything, mode, era) as c:
            s = c.session
            started = anyio.current_time()
            duration = 3

            async with anyio.create_task_group() as tg:

                async def long_call(*, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
                    with anyio.CancelScope() as scope:
                        task_status.started(scope)
                        await s.call_tool(
                            "trigger-long-running-operation",
                            {"duration": duration, "steps": 6},
                            progress_callback=on_progress,
                        )
                        outcome.append("completed")

                scope = await tg.start(long_call)
                with anyio.fail_after(10):
                    await first_progress.wait()
                scope.cancel()

            assert outcome == [], "the long call was cancelled and must not complete"

            # The session stays usable right away.
            assert text_of(await s.call_tool("echo", {"message": "after cancel"})) == "Echo: after cancel"

            request = next(
                m for m in c.wire.requests_sent("tools/call") if m["params"]["name"] == "trigger-long-running-operation"
            )
            cancels = [m for m in c.wire.sent() if m.get("method") == "notifications/cancelled"]
            assert [m["params"]["requestId"] for m in cancels] == [request["id"]]

            # Wait past the point the operation would have finished: a server that got the
            # notifications/cancelled never answers the request (the TS SDK drops the reply).
            await anyio.sleep(max(0.0, started + duration + 1.5 - anyio.current_time()))
            assert c.wire.responses_to(request["id"]) == [], (
                "server answered a cancelled request: notifications/cancelled did not reach it"
            )
            assert text_of(await s.call_tool("get-sum", {"a": 1, "b": 2})) == "The sum of 1 and 2 is 3."


# --------------------------------------------------------------------------- server -> client requests


async def test_sampling_round_trip(launcher: Launcher, everything: Any, mode: str, era: str) -> None:
    seen: list[types.CreateMessageRequestParams] = []

    async def sampling_callback(context: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
        seen.append(params)
        return types.CreateMessageResult(
            role="assistant",
            content=types.TextContent(text="SAMPLED-BY-TEST-CLIENT: 2+2=4 ✓"),
            model="integration-test-model",
            stop_reason="endTurn",
        )

    with anyio.fail_after(60):
        async with _client(launcher, everything, mode, era, sampling_callback=sampling_callback) as c:
            s = c.session
            await launcher.wait_for_tool(s, "trigger-sampling-request")
            result = await s.call_tool("trigger-sampling-request", {"prompt": "What is 2+2?", "maxTokens": 64})

            assert len(seen) == 1
            params = seen[0]
            assert params.system_prompt == "You are a helpful test server."
            assert params.max_tokens == 64
            assert params.temperature == 0.7
            assert len(params.messages) == 1 and params.messages[0].role == "user"
            content = params.messages[0].content
            assert isinstance(content, types.TextContent)
            assert content.text == "Resource trigger-sampling-request context: What is 2+2?"

            text = text_of(result)
            assert text.startswith("LLM sampling result: \n")
            payload = json.loads(text.split("\n", 1)[1])
            assert payload["role"] == "assistant"
            assert payload["model"] == "integration-test-model"
            assert payload["stopReason"] == "endTurn"
            assert payload["content"] == {"type": "text", "text": "SAMPLED-BY-TEST-CLIENT: 2+2=4 ✓"}

            # Wire: exactly one server->client sampling request, answered with the same id.
            server_requests = [m for m in c.wire.received() if m.get("method") == "sampling/createMessage"]
            assert len(server_requests) == 1
            answers = [m for m in c.wire.sent() if m.get("id") == server_requests[0]["id"] and "result" in m]
            assert len(answers) == 1 and answers[0]["result"]["model"] == "integration-test-model"


async def test_elicitation_accept_and_decline(launcher: Launcher, everything: Any, mode: str, era: str) -> None:
    seen: list[Any] = []

    async def elicitation_callback(context: Any, params: Any) -> types.ElicitResult:
        seen.append(params)
        if len(seen) == 1:
            return types.ElicitResult(
                action="accept",
                content={"name": "Ada Lovelace", "check": True, "email": "ada@example.com", "integer": 7},
            )
        return types.ElicitResult(action="decline")

    with anyio.fail_after(60):
        async with _client(launcher, everything, mode, era, elicitation_callback=elicitation_callback) as c:
            s = c.session
            await launcher.wait_for_tool(s, "trigger-elicitation-request")

            accepted = text_of(await s.call_tool("trigger-elicitation-request", {}))
            assert "✅ User provided the requested information!" in accepted
            assert (
                "User inputs:\n- Name: Ada Lovelace\n- Agreed to terms: true\n"
                "- Email: ada@example.com\n- Favorite Integer: 7"
            ) in accepted
            raw = json.loads(accepted.split("Raw result: ", 1)[1])
            assert raw["action"] == "accept" and raw["content"]["name"] == "Ada Lovelace"

            params = seen[0]
            assert params.message == "Please provide inputs for the following fields:"
            schema = params.requested_schema
            schema = schema if isinstance(schema, dict) else schema.model_dump(by_alias=True, exclude_none=True)
            assert schema["required"] == ["name"]
            assert {"name", "check", "email", "integer", "untitledMultipleSelectEnum"} <= schema["properties"].keys()

            declined = text_of(await s.call_tool("trigger-elicitation-request", {}))
            assert "❌ User declined to provide the requested information." in declined
            assert len(seen) == 2


async def test_roots_list_requested_by_server(
    launcher: Launcher, everything: Any, mode: str, era: str, tmp_path: Any
) -> None:
    project_a = tmp_path / "project-a"
    project_b = tmp_path / "project-b"
    roots = [types.Root(uri=project_a.as_uri(), name="Project A")]
    calls: list[float] = []

    async def list_roots_callback(context: Any) -> types.ListRootsResult:
        calls.append(anyio.current_time())
        return types.ListRootsResult(roots=list(roots))

    with anyio.fail_after(60):
        async with _client(launcher, everything, mode, era, list_roots_callback=list_roots_callback) as c:
            s = c.session
            # The server asks for roots on its own ~350 ms after notifications/initialized.
            await c.inbox.wait_for(lambda: calls, timeout=10, what="a roots/list request from the server")
            await c.inbox.wait_for(
                lambda: _logs_containing(c, "Roots updated: 1 root(s) received from client"),
                timeout=10,
                what="the server's 'Roots updated: 1' log",
            )
            await launcher.wait_for_tool(s, "get-roots-list")
            text = text_of(await s.call_tool("get-roots-list", {}))
            assert "Current MCP Roots (1 total)" in text
            assert f"1. Project A\n   URI: {roots[0].uri}" in text

            # Client -> server notification; the server re-requests the list.
            roots.append(types.Root(uri=project_b.as_uri(), name="Project B"))
            before = len(calls)
            await s.send_roots_list_changed()
            await c.inbox.wait_for(lambda: len(calls) > before, timeout=10, what="a second roots/list request")
            await c.inbox.wait_for(
                lambda: _logs_containing(c, "Roots updated: 2 root(s) received from client"),
                timeout=10,
                what="the server's 'Roots updated: 2' log",
            )
            text = text_of(await s.call_tool("get-roots-list", {}))
            assert "Current MCP Roots (2 total)" in text
            assert f"2. Project B\n   URI: {roots[1].uri}" in text


# --------------------------------------------------------------------------- byte-level comparison


async def _catalog(launcher: Launcher, params: Any, label: str) -> dict[str, Any]:
    """Raw JSON results of deterministic requests, as they appeared on the wire."""
    async with launcher.connect(params, label=label) as c:
        s = c.session
        await s.list_tools()
        await s.list_prompts()
        await s.list_resources()
        await s.list_resource_templates()
        await s.read_resource(STATIC_DOC_URI)
        await s.get_prompt("args-prompt", {"city": "Oslo"})
        await s.complete(types.PromptReference(name="completable-prompt"), {"name": "department", "value": ""})
        await s.call_tool("echo", {"message": "same bytes"})
        with pytest.raises(MCPError):
            await s.get_prompt("no-such-prompt")
        out: dict[str, Any] = {}
        for request in c.wire.sent():
            if "id" not in request or "method" not in request:
                continue
            responses = c.wire.responses_to(request["id"])
            assert len(responses) == 1, f"{request['method']}: expected one response, got {responses}"
            response = dict(responses[0])
            response.pop("id")
            # The initialize result (serverInfo, capabilities, instructions) is compared too.
            out.setdefault(request["method"], []).append(response)
        return out


@pytest.mark.parametrize("backend_transport", ["stdio", "http"])
async def test_proxy_responses_equal_backend_responses(
    launcher: Launcher, everything_bin: Any, backend_transport: str
) -> None:
    """Not parametrized by mode: the same requests, direct and via the proxy, give identical JSON.

    With backend_transport="http" the proxy reaches the server over streamable HTTP,
    and its STDIO output must still equal what the STDIO server itself produces.
    """
    with anyio.fail_after(90):
        direct = await _catalog(launcher, launcher.direct(everything_bin, ["stdio"]), "everything-direct-catalog")
        if backend_transport == "stdio":
            params = launcher.proxy(everything_bin, ["stdio"], name="everything")
            _tool_policy(launcher, "everything")
        else:
            url = launcher.start_http_backend(everything_bin, ["streamableHttp"], label="everything-http")
            params = launcher.proxy_url(url, name="everything-http")
            _tool_policy(launcher, "everything-http")
        proxied = await _catalog(launcher, params, f"everything-proxy-{backend_transport}-catalog")
    assert proxied.keys() == direct.keys()
    for method in direct:
        assert proxied[method] == direct[method], f"{method} differs through the proxy"
