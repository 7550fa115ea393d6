"""Transparency of the proxy against the official `server-filesystem` npm server.

The server gets a tmp_path sandbox as its only allowed directory. Every test runs
``direct`` and ``proxy`` with identical assertions. No roots callback is installed,
so the command-line sandbox stays the server's allowed directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest

pytestmark = pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")

EXPECTED_TOOLS = {
    "read_file",
    "read_text_file",
    "read_media_file",
    "read_multiple_files",
    "write_file",
    "edit_file",
    "create_directory",
    "list_directory",
    "list_directory_with_sizes",
    "directory_tree",
    "move_file",
    "search_files",
    "get_file_info",
    "list_allowed_directories",
}

CONTENT = 'first line\nsecond line — ünïcödé ✓ 😀\n\tindented "quoted" \\ backslash\nlast line without newline'


def text_of(result: types.CallToolResult) -> str:
    return "\n".join(b.text for b in result.content if isinstance(b, types.TextContent))


@pytest.fixture
def sandbox(tmp_path: Path) -> Path:
    path = (tmp_path / "sandbox").resolve()
    path.mkdir()
    return path


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A real file next to (not inside) the sandbox."""
    folder = (tmp_path / "outside").resolve()
    folder.mkdir()
    secret = folder / "secret.txt"
    secret.write_text("TOP SECRET: must never be readable through the sandbox\n", encoding="utf-8")
    return secret


@pytest.fixture
def filesystem(launcher: Any, mode: str, filesystem_bin: Path, sandbox: Path) -> Any:
    return launcher.params(mode, filesystem_bin, [str(sandbox)], name="filesystem")


def _client(launcher: Any, params: Any, mode: str) -> Any:
    return launcher.connect(params, label=f"filesystem-{mode}")


async def test_list_tools(launcher: Any, filesystem: Any, mode: str, sandbox: Path) -> None:
    with anyio.fail_after(60):
        async with _client(launcher, filesystem, mode) as c:
            assert c.init.server_info.name == "secure-filesystem-server"
            tools = {t.name: t for t in (await c.session.list_tools()).tools}
            assert tools.keys() >= EXPECTED_TOOLS
            write = tools["write_file"]
            assert set(write.input_schema["required"]) == {"path", "content"}
            assert write.annotations is not None and write.annotations.destructive_hint is True
            assert tools["read_text_file"].output_schema is not None

            allowed = await c.session.call_tool("list_allowed_directories", {})
            assert text_of(allowed) == f"Allowed directories:\n{sandbox}"


async def test_write_then_read_round_trip(launcher: Any, filesystem: Any, mode: str, sandbox: Path) -> None:
    target = sandbox / "notes.txt"
    with anyio.fail_after(60):
        async with _client(launcher, filesystem, mode) as c:
            s = c.session
            written = await s.call_tool("write_file", {"path": str(target), "content": CONTENT})
            assert not written.is_error, text_of(written)
            assert text_of(written) == f"Successfully wrote to {target}"
            assert written.structured_content == {"content": f"Successfully wrote to {target}"}
            # The server really wrote the bytes we sent.
            assert target.read_text(encoding="utf-8") == CONTENT

            read = await s.call_tool("read_file", {"path": str(target)})
            assert not read.is_error, text_of(read)
            assert text_of(read) == CONTENT
            assert read.structured_content == {"content": CONTENT}

            head = await s.call_tool("read_text_file", {"path": str(target), "head": 2})
            assert text_of(head) == "first line\nsecond line — ünïcödé ✓ 😀"

            # A file written outside the client shows up too.
            (sandbox / "from-disk.txt").write_text("written by the test", encoding="utf-8")
            assert text_of(await s.call_tool("read_text_file", {"path": str(sandbox / "from-disk.txt")})) == (
                "written by the test"
            )

            edited = await s.call_tool(
                "edit_file",
                {"path": str(target), "edits": [{"oldText": "second line", "newText": "2nd line"}]},
            )
            assert not edited.is_error, text_of(edited)
            assert "-second line" in text_of(edited) and "+2nd line" in text_of(edited)
            assert target.read_text(encoding="utf-8") == CONTENT.replace("second line", "2nd line")


