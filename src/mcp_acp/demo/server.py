"""Demo MCP server: file and note tools confined to one sandbox folder.

Run over STDIO:  python -m mcp_acp.demo.server --sandbox DIR
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path

from fastmcp import FastMCP
from fastmcp.exceptions import ToolError

NOTES_FILE = "notes.json"

mcp = FastMCP("demo-files", instructions="File and note tools over a sandbox folder.")
# Set by main(); module-level so the tool functions stay plain.
SANDBOX = Path(".")


def _inside(path: str) -> Path:
    """Resolve `path` against the sandbox, refusing anything that lands outside it."""
    # resolve() follows `..` and symlinks, so the containment check sees the real target.
    target = (SANDBOX / path).resolve()
    if not target.is_relative_to(SANDBOX):
        raise ToolError(f"path escapes the sandbox: {path!r}")
    return target


def _load_notes() -> list[dict[str, str]]:
    notes = SANDBOX / NOTES_FILE
    return json.loads(notes.read_text(encoding="utf-8")) if notes.exists() else []


@mcp.tool
def list_files(path: str = ".") -> list[str]:
    """List files under a sandbox folder, as sandbox-relative paths."""
    root = _inside(path)
    if not root.is_dir():
        raise ToolError(f"not a folder: {path!r}")
    return sorted(str(p.relative_to(SANDBOX)) for p in root.rglob("*") if p.is_file())


@mcp.tool
def read_file(path: str) -> str:
    """Read a UTF-8 text file from the sandbox."""
    target = _inside(path)
    if not target.is_file():
        raise ToolError(f"no such file: {path!r}")
    return target.read_text(encoding="utf-8")


@mcp.tool
def write_file(path: str, content: str) -> str:
    """Create or replace a UTF-8 text file in the sandbox."""
    target = _inside(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(content, encoding="utf-8")
    return f"wrote {len(content.encode())} bytes to {target.relative_to(SANDBOX)}"


@mcp.tool
def add_note(text: str) -> str:
    """Append a short note to the sandbox's note list."""
    notes = _load_notes()
    notes.append({"at": datetime.now(UTC).isoformat(timespec="seconds"), "text": text})
    (SANDBOX / NOTES_FILE).write_text(json.dumps(notes, indent=2), encoding="utf-8")
    return f"note {len(notes)} saved"


@mcp.tool
def list_notes() -> list[dict[str, str]]:
    """Return every saved note, oldest first."""
    return _load_notes()


@mcp.resource("notes://all", mime_type="text/markdown")
def all_notes() -> str:
    """All notes as a Markdown list."""
    notes = _load_notes()
    return "\n".join(f"- {n['text']} ({n['at']})" for n in notes) or "_no notes yet_"


@mcp.prompt
def summarize_notes(style: str = "bullet points") -> str:
    """Ask the model to summarize the saved notes."""
    body = "\n".join(f"- {n['text']}" for n in _load_notes()) or "(no notes)"
    return f"Summarize these notes as {style}:\n\n{body}"


def main() -> None:
    global SANDBOX
    parser = argparse.ArgumentParser(description="Demo MCP server over a sandbox folder (STDIO).")
    parser.add_argument("--sandbox", required=True, type=Path, help="folder the tools may touch")
    args = parser.parse_args()
    SANDBOX = args.sandbox.resolve()
    SANDBOX.mkdir(parents=True, exist_ok=True)
    mcp.run("stdio", show_banner=False, log_level="WARNING")


if __name__ == "__main__":
    main()
