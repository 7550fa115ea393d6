"""Native approval dialogs (docs/approvals.md#who-is-asked, issue 7 routing): osascript, zenity, kdialog.

`find_dialog()` picks the dialog program of this desktop; `NativeDialog.ask()` shows one
approval and returns ALLOW (approve and cache), ALLOW_ONCE, DENY or TIMEOUT.

Everything fails closed: a missing program, an error, an exit code or output we do not
recognise, or an exception means DENY. The program runs without a shell, with every
argument as one argv element, and is killed (with anything it started) when the deadline
passes or the asking coroutine is cancelled.

Every value shown comes from the request, so it is hostile until proven otherwise: control
characters are replaced, and then each program gets the escaping its text format needs (an
AppleScript string literal, plain text for zenity, HTML for kdialog).

Nothing is cut silently (issue 15): every argument is listed; a long value is folded to its head,
a line saying how much is folded away and how to see it all (`mcp-acp approvals show ID`), and
its tail. "Allow once" is the default button; the remembering button says what it remembers and
for how long, and is there only when the approval may be remembered.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import math
import os
import re
import shutil
import signal
import sys
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import cast

from mcp_acp.proxy.argument_display import fold_lines, fold_notice

ALLOW, ALLOW_ONCE, DENY, TIMEOUT = "allow", "allow_once", "deny", "timeout"

TITLE = "MCP-ACP: Approval Required"
MAX_VALUE_CHARS = 200
# Arguments in a dialog: values folded beyond this many characters, lists beyond this many items.
DIALOG_ARG_CHARS = 160
DIALOG_ARG_ITEMS = 10
DIALOG_ARG_KEYS = 20

# Exit codes of the dialog programs.
_ZENITY_OK, _ZENITY_CANCEL_OR_EXTRA, _ZENITY_TIMEOUT = 0, 1, 5
_KDIALOG_YES = 0

# Cc (C0/C1 controls incl. newline and tab), Cf (bidi overrides, zero-width chars: they can
# make a path read differently from what it is), Zl/Zp (line and paragraph separators).
_UNPRINTABLE = frozenset({"Cc", "Cf", "Zl", "Zp"})


# --- Text -------------------------------------------------------------------------------


def clean(value: object, limit: int = MAX_VALUE_CHARS, approval_id: object = None) -> str:
    """One value as a single safe line: unprintables replaced by U+FFFD. Beyond `limit`
    characters it is folded, and says so: its head, how many characters are not shown (of how
    many), and its tail; never a silent cut."""
    if value is None:
        return "unknown"
    text = "".join("\ufffd" if unicodedata.category(ch) in _UNPRINTABLE else ch for ch in str(value))
    if len(text) <= limit:
        return text
    head, tail = text[: limit // 2], text[len(text) - limit // 4 :]
    notice = fold_notice(
        len(text) - len(head) - len(tail), len(text), "character", str(approval_id) if approval_id is not None else None
    )
    return f"{head} [{notice}] …{tail}"


def _effects(side_effects: object) -> str:
    if side_effects is None:
        return "unknown"
    if isinstance(side_effects, str):
        return side_effects or "none"
    return ", ".join(str(e) for e in cast("Iterable[object]", side_effects)) or "none"


def dialog_lines(approval: Mapping[str, object], timeout: float, queue_position: int = 1) -> list[str]:
    """The lines of the dialog body, each a cleaned single line (no escaping for any format yet)."""
    approval_id = approval.get("id")

    def shown(value: object) -> str:
        return clean(value, approval_id=approval_id)

    lines = [f"Proxy: {shown(approval.get('proxy_name'))}", f"Tool: {shown(approval.get('tool_name'))}"]
    source, dest, path = approval.get("source_path"), approval.get("dest_path"), approval.get("path")
    if source is not None or dest is not None:
        lines += [
            f"From: {shown(source if source is not None else '-')}",
            f"To: {shown(dest if dest is not None else '-')}",
        ]
    elif path is not None:
        lines.append(f"Path: {shown(path)}")
    lines += [
        f"Effects: {shown(_effects(approval.get('side_effects')))}",
        f"Server: {shown(approval.get('backend_id'))}",
        f"User: {shown(approval.get('subject_id'))}",
    ]
    lines += argument_lines(approval)
    if queue_position > 1:
        lines.append(f"Queue: #{int(queue_position)} pending")
    lines.append(f"Auto-deny in {_whole_seconds(timeout)}s")
    return lines


def argument_lines(approval: Mapping[str, object]) -> list[str]:
    """Every argument (as the proxy serves them: whole, secrets redacted), folded to fit a
    dialog; nothing when the request has none."""
    arguments = approval.get("arguments")
    if not arguments:
        return []
    approval_id = approval.get("id")
    approval_id = str(approval_id) if approval_id is not None else None
    size = approval.get("arguments_size")
    about = f"{size:,} bytes" if isinstance(size, int) and not isinstance(size, bool) else "size unknown"
    lines = [f"Arguments ({about}; secrets redacted):"]
    for line in fold_lines(
        cast("Mapping[str, object]", arguments),  # the proxy serves arguments as a JSON object
        approval_id,
        max_chars=DIALOG_ARG_CHARS,
        max_items=DIALOG_ARG_ITEMS,
        max_keys=DIALOG_ARG_KEYS,
        tail_chars=40,
        tail_items=2,
    ):
        # fold_lines bounds every line's length; clean() only makes it printable (and would fold
        # a line that somehow is not bounded, saying so).
        lines.append("  " + clean(line, limit=4 * DIALOG_ARG_CHARS, approval_id=approval_id))
    return lines


def _whole_seconds(timeout: float) -> int:
    return max(1, math.ceil(timeout))


@dataclass(frozen=True, slots=True)
class Buttons:
    """The dialog's buttons. `cache` is None when the approval may not be remembered."""

    once: str = "Allow once"  # the default button
    cache: str | None = None
    deny: str = "Deny"

    @classmethod
    def for_approval(cls, approval: Mapping[str, object]) -> Buttons:
        remember = approval.get("remember")
        if isinstance(remember, Mapping):
            if remember.get("available") is not True:
                return cls()
            ttl, scope = remember.get("ttl_seconds"), remember.get("scope")
        elif approval.get("can_cache"):  # a view from before the `remember` field
            ttl, scope = approval.get("cache_ttl_seconds"), None
        else:
            return cls()  # allows this one call: never remembered
        label = f"Allow and remember {_duration(ttl)}"
        if isinstance(scope, str) and scope:
            label += f" ({scope})"
        # osascript reports the button up to the first comma: a label never has one.
        return cls(cache=clean(label, limit=120).replace(",", ";"))

    def result(self, label: str) -> str:
        """The answer a button label stands for; anything else is a denial."""
        if label == self.once:
            return ALLOW_ONCE
        if self.cache is not None and label == self.cache:
            return ALLOW
        return DENY


