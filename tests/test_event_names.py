"""The web UI and the Python senders name events from one catalogue (src/mcp_acp/event_names.py).

The UI is TypeScript, so its names are read from its source: every event type it compares
against, every name in its sets of event types, and every case of its notification switch. A
name the catalogue does not know fails here, so the two cannot drift apart.
"""

from __future__ import annotations

import re

from mcp_acp.event_names import INCIDENT_EVENTS, Event
from tests.support.processes import ROOT

LIVE = ROOT / "web" / "src" / "state" / "live.ts"
EVENT_SETS = ("APPROVAL_CLOSED", "AUTH_EVENTS", "QUIET")


def web_event_names() -> set[str]:
    source = LIVE.read_text(encoding="utf-8")
    names = set(re.findall(r'\btype === "([a-z_]+)"', source))
    for set_name in EVENT_SETS:
        found = re.search(rf"const {set_name} = new Set\(\[(.*?)\]\)", source, re.DOTALL)
        assert found, f"{set_name} is no longer a Set literal in {LIVE}: update this test"
        names |= set(re.findall(r'"([a-z_]+)"', found.group(1)))
    switch = re.search(r"export function notificationsFor\(.*?\n}\n", source, re.DOTALL)
    assert switch, f"notificationsFor is gone from {LIVE}: update this test"
    names |= set(re.findall(r'case "([a-z_]+)"', switch.group(0)))
    return names


def test_every_event_the_web_ui_knows_is_in_the_catalogue():
    names = web_event_names()
    assert len(names) >= 25, f"only {sorted(names)} found in {LIVE}: has the UI's event handling moved?"
    assert names - {event.value for event in Event} == set()


def test_the_catalogue_names_are_unique_and_snake_case():
    values = [event.value for event in Event]
    assert len(values) == len(set(values))
    assert all(re.fullmatch(r"[a-z]+(_[a-z]+)*", value) for value in values)
    assert set(Event) >= INCIDENT_EVENTS


def test_python_senders_name_events_from_the_catalogue():
    """No sender spells an event name as a bare string: `"type": "..."` or `.emit("...")`."""
    source_root = ROOT / "src" / "mcp_acp"
    names = {event.value for event in Event}
    bare = re.compile(r'(?:"type":\s*|\.emit\(\s*)"([a-z_]+)"')
    offenders = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in source_root.rglob("*.py")
        for name in bare.findall(path.read_text(encoding="utf-8"))
        if name in names
    ]
    assert offenders == []
