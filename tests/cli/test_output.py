"""terminal_safe (cli/output.py): what the CLI prints from logs and approvals comes from MCP
clients, so control, format and markup characters are spelled out, never obeyed."""

from rich.console import Console

from mcp_acp.cli.output import terminal_safe

HOSTILE = "read\x1b[2J\x1b]0;pwned\x07\u202eexe.txt\n[bold red]fake[/]"


def printed(markup: str) -> str:
    console = Console(record=True, force_terminal=True, width=500)
    console.print(markup)
    return console.export_text()


def test_control_format_and_markup_characters_are_spelled_out():
    text = printed(terminal_safe(HOSTILE))
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
    assert "\\u001b[2J" in text and "\\u202e" in text and "\\n" in text
    assert "[bold red]fake[/]" in text  # shown as typed, not interpreted
