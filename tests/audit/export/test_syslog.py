"""The RFC 5424 message of an entry, its framing, and the sender against a plain TCP listener."""

from __future__ import annotations

import socket
import threading

import orjson
import pytest

from mcp_acp.audit.export.reader import Record
from mcp_acp.audit.export.syslog import SendError, SyslogSender, frame, message, severity
from mcp_acp.config.export import SyslogSettings
from tests.support.processes import free_port
from tests.support.siem import parse


def record(**fields: object) -> Record:
    entry = {"time": "2025-01-31T14:03:07.123Z", "sequence": 7, "entry_hash": "ab" * 32, **fields}
    return Record("files", "audit/decisions.jsonl", 7, orjson.dumps(entry), entry)


def test_a_message_carries_the_entry_and_where_it_came_from() -> None:
    entry = record(decision="deny", reason='a "quoted" ] reason \\ é')
    parsed = parse(message(entry, 22, "replica-1", "4242").decode())
    assert parsed.pri == 22 * 8 + 5
    assert (parsed.timestamp, parsed.host, parsed.app, parsed.msgid) == (
        "2025-01-31T14:03:07.123Z",
        "replica-1",
        "mcp-acp",
        "decisions",
    )
    assert parsed.params == {
        "replica": "replica-1",
        "proxy": "files",
        "file": "audit/decisions.jsonl",
        "sequence": "7",
        "entry_hash": "ab" * 32,
    }
    assert parsed.msg.encode() == entry.line  # the line as written, byte for byte


def test_header_fields_never_carry_spaces() -> None:
    text = message(record(), 1, "my host", "1").decode()
    assert text.split(" ")[2] == "my_host"


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, 6),
        ({"decision": "deny"}, 5),
        ({"status": "Failure"}, 4),
        ({"event_type": "session_ended", "status": "failure"}, 4),
        ({"event_type": "session_ended", "status": "success"}, 6),
        ({"level": "ERROR"}, 3),
        ({"level": "WARNING"}, 4),
    ],
)
def test_severity(fields: dict[str, object], expected: int) -> None:
    assert severity(fields) == expected


def test_octet_counting_counts_bytes_not_characters() -> None:
    assert frame("é".encode()) == b"2 \xc3\xa9"


def test_the_sender_fails_clearly_when_the_receiver_closes() -> None:
    listener = socket.create_server(("127.0.0.1", free_port()))
    port = listener.getsockname()[1]

    def close_at_once() -> None:
        conn, _ = listener.accept()
        conn.close()

    thread = threading.Thread(target=close_at_once)
    thread.start()
    sender = SyslogSender(SyslogSettings(host="127.0.0.1", port=port), "h")
    try:
        with pytest.raises(SendError, match="dropped the connection"):
            thread.join(5)
            for _ in range(50):  # the first write may still land in the kernel's buffer
                sender.send([record()])
    finally:
        sender.close()
        listener.close()
