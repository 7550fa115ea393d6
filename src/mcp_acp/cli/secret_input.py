"""Reading a backend API key or a secret environment value without putting it on the command line.

Arguments are public on a Unix machine: every local user sees them in `ps` and /proc/<pid>/cmdline.
So the key comes from a hidden prompt in a terminal, or from standard input with
`--api-key-stdin` (a pipe, a file, a password manager's output). `--api-key KEY` is kept only to
say this, since by the time it is refused the key has already been on show.
"""

from __future__ import annotations

import sys

import click

from mcp_acp.cli.output import fail, interactive

STDIN_HELP = "Read the backend API key from standard input (a pipe or a file), never from the command line."


def refuse_key_argument(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    """Click callback for the retired `--api-key KEY`."""
    if value is not None:
        fail(
            "--api-key puts the key on the command line, where every local user can read it (ps, "
            "/proc); it is no longer accepted. Pipe it in with --api-key-stdin, e.g. "
            "`printf '%s' \"$KEY\" | mcp-acp … --api-key-stdin`, or leave the flag out to be asked for it "
            "(input hidden). The key you passed was visible while this ran: if other people use this "
            "machine, consider replacing it."
        )


def retired_key_option(*names: str):
    """The `--api-key` option, hidden from help, that only explains what to use instead."""
    return click.option(
        *names, "retired_api_key", hidden=True, expose_value=False, is_eager=True, callback=refuse_key_argument
    )


def read_key_from_stdin() -> str:
    """The key: the first line of standard input (in a terminal: asked for, input hidden)."""
    if interactive():
        return prompt_for_key()
    key = sys.stdin.readline().rstrip("\r\n")
    if not key:
        fail(
            "--api-key-stdin read nothing from standard input: pipe the key in, e.g. "
            "`printf '%s' \"$KEY\" | mcp-acp … --api-key-stdin`."
        )
    return key


def prompt_for_key(optional: bool = False) -> str:
    """Asked for in the terminal, input hidden; empty when `optional` and the user just presses Enter."""
    text = "Backend API key (Enter for none)" if optional else "Backend API key"
    return click.prompt(text, hide_input=True, default="" if optional else None, show_default=False).strip()


def read_secret_env_value(variable: str, command: str) -> str:
    """A secret environment value: asked for in a terminal (input hidden), else the next line of
    standard input (one line per --secret-env, in the order given). Never an argument."""
    if interactive():
        value = click.prompt(f"Secret value of {variable} (input hidden)", hide_input=True, show_default=False)
        return value.strip()
    value = sys.stdin.readline().rstrip("\r\n")
    if not value:
        fail(
            f"--secret-env {variable}: no value on standard input (no terminal to ask on). Pipe one line "
            f"per --secret-env, in order, e.g. `printf '%s\\n' \"${variable}\" | {command} --secret-env {variable}`."
        )
    return value
