"""Issue 21: every audit entry reaches the SIEM, in order, through receiver outages and a kill -9
of the exporter. Real receivers: Debian's rsyslogd (TCP syslog), a TLS syslog listener, an
OTLP/HTTP collector; the exporter is `mcp-acp audit export` as a subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from pathlib import Path

import pytest

from mcp_acp.audit.export.exporter import Exporter
from mcp_acp.config.export import ExportSettings
from tests.fixtures.tls_certs import make_pki
from tests.support.processes import free_port, wait_until
from tests.support.rsyslog import GTLS, RSYSLOGD, Rsyslog
from tests.support.siem import (
    MCP_ACP,
    OtlpCollector,
    TlsSyslogReceiver,
    Writer,
    check_stream,
    export_settings,
    log_dir,
    make_home,
    parse,
)

pytestmark = pytest.mark.skipif(not Path(RSYSLOGD).exists(), reason="Debian's rsyslog is not installed")


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([MCP_ACP, "audit", "export", *args], env=env, capture_output=True, text=True, timeout=120)


def follow(env: dict[str, str], config: Path, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(
            [MCP_ACP, "audit", "export", "--follow", "--config", str(config)], env=env, stdout=out, stderr=out
        )


def status(env: dict[str, str], config: Path) -> dict:
    done = run_cli(env, "--status", "--json", "--config", str(config))
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["destinations"][0]


def test_every_entry_reaches_rsyslog_once_in_order_as_rfc5424(tmp_path: Path) -> None:
    env = make_home(tmp_path)
    rsyslog = Rsyslog(tmp_path / "rsyslog")
    writer = Writer(log_dir(env))
    try:
        writer.write(3000)  # ~100 sealed, compressed segments per log, and the active files
        config = export_settings(tmp_path, syslog={"host": "127.0.0.1", "port": rsyslog.port}, batch_size=200)
        done = run_cli(env, "--config", str(config))
        assert done.returncode == 0, done.stdout + done.stderr
        wait_until(lambda: len(rsyslog.lines()) >= 3000, 60, "3000 messages in rsyslog")
        received = [parse(line) for line in rsyslog.lines()]
        assert check_stream(received, writer.written) == 0
        first = received[0]
        assert (first.app, first.msgid, first.params["proxy"]) == ("mcp-acp", "operations", "files")
        assert first.timestamp == json.loads(first.msg)["time"]
        denied = [m for m in received if json.loads(m.msg).get("decision") == "deny"]
        assert denied and all(m.pri == 22 * 8 + 5 for m in denied)  # local6.notice
        assert status(env, config)["lag"] == 0

        writer.write(30)  # a second run sends only what is new
        assert run_cli(env, "--config", str(config)).returncode == 0
        wait_until(lambda: len(rsyslog.lines()) >= 3030, 60, "the 30 new messages")
        assert check_stream([parse(line) for line in rsyslog.lines()], writer.written) == 0
        assert len(rsyslog.lines()) == 3030
    finally:
        writer.close()
        rsyslog.stop()


def test_rsyslog_outage_and_exporter_kill_lose_nothing(tmp_path: Path) -> None:
    env = make_home(tmp_path)
    rsyslog = Rsyslog(tmp_path / "rsyslog")
    writer = Writer(log_dir(env))
    config = export_settings(
        tmp_path, syslog={"host": "127.0.0.1", "port": rsyslog.port}, batch_size=100, max_backoff_seconds=1
    )
    exporter_log = tmp_path / "exporter.log"
    exporter = follow(env, config, exporter_log)
    try:
        writer.write(600)
        wait_until(lambda: len(rsyslog.lines()) >= 600, 60, "the first 600 entries")

        rsyslog.stop()  # the receiver goes away; the proxies keep writing
        writer.write(900)
        wait_until(lambda: status(env, config)["last_error"], 60, "the exporter to notice the outage")
        error = status(env, config)["last_error"]
        assert "cannot connect" in error or "dropped the connection" in error

        rsyslog = rsyslog.restart()
        wait_until(lambda: {parse(x).key for x in rsyslog.lines()} >= keys(writer), 90, "everything after the outage")

        # kill -9 the exporter mid-stream: while entries are still being written and sent
        before = len(rsyslog.lines())
        writing = threading.Thread(target=writer.write, args=(15_000,))
        writing.start()
        wait_until(lambda: len(rsyslog.lines()) >= before + 1000, 60, "sending to be under way")
        os.kill(exporter.pid, signal.SIGKILL)
        exporter.wait(10)
        writing.join(120)
        assert {parse(x).key for x in rsyslog.lines()} < keys(writer), "the kill came after everything was sent"
        exporter = follow(env, config, exporter_log)
        wait_until(lambda: {parse(x).key for x in rsyslog.lines()} >= keys(writer), 90, "everything after the kill")
        exporter.send_signal(signal.SIGTERM)
        assert exporter.wait(30) == 0
        received = [parse(line) for line in rsyslog.lines()]
        check_stream(received, writer.written)  # duplicates are re-sends, documented
        assert "Traceback" not in exporter_log.read_text()
    finally:
        if exporter.poll() is None:
            exporter.kill()
        writer.close()
        rsyslog.stop()


def keys(writer: Writer) -> set[tuple[str, int]]:
    return {(rel, entry["sequence"]) for rel, entries in writer.written.items() for entry in entries}


def test_syslog_over_tls(tmp_path: Path) -> None:
    env = make_home(tmp_path)
    pki = make_pki(tmp_path / "pki")
    receiver = TlsSyslogReceiver(pki.server_cert, pki.server_key)
    writer = Writer(log_dir(env))
    try:
        writer.write(300)
        tls = {"ca_file": str(pki.ca)}
        config = export_settings(tmp_path, syslog={"host": "127.0.0.1", "port": receiver.port, "tls": tls})
        done = run_cli(env, "--config", str(config))
        assert done.returncode == 0, done.stderr
        wait_until(lambda: len(receiver.messages) >= 300, 30, "300 messages over TLS")
        assert check_stream([parse(m) for m in receiver.messages], writer.written) == 0

        # A receiver whose certificate the CA did not sign: a clear error, no traceback.
        wrong = export_settings(
            tmp_path,
            syslog={"host": "127.0.0.1", "port": receiver.port, "tls": {"ca_file": str(pki.other_ca)}},
            state_dir=str(tmp_path / "other-cursors"),  # from the start again
        )
        done = run_cli(env, "--config", str(wrong))
        assert done.returncode == 1
        assert "TLS with the syslog receiver" in done.stderr and "ca_file" in done.stderr
        assert "Traceback" not in done.stderr
    finally:
        writer.close()
        receiver.close()


@pytest.mark.skipif(not GTLS.exists(), reason="rsyslog-gnutls is not installed (make system-deps installs it)")
def test_syslog_over_tls_to_rsyslog_through_an_outage(tmp_path: Path) -> None:
    env = make_home(tmp_path)
    pki = make_pki(tmp_path / "pki")
    rsyslog = Rsyslog(tmp_path / "rsyslog", tls=(pki.server_cert, pki.server_key))
    writer = Writer(log_dir(env))
    tls = {
        "ca_file": str(pki.ca),
        "cert_file": str(pki.clients["valid"].cert),
        "key_file": str(pki.clients["valid"].key),
    }
    config = export_settings(
        tmp_path,
        syslog={"host": "127.0.0.1", "port": rsyslog.port, "tls": tls},
        batch_size=100,
        max_backoff_seconds=1,
    )
    exporter = follow(env, config, tmp_path / "exporter.log")
    try:
        writer.write(900)
        wait_until(lambda: {parse(x).key for x in rsyslog.lines()} >= keys(writer), 60, "900 entries over TLS")
        rsyslog.stop()
        writer.write(600)
        wait_until(lambda: status(env, config)["last_error"], 60, "the exporter to notice the outage")
        rsyslog = rsyslog.restart()
        wait_until(lambda: {parse(x).key for x in rsyslog.lines()} >= keys(writer), 90, "everything after the outage")
        check_stream([parse(line) for line in rsyslog.lines()], writer.written)
        assert "Traceback" not in (tmp_path / "exporter.log").read_text()
    finally:
        exporter.terminate()
        exporter.wait(30)
        writer.close()
        rsyslog.stop()


def test_a_receiver_that_is_not_there_is_a_clear_error(tmp_path: Path) -> None:
    env = make_home(tmp_path)
    writer = Writer(log_dir(env))
    writer.write(3)
    writer.close()
    port = free_port()
    done = run_cli(env, "--config", str(export_settings(tmp_path, syslog={"host": "127.0.0.1", "port": port})))
    assert done.returncode == 1
    assert f"audit export to the syslog receiver 127.0.0.1:{port}: cannot connect" in done.stderr
    assert "Traceback" not in done.stderr
    assert "cannot connect" in status(env, tmp_path / "export.json")["last_error"]


def test_otlp_logs_arrive_in_order_after_the_collector_refused_them(tmp_path: Path) -> None:
    env = make_home(tmp_path)
    collector = OtlpCollector(refuse=True)
    writer = Writer(log_dir(env))
    settings = ExportSettings.model_validate(
        {"otlp": {"endpoint": f"http://127.0.0.1:{collector.port}"}, "batch_size": 50, "max_backoff_seconds": 0.5}
    )
    exporter = Exporter(settings, {"files": log_dir(env)}, "replica-1", tmp_path / "cursors")
    try:
        writer.write(600)
        exporter.start(follow=True)
        wait_until(lambda: collector.refused >= 2, 30, "the collector to refuse twice")
        collector.refuse = False
        wait_until(lambda: len(collector.records) >= 600, 60, "600 log records")
        by_file: dict[str, list[int]] = {}
        for record in collector.records:
            attributes = {a["key"]: a["value"] for a in record["attributes"]}
            rel, sequence = attributes["mcp_acp.file"]["stringValue"], int(attributes["mcp_acp.sequence"]["intValue"])
            by_file.setdefault(rel, []).append(sequence)
            assert json.loads(record["body"]["stringValue"]) == writer.written[rel][sequence - 1]
            assert int(record["timeUnixNano"]) > 0
        # acknowledged by HTTP: exactly once, in order
        assert by_file == {rel: list(range(1, len(entries) + 1)) for rel, entries in writer.written.items()}
    finally:
        exporter.stop()
        writer.close()
        collector.close()


async def test_the_gateway_ships_its_decisions_and_answers_while_rsyslog_is_down(launcher, tmp_path: Path) -> None:
    import sys

    from mcp.shared.exceptions import MCPError

    from tests.support.config import ECHO_ONLY_POLICY, use_policy
    from tests.support.gateway import GatewayProcess, gateway_client, write_gateway_config
    from tests.support.processes import BACKEND, wait_until_async

    launcher.proxy(sys.executable, [BACKEND], name="files")
    use_policy(launcher.env, "files", ECHO_ONLY_POLICY)
    rsyslog = Rsyslog(tmp_path / "rsyslog")
    export = {"syslog": {"host": "127.0.0.1", "port": rsyslog.port, "resend_on_reconnect": 0}, "max_backoff_seconds": 1}
    write_gateway_config(launcher.env, {"replica_id": "replica-a", "export": export})

    def shipped(tool: str) -> list:
        found = [parse(line) for line in rsyslog.lines()]
        return [m for m in found if m.msgid == "decisions" and json.loads(m.msg).get("tool_name") == tool]

    try:
        with GatewayProcess(launcher.env, tmp_path / "gateway.log") as gateway:
            async with gateway_client(gateway.endpoint("files"), "2026-07-28") as client:
                await client.call_tool("echo", {"text": "one"})
                with pytest.raises(MCPError, match=r"(?i)denied"):
                    await client.call_tool("add", {"a": 1, "b": 2})
                await wait_until_async(lambda: shipped("echo") and shipped("add"), 30, "both decisions in rsyslog")
                (denied,) = shipped("add")
                assert denied.host == "replica-a" and denied.params["replica"] == "replica-a"
                assert denied.pri == 22 * 8 + 5

                rsyslog.stop()  # the SIEM is away: calls are still answered, their entries wait on disk
                for number in range(3):
                    echoed = await client.call_tool("echo", {"text": f"while down {number}"})
                    assert echoed.content[0].text == f"while down {number}"  # type: ignore[union-attr]
                rsyslog = rsyslog.restart()
                await wait_until_async(
                    lambda: len(shipped("echo")) >= 4, 60, "the decisions made while rsyslog was down"
                )

            # The exporter is the gateway's child process; it goes when the gateway dies, even by kill -9.
            pid = gateway.process.pid
            children = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
            (child,) = [c for c in children if "audit\0export" in Path(f"/proc/{c}/cmdline").read_text()]
            os.kill(pid, signal.SIGKILL)
            gateway.process.wait(10)
            wait_until(lambda: not alive(child), 30, "the exporter to stop after the gateway died")
    finally:
        rsyslog.stop()


def alive(pid: int) -> bool:
    try:
        return "\nState:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
