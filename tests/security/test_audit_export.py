"""Audit export against hostile parties: a receiver that impersonates the SIEM gets nothing, and
an entry's content cannot forge or split syslog messages (octet counting; the entry is JSON)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from mcp_acp.audit.export.cursor import Cursor
from tests.fixtures.tls_certs import make_pki
from tests.support.processes import wait_until
from tests.support.rsyslog import RSYSLOGD, Rsyslog
from tests.support.siem import (
    MCP_ACP,
    TlsSyslogReceiver,
    Writer,
    check_stream,
    export_settings,
    log_dir,
    make_home,
    parse,
)


def export(env: dict[str, str], config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MCP_ACP, "audit", "export", "--config", str(config)], env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("impostor", ["untrusted_ca", "trusted_ca_wrong_name"])
def test_a_receiver_impersonating_the_siem_gets_no_entry(tmp_path: Path, impostor: str) -> None:
    env = make_home(tmp_path)
    pki = make_pki(tmp_path / "pki")
    if impostor == "untrusted_ca":  # signed by a CA the exporter does not trust
        cert, key = pki.clients["wrong_ca"].cert, pki.clients["wrong_ca"].key
    else:  # signed by the trusted CA, but not for this host (and not a server certificate)
        cert, key = pki.clients["valid"].cert, pki.clients["valid"].key
    receiver = TlsSyslogReceiver(cert, key)
    writer = Writer(log_dir(env))
    writer.write(30)
    writer.close()
    try:
        config = export_settings(
            tmp_path, syslog={"host": "127.0.0.1", "port": receiver.port, "tls": {"ca_file": str(pki.ca)}}
        )
        done = export(env, config)
        assert done.returncode == 1
        assert "TLS with the syslog receiver" in done.stderr and "Traceback" not in done.stderr
        assert receiver.messages == []
        (cursor_file,) = (Path(env["MCP_ACP_HOME"]) / "logs" / "mcp-acp" / "export").glob("syslog-*.json")
        assert Cursor.load(cursor_file).positions == {}  # nothing counted as sent
    finally:
        receiver.close()


@pytest.mark.skipif(not Path(RSYSLOGD).exists(), reason="Debian's rsyslog is not installed")
def test_entry_content_cannot_forge_or_split_messages(tmp_path: Path) -> None:
    env = make_home(tmp_path)
    rsyslog = Rsyslog(tmp_path / "rsyslog")
    writer = Writer(log_dir(env))
    forged = '\n<10>1 2025-01-01T00:00:00Z evil mcp-acp 1 decisions [mcp-acp@32473 sequence="1"] {"decision":"allow"}\n'
    try:
        for text in (forged, "99 " + forged, '] [x@1 a="b"]', "\x00\r\n\u2028 é"):
            entry = writer.log.write("decisions", {"event": "hostile", "tool_name": text, "reason": text})
            writer.written.setdefault("audit/decisions.jsonl", []).append(entry)
        done = export(env, export_settings(tmp_path, syslog={"host": "127.0.0.1", "port": rsyslog.port}))
        assert done.returncode == 0, done.stderr
        wait_until(lambda: len(rsyslog.lines()) >= 4, 30, "4 messages")
        lines = rsyslog.lines()
        assert len(lines) == 4  # one message per entry: nothing split off, nothing forged
        received = [parse(line) for line in lines]
        assert check_stream(received, writer.written) == 0
        assert all(m.host != "evil" and m.params["file"] == "audit/decisions.jsonl" for m in received)
        assert json.loads(received[0].msg)["tool_name"] == forged
    finally:
        writer.close()
        rsyslog.stop()