async def test_list_directory_shows_file(launcher: Any, filesystem: Any, mode: str, sandbox: Path) -> None:
    with anyio.fail_after(60):
        async with _client(launcher, filesystem, mode) as c:
            s = c.session
            await s.call_tool("write_file", {"path": str(sandbox / "listed.txt"), "content": "x"})
            created = await s.call_tool("create_directory", {"path": str(sandbox / "subdir")})
            assert text_of(created) == f"Successfully created directory {sandbox / 'subdir'}"

            listing = await s.call_tool("list_directory", {"path": str(sandbox)})
            assert not listing.is_error, text_of(listing)
            assert sorted(text_of(listing).splitlines()) == ["[DIR] subdir", "[FILE] listed.txt"]
            assert listing.structured_content == {"content": text_of(listing)}

            info = await s.call_tool("get_file_info", {"path": str(sandbox / "listed.txt")})
            assert "size: 1" in text_of(info) and "isFile: true" in text_of(info)


async def test_path_outside_sandbox_is_denied_by_server(
    launcher: Any, filesystem: Any, mode: str, sandbox: Path, outside: Path
) -> None:
    with anyio.fail_after(60):
        async with _client(launcher, filesystem, mode) as c:
            s = c.session
            denied = await s.call_tool("read_text_file", {"path": str(outside)})
            assert denied.is_error is True
            assert text_of(denied) == (f"Access denied - path outside allowed directories: {outside} not in {sandbox}")
            assert "TOP SECRET" not in str(denied.model_dump())

            # Traversal out of the sandbox is caught the same way.
            sneaky = f"{sandbox}/../outside/secret.txt"
            denied = await s.call_tool("read_text_file", {"path": sneaky})
            assert denied.is_error is True
            assert text_of(denied) == (f"Access denied - path outside allowed directories: {outside} not in {sandbox}")

            # Writes outside are refused and nothing is created.
            target = outside.parent / "planted.txt"
            denied = await s.call_tool("write_file", {"path": str(target), "content": "nope"})
            assert denied.is_error is True
            assert text_of(denied) == (f"Access denied - path outside allowed directories: {target} not in {sandbox}")
            assert not target.exists()

            # And the session keeps working normally afterwards.
            listing = await s.call_tool("list_directory", {"path": str(sandbox)})
            assert not listing.is_error and text_of(listing) == ""


async def _transcript(launcher: Any, params: Any, label: str, sandbox: Path, outside: Path) -> list[Any]:
    """Raw JSON results (ids stripped) for a fixed script of requests."""
    async with launcher.connect(params, label=label) as c:
        s = c.session
        await s.list_tools()
        await s.call_tool("list_allowed_directories", {})
        await s.call_tool("write_file", {"path": str(sandbox / "same.txt"), "content": CONTENT})
        await s.call_tool("read_text_file", {"path": str(sandbox / "same.txt")})
        await s.call_tool("read_text_file", {"path": str(outside)})
        await s.call_tool("read_text_file", {"path": str(sandbox / "does-not-exist.txt")})
        out = []
        for request in c.wire.sent():
            if "id" in request and "method" in request:
                responses = c.wire.responses_to(request["id"])
                assert len(responses) == 1, f"{request['method']}: {responses}"
                response = {k: v for k, v in responses[0].items() if k != "id"}
                out.append((request["method"], response))
        return out


async def test_proxy_results_equal_backend_results(
    launcher: Any, filesystem_bin: Path, sandbox: Path, outside: Path
) -> None:
    """Not parametrized: the same script against the same sandbox, direct then via the proxy."""
    with anyio.fail_after(90):
        direct = await _transcript(
            launcher, launcher.direct(filesystem_bin, [str(sandbox)]), "filesystem-direct-script", sandbox, outside
        )
        proxied = await _transcript(
            launcher,
            launcher.proxy(filesystem_bin, [str(sandbox)], name="filesystem"),
            "filesystem-proxy-script",
            sandbox,
            outside,
        )
    assert [m for m, _ in proxied] == [m for m, _ in direct]
    for (method, want), (_, got) in zip(direct, proxied, strict=True):
        assert got == want, f"{method} differs through the proxy"