def _duration(seconds: object) -> str:
    try:
        total = int(seconds)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return "for a while"
    return f"{total // 60} min" if total >= 60 and total % 60 == 0 else f"{total} s"


# --- osascript (macOS) ------------------------------------------------------------------


def applescript_string(text: str) -> str:
    """`text` as an AppleScript string literal: backslash and quote escaped, line breaks as \\n."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    escaped = escaped.replace("\r", "\\r").replace("\n", "\\n").replace("\t", "\\t")
    return f'"{escaped}"'


def osascript_script(lines: list[str], buttons: Buttons, timeout: float, sound: bool = True) -> str:
    q = applescript_string
    labels = [buttons.deny, *([buttons.cache] if buttons.cache else []), buttons.once]
    dialog = (
        f"display dialog {q(chr(10).join(lines))} with title {q(TITLE)}"
        f" buttons {{{', '.join(q(label) for label in labels)}}}"
        f" default button {q(buttons.once)} cancel button {q(buttons.deny)}"
        f" with icon caution giving up after {_whole_seconds(timeout)}"
    )
    return f"beep\n{dialog}" if sound else dialog


def osascript_argv(executable: str, script: str) -> list[str]:
    return [executable, "-e", script]


_OSASCRIPT_RESULT = re.compile(r"button returned:(?P<label>[^,\n]*), gave up:(?P<gave_up>true|false)")


def parse_osascript(returncode: int | None, stdout: str, buttons: Buttons) -> str:
    """`display dialog` prints `button returned:X, gave up:false`; the cancel button (Deny)
    is an error -128 with a non-zero exit, which is a denial like every other error."""
    match = _OSASCRIPT_RESULT.fullmatch(stdout.strip())
    if returncode != 0 or match is None:
        return DENY
    if match["gave_up"] == "true":
        return TIMEOUT
    return buttons.result(match["label"])


# --- zenity (Linux, GTK) ----------------------------------------------------------------


def zenity_argv(executable: str, lines: list[str], buttons: Buttons, timeout: float) -> list[str]:
    # --no-markup: the text is plain text, so Pango markup in a value is shown, not applied.
    argv = [
        executable,
        "--question",
        f"--title={TITLE}",
        f"--text={chr(10).join(lines)}",
        "--no-markup",
        f"--ok-label={buttons.once}",
        f"--cancel-label={buttons.deny}",
        f"--timeout={_whole_seconds(timeout)}",
    ]
    if buttons.cache:
        argv.append(f"--extra-button={buttons.cache}")
    return argv


def parse_zenity(returncode: int | None, stdout: str, buttons: Buttons) -> str:
    """0 = OK button; 1 = Cancel, window closed, or an extra button (its label on stdout);
    5 = timeout; anything else is an error."""
    if returncode == _ZENITY_OK:
        return ALLOW_ONCE
    if returncode == _ZENITY_TIMEOUT:
        return TIMEOUT
    if returncode == _ZENITY_CANCEL_OR_EXTRA and buttons.cache and stdout.strip() == buttons.cache:
        return ALLOW
    return DENY


# --- kdialog (Linux, KDE) ---------------------------------------------------------------


def kdialog_text(lines: list[str]) -> str:
    """Qt guesses whether a label is rich text; an explicit <html> makes it always so, and
    every value is HTML-escaped, so nothing in a value can be taken for markup."""
    return "<html>" + "<br>".join(html.escape(line, quote=True) for line in lines) + "</html>"


def kdialog_argv(executable: str, lines: list[str], buttons: Buttons) -> list[str]:
    # kdialog answers only by exit code, and 1 is both "No" and its own error: so the only
    # choices are Allow once (0) and Deny (everything else), never a cached allow.
    # kdialog has no timeout of its own: ask() kills it at the deadline.
    return [
        executable,
        "--title",
        TITLE,
        "--yesno",
        kdialog_text(lines),
        "--yes-label",
        buttons.once,
        "--no-label",
        buttons.deny,
    ]


def parse_kdialog(returncode: int | None, buttons: Buttons) -> str:
    return ALLOW_ONCE if returncode == _KDIALOG_YES else DENY  # No, window closed, error


# --- Running one ------------------------------------------------------------------------


@dataclass(frozen=True)
class NativeDialog:
    """A dialog program found on this machine. `env` is the environment it runs with."""

    name: str  # "osascript", "zenity" or "kdialog"
    executable: str
    env: Mapping[str, str] | None = None

    def argv(self, approval: Mapping[str, object], timeout: float, queue_position: int = 1) -> list[str]:
        lines, buttons = dialog_lines(approval, timeout, queue_position), Buttons.for_approval(approval)
        if self.name == "osascript":
            # docs/approvals.md#who-is-asked: the first queued dialog plays a sound.
            return osascript_argv(self.executable, osascript_script(lines, buttons, timeout, queue_position <= 1))
        if self.name == "zenity":
            return zenity_argv(self.executable, lines, buttons, timeout)
        if self.name == "kdialog":
            return kdialog_argv(self.executable, lines, buttons)
        raise ValueError(f"unknown dialog program {self.name!r}")

    def parse(self, approval: Mapping[str, object], returncode: int | None, stdout: str) -> str:
        buttons = Buttons.for_approval(approval)
        if self.name == "osascript":
            return parse_osascript(returncode, stdout, buttons)
        if self.name == "zenity":
            return parse_zenity(returncode, stdout, buttons)
        if self.name == "kdialog":
            return parse_kdialog(returncode, buttons)
        return DENY

    async def ask(self, approval: dict, timeout: float, queue_position: int = 1) -> str:
        """Show the dialog and wait at most `timeout` seconds: ALLOW, ALLOW_ONCE, DENY or TIMEOUT."""
        try:
            argv = self.argv(approval, timeout, queue_position)
            starting = asyncio.ensure_future(
                asyncio.create_subprocess_exec(
                    *argv,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.DEVNULL,
                    env=dict(self.env) if self.env is not None else None,
                    start_new_session=True,
                )
            )  # its own process group, so a kill takes its children too
            proc = await asyncio.shield(starting)
        except asyncio.CancelledError:
            # Cancelled while the program was starting: it may already run (and have started
            # children), so its whole group goes too, not only the program asyncio would kill.
            with contextlib.suppress(Exception):
                # Cancellation can only come at the await, after `starting` is set.
                started = await starting  # pyright: ignore[reportPossiblyUnboundVariable, reportGeneralTypeIssues]
                _kill_group(started.pid)
                await started.wait()
            raise
        except Exception:
            return DENY
        try:
            stdout, _ = await asyncio.wait_for(proc.communicate(), timeout)
        except TimeoutError:
            return TIMEOUT
        except Exception:
            return DENY
        finally:
            # Deadline passed, error, or cancellation of this coroutine: no dialog outlives it,
            # nor anything it started (same process group, even if the program itself is gone).
            _kill_group(proc.pid)
            if proc.returncode is None:
                await asyncio.shield(proc.wait())
        return self.parse(approval, proc.returncode, stdout.decode("utf-8", errors="replace"))


def _kill_group(pid: int) -> None:
    with contextlib.suppress(OSError):  # the group is gone already
        os.killpg(pid, signal.SIGKILL)


def find_dialog(env: Mapping[str, str] = os.environ, platform: str = sys.platform) -> NativeDialog | None:
    """macOS: osascript. Linux with a display (DISPLAY or WAYLAND_DISPLAY): zenity, else kdialog.
    None when there is no dialog to show (the caller denies and says how to approve instead)."""
    path = env.get("PATH", os.defpath)
    if platform == "darwin":
        candidates = ["osascript"]
    elif platform.startswith("linux") and (env.get("DISPLAY") or env.get("WAYLAND_DISPLAY")):
        candidates = ["zenity", "kdialog"]
    else:
        return None
    for name in candidates:
        executable = shutil.which(name, path=path)
        if executable:
            return NativeDialog(name, executable, dict(env))
    return None
