"""Shared console helpers: rich output, one-line errors, and the never-prompt-without-a-TTY rule."""

from __future__ import annotations

import sys
import unicodedata
from typing import NoReturn

import click
from rich.console import Console
from rich.markup import escape

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


class CliError(click.ClickException):
    """An expected failure: printed as one red line, never a traceback."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code  # pyright: ignore[reportAttributeAccessIssue]  click types it a ClassVar, yet reads it per instance

    def show(self, file=None) -> None:
        err_console.print(f"[bold red]Error:[/] {self.message}", soft_wrap=True)


def fail(message: str, exit_code: int = 1) -> NoReturn:
    raise CliError(message, exit_code)


def interactive() -> bool:
    return sys.stdin.isatty()


def ask(prompt: str, flag: str, default: str | None = None) -> str:
    """Prompt in a terminal; without one, say which flag was missing."""
    if not interactive():
        fail(f"{prompt} is required: pass {flag} (no terminal to ask on).")
    return click.prompt(prompt, default=default).strip()


_SPELLED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def terminal_safe(value: object) -> str:
    """`value` as safe rich text for a terminal. What a request carries (tool names, paths,
    arguments) comes from the MCP client and must not be able to move the cursor, recolour or hide
    what a human reads: control, format (bidi overrides, zero-width) and line-separator characters
    are spelled out, and rich markup is escaped."""
    text = "".join(
        _SPELLED.get(ch) or (f"\\u{ord(ch):04x}" if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") else ch)
        for ch in str(value)
    )
    return escape(text)


def format_size(n: float) -> str:
    """A size in bytes as people read it: `512 B`, `1.5 KiB` … `2.0 GiB`."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{int(n)} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)
